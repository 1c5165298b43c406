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

/*
 * Binary lifting over a plain IPv4 chunk at pool index i (config.h): pos
 * ends on the last range starting at or below key, the address's offset in
 * its /16 (range 0 is active at the chunk's start and never compared).
 */
static __always_inline __u32 ns_chunk4(struct ns_r4pool *p, __u32 i, __u32 key)
{
	__u32 h = p->r[i & (NS_R4_PER_GEN - 1)], n = NS_CHUNK_N(h), pos = 0, step;

	step = 1u << (NS_CHUNK_LG(h) & 31);
	i++;
#pragma clang loop unroll(disable)
	for (int s = 0; s < NS_SEARCH_STEPS; s++) {
		__u32 cand = pos + step, rv, t;

		/* Take the step when cand < n and range cand starts at or
		 * below key: both differences are non-negative (all values are
		 * below 2^22), so bit 31 of their OR is clear.  No branch. */
		rv = p->r[(i + cand) & (NS_R4_PER_GEN - 1)] >> 16;
		t = (key - rv) | (n - 1 - cand);
		pos += step & ((t >> 31) - 1);
		step >>= 1;
		if (!step)
			break;
	}
	return p->r[(i + pos) & (NS_R4_PER_GEN - 1)] & 0xffff;
}

/*
 * Bitmap id for IPv4 address a (host order) in directory `field` (0 src,
 * 1 dst) of table t, generation gen: the block's entry, through a
 * sub-directory when the block is crowded, then a short search.
 */
static __always_inline __u32 ns_lookup4(struct ns_table *t, __u32 field,
					__u32 gen, __u32 a)
{
	__u32 e, i, h, key = a & 0xffff;
	struct ns_r4pool *p;

	if (!t)
		return 0;
	e = t->l1[field & 1][0][(a >> 16) & 0xffff];
	if (!(e & NS_L1_CHUNK))
		return e & 0xffff;
	p = bpf_map_lookup_elem(&nsv4_r4, &gen);
	if (!p)
		return 0;
	i = NS_L1_INDEX(e);
	h = p->r[i & (NS_R4_PER_GEN - 1)];
	if (h & NS_CHUNK_SUB) {
		__u32 kb = h & 31, c = (h >> 8) & 31, top = 0, pv, ids;

		pv = p->r[(i + 1) & (NS_R4_PER_GEN - 1)];
		ids = p->r[(i + 2) & (NS_R4_PER_GEN - 1)];
		if (c)
			top = key >> ((16 - c) & 31);
		if (top != pv)
			return top < pv ? ids & 0xffff : ids >> 16;
		e = p->r[(i + 3 + ((key >> ((16 - c - kb) & 31)) & ((1u << (kb & 31)) - 1))) &
			 (NS_R4_PER_GEN - 1)];
		if (!(e & NS_L1_CHUNK))
			return e & 0xffff;
		i = NS_L1_INDEX(e);
	}
	return ns_chunk4(p, i, key);
}

/* The same over a plain IPv6 chunk; (ka, kb) = the address's offset in its
 * top-16-bit block, bits 16..79 and 80..127. */
static __always_inline __u32 ns_chunk6(struct ns_r6pool *p, __u32 i, __u64 ka, __u64 kb)
{
	__u64 hh = p->r[i & (NS_R6_PER_GEN - 1)].hi, k1 = ka >> 16, k2 = ka & 0xffff;
	__u32 n = (__u32)hh, pos = 0, step;

	step = 1u << ((hh >> 32) & 31);
	i++;
#pragma clang loop unroll(disable)
	for (int s = 0; s < NS_SEARCH_STEPS; s++) {
		__u32 cand = pos + step;

		if (cand < n) {
			struct ns_r6 *r = &p->r[(i + cand) & (NS_R6_PER_GEN - 1)];
			__u64 rh = r->hi, t;

			/* (hi, lo >> 16) <= (ka, kb): subtract limb by limb
			 * (48, 16 and 48 bits, so no difference overflows),
			 * lowest first, carrying the borrow in bit 63. */
			t = kb - (r->lo >> 16);
			t = k2 - (rh & 0xffff) - (t >> 63);
			t = k1 - (rh >> 16) - (t >> 63);
			pos += (__u32)(1 - (t >> 63)) * step;
		}
		step >>= 1;
		if (!step)
			break;
	}
	return p->r[(i + pos) & (NS_R6_PER_GEN - 1)].lo & 0xffff;
}

/* The same for IPv6 address (hi, lo host order). */
static __always_inline __u32 ns_lookup6(struct ns_table *t, __u32 field_gen,
					__u64 hi, __u64 lo)
{
	__u64 ka = (hi << 16) | (lo >> 48), kb = lo & 0xffffffffffffULL;
	__u32 e, i, gen = field_gen >> 1;
	struct ns_r6pool *p;
	struct ns_r6 *h;

	if (!t)
		return 0;
	e = t->l1[field_gen & 1][1][(hi >> 48) & 0xffff];
	if (!(e & NS_L1_CHUNK))
		return e & 0xffff;
	p = bpf_map_lookup_elem(&nsv4_r6, &gen);
	if (!p)
		return 0;
	i = NS_L1_INDEX(e);
	h = &p->r[i & (NS_R6_PER_GEN - 1)];
	if (h->hi >> 63) {
		__u32 kbits = h->hi & 31, c = (h->hi >> 8) & 63, j;
		__u64 top = 0, pv = p->r[(i + 1) & (NS_R6_PER_GEN - 1)].hi, q;

		if (c)
			top = ka >> ((64 - c) & 63);
		if (top != pv)
			return top < pv ? h->lo & 0xffff : (h->lo >> 16) & 0xffff;
		j = (__u32)(ka >> ((64 - c - kbits) & 63)) & ((1u << (kbits & 31)) - 1);
		q = (j & 2) ? p->r[(i + 2 + (j >> 2)) & (NS_R6_PER_GEN - 1)].lo :
			      p->r[(i + 2 + (j >> 2)) & (NS_R6_PER_GEN - 1)].hi;
		e = (__u32)(q >> ((j & 1) * 32));
		if (!(e & NS_L1_CHUNK))
			return e & 0xffff;
		i = NS_L1_INDEX(e);
	}
	return ns_chunk6(p, i, ka, kb);
}

/* Bitmap id of an address field (0 src, 1 dst) for this packet.  The
 * addresses sit 8-byte aligned in the flow: whole-word loads and one byte
 * swap each, not byte by byte. */
static __always_inline __u32 ns_addr_dim(struct ns_table *t, __u32 gen,
					 const struct ns_flow *f, int field)
{
	const __u8 *addr = field ? f->daddr : f->saddr;
	__u32 ref;

	if (f->l3 == NS_L3_IPV4) {
		__u32 a;

		ref = t->addr[field][0];
		if (!(ref & NS_ADDR_L1))
			return ref & 0xffff;
		__builtin_memcpy(&a, addr, 4);
		return ns_lookup4(t, field, gen, bpf_ntohl(a));
	}
	if (f->l3 == NS_L3_IPV6) {
		__u64 hi, lo;

		ref = t->addr[field][1];
		if (!(ref & NS_ADDR_L1))
			return ref & 0xffff;
		__builtin_memcpy(&hi, addr, 8);
		__builtin_memcpy(&lo, addr + 8, 8);
		return ns_lookup6(t, gen << 1 | field, bpf_be64_to_cpu(hi),
				  bpf_be64_to_cpu(lo));
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

/* The bitmap id of every dimension; 0 (the generation's all-rules bitmap,
 * which changes nothing in an AND) for dimensions no rule uses. */
struct ns_ids {
	__u32 id[NS_DIMS];
	__u32 gen;
};

/*
 * Position of the first matching rule, or -1.
 *
 * A word can hold a match only if one of its granules (NS_GRAN of its rules,
 * similar ones: see config.h) holds a rule of every used field's bitmap:
 * the bitmaps' spec summaries, one bit per granule, ANDed granule by
 * granule.  Those candidate words are checked exactly.  Inside a word the
 * rules are in written order, so its lowest bit is its best; prio[] ranks
 * the words' bests.
 *
 * Inlined into ns_engine_search: a BPF-to-BPF call costs more than this
 * whole search does for a typical packet.
 */
static __always_inline int ns_first_match(struct ns_ids *ids, struct ns_table *t,
					  __u32 used)
{
	struct ns_bitmap *b0, *b1, *b2, *b3, *b4, *b5, *b6, *b7, *b8;
	__u64 g[NS_GRAN_PER_WORD], cand = 0, m;
	struct ns_bmpool *pool;
	__u32 best = NS_NO_RULE;

	pool = bpf_map_lookup_elem(&nsv4_bitmap, &ids->gen);
	if (!pool)
		return -1;
	/* Unused dimensions keep id 0 (all rules) and are skipped here; in the
	 * exact check they AND all ones. */
#pragma unroll
	for (int q = 0; q < NS_GRAN_PER_WORD; q++)
		g[q] = t->words;
	b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = b8 = &pool->b[0];
#define NS_BM(k)                                                               \
	do {                                                                   \
		if (used & (1u << (k))) {                                      \
			b##k = &pool->b[ids->id[k] & (NS_BITMAPS_PER_GEN - 1)];\
			_Pragma("unroll")                                      \
			for (int q = 0; q < NS_GRAN_PER_WORD; q++)             \
				g[q] &= b##k->spec[q];                         \
		}                                                              \
	} while (0)
	NS_BM(0); NS_BM(1); NS_BM(2); NS_BM(3);
	NS_BM(4); NS_BM(5); NS_BM(6); NS_BM(7); NS_BM(8);
#undef NS_BM
#pragma unroll
	for (int q = 0; q < NS_GRAN_PER_WORD; q++)
		cand |= g[q];
	/* Candidate words, lowest first; each one's best match competes by
	 * rule position. */
	for (int i = 0; i < NS_RULE_WORDS; i++) {
		__u64 p, d;
		__u32 w;

		if (!cand)
			break;
		w = t->ctz[((cand & -cand) * NS_DEBRUIJN) >> 58] & 63;
		cand &= cand - 1;
		m = b0->w[w] & b1->w[w] & b2->w[w] & b3->w[w] &
		    b4->w[w] & b5->w[w] & b6->w[w] & b7->w[w] & b8->w[w];
		if (!m)
			continue;  /* a false candidate: the usual case */
		p = t->prio[(w * 64 + t->ctz[((m & -m) * NS_DEBRUIJN) >> 58]) &
			    (NS_MAX_RULES - 1)];
		d = (__u64)best - p;
		best = (__u32)(p + (d & (__u64)((__s64)d >> 63)));
	}
	return best == NS_NO_RULE ? -1 : (int)best;
}

/*
 * The flow cache (maps.h): a per-CPU, direct-mapped table of recent flows
 * and what their search returned, so a packet of a flow seen since the last
 * configuration change skips the search.  Its key is every flow field a
 * dimension reads, taken as whole 8-byte words of struct ns_flow: the
 * addresses (words 5-8), and words 0-2 masked to what rules can see:
 *   word 0: reason (0 here: only usable frames are cached; http and the
 *           table go in its place), eth_proto, flags (PORTS and ICMP kept),
 *           l3, l4_proto
 *   word 1: frag, vlan_depth (kept), ip6_ext, tcp_flags, icmp_type,
 *           icmp_code (kept), tos, ttl
 *   word 2: vlan_outer, vlan_inner, sport, dport (all kept)
 * Keeping a field no rule reads (vlan_inner, the depth's value) only makes
 * the key more specific, never wrong.
 */
#define NS_FC_M0 0xffff000300000000ULL
#define NS_FC_M1 0x0000ffff0000ffffULL
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the flow cache's key masks assume a little-endian BPF target");
_Static_assert(__builtin_offsetof(struct ns_flow, flags) == 4 &&
	       __builtin_offsetof(struct ns_flow, l3) == 6 &&
	       __builtin_offsetof(struct ns_flow, l4_proto) == 7 &&
	       __builtin_offsetof(struct ns_flow, frag) == 8 &&
	       __builtin_offsetof(struct ns_flow, vlan_depth) == 9 &&
	       __builtin_offsetof(struct ns_flow, icmp_type) == 12 &&
	       __builtin_offsetof(struct ns_flow, icmp_code) == 13 &&
	       __builtin_offsetof(struct ns_flow, vlan_outer) == 16 &&
	       __builtin_offsetof(struct ns_flow, dport) == 22 &&
	       __builtin_offsetof(struct ns_flow, saddr) == 40 &&
	       __builtin_offsetof(struct ns_flow, daddr) == 56 &&
	       NS_F_PORTS == 1 && NS_F_ICMP == 2 && NS_R_OK == 0 && NS_TABLES <= 256,
	       "struct ns_flow moved: update the flow cache's key (NS_FC_M0, NS_FC_M1)");

/* ns_fc_entry.ckey: the counter a result was counted in, a rule slot or,
 * with this bit, a verdict slot. */
#define NS_FC_VERD 0x80000000u

/* -DNS_FC_ALWAYS_MISS (build/xdp_firewall_fcmiss.o, for the benchmark and
 * the cache-on/off differential test): look up, compare and fill as usual,
 * but never hit: what every packet of a new flow costs.  The compare sees
 * the stamp with bit 1 flipped, a bit no stamp has (the gen word is 0 or
 * 1); bit 0, the generation, would make an entry filled between a
 * change's two passes hit after the flip. */
#ifdef NS_FC_ALWAYS_MISS
#define NS_FC_MISS_BIT 2ULL
#else
#define NS_FC_MISS_BIT 0ULL
#endif

static __always_inline __u64 ns_fc_k4(const struct ns_flow *f, __u32 table)
{
	return (((const __u64 *)f)[0] & NS_FC_M0) | f->http | table << 8;
}

/* No cache slot (ns_engine_search: nothing to fill). */
#define NS_FC_NONE 0xffffffffu

/*
 * Flow f's slot in the cache: the parser's hash (struct ns_flow.hash) and
 * the table, mixed by one multiply; the top NS_FC_BITS bits (none: one
 * slot).  Only which slot a flow uses depends on it; a hit needs the whole
 * key.  The hash is folded from the registers the parser loaded the headers
 * into: hashing the key words read back here cost 4 ns more (a load of a
 * word written in pieces waits for the stores).
 */
static __always_inline __u32 ns_fc_slot(__u32 hash, __u32 table)
{
	return (__u32)((__u64)(__u32)((hash ^ table) * 0x9E3779B1u) >> (32 - NS_FC_BITS));
}

/*
 * The cache entry in slot idx.  *hit says whether it holds f's key and the
 * table's current stamp, and then *ckey and *res are what it holds (read
 * from the entry pointer while it is in a register: the hit path's counter
 * update depends on them).  NULL only if the lookup failed.
 */
static __always_inline struct ns_fc_entry *ns_fc_find(const struct ns_flow *f, __u32 table,
						      __u32 idx, __u64 stamp, int *hit,
						      __u32 *ckey, __u32 *res)
{
	const __u64 *w = (const __u64 *)f;
	__u64 k4 = ns_fc_k4(f, table), k5 = w[1] & NS_FC_M1;
	struct ns_fc_entry *e;

	e = bpf_map_lookup_elem(&ns_fcache, &idx);
	if (e) {
		*ckey = e->ckey;
		*res = e->res;
	}
	*hit = e && !((e->k[0] ^ w[5]) | (e->k[1] ^ w[6]) | (e->k[2] ^ w[7]) |
		      (e->k[3] ^ w[8]) | (e->k[4] ^ k4) | (e->k[5] ^ k5) | (e->k[6] ^ w[2]) |
		      (e->stamp ^ stamp ^ NS_FC_MISS_BIT));
	return e;
}

static __always_inline void ns_fc_fill(struct ns_fc_entry *e, const struct ns_flow *f,
				       __u32 table, __u64 stamp, __u32 res, __u32 ckey)
{
	const __u64 *w = (const __u64 *)f;

	/* Stamp last, and 0 (never a valid stamp: no live bit) meanwhile: a
	 * program that runs on this CPU in the middle of the fill (a softirq
	 * interrupting a BPF_PROG_TEST_RUN of the same program) misses. */
	e->stamp = 0;
	asm volatile("" ::: "memory");
	e->k[0] = w[5];
	e->k[1] = w[6];
	e->k[2] = w[7];
	e->k[3] = w[8];
	e->k[4] = ns_fc_k4(f, table);
	e->k[5] = w[1] & NS_FC_M1;
	e->k[6] = w[2];
	e->res = res;
	e->ckey = ckey;
	asm volatile("" ::: "memory");
	e->stamp = stamp;
}

/*
 * The cache's hit path, for a usable flow whose table has the cache on
 * (stamp bit 63).  A hit returns 1 with *res the result of the last search,
 * counted in the same counter.  A miss returns 0 with *slot the slot to
 * fill after the search (NS_FC_NONE if the lookup failed: no fill then).
 */
static __always_inline int ns_fc_hit(const struct ns_flow *f, __u32 hash, __u32 table,
				     __u64 stamp, __u32 bytes, __u32 *slot, __u32 *res)
{
	__u32 ckey, idx = ns_fc_slot(hash, table);
	int hit;

	if (!ns_fc_find(f, table, idx, stamp, &hit, &ckey, res))
		return 0;
	if (!hit) {
		*slot = idx;
		return 0;
	}
	if (ckey & NS_FC_VERD)
		ns_count(&nsv4_cnt_verd, ckey & ~NS_FC_VERD, bytes);
	else
		ns_count(&nsv4_cnt_rule, ckey, bytes);
	return 1;
}

/* Set dimension d's id when the table uses it. */
#define NS_ADD_DIM(d, expr)                                                    \
	do {                                                                   \
		if (used & (1u << (d)))                                        \
			ids.id[d] = (expr);                                    \
	} while (0)

/*
 * Judge the flow against table (enum ns_table_id) without the cache: what
 * ns_engine() calls when the cache did not answer.  stamp is the table's
 * stamp as ns_engine() read it (its generation is the one searched; the
 * fill is stamped with it); slot is the cache slot to fill with the result,
 * or NS_FC_NONE.  A global function: the verifier walks the search once,
 * not once for every way out of a parser inlined in front of it, and an
 * established flow pays no call.
 */
__attribute__((noinline)) int ns_engine_search(struct ns_flow *f, __u32 table, __u32 bytes,
					       __u64 stamp, __u32 slot)
{
	__u32 gen = 0, act, used;
	__u32 action = NS_ACT_PASS, source = NS_SRC_POLICY, pos = 0, effects = 0;
	struct ns_ids ids;
	struct ns_fc_entry *fc = 0;
	struct ns_tslot *ts;
	struct ns_table *t;
	__u32 ckey, res;
	int first;

	if (!f || table >= NS_TABLES)
		return NS_ACT_PASS | (NS_SRC_POLICY << 8);
	ts = bpf_map_lookup_elem(&nsv4_tables, &table);
	if (!ts)
		goto out;
	gen = stamp & 1;
	if (slot != NS_FC_NONE)
		fc = bpf_map_lookup_elem(&ns_fcache, &slot);
	t = &ts->g[gen];

	if (f->reason != NS_R_OK) {
		ns_count(&nsv4_cnt_rsn, table * NS_R_MAX + (f->reason % NS_R_MAX), bytes);
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
	used = t->used;

	__builtin_memset(&ids, 0, sizeof(ids));
	if (used & ((1u << NS_DIM_SRC) | (1u << NS_DIM_DST))) {
		NS_ADD_DIM(NS_DIM_SRC, ns_addr_dim(t, gen, f, 0));
		NS_ADD_DIM(NS_DIM_DST, ns_addr_dim(t, gen, f, 1));
	}
	NS_ADD_DIM(NS_DIM_PROTO, f->l3 ? t->proto[f->l4_proto] : t->absent[NS_DIM_PROTO]);
	NS_ADD_DIM(NS_DIM_VLAN, t->vlan[f->vlan_depth ? (f->vlan_outer & 0xfff) : NS_VLAN_NONE]);
	NS_ADD_DIM(NS_DIM_FRAG, f->l3 ? t->frag[f->frag & 3] : t->absent[NS_DIM_FRAG]);
	if (f->flags & NS_F_PORTS) {
		NS_ADD_DIM(NS_DIM_SPORT, t->sport[f->sport]);
		NS_ADD_DIM(NS_DIM_DPORT, t->dport[f->dport]);
	} else {
		NS_ADD_DIM(NS_DIM_SPORT, t->absent[NS_DIM_SPORT]);
		NS_ADD_DIM(NS_DIM_DPORT, t->absent[NS_DIM_DPORT]);
	}
	NS_ADD_DIM(NS_DIM_ICMP, (f->flags & NS_F_ICMP) ?
		   t->icmp[((__u32)f->icmp_type << 8) | f->icmp_code] : t->absent[NS_DIM_ICMP]);
	NS_ADD_DIM(NS_DIM_HTTP, t->http[f->http & (NS_HTTP_KINDS - 1)]);
	ids.gen = gen;

	/* No rule constrains anything: the first rule matches. */
	first = used ? ns_first_match(&ids, t, used) : 0;
	if (first < 0 || first >= NS_MAX_RULES)
		goto out;
	pos = (__u32)first & (NS_MAX_RULES - 1); /* bound it for the verifier */
	act = t->act[pos];
	action = act & 0xf;
	effects = act >> 4;
	source = NS_SRC_RULE;
	ckey = t->slot[pos];
	ns_count(&nsv4_cnt_rule, ckey, bytes);
	goto done;
out:
	action &= NS_ACT_MAX - 1;
	ckey = ((table * NS_SOURCES + source) * NS_ACT_MAX + action) | NS_FC_VERD;
	ns_count(&nsv4_cnt_verd, ckey & ~NS_FC_VERD, bytes);
done:
	res = (action & 0xf) | ((effects & 0xf) << 4) | (source << 8) | (gen << 10) | (pos << 16);
	if (fc)
		ns_fc_fill(fc, f, table, stamp, res, ckey);
	return res;
}

/*
 * Judge the flow against table (enum ns_table_id).  bytes is the frame length
 * for the counters.  Returns NS_RES_* packed fields.
 *
 * Only the flow cache's hit path is inlined here (the table's stamp, the
 * slot, the compare, the counter): a BPF call and its return cost a hit
 * 3 ns, as much as the rest of it.  Everything else (unusable and non-IP
 * frames, misses, a cache switched off) is ns_engine_search()'s, given the
 * stamp read here and the slot to fill.
 */
static __always_inline int ns_engine(struct ns_flow *f, __u32 table, __u32 bytes)
{
	__u32 res, slot = NS_FC_NONE, key = table;
	/* Read before the map lookup below: with the parser inlined (XDP),
	 * the compiler then takes them from the parser's registers instead of
	 * reading the stack back after a call it must assume writes there. */
	__u32 hash = f->hash, usable = f->reason == NS_R_OK;
	struct ns_tslot *ts;
	__u64 stamp;

	if (table >= NS_TABLES)
		return NS_ACT_PASS | (NS_SRC_POLICY << 8);
	/* A copy as the key, for the same reason: with table's own address
	 * taken, the slot hash would read it back from the stack. */
	ts = bpf_map_lookup_elem(&nsv4_tables, &key);
	if (!ts)
		return ns_engine_search(f, table, bytes, 0, NS_FC_NONE);
	stamp = *(volatile __u64 *)ts;
	/* The cache first: the stamp is all a hit needs, and it names one
	 * state of the table (rules, sets, policy), so a hit skips the
	 * table's header (reading it first cost a hit 4 ns).  Tables without
	 * rules are cached like any other: their entries hold the policy. */
	if (usable && (stamp >> 63) && ns_fc_hit(f, hash, table, stamp, bytes, &slot, &res))
		return res;
	return ns_engine_search(f, table, bytes, stamp, slot);
}

#endif /* NETSIEVE_ENGINE_H */
