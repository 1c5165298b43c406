// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Tests only: reads the packet without a bounds check, so the verifier must
 * reject it and replay must show the verifier log. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bad_unchecked_read(struct xdp_md *ctx)
{
	return *(__u8 *)(long)ctx->data;
}

char _license[] SEC("license") = "Dual BSD/GPL";
