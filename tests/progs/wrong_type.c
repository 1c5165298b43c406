// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Tests only: a socket filter, which replay must refuse by type. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int sock_filter_prog(struct __sk_buff *skb)
{
	return 0;
}

char _license[] SEC("license") = "Dual BSD/GPL";
