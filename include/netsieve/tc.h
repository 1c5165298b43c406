/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The tc side of the program edge: running the shared engine on an skb and
 * carrying out what a matched rule asks for (classify, mark, dscp).
 *
 * Modes (how the filter was attached):
 *  - direct action (`bpf da`, clsact or a classful parent): the return value
 *    is a verdict.  Drop: TC_ACT_SHOT.  A classify rule: TC_ACT_OK, with
 *    skb->tc_classid set to the class's minor (the filter's `classid MAJ:`
 *    gives the major when it sits on a classful qdisc) and, on egress,
 *    skb->priority set to the full class id, which HTB and PRIO use to pick
 *    the class with no filter of their own.  Anything else (a pass rule,
 *    mark or dscp alone, no rule): TC_ACT_UNSPEC, "not classified": the next
 *    filter or the qdisc's default class decides, and clsact passes the
 *    packet.  (TC_ACT_OK there would put the packet in class MAJ:0, HTB's
 *    unshaped direct queue.)  cls_firewall, which has no effects, returns
 *    TC_ACT_OK for pass: a firewall's accept ends the filter chain.
 *  - classic (`bpf` without `da`, on a classful qdisc's parent): the return
 *    value is the class id of a classify rule, 0 otherwise (the next filter
 *    or the qdisc's default decides).  Classic filters cannot drop.
 * mark and dscp act in both modes.  A rule without effects leaves the packet
 * as it was.  Class ids are also left in skb->cb[0] (scratch space tc
 * programs may use), which is how tests see them: BPF_PROG_TEST_RUN reports
 * cb[] back, not tc_classid.
 */
#ifndef NETSIEVE_TC_H
#define NETSIEVE_TC_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "engine.h"
#include "hook.h"

enum ns_tc_mode {
	NS_TC_DA_INGRESS,
	NS_TC_DA_EGRESS,
	NS_TC_CLASSIC,
};

/* Rewrite the DSCP bits of the IP header at f->l3_off, keeping ECN. */
static __always_inline void ns_tc_set_dscp(struct __sk_buff *skb,
					   const struct ns_flow *f, __u8 dscp)
{
	__u32 off = f->l3_off;
	__be16 old, new;

	if (bpf_skb_load_bytes(skb, off, &old, 2))
		return;
	if (f->l3 == NS_L3_IPV4) {
		/* Bytes 0-1: version/ihl, TOS; the checksum covers them. */
		__u16 h = bpf_ntohs(old);

		h = (h & 0xff03) | ((__u16)(dscp & 0x3f) << 2);
		new = bpf_htons(h);
		if (new == old)
			return;
		if (bpf_l3_csum_replace(skb, off + 10, old, new, 2))
			return;
		bpf_skb_store_bytes(skb, off, &new, 2, 0);
	} else if (f->l3 == NS_L3_IPV6) {
		/* Version (4 bits), traffic class (8: DSCP 6 + ECN 2), flow
		 * label: DSCP is bits 4..9 of the first 16 bits.  No header
		 * checksum, and L4 checksums do not cover it. */
		__u16 h = bpf_ntohs(old);

		h = (h & 0xf03f) | ((__u16)(dscp & 0x3f) << 6);
		new = bpf_htons(h);
		/* BPF_F_RECOMPUTE_CSUM keeps skb->csum right where the NIC
		 * gave a whole-packet checksum (CHECKSUM_COMPLETE, ingress):
		 * the stack later pulls this header out of it. */
		if (new != old)
			bpf_skb_store_bytes(skb, off, &new, 2, BPF_F_RECOMPUTE_CSUM);
	}
}

/*
 * Carry out a matched rule's effects (res: ns_engine's result, mode: enum
 * ns_tc_mode); returns the class id it set, or 0.  A global function, checked
 * once by the verifier rather than once for every way out of the engine.
 */
__attribute__((noinline)) __u32 ns_tc_effects(struct __sk_buff *skb,
					      const struct ns_flow *f, __u32 table,
					      __u32 res, __u32 mode)
{
	__u32 eff = NS_RES_EFFECTS(res), key, classid = 0;
	struct ns_rule *r;

	if (!skb || !f || !eff || table >= NS_TABLES)
		return 0;
	/* res comes from ns_engine, but this function is checked on its own:
	 * bound what it indexes with. */
	key = (NS_RES_GEN(res) * NS_TABLES + table) * NS_MAX_RULES +
	      (NS_RES_POS(res) & (NS_MAX_RULES - 1));
	r = bpf_map_lookup_elem(&nsv4_rules, &key);
	if (!r)
		return 0;
	if (eff & NS_EFF_MARK)
		skb->mark = r->arg_mark;
	if (eff & NS_EFF_CLASSIFY) {
		classid = r->arg_classid;
		skb->tc_classid = classid & 0xffff;
		if (mode == NS_TC_DA_EGRESS)
			skb->priority = classid;
		skb->cb[0] = classid;
	}
	if (eff & NS_EFF_DSCP)
		ns_tc_set_dscp(skb, f, r->arg_dscp);
	return classid;
}

/*
 * What the TCP payload of a parsed frame starts with (enum ns_http),
 * counted per kind for table.  A global function on purpose: the verifier
 * checks it once, and its result reaches the engine as one unknown value;
 * inlined, each of the fifteen kinds would be a known value and a separate
 * walk of the whole engine (cls_http went past half the verifier's limit).
 */
__attribute__((noinline)) int ns_http_tc(struct __sk_buff *skb,
					 const struct ns_flow *f, __u32 table)
{
	__u8 b[12] = {};
	__u32 n;
	int kind;

	/* The first 12 bytes, or fewer: a segment that ends early still shows
	 * its method ("GET " is the shortest); the bytes not there stay zero,
	 * which no method or status line has. */
	if (!skb || !f || f->reason != NS_R_OK || f->l4_proto != NS_IPPROTO_TCP ||
	    !(f->flags & NS_F_PAYLOAD) || f->payload_off + 4 > f->ip_end)
		return NS_HTTP_NONE;
	n = f->ip_end - f->payload_off;
	if (n > sizeof(b))
		n = sizeof(b);
	if (n < 4 || bpf_skb_load_bytes(skb, f->payload_off, b, n))
		return NS_HTTP_NONE;
	kind = ns_http_kind(b);
	if (kind)
		ns_count(&nsv4_cnt_http, (table % NS_TABLES) * NS_HTTP_KINDS + kind,
			 skb->len);
	return kind;
}

/* Parse, judge against table, act; returns the tc return value. */
static __always_inline int ns_tc_run(struct __sk_buff *skb, __u32 table,
				     enum ns_tc_mode mode, int with_effects,
				     int with_http)
{
	struct ns_flow f;
	__u32 classid = 0;
	int res;

	ns_tc_pull(skb);
	ns_parse_tc(skb, &f);
	if (with_http)
		f.http = ns_http_tc(skb, &f, table) & (NS_HTTP_KINDS - 1);
	res = ns_engine(&f, table, skb->len);
	if (NS_RES_ACTION(res) == NS_ACT_DROP)
		return mode == NS_TC_CLASSIC ? 0 : TC_ACT_SHOT;
	if (!with_effects)
		return TC_ACT_OK;
	if (NS_RES_SOURCE(res) == NS_SRC_RULE)
		classid = ns_tc_effects(skb, &f, table, res, mode);
	if (mode == NS_TC_CLASSIC)
		return classid;
	return classid ? TC_ACT_OK : TC_ACT_UNSPEC;
}

#endif /* NETSIEVE_TC_H */
