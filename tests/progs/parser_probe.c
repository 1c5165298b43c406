// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Parser probe (tests only): runs ns_parse() and prepends what it produced to
 * the packet, so `netsieve replay --out` hands tests the flow description of
 * every packet.  Output frame = struct ns_probe_hdr + original frame.
 *
 * Hooks: probe_xdp (SEC xdp) and probe_tc (SEC tc) share the parser; tests
 * compare both against what scapy built.  No maps.
 *
 * Test envelope: a frame whose ethertype is 0x88b5 (IEEE local experimental)
 * carries the frame to parse after its 14-byte header.  It lets the tests feed
 * the parser frames shorter than the 14 bytes BPF_PROG_TEST_RUN accepts;
 * offsets are then relative to the inner frame.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "netsieve/hook.h"

#define NS_PROBE_MAGIC 0x4c46534e /* "NSFL" little endian */

struct ns_probe_hdr {
	__u32 magic;
	__u16 version;
	__u16 size;
	struct ns_flow flow;
};

#define NS_PROBE_ENVELOPE 0x88b5

static __always_inline void *probe_start(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) <= data_end &&
	    eth->h_proto == bpf_htons(NS_PROBE_ENVELOPE))
		return eth + 1;
	return data;
}

SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	struct ns_probe_hdr rec = { .magic = NS_PROBE_MAGIC,
				    .version = NS_FLOW_VERSION,
				    .size = sizeof(struct ns_flow) };
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	/* The envelope case calls the core parser directly: it has to start
	 * inside the frame. */
	if (probe_start(data, data_end) != data)
		ns_parse(probe_start(data, data_end), data_end, &rec.flow, 0);
	else
		ns_parse_xdp(ctx, &rec.flow);
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(rec)))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(rec) > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, &rec, sizeof(rec));
	return XDP_PASS;
}

SEC("tc")
int probe_tc(struct __sk_buff *skb)
{
	struct ns_probe_hdr rec = { .magic = NS_PROBE_MAGIC,
				    .version = NS_FLOW_VERSION,
				    .size = sizeof(struct ns_flow) };
	void *data, *data_end;

	ns_tc_pull(skb);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (probe_start(data, data_end) != data)
		ns_parse(probe_start(data, data_end), data_end, &rec.flow, 0);
	else
		ns_parse_tc(skb, &rec.flow);
	if (bpf_skb_change_head(skb, sizeof(rec), 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, &rec, sizeof(rec), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
