// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* A frags-aware XDP program (section xdp.frags): replay may hand it frames
 * longer than one buffer.  Drops frames whose whole length (all buffers)
 * is odd, so that a test can tell it saw all of them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp.frags")
int frags_xdp(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx) & 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
