/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The rule engine shared by the XDP and tc programs: bit-vector search over
 * ordered rules (docs/DESIGN.md).
 *
 * For one packet, every field a rule can constrain ("dimension") is looked up
 * once, yielding the bitmap of rules whose constraint on that field the packet
 * satisfies.  The first bit set in the AND of those bitmaps is the first rule
 * that matches.  Lookups are array reads (ports, protocol, VLAN, fragment,
 * ICMP) or a directory-plus-ranges search (addresses, with every prefix set
 * folded in), so the cost hardly depends on how many rules or prefixes there
 * are; dimensions no rule uses are skipped.
 *
 * The configuration is double-buffered: nsv1_state.gen names the generation
 * the engine reads, read once per packet, so a packet never sees half of a
 * change.
 *
 * ns_engine() is a global BPF function: the verifier checks it once on its
 * own, whatever the calling program does around it.
 */
#ifndef NETSIEVE_ENGINE_H
#define NETSIEVE_ENGINE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow.h"
#include "maps.h"
#include "parser.h"

/* ns_engine() result: action, where it came from, rule position, generation. */
#define NS_RES_ACTION(r) ((__u32)(r) & 0xf)
#define NS_RES_SOURCE(r) (((__u32)(r) >> 4) & 0x3)
#define NS_RES_GEN(r)    (((__u32)(r) >> 6) & 0x1)
#define NS_RES_POS(r)    (((__u32)(r) >> 8) & 0xffff)

/* Steps of a range search: enough for the largest chunk a pool can hold. */
#define NS_SEARCH_STEPS 22

/* Count trailing zeros without branches (the verifier would otherwise walk
 * every path through a branchy version). x must not be 0. */
static __always_inline __u32 ns_ctz64(__u64 x)
{
	__u64 v = (x & -x) - 1;

	v = v - ((v >> 1) & 0x5555555555555555ULL);
	v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((v * 0x0101010101010101ULL) >> 56) & 63;
}

/* 1 if a <= b (unsigned 64-bit), without a branch. */
static __always_inline __u64 ns_le64(__u64 a, __u64 b)
{
	/* b - a borrows (bit 64) exactly when a > b. */
	return 1 - ((((~b & a) | ((~b | a) & (b - a))) >> 63) & 1);
}

/* Range i of the IPv4 pool; false when i is out of the pool (never for a
 * pool the CLI wrote). */
static __always_inline int ns_r4_get(__u32 i, __u32 *v)
{
	__u32 k = i >> 1;
	__u64 *e = bpf_map_lookup_elem(&nsv1_r4, &k);
	__u64 lo, hi;

	if (!e)
		return 0;
	/* Pick the half without a variable shift (keeps verification cheap). */
	lo = (__u32)*e;
	hi = *e >> 32;
	*v = (__u32)(lo + ((hi - lo) & -(__u64)(i & 1)));
	return 1;
}

/* Bitmap id for IPv4 address a (host order) in directory l1.  Global, so
 * the verifier checks the search loop once. */
__attribute__((noinline)) __u32 ns_lookup4(__u32 l1, __u32 a)
{
	struct ns_l1 *d = bpf_map_lookup_elem(&nsv1_l1, &l1);
	__u32 e, base, n, v, pos = 0, step, key = a & 0xffff;

	if (!d)
		return 0;
	e = d->e[(a >> 16) & 0xffff];
	if (!(e & NS_L1_CHUNK))
		return e & 0xffff;
	base = (e & ~NS_L1_CHUNK) + 1;
	if (!ns_r4_get(base - 1, &n))
		return 0;
	/* Largest power of two below n, then halve: pos ends on the last
	 * range starting at or below key (range 0 starts at the block). */
	step = n;
	step |= step >> 1;
	step |= step >> 2;
	step |= step >> 4;
	step |= step >> 8;
	step |= step >> 16;
	step = (step + 1) >> 1;
#pragma clang loop unroll(disable)
	for (int i = 0; i < NS_SEARCH_STEPS; i++) {
		__u32 cand;
		__u64 ok;

		if (!step)
			break;
		cand = pos + step;
		if (!ns_r4_get(base + cand, &v))
			return 0;
		ok = (cand < n) & ns_le64(v >> 16, key);
		pos += (__u32)ok * step;
		step >>= 1;
	}
	if (!ns_r4_get(base + pos, &v))
		return 0;
	return v & 0xffff;
}

static __always_inline int ns_r6_get(__u32 i, __u64 *hi, __u64 *lo)
{
	struct ns_r6 *e = bpf_map_lookup_elem(&nsv1_r6, &i);

	if (!e)
		return 0;
	*hi = e->hi;
	*lo = e->lo;
	return 1;
}

/* Bitmap id for IPv6 address (hi, lo host order) in directory l1. */
__attribute__((noinline)) __u32 ns_lookup6(__u32 l1, __u64 hi, __u64 lo)
{
	struct ns_l1 *d = bpf_map_lookup_elem(&nsv1_l1, &l1);
	__u64 ka = (hi << 16) | (lo >> 48), kb = lo & 0xffffffffffffULL, eh, el;
	__u32 e, base, n, pos = 0, step;

	if (!d)
		return 0;
	e = d->e[(hi >> 48) & 0xffff];
	if (!(e & NS_L1_CHUNK))
		return e & 0xffff;
	base = (e & ~NS_L1_CHUNK) + 1;
	if (!ns_r6_get(base - 1, &eh, &el))
		return 0;
	n = (__u32)eh;
	step = n;
	step |= step >> 1;
	step |= step >> 2;
	step |= step >> 4;
	step |= step >> 8;
	step |= step >> 16;
	step = (step + 1) >> 1;
#pragma clang loop unroll(disable)
	for (int i = 0; i < NS_SEARCH_STEPS; i++) {
		__u32 cand;
		__u64 ok, lt, eq;

		if (!step)
			break;
		cand = pos + step;
		if (!ns_r6_get(base + cand, &eh, &el))
			return 0;
		/* (eh, el >> 16) <= (ka, kb) */
		lt = 1 - ns_le64(ka, eh);             /* eh < ka */
		eq = ns_le64(eh, ka) & ns_le64(ka, eh);
		ok = (cand < n) & (lt | (eq & ns_le64(el >> 16, kb)));
		pos += (__u32)ok * step;
		step >>= 1;
	}
	if (!ns_r6_get(base + pos, &eh, &el))
		return 0;
	return el & 0xffff;
}

static __always_inline __u32 ns_be32_at(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* Bitmap id of an address field (0 src, 1 dst) for this packet. */
static __always_inline __u32 ns_addr_dim(const struct ns_table *t,
					 const struct ns_flow *f, int field,
					 const __u8 *addr)
{
	__u32 ref;

	if (f->l3 == NS_L3_IPV4) {
		ref = t->addr[field][0];
		if (!(ref & NS_ADDR_L1))
			return ref & 0xffff;
		return ns_lookup4(ref & ~NS_ADDR_L1, ns_be32_at(addr));
	}
	if (f->l3 == NS_L3_IPV6) {
		__u64 hi, lo;

		ref = t->addr[field][1];
		if (!(ref & NS_ADDR_L1))
			return ref & 0xffff;
		hi = ((__u64)ns_be32_at(addr) << 32) | ns_be32_at(addr + 4);
		lo = ((__u64)ns_be32_at(addr + 8) << 32) | ns_be32_at(addr + 12);
		return ns_lookup6(ref & ~NS_ADDR_L1, hi, lo);
	}
	return t->absent[field == 0 ? NS_DIM_SRC : NS_DIM_DST];
}

static __always_inline void ns_count(void *map, __u32 key, __u32 bytes)
{
	struct ns_counter *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline struct ns_bitmap *ns_bm(__u32 id)
{
	return bpf_map_lookup_elem(&nsv1_bitmap, &id);
}

/* One bitmap id per dimension (enum ns_dim). */
struct ns_ids {
	__u32 id[NS_DIMS];
};

/*
 * Position of the first rule set in all eight bitmaps, or -1.  Only words
 * whose summary bits survive the AND are visited, lowest first.
 */
__attribute__((noinline)) int ns_first_match(struct ns_ids *ids)
{
	struct ns_bitmap *b0, *b1, *b2, *b3, *b4, *b5, *b6, *b7;
	__u64 sum;

	if (!ids)
		return -1;
	b0 = ns_bm(ids->id[0]);
	b1 = ns_bm(ids->id[1]);
	b2 = ns_bm(ids->id[2]);
	b3 = ns_bm(ids->id[3]);
	b4 = ns_bm(ids->id[4]);
	b5 = ns_bm(ids->id[5]);
	b6 = ns_bm(ids->id[6]);
	b7 = ns_bm(ids->id[7]);
	if (!b0 || !b1 || !b2 || !b3 || !b4 || !b5 || !b6 || !b7)
		return -1;
	sum = b0->summary & b1->summary & b2->summary & b3->summary &
	      b4->summary & b5->summary & b6->summary & b7->summary;
	for (int i = 0; i < NS_RULE_WORDS; i++) {
		__u32 w;
		__u64 m;

		if (!sum)
			break;
		w = ns_ctz64(sum);
		m = b0->w[w] & b1->w[w] & b2->w[w] & b3->w[w] &
		    b4->w[w] & b5->w[w] & b6->w[w] & b7->w[w];
		if (m)
			return w * 64 + ns_ctz64(m);
		sum &= sum - 1;
	}
	return -1;
}

/*
 * Judge the flow against table (enum ns_table_id).  bytes is the frame length
 * for the counters.  Returns NS_RES_* packed fields.
 */
__attribute__((noinline)) int ns_engine(struct ns_flow *f, __u32 table, __u32 bytes)
{
	__u32 k0 = 0, gen = 0, tk, all;
	__u32 action = NS_ACT_PASS, source = NS_SRC_POLICY, pos = 0;
	struct ns_ids ids;
	struct ns_state *st;
	struct ns_table *t;
	struct ns_small *sm;
	struct ns_rule *r;
	__u32 *id = ids.id;
	int first;

	if (!f || table >= NS_TABLES)
		return NS_ACT_PASS | (NS_SRC_POLICY << 4);
	st = bpf_map_lookup_elem(&nsv1_state, &k0);
	if (st)
		gen = st->gen & 1;
	tk = gen * NS_TABLES + table;
	t = bpf_map_lookup_elem(&nsv1_tables, &tk);
	if (!t)
		goto out;

	if (f->reason != NS_R_OK) {
		ns_count(&nsv1_cnt_rsn, table * NS_R_MAX + (f->reason % NS_R_MAX), bytes);
		if (f->reason != NS_R_NON_IP) {
			source = NS_SRC_UNUSABLE;
			action = t->unusable[ns_reason_class(f->reason) & (NS_RC_MAX - 1)];
			goto out;
		}
	}
	if (f->reason == NS_R_NON_IP) {
		source = NS_SRC_NONIP;
		action = NS_ACT_PASS;
	} else {
		action = t->policy;
	}
	if (!t->nrules)
		goto out;

	/* Unused dimensions take the all-rules bitmap (the generation's
	 * first id). */
	all = gen * NS_BITMAPS_PER_GEN;
	id[NS_DIM_SRC] = id[NS_DIM_DST] = id[NS_DIM_PROTO] = all;
	id[NS_DIM_SPORT] = id[NS_DIM_DPORT] = id[NS_DIM_ICMP] = all;
	id[NS_DIM_VLAN] = id[NS_DIM_FRAG] = all;

	if (t->used & (1 << NS_DIM_SRC))
		id[NS_DIM_SRC] = ns_addr_dim(t, f, 0, f->saddr);
	if (t->used & (1 << NS_DIM_DST))
		id[NS_DIM_DST] = ns_addr_dim(t, f, 1, f->daddr);
	if (t->used & ((1 << NS_DIM_PROTO) | (1 << NS_DIM_VLAN) | (1 << NS_DIM_FRAG))) {
		sm = bpf_map_lookup_elem(&nsv1_small, &tk);
		if (!sm)
			goto out;
		if (t->used & (1 << NS_DIM_PROTO))
			id[NS_DIM_PROTO] = f->l3 ? sm->proto[f->l4_proto] :
						   t->absent[NS_DIM_PROTO];
		if (t->used & (1 << NS_DIM_VLAN))
			id[NS_DIM_VLAN] = sm->vlan[f->vlan_depth ?
						   (f->vlan_outer & 0xfff) :
						   NS_VLAN_NONE];
		if (t->used & (1 << NS_DIM_FRAG))
			id[NS_DIM_FRAG] = f->l3 ? sm->frag[f->frag & 3] :
						  t->absent[NS_DIM_FRAG];
	}
	if (t->used & ((1 << NS_DIM_SPORT) | (1 << NS_DIM_DPORT))) {
		if (f->flags & NS_F_PORTS) {
			__u32 pk = tk * 2;
			struct ns_u16map *pm;

			if (t->used & (1 << NS_DIM_SPORT)) {
				pm = bpf_map_lookup_elem(&nsv1_ports, &pk);
				if (!pm)
					goto out;
				id[NS_DIM_SPORT] = pm->id[f->sport];
			}
			pk++;
			if (t->used & (1 << NS_DIM_DPORT)) {
				pm = bpf_map_lookup_elem(&nsv1_ports, &pk);
				if (!pm)
					goto out;
				id[NS_DIM_DPORT] = pm->id[f->dport];
			}
		} else {
			if (t->used & (1 << NS_DIM_SPORT))
				id[NS_DIM_SPORT] = t->absent[NS_DIM_SPORT];
			if (t->used & (1 << NS_DIM_DPORT))
				id[NS_DIM_DPORT] = t->absent[NS_DIM_DPORT];
		}
	}
	if (t->used & (1 << NS_DIM_ICMP)) {
		if (f->flags & NS_F_ICMP) {
			struct ns_u16map *im = bpf_map_lookup_elem(&nsv1_icmp, &tk);

			if (!im)
				goto out;
			id[NS_DIM_ICMP] = im->id[((__u32)f->icmp_type << 8) | f->icmp_code];
		} else {
			id[NS_DIM_ICMP] = t->absent[NS_DIM_ICMP];
		}
	}

	first = ns_first_match(&ids);
	if (first < 0 || first >= NS_MAX_RULES)
		goto out;
	pos = first;
	{
		__u32 rk = tk * NS_MAX_RULES + pos;

		r = bpf_map_lookup_elem(&nsv1_rules, &rk);
	}
	if (!r)
		goto out;
	source = NS_SRC_RULE;
	action = r->action;
	ns_count(&nsv1_cnt_rule, r->slot, bytes);
out:
	action &= NS_ACT_MAX - 1;
	ns_count(&nsv1_cnt_verd, (table * NS_SOURCES + source) * NS_ACT_MAX + action,
		 bytes);
	return action | (source << 4) | (gen << 6) | (pos << 8);
}

#endif /* NETSIEVE_ENGINE_H */
