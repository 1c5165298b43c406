/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The program edge: the only place that knows which hook a program runs in.
 * It turns an xdp_md or __sk_buff into the data/data_end pair the shared
 * parser wants, and back.
 *
 * ns_parse_xdp and ns_parse_tc are global (non-inlined) BPF functions: the
 * verifier checks a global function once, on its own, instead of once per
 * path through the caller, so the parser's many header shapes do not
 * multiply with every branch of what follows.  The XDP firewall inlines
 * the parser instead (ns_parse_xdp_inline): all that follows it inline is
 * the flow cache's hit path, the search being a global function of its
 * own (engine.h), and a hit then makes no call.
 */
#ifndef NETSIEVE_HOOK_H
#define NETSIEVE_HOOK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parser.h"

/*
 * XDP: the frame is linear; hardware-stripped VLAN tags are not visible.
 * Inlined into the caller, the firewall's hit path makes no BPF call at all
 * (a call and its return, through the kernel's return thunk, cost about
 * 3 ns).  Affordable for the verifier only because the engine's search is a
 * global function of its own (ns_engine_search).
 */
static __always_inline int ns_parse_xdp_inline(struct xdp_md *ctx, struct ns_flow *f)
{
	return ns_parse((void *)(long)ctx->data, (void *)(long)ctx->data_end, f, 0);
}

/* The same as a global function (checked once by the verifier). */
__attribute__((noinline)) int ns_parse_xdp(struct xdp_md *ctx, struct ns_flow *f)
{
	if (!f)
		return NS_R_ETH_TRUNC;
	return ns_parse_xdp_inline(ctx, f);
}

/*
 * tc: the caller must have pulled the headers into the linear area
 * (ns_tc_pull) before calling.  An outer VLAN tag the stack already moved to
 * skb metadata is fed to the parser as if it were in the bytes.
 */
__attribute__((noinline)) int ns_parse_tc(struct __sk_buff *skb, struct ns_flow *f)
{
	__u32 hw_vlan = 0;

	if (!f)
		return NS_R_ETH_TRUNC;
	if (skb->vlan_present)
		hw_vlan = 0x10000 | (skb->vlan_tci & 0xffff);
	return ns_parse((void *)(long)skb->data, (void *)(long)skb->data_end, f,
			hw_vlan);
}

/* Bytes tc programs make linear before parsing: every header the parser
 * walks fits in the default (up to 2 tags, 8 IPv6 extension headers of
 * typical size, TCP with options) plus the start of the payload for cls_http.
 * A header past it makes the frame "truncated" (unusable). */
#ifndef NS_TC_PULL
#define NS_TC_PULL 512
#endif

/* Make the headers linear (non-linear skbs: GSO, GRO, fragments). */
static __always_inline void ns_tc_pull(struct __sk_buff *skb)
{
	__u32 len = skb->len;

	bpf_skb_pull_data(skb, len < NS_TC_PULL ? len : NS_TC_PULL);
}

#endif /* NETSIEVE_HOOK_H */
