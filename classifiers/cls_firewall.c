// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve tc firewall: the rule engine on the `ingress` or `egress` table,
 * drop or pass.  Egress filtering is what XDP cannot do.  Rules' classify,
 * mark and dscp effects are ignored here (cls_classify carries them out).
 *
 * Attach (direct action, on clsact):
 *   tc qdisc add dev DEV clsact
 *   tc filter add dev DEV ingress bpf da obj cls_firewall.o sec tc program cls_fw_ingress
 *   tc filter add dev DEV egress  bpf da obj cls_firewall.o sec tc program cls_fw_egress
 *   (or scripts/tc-attach DEV ingress|egress cls_firewall.o)
 * Maps: the nsv4_* maps of include/netsieve/maps.h, shared with every other
 * netsieve program through iproute2's pin directory.
 */
#include "netsieve/tc.h"

SEC("tc")
int cls_fw_ingress(struct __sk_buff *skb)
{
	return ns_tc_run(skb, NS_TABLE_INGRESS, NS_TC_DA_INGRESS, 0, 0);
}

SEC("tc")
int cls_fw_egress(struct __sk_buff *skb)
{
	return ns_tc_run(skb, NS_TABLE_EGRESS, NS_TC_DA_EGRESS, 0, 0);
}

char _license[] SEC("license") = "Dual BSD/GPL";
