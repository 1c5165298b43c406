// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve HTTP classifier: recognises HTTP/1.x requests by method and
 * responses by status class at the start of a TCP payload (behind TCP
 * options, IPv4 options or IPv6 extension headers; non-linear skbs are
 * pulled first), counts them per method / status class (nsv4_cnt_http), and
 * runs the ingress or egress table with the `http` field filled in, so that
 * rules like `rule add table egress http POST action classify 1:30` or
 * `rule add table ingress http DELETE action drop` apply.  Effects and modes
 * as cls_classify (direct action).  Only the first segment of a request is
 * looked at: HTTP/2 and TLS are not HTTP/1.x and count as nothing.
 *
 * Attach:
 *   tc qdisc add dev DEV clsact
 *   tc filter add dev DEV ingress bpf da obj cls_http.o sec tc program cls_http_ingress
 *   tc filter add dev DEV egress  bpf da obj cls_http.o sec tc program cls_http_egress
 * Maps: the nsv4_* maps of include/netsieve/maps.h.
 */
#include "netsieve/tc.h"

SEC("tc")
int cls_http_ingress(struct __sk_buff *skb)
{
	return ns_tc_run(skb, NS_TABLE_INGRESS, NS_TC_DA_INGRESS, 1, 1);
}

SEC("tc")
int cls_http_egress(struct __sk_buff *skb)
{
	return ns_tc_run(skb, NS_TABLE_EGRESS, NS_TC_DA_EGRESS, 1, 1);
}

char _license[] SEC("license") = "Dual BSD/GPL";
