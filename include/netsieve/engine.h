/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The rule engine shared by the XDP and tc programs: bit-vector search over
 * ordered rules (docs/DESIGN.md).
 *
 * For one packet, every field some rule constrains ("dimension") is looked up
 * once, yielding the bitmap of rules whose constraint on that field the packet
 * satisfies.  The first bit set in the AND of those bitmaps is the first rule
 * that matches.  Lookups are array reads (ports, protocol, VLAN, fragment,
 * ICMP) or a directory plus a short range search (addresses, with every prefix
 * set folded in), so the cost hardly depends on how many rules or prefixes
 * there are; dimensions no rule uses cost nothing.
 *
 * Costs here are counted in map lookups (a few ns each even inlined), so the
 * layout is built to need few: one lookup gives a table's live generation,
 * its settings and every rule's action; only used dimensions are read.
 *
 * The functions marked noinline are global BPF functions: the verifier checks
 * each once, on its own, whatever the calling program does around it.
 */
#ifndef NETSIEVE_ENGINE_H
#define NETSIEVE_ENGINE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow.h"
#include "maps.h"
#include "parser.h"

/* ns_engine() result: action, effects, where it came from, generation and
 * rule position. */
#define NS_RES_ACTION(r)  ((__u32)(r) & 0xf)
#define NS_RES_EFFECTS(r) (((__u32)(r) >> 4) & 0xf)
#define NS_RES_SOURCE(r)  (((__u32)(r) >> 8) & 0x3)
#define NS_RES_GEN(r)     (((__u32)(r) >> 10) & 0x1)
#define NS_RES_POS(r)     (((__u32)(r) >> 16) & 0xffff)

/* Steps of a range search: enough for the largest chunk a pool can hold. */
#define NS_SEARCH_STEPS 22

/* Count trailing zeros without branches (a branchy version makes the
 * verifier walk every path).  x must not be 0. */
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
	return 1 - ((((~b & a) | ((~b | a) & (b - a))) >> 63) & 1);
}

/* Highest power of two <= n, or 0. */
static __always_inline __u32 ns_floor_pow2(__u32 n)
{
	n |= n >> 1;
	n |= n >> 2;
	n |= n >> 4;
	n |= n >> 8;
	n |= n >> 16;
	return n - (n >> 1);
}

/* IPv4 ranges, two per 64-bit pool element: range i of a chunk starting at
 * element e is the low (even i) or high half of element e + i / 2. */
static __always_inline int ns_r4_pair(__u32 e, __u64 *v)
{
	__u64 *p = bpf_map_lookup_elem(&nsv1_r4, &e);

	if (!p)
		return 0;
	*v = *p;
	return 1;
}

/* Bitmap id for IPv4 address a (host order) in directory l1. */
__attribute__((noinline)) __u32 ns_lookup4(__u32 l1, __u32 a)
{
	struct ns_l1 *d = bpf_map_lookup_elem(&nsv1_l1, &l1);
	__u32 e, el, n, pos = 0, step, key = a & 0xffff;
	__u64 pair, cur;

	if (!d)
		return 0;
	e = d->e[(a >> 16) & 0xffff];
	if (!(e & NS_L1_CHUNK))
		return e & 0xffff;
	el = NS_L1_INDEX(e);
	n = NS_L1_COUNT(e);
	if (!n) {
		/* Large chunk: a header element holds n. */
		if (!ns_r4_pair(el, &pair))
			return 0;
		n = (__u32)pair;
		el++;
	}
	/* Binary lifting: pos ends on the last range starting at or below key
	 * (range 0 starts at the block).  Steps of two or more keep pos even,
	 * so `cur`, the pair holding range pos, also holds range pos + 1: the
	 * final step of one costs no read. */
	if (!ns_r4_pair(el, &cur))
		return 0;
	step = ns_floor_pow2(n);
#pragma clang loop unroll(disable)
	for (int i = 0; i < NS_SEARCH_STEPS; i++) {
		__u32 cand;
		__u64 ok;

		if (step < 2)
			break;
		cand = pos + step;
		if (cand < n) {
			if (!ns_r4_pair(el + (cand >> 1), &pair))
				return 0;
			ok = ns_le64((__u32)pair >> 16, key);
			pos += (__u32)ok * step;
			cur += ok * (pair - cur);
		}
		step >>= 1;
	}
	if (pos + 1 < n && ((__u32)(cur >> 32) >> 16) <= key)
		return (__u32)(cur >> 32) & 0xffff;
	return (__u32)cur & 0xffff;
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
	__u32 e, base, n, pos = 0, step, val;

	if (!d)
		return 0;
	e = d->e[(hi >> 48) & 0xffff];
	if (!(e & NS_L1_CHUNK))
		return e & 0xffff;
	base = NS_L1_INDEX(e);
	n = NS_L1_COUNT(e);
	if (!n) {
		if (!ns_r6_get(base, &eh, &el))
			return 0;
		n = (__u32)eh;
		base++;
	}
	if (!ns_r6_get(base, &eh, &el))
		return 0;
	val = (__u32)el;
	step = ns_floor_pow2(n);
#pragma clang loop unroll(disable)
	for (int i = 0; i < NS_SEARCH_STEPS; i++) {
		__u32 cand;
		__u64 ok, lt, eq;

		if (!step)
			break;
		cand = pos + step;
		if (cand < n) {
			if (!ns_r6_get(base + cand, &eh, &el))
				return 0;
			/* (eh, el >> 16) <= (ka, kb) */
			lt = 1 - ns_le64(ka, eh);
			eq = ns_le64(eh, ka) & ns_le64(ka, eh);
			ok = lt | (eq & ns_le64(el >> 16, kb));
			pos += (__u32)ok * step;
			val += (__u32)ok * ((__u32)el - val);
		}
		step >>= 1;
	}
	return val & 0xffff;
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

/* The bitmap ids of the used dimensions, packed at the front. */
struct ns_ids {
	__u32 id[NS_DIMS];
	__u32 one_word;     /* the table has at most 64 rules */
};

/*
 * Position of the first rule set in the n bitmaps, or -1.  Only words whose
 * summary bits survive the AND are visited, lowest first.  n is a constant:
 * ns_fm1..ns_fm8 below each read exactly the bitmaps they need.
 */
static __always_inline int ns_first_match(struct ns_ids *ids, const int n)
{
	struct ns_bitmap *b[NS_DIMS];
	__u64 sum = ~0ULL, m;

	if (!ids)
		return -1;
#pragma unroll
	for (int i = 0; i < NS_DIMS; i++) {
		if (i >= n)
			break;
		b[i] = bpf_map_lookup_elem(&nsv1_bitmap, &ids->id[i]);
		if (!b[i])
			return -1;
	}
	if (ids->one_word) {
		m = ~0ULL;
#pragma unroll
		for (int k = 0; k < NS_DIMS; k++)
			if (k < n)
				m &= b[k]->w[0];
		return m ? (int)ns_ctz64(m) : -1;
	}
#pragma unroll
	for (int k = 0; k < NS_DIMS; k++)
		if (k < n)
			sum &= b[k]->summary;
	for (int i = 0; i < NS_RULE_WORDS; i++) {
		__u32 w;

		if (!sum)
			break;
		w = ns_ctz64(sum);
		m = ~0ULL;
#pragma unroll
		for (int k = 0; k < NS_DIMS; k++)
			if (k < n)
				m &= b[k]->w[w];
		if (m)
			return w * 64 + ns_ctz64(m);
		sum &= sum - 1;
	}
	return -1;
}

#define NS_FM(N)                                                               \
	__attribute__((noinline)) int ns_fm##N(struct ns_ids *ids)             \
	{                                                                      \
		return ns_first_match(ids, N);                                 \
	}
NS_FM(1) NS_FM(2) NS_FM(3) NS_FM(4) NS_FM(5) NS_FM(6) NS_FM(7) NS_FM(8)

/* Append an id.  The empty asm hides the index's range from the compiler,
 * which would otherwise OR it into the stack address (the verifier refuses
 * pointer ORs); the verifier still sees the mask. */
#define NS_PUSH(v)                                                             \
	do {                                                                   \
		__u32 __i = n & (NS_DIMS - 1);                                 \
		asm volatile("" : "+r"(__i));                                  \
		ids.id[__i] = (v);                                             \
		n++;                                                           \
	} while (0)

/* Append dimension d's id when the table uses it. */
#define NS_ADD_DIM(d, expr)                                                    \
	do {                                                                   \
		if (t->used & (1u << (d)))                                     \
			NS_PUSH(expr);                                         \
	} while (0)

/*
 * Judge the flow against table (enum ns_table_id).  bytes is the frame length
 * for the counters.  Returns NS_RES_* packed fields.
 */
__attribute__((noinline)) int ns_engine(struct ns_flow *f, __u32 table, __u32 bytes)
{
	__u32 gen = 0, n = 0, act;
	__u32 action = NS_ACT_PASS, source = NS_SRC_POLICY, pos = 0, effects = 0;
	struct ns_ids ids;
	struct ns_tslot *ts;
	struct ns_table *t;
	int first = -1;

	if (!f || table >= NS_TABLES)
		return NS_ACT_PASS | (NS_SRC_POLICY << 8);
	ts = bpf_map_lookup_elem(&nsv1_tables, &table);
	if (!ts)
		goto out;
	gen = ts->gen & 1;
	t = &ts->g[gen];

	if (f->reason != NS_R_OK) {
		ns_count(&nsv1_cnt_rsn, table * NS_R_MAX + (f->reason % NS_R_MAX), bytes);
		if (f->reason != NS_R_NON_IP) {
			source = NS_SRC_UNUSABLE;
			action = t->unusable[ns_reason_class(f->reason) & (NS_RC_MAX - 1)];
			goto out;
		}
		source = NS_SRC_NONIP;
		action = NS_ACT_PASS;
	} else {
		action = t->policy;
	}
	if (!t->nrules)
		goto out;

	if (t->used & ((1u << NS_DIM_SRC) | (1u << NS_DIM_DST))) {
		NS_ADD_DIM(NS_DIM_SRC, ns_addr_dim(t, f, 0, f->saddr));
		NS_ADD_DIM(NS_DIM_DST, ns_addr_dim(t, f, 1, f->daddr));
	}
	if (t->used & ((1u << NS_DIM_PROTO) | (1u << NS_DIM_VLAN) | (1u << NS_DIM_FRAG))) {
		__u32 sk = gen * NS_TABLES + table;
		struct ns_small *sm = bpf_map_lookup_elem(&nsv1_small, &sk);

		if (!sm)
			goto out;
		NS_ADD_DIM(NS_DIM_PROTO, f->l3 ? sm->proto[f->l4_proto] : t->absent[NS_DIM_PROTO]);
		NS_ADD_DIM(NS_DIM_VLAN, sm->vlan[f->vlan_depth ? (f->vlan_outer & 0xfff) :
					NS_VLAN_NONE]);
		NS_ADD_DIM(NS_DIM_FRAG, f->l3 ? sm->frag[f->frag & 3] : t->absent[NS_DIM_FRAG]);
	}
	if (t->used & ((1u << NS_DIM_SPORT) | (1u << NS_DIM_DPORT))) {
		__u32 pk = (gen * NS_TABLES + table) * 2;

		if (f->flags & NS_F_PORTS) {
			struct ns_u16map *pm;

			if (t->used & (1u << NS_DIM_SPORT)) {
				pm = bpf_map_lookup_elem(&nsv1_ports, &pk);
				if (!pm)
					goto out;
				NS_PUSH(pm->id[f->sport]);
			}
			pk++;
			if (t->used & (1u << NS_DIM_DPORT)) {
				pm = bpf_map_lookup_elem(&nsv1_ports, &pk);
				if (!pm)
					goto out;
				NS_PUSH(pm->id[f->dport]);
			}
		} else {
			NS_ADD_DIM(NS_DIM_SPORT, t->absent[NS_DIM_SPORT]);
			NS_ADD_DIM(NS_DIM_DPORT, t->absent[NS_DIM_DPORT]);
		}
	}
	if (t->used & (1u << NS_DIM_ICMP)) {
		if (f->flags & NS_F_ICMP) {
			__u32 ik = gen * NS_TABLES + table;
			struct ns_u16map *im = bpf_map_lookup_elem(&nsv1_icmp, &ik);

			if (!im)
				goto out;
			NS_PUSH(im->id[((__u32)f->icmp_type << 8) | f->icmp_code]);
		} else {
			NS_PUSH(t->absent[NS_DIM_ICMP]);
		}
	}

	ids.one_word = t->nwords <= 1;
	switch (n) {
	case 0: first = 0; break; /* no rule constrains anything */
	case 1: first = ns_fm1(&ids); break;
	case 2: first = ns_fm2(&ids); break;
	case 3: first = ns_fm3(&ids); break;
	case 4: first = ns_fm4(&ids); break;
	case 5: first = ns_fm5(&ids); break;
	case 6: first = ns_fm6(&ids); break;
	case 7: first = ns_fm7(&ids); break;
	default: first = ns_fm8(&ids); break;
	}
	if (first < 0 || first >= NS_MAX_RULES)
		goto out;
	pos = (__u32)first & (NS_MAX_RULES - 1); /* bound it for the verifier */
	act = t->act[pos];
	action = act & 0xf;
	effects = act >> 4;
	source = NS_SRC_RULE;
	ns_count(&nsv1_cnt_rule, t->slot[pos], bytes);
	goto done;
out:
	action &= NS_ACT_MAX - 1;
	ns_count(&nsv1_cnt_verd, (table * NS_SOURCES + source) * NS_ACT_MAX + action, bytes);
done:
	return (action & 0xf) | ((effects & 0xf) << 4) | (source << 8) | (gen << 10) |
	       (pos << 16);
}

#endif /* NETSIEVE_ENGINE_H */
