// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Replay test subject (tests only).  Returns the verdict stored in the pinned
 * map nstest_verdict (0 = pass) and counts runs in the pinned counter map
 * nstest_cnt, so tests can see whether replay shared a pinned map or kept it
 * private.  The tc program also moves the context: mark += 1 and
 * priority |= 0x10000.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nstest_verdict SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nstest_cnt SEC(".maps");

static __always_inline __u32 subject_verdict(void)
{
	__u32 k = 0, *v = bpf_map_lookup_elem(&nstest_verdict, &k);
	__u64 *n = bpf_map_lookup_elem(&nstest_cnt, &k);

	if (n)
		__sync_fetch_and_add(n, 1);
	return v ? *v : 0;
}

SEC("xdp")
int subj_xdp(struct xdp_md *ctx)
{
	__u32 v = subject_verdict();

	return v ? v : XDP_PASS;
}

SEC("tc")
int subj_tc(struct __sk_buff *skb)
{
	__u32 v = subject_verdict();

	skb->mark += 1;
	skb->priority |= 0x10000;
	return v ? (int)v : TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
