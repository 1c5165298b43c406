// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve tc classifier: the rule engine on the `ingress` or `egress` table
 * with the classify MAJ:MIN, mark N and dscp D effects, plus drop/pass.  One
 * cls_bpf filter replaces a chain of u32/flower filters: the cost does not
 * grow with the number of rules.  Modes: see include/netsieve/tc.h.
 *
 * Attach, direct action on clsact (egress: skb->priority picks the class of
 * an HTB/PRIO root qdisc with no filter of its own):
 *   tc qdisc add dev DEV clsact
 *   tc filter add dev DEV egress bpf da obj cls_classify.o sec tc program cls_classify_egress
 *   tc filter add dev DEV ingress bpf da obj cls_classify.o sec tc program cls_classify_ingress
 * Attach as a classic classifier of a classful qdisc (returns the class id;
 * cannot drop), table egress:
 *   tc filter add dev DEV parent 1: bpf obj cls_classify.o sec tc program cls_classify_classic
 * Or: scripts/tc-attach, scripts/htb-example.
 * Maps: the nsv4_* maps of include/netsieve/maps.h.
 */
#include "netsieve/tc.h"

SEC("tc")
int cls_classify_ingress(struct __sk_buff *skb)
{
	return ns_tc_run(skb, NS_TABLE_INGRESS, NS_TC_DA_INGRESS, 1, 0);
}

SEC("tc")
int cls_classify_egress(struct __sk_buff *skb)
{
	return ns_tc_run(skb, NS_TABLE_EGRESS, NS_TC_DA_EGRESS, 1, 0);
}

SEC("tc")
int cls_classify_classic(struct __sk_buff *skb)
{
	return ns_tc_run(skb, NS_TABLE_EGRESS, NS_TC_CLASSIC, 1, 0);
}

char _license[] SEC("license") = "Dual BSD/GPL";
