// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The seed example, kept as a replay test subject (tests/test_seed.py):
 * drop TCP, pass UDP unchanged, and bounce TCP to port 9090 back out with the
 * destination MAC rewritten to 08:00:27:dd:38:2a (XDP_TX).  Anything that is
 * not TCP or UDP, or that the parser cannot use, passes.
 *
 * Attach: ip link set dev DEV xdp obj build/seed_xdp.o sec xdp
 * Maps: none.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "netsieve/hook.h"

static const __u8 seed_new_dst[ETH_ALEN] = { 0x08, 0x00, 0x27, 0xdd, 0x38, 0x2a };

SEC("xdp")
int seed_xdp(struct xdp_md *ctx)
{
	struct ns_flow f;
	struct ethhdr *eth;

	if (ns_parse_xdp(ctx, &f) != NS_R_OK)
		return XDP_PASS;
	if (f.l4_proto == NS_IPPROTO_UDP)
		return XDP_PASS;
	if (f.l4_proto != NS_IPPROTO_TCP)
		return XDP_PASS;
	if ((f.flags & NS_F_PORTS) && f.dport == 9090) {
		eth = (void *)(long)ctx->data;
		if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
			return XDP_ABORTED;
		__builtin_memcpy(eth->h_dest, seed_new_dst, ETH_ALEN);
		return XDP_TX;
	}
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
