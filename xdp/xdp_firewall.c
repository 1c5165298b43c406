// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve XDP firewall: the rule engine on the `xdp` table, drop or pass.
 *
 * Attach:  ip link set dev DEV xdp obj xdp_firewall.o sec xdp
 *          (or scripts/xdp-attach DEV), configure with `netsieve rule ...`.
 * Maps:    every nsv4_* map of include/netsieve/maps.h, pinned by name in
 *          the iproute2 directory (/sys/fs/bpf/tc/globals) and shared with
 *          the tc classifiers; rules survive detach, reload and re-attach.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "netsieve/engine.h"
#include "netsieve/hook.h"

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	__u32 bytes = ctx->data_end - ctx->data;
	struct ns_flow f;
	int res;

	ns_parse_xdp_inline(ctx, &f);
	res = ns_engine(&f, NS_TABLE_XDP, bytes);
	return NS_RES_ACTION(res) == NS_ACT_DROP ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
