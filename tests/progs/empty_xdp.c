// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Benchmarks only: the cheapest XDP program, the floor every cost is
 * measured against. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int empty_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
