// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve CLI: compile the configuration into one generation of lookup
 * structures (docs/DESIGN.md).
 *
 * For every table and every field some rule constrains, each possible field
 * value maps to the bitmap of rules the value satisfies.  Bitmaps are
 * deduplicated (interned) across the whole generation.  Small fields become
 * arrays indexed by the value; addresses become sorted ranges (every rule
 * prefix and every prefix of a referenced set is cut into disjoint ranges by
 * a sweep) stored as a 2^16-entry directory plus per-block range lists.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "conf.h"

struct ns_compiled {
	uint32_t gen;
	/* Interned bitmaps, index = id - gen * NS_BITMAPS_PER_GEN. */
	struct ns_bitmap *bm;
	uint32_t nbm;
	uint32_t *hash;   /* open addressing over bm indexes + 1 */
	uint32_t hcap;
	struct ns_table *cfg[NS_TABLES];
	uint32_t *r4;           /* the generation's IPv4 range pool */
	uint32_t n4;
	struct ns_r6 *r6;
	uint32_t n6;
	const struct ns_conf *conf;
	int *vp;                /* table being compiled: rule -> layout position */
	/* Table being compiled: gmask[w][q] = the positions of word w that
	 * form granule q (spec summaries). */
	uint64_t (*gmask)[NS_GRAN_PER_WORD];
	bool overflow;
	uint32_t sub4, sub6;    /* IPv4/IPv6 blocks with more ranges get a
				 * sub-directory */
	char *err;
	size_t errlen;
};

static bool kfail(struct ns_compiled *k, const char *fmt, ...)
{
	va_list ap;

	if (!k->overflow) {
		va_start(ap, fmt);
		vsnprintf(k->err, k->errlen, fmt, ap);
		va_end(ap);
	}
	k->overflow = true;
	return false;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		ns_die(NS_EXIT_FAIL, "out of memory");
	return p;
}

typedef uint64_t bits_t[NS_RULE_WORDS];

static inline void bset(uint64_t *w, int r) { w[r >> 6] |= 1ULL << (r & 63); }
static inline void bclr(uint64_t *w, int r) { w[r >> 6] &= ~(1ULL << (r & 63)); }

static uint64_t bhash(const uint64_t *w)
{
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < NS_RULE_WORDS; i++) {
		h ^= w[i];
		h *= 1099511628211ULL;
		h ^= h >> 29;
	}
	return h;
}

/* Absolute bitmap id of w, adding it when new, with its spec summary over
 * the granules of the table being compiled: spec[q] bit j set when granule q
 * of word j holds a rule of w. */
static uint32_t intern(struct ns_compiled *k, const uint64_t *w)
{
	uint64_t spec[NS_GRAN_PER_WORD] = {}, h = bhash(w);
	uint32_t i;

	for (int j = 0; j < NS_RULE_WORDS; j++)
		for (int q = 0; q < NS_GRAN_PER_WORD; q++)
			if (w[j] & k->gmask[j][q])
				spec[q] |= 1ULL << j;
	for (int q = 0; q < NS_GRAN_PER_WORD; q++)
		h = (h ^ spec[q]) * 1099511628211ULL;
	i = h & (k->hcap - 1);
	for (;;) {
		uint32_t e = k->hash[i];

		if (!e)
			break;
		if (!memcmp(k->bm[e - 1].spec, spec, sizeof(spec)) &&
		    !memcmp(k->bm[e - 1].w, w, sizeof(bits_t)))
			return e - 1;
		i = (i + 1) & (k->hcap - 1);
	}
	if (k->nbm >= NS_BITMAPS_PER_GEN) {
		kfail(k, "the rules need more than %u distinct rule bitmaps per "
		      "generation (NS_BITMAPS_PER_GEN)", NS_BITMAPS_PER_GEN);
		return 0;
	}
	memcpy(k->bm[k->nbm].w, w, sizeof(bits_t));
	memcpy(k->bm[k->nbm].spec, spec, sizeof(spec));
	k->hash[i] = ++k->nbm;
	return k->nbm - 1;
}

/* ---- small fields ------------------------------------------------------- */

#define FIELD(r, d) ((r)->fields & (1u << (d)))

/* Rule i's bit, at its layout position. */
static struct ns_compiled *cur_k;
#define RBIT(w, i) bset((w), cur_k->vp[(i)])
#define RCLR(w, i) bclr((w), cur_k->vp[(i)])

static void unconstrained(const struct ns_tconf *tc, int d, uint64_t *w)
{
	memset(w, 0, sizeof(bits_t));
	for (int i = 0; i < tc->n; i++)
		if (!FIELD(&tc->rules[i], d))
			RBIT(w, i);
}

/* Values 0..n-1 of an exact-match field; match(r, v) says whether rule r
 * (which constrains the field) accepts v. */
static void exact_field(struct ns_compiled *k, const struct ns_tconf *tc, int d,
			int nvals, uint16_t *out,
			bool (*match)(const struct ns_rule *, int))
{
	bits_t u, cur;
	uint32_t uid;

	unconstrained(tc, d, u);
	uid = intern(k, u);
	for (int v = 0; v < nvals; v++) {
		bool any = false;

		memcpy(cur, u, sizeof(bits_t));
		for (int i = 0; i < tc->n; i++)
			if (FIELD(&tc->rules[i], d) && match(&tc->rules[i], v)) {
				RBIT(cur, i);
				any = true;
			}
		out[v] = any ? intern(k, cur) : uid;
	}
}

static bool m_proto(const struct ns_rule *r, int v) { return r->proto == v; }
static bool m_vlan(const struct ns_rule *r, int v) { return r->vlan == v; }
static bool m_frag(const struct ns_rule *r, int v) { return r->frag == v + 1; }
static bool m_http(const struct ns_rule *r, int v) { return (r->http_mask >> v) & 1; }

/* Ports: sweep the range boundaries. */
struct pev {
	uint32_t at;
	int rule;
	int on;
};

static int pev_cmp(const void *a, const void *b)
{
	const struct pev *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

static void port_field(struct ns_compiled *k, const struct ns_tconf *tc, int d,
		       uint16_t *out)
{
	struct pev *ev = xcalloc(2 * tc->n + 1, sizeof(*ev));
	bits_t cur, u;
	int nev = 0, e = 0;
	uint32_t id = 0;
	bool dirty = true;

	unconstrained(tc, d, cur);
	memcpy(u, cur, sizeof(u));
	for (int i = 0; i < tc->n; i++) {
		const struct ns_rule *r = &tc->rules[i];

		if (!FIELD(r, d))
			continue;
		ev[nev++] = (struct pev){ d == NS_DIM_SPORT ? r->sport_lo : r->dport_lo, i, 1 };
		ev[nev++] = (struct pev){ (d == NS_DIM_SPORT ? r->sport_hi : r->dport_hi) + 1u, i, 0 };
	}
	qsort(ev, nev, sizeof(*ev), pev_cmp);
	for (uint32_t v = 0; v < 65536; v++) {
		for (; e < nev && ev[e].at == v; e++) {
			if (ev[e].on)
				RBIT(cur, ev[e].rule);
			else
				RCLR(cur, ev[e].rule);
			dirty = true;
		}
		if (dirty) {
			id = intern(k, cur);
			dirty = false;
		}
		out[v] = id;
	}
	free(ev);
}

static void icmp_field(struct ns_compiled *k, const struct ns_tconf *tc,
		       uint16_t *out)
{
	bits_t u, tb, cur;
	uint32_t uid = 0;

	unconstrained(tc, NS_DIM_ICMP, u);
	uid = intern(k, u);
	for (int t = 0; t < 256; t++) {
		bool any_t = false, any_c = false;
		uint32_t tid;

		memcpy(tb, u, sizeof(bits_t));
		for (int i = 0; i < tc->n; i++) {
			const struct ns_rule *r = &tc->rules[i];

			if (!FIELD(r, NS_DIM_ICMP) || r->icmp_type != t)
				continue;
			if (r->icmp_has_code)
				any_c = true;
			else {
				RBIT(tb, i);
				any_t = true;
			}
		}
		tid = any_t ? intern(k, tb) : uid;
		for (int c = 0; c < 256; c++) {
			bool any = false;

			if (any_c) {
				memcpy(cur, tb, sizeof(bits_t));
				for (int i = 0; i < tc->n; i++) {
					const struct ns_rule *r = &tc->rules[i];

					if (FIELD(r, NS_DIM_ICMP) && r->icmp_type == t &&
					    r->icmp_has_code && r->icmp_code == c) {
						RBIT(cur, i);
						any = true;
					}
				}
			}
			out[t << 8 | c] = any ? intern(k, cur) : tid;
		}
	}
}

/* ---- addresses ------------------------------------------------------------ */

/* Positions are 129-bit in effect: end = start + size may be 2^128 (v6) or
 * 2^32 (v4); such ends are dropped (nothing follows them). */
struct aev {
	u128 at;
	int src;
	int on;
};

struct asrc {
	int *rules;
	int n;
};

struct range {
	u128 start;
	uint32_t id;
};

static int aev_cmp(const void *a, const void *b)
{
	const struct aev *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

static u128 rule_addr(const uint8_t *a, int fam)
{
	u128 v = 0;

	for (int i = 0; i < (fam == 4 ? 4 : 16); i++)
		v = (v << 8) | a[i];
	return v;
}

static void add_span(struct aev **ev, size_t *n, size_t *cap, u128 start,
		     int plen, int bits, int src)
{
	u128 size;

	if (*n + 2 > *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*ev = realloc(*ev, *cap * sizeof(**ev));
		if (!*ev)
			ns_die(NS_EXIT_FAIL, "out of memory");
	}
	(*ev)[(*n)++] = (struct aev){ start, src, 1 };
	if (plen == 0) {
		return; /* whole space: no end */
	}
	size = (u128)1 << (bits - plen);
	if (bits == 32 ? start + size <= ((u128)1 << 32) - 0 && start + size < ((u128)1 << 32) :
			 start + size != 0)
		(*ev)[(*n)++] = (struct aev){ start + size, src, 0 };
}

/*
 * Disjoint ranges covering the whole address space of family fam (4/6) for
 * field d of table tc.  Returns the number of ranges (>= 1) in *out.
 */
static size_t addr_ranges(struct ns_compiled *k, const struct ns_tconf *tc, int d,
			  int fam, struct range **out)
{
	const struct ns_conf *c = k->conf;
	int bits = fam == 4 ? 32 : 128;
	struct asrc *src = xcalloc(tc->n + NS_MAX_SETS, sizeof(*src));
	int setsrc[NS_MAX_SETS];
	struct aev *ev = NULL;
	size_t nev = 0, cap = 0, nr = 0, rcap = 64;
	struct range *r = xcalloc(rcap, sizeof(*r));
	int nsrc = 0, *cnt;
	bits_t cur, u;

	for (int i = 0; i < NS_MAX_SETS; i++)
		setsrc[i] = -1;
	unconstrained(tc, d, cur);
	memcpy(u, cur, sizeof(u));
	for (int i = 0; i < tc->n; i++) {
		const struct ns_rule *x = &tc->rules[i];
		uint8_t kind = d == NS_DIM_SRC ? x->src_kind : x->dst_kind;

		if (!FIELD(x, d))
			continue;
		if (kind == NS_ADDR_KIND_SET) {
			int s = d == NS_DIM_SRC ? x->src_set : x->dst_set;

			if (setsrc[s] < 0)
				setsrc[s] = nsrc++;
			src[setsrc[s]].rules = realloc(src[setsrc[s]].rules,
						       (src[setsrc[s]].n + 1) * sizeof(int));
			src[setsrc[s]].rules[src[setsrc[s]].n++] = i;
		} else if ((kind == NS_ADDR_KIND_V4) == (fam == 4)) {
			int me = nsrc++;

			src[me].rules = xcalloc(1, sizeof(int));
			src[me].rules[0] = i;
			src[me].n = 1;
			add_span(&ev, &nev, &cap,
				 rule_addr(d == NS_DIM_SRC ? x->src_addr : x->dst_addr, fam),
				 d == NS_DIM_SRC ? x->src_plen : x->dst_plen, bits, me);
		}
	}
	for (int s = 0; s < NS_MAX_SETS; s++) {
		const struct ns_set *set = &c->sets[s];

		if (setsrc[s] < 0)
			continue;
		if (fam == 4)
			for (size_t j = 0; j < set->n4; j++)
				add_span(&ev, &nev, &cap, set->v4[j].addr, set->v4[j].plen, 32,
					 setsrc[s]);
		else
			for (size_t j = 0; j < set->n6; j++)
				add_span(&ev, &nev, &cap, set->v6[j].addr, set->v6[j].plen, 128,
					 setsrc[s]);
	}
	if (nev)
		qsort(ev, nev, sizeof(*ev), aev_cmp);
	cnt = xcalloc(nsrc + 1, sizeof(int));

	r[nr++] = (struct range){ 0, 0 };
	for (size_t e = 0; e <= nev;) {
		u128 at = e < nev ? ev[e].at : 0;
		uint32_t id;

		if (e == nev) {
			r[nr - 1].id = intern(k, cur);
			break;
		}
		/* Close the range before this position with the current set. */
		if (at != r[nr - 1].start) {
			id = intern(k, cur);
			r[nr - 1].id = id;
			if (nr == rcap) {
				rcap *= 2;
				r = realloc(r, rcap * sizeof(*r));
				if (!r)
					ns_die(NS_EXIT_FAIL, "out of memory");
			}
			r[nr++] = (struct range){ at, 0 };
		}
		for (; e < nev && ev[e].at == at; e++) {
			struct asrc *s = &src[ev[e].src];

			if (ev[e].on) {
				if (cnt[ev[e].src]++ == 0)
					for (int j = 0; j < s->n; j++)
						RBIT(cur, s->rules[j]);
			} else if (--cnt[ev[e].src] == 0) {
				for (int j = 0; j < s->n; j++)
					RCLR(cur, s->rules[j]);
			}
		}
	}
	/* Merge neighbours with the same bitmap. */
	{
		size_t j = 0;

		for (size_t i = 0; i < nr; i++)
			if (!j || r[i].id != r[j - 1].id)
				r[j++] = r[i];
		nr = j;
	}
	for (int i = 0; i < nsrc; i++)
		free(src[i].rules);
	free(src);
	free(cnt);
	free(ev);
	*out = r;
	return nr;
}

static bool r4_push(struct ns_compiled *k, uint32_t v)
{
	if (k->n4 >= NS_R4_PER_GEN)
		return kfail(k, "the configuration needs more than %u IPv4 address ranges "
			     "per generation (NS_R4_PER_GEN): fewer or larger prefixes, or a "
			     "build with a larger limit", NS_R4_PER_GEN);
	k->r4[k->n4++] = v;
	return true;
}

static bool r6_push(struct ns_compiled *k, uint64_t hi, uint64_t lo)
{
	if (k->n6 >= NS_R6_PER_GEN)
		return kfail(k, "the configuration needs more than %u IPv6 address ranges "
			     "per generation (NS_R6_PER_GEN): fewer or larger prefixes, or a "
			     "build with a larger limit", NS_R6_PER_GEN);
	k->r6[k->n6].hi = hi;
	k->r6[k->n6++].lo = lo;
	return true;
}

static int floor_log2(uint64_t n)
{
	int l = 0;

	while (n >>= 1)
		l++;
	return l;
}

/* Bits needed to tell x from 0 (0 for x == 0). */
static int bitlen128(u128 x)
{
	int l = 0;

	while (x) {
		x >>= 1;
		l++;
	}
	return l;
}

/*
 * A plain chunk (config.h): r[a] is the range active at the (sub-)block's
 * start, r[j..e) the ranges starting inside it; keys are offsets from the
 * block start bstart.  Returns the directory entry.
 */
static uint32_t emit_plain(struct ns_compiled *k, int fam, const struct range *r, size_t a,
			   size_t j, size_t e, u128 bstart)
{
	uint32_t n = (uint32_t)(e - j) + 1, ref;

	if (fam == 4) {
		ref = k->n4;
		r4_push(k, n | (uint32_t)floor_log2(n) << 24);
		r4_push(k, r[a].id);
		for (; j < e; j++)
			r4_push(k, (uint32_t)(r[j].start - bstart) << 16 | r[j].id);
	} else {
		ref = k->n6;
		r6_push(k, n | (uint64_t)floor_log2(n) << 32, 0);
		r6_push(k, 0, r[a].id);
		for (; j < e; j++) {
			u128 off = r[j].start - bstart;

			r6_push(k, (uint64_t)(off >> 48),
				((uint64_t)off & 0xffffffffffffULL) << 16 | r[j].id);
		}
	}
	return NS_L1_CHUNK | ref;
}

/*
 * A crowded block: a sub-directory (config.h) over the bits that follow the
 * common prefix of the boundaries inside it, so that a lookup is two
 * directory reads and a short search instead of a long one.  r[a] is active
 * at the block start, r[j..e) start inside it.
 */
static uint32_t emit_sub(struct ns_compiled *k, int fam, const struct range *r, size_t a,
			 size_t j, size_t e, u128 bstart)
{
	int w = fam == 4 ? 16 : 112, cmax = fam == 4 ? 16 : 64, c, kb, s;
	u128 first = r[j].start - bstart, last = r[e - 1].start - bstart, pval;
	uint32_t ref, nsub, ids = r[a].id | r[e - 1].id << 16;
	size_t x = a, y;

	kb = floor_log2(e - j);          /* about two boundaries per sub-block */
	kb = kb < 2 ? 2 : kb > 16 ? 16 : kb;
	c = w - bitlen128(first ^ last);
	if (c > cmax - kb)
		c = cmax - kb;
	pval = c ? first >> (w - c) : 0;
	s = w - c - kb;
	nsub = 1u << kb;
	if (fam == 4) {
		ref = k->n4;
		r4_push(k, NS_CHUNK_SUB | kb | c << 8);
		r4_push(k, (uint32_t)pval);
		r4_push(k, ids);
		for (uint32_t i = 0; i < nsub; i++)
			r4_push(k, 0);
	} else {
		ref = k->n6;
		r6_push(k, 1ULL << 63 | kb | (uint64_t)c << 8, ids);
		r6_push(k, (uint64_t)pval, 0);
		for (uint32_t i = 0; i < nsub / 4; i++)
			r6_push(k, 0, 0);
	}
	if (k->overflow)
		return 0;
	for (uint32_t i = 0; i < nsub && !k->overflow; i++) {
		u128 sstart = (pval << (w - c)) | ((u128)i << s), send = sstart + ((u128)1 << s);
		uint32_t ent;

		/* r[x]: the range active at sstart */
		while (x + 1 < e && r[x + 1].start - bstart <= sstart)
			x++;
		for (y = x + 1; y < e && r[y].start - bstart < send; y++)
			;
		ent = y == x + 1 ? r[x].id : emit_plain(k, fam, r, x, x + 1, y, bstart);
		if (k->overflow)
			return 0;
		if (fam == 4) {
			k->r4[ref + 3 + i] = ent;
		} else {
			struct ns_r6 *q = &k->r6[ref + 2 + i / 4];
			__u64 *lane = (i & 2) ? &q->lo : &q->hi;

			*lane |= (uint64_t)ent << ((i & 1) * 32);
		}
		x = y - 1;
	}
	return NS_L1_CHUNK | ref;
}

/* Directory + ranges for one address field; returns the ns_table.addr ref. */
static uint32_t addr_field(struct ns_compiled *k, const struct ns_tconf *tc,
			   struct ns_table *cfg, int d, int fam)
{
	struct range *r;
	size_t nr = addr_ranges(k, tc, d, fam, &r);
	uint32_t *l1 = cfg->l1[d == NS_DIM_DST][fam == 6];
	size_t i = 0;
	int shift = fam == 4 ? 16 : 112;

	if (nr == 1) {
		uint32_t id = r[0].id;

		free(r);
		return id;
	}
	for (uint32_t b = 0; b < NS_L1_ENTRIES && !k->overflow; b++) {
		u128 bstart = (u128)b << shift, bend = (u128)(b + 1) << shift;
		bool last = b + 1 == NS_L1_ENTRIES;
		size_t j, e;

		/* r[i] is the range active at bstart. */
		while (i + 1 < nr && r[i + 1].start <= bstart)
			i++;
		j = i + 1;
		if (j >= nr || (!last && r[j].start >= bend)) {
			l1[b] = r[i].id;
			continue;
		}
		/* The block's ranges: the one active at its start, then every
		 * range that starts inside it. */
		for (e = j; e < nr && (last || r[e].start < bend); e++)
			;
		if (e - j + 1 > (fam == 4 ? k->sub4 : k->sub6))
			l1[b] = emit_sub(k, fam, r, i, j, e, bstart);
		else
			l1[b] = emit_plain(k, fam, r, i, j, e, bstart);
		i = e - 1;
	}
	free(r);
	return NS_ADDR_L1;
}

/*
 * Lay the rules out so that rules constraining the same fields share words:
 * groups by field set, in the order of their first rule, one after the
 * other, each sorted by the values it accepts (cmp_layout); then each 64-rule
 * word sorted back into written order, so that the lowest bit of a word is
 * its best match.  (Which rules share a word is free: prio[] ranks matches
 * across words.)  Each run of NS_GRAN rules in the value order is a granule
 * of its word (k->gmask): similar rules, so the spec summaries over them
 * skip words that a summary over the whole word would not.  Fills vp, prio,
 * words, nwords and k->gmask.
 */
static struct ns_compiled *sort_k;
static const struct ns_tconf *sort_tc;

/* Sort key of a rule inside its group: the address it names (destination,
 * else source: family, first address, prefix length), then its destination
 * and source ports and protocol.  Rules that accept the same packet values
 * then sit in few words, and the spec summaries skip the others. */
static int cmp_addr(const struct ns_rule *x, const struct ns_rule *y, int d)
{
	uint8_t kx = d == NS_DIM_DST ? x->dst_kind : x->src_kind;
	uint8_t ky = d == NS_DIM_DST ? y->dst_kind : y->src_kind;
	const uint8_t *ax = d == NS_DIM_DST ? x->dst_addr : x->src_addr;
	const uint8_t *ay = d == NS_DIM_DST ? y->dst_addr : y->src_addr;
	int c;

	if (!(x->fields & (1u << d)))
		return 0;
	if (kx != ky)
		return kx - ky;
	if (kx == NS_ADDR_KIND_SET)
		return (d == NS_DIM_DST ? x->dst_set - y->dst_set : x->src_set - y->src_set);
	c = memcmp(ax, ay, 16);
	if (c)
		return c;
	return d == NS_DIM_DST ? x->dst_plen - y->dst_plen : x->src_plen - y->src_plen;
}

static int cmp_layout(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	const struct ns_rule *rx = &sort_tc->rules[x], *ry = &sort_tc->rules[y];
	uint32_t sx = rx->fields & ((1u << NS_DIMS) - 1);
	uint32_t sy = ry->fields & ((1u << NS_DIMS) - 1);
	int c;

	if (sx != sy)
		return sort_k->vp[x] - sort_k->vp[y]; /* group order: first rule */
	if ((c = cmp_addr(rx, ry, NS_DIM_DST)) || (c = cmp_addr(rx, ry, NS_DIM_SRC)))
		return c;
	if (rx->dport_lo != ry->dport_lo)
		return rx->dport_lo - ry->dport_lo;
	if (rx->sport_lo != ry->sport_lo)
		return rx->sport_lo - ry->sport_lo;
	if (rx->proto != ry->proto)
		return rx->proto - ry->proto;
	return x - y;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* How much two groups' fields have in common, for a word holding the end
 * of one and the start of the next: such a word can only skip packets on
 * the fields both constrain, so neighbours should share fields, the
 * selective address fields most. */
static int sig_overlap(uint32_t a, uint32_t b)
{
	uint32_t c = a & b;
	int v = 0;

	for (int d = 0; d < NS_DIMS; d++)
		if (c & (1u << d))
			v += d == NS_DIM_SRC || d == NS_DIM_DST ? 3 : 2;
	return v;
}

/*
 * Order the field-set groups (first[sig] >= 0: the group exists) so that
 * neighbours share fields: a greedy chain from each possible start, the one
 * with the most overlap wins (ties: the order of first appearance).  On
 * return first[sig] is the group's rank.
 */
static void group_order(int *first)
{
	uint32_t sig[1u << NS_DIMS], best_chain[1u << NS_DIMS], chain[1u << NS_DIMS];
	int n = 0, best = -1;

	for (uint32_t s = 0; s < (1u << NS_DIMS); s++)
		if (first[s] >= 0)
			sig[n++] = s;
	/* first appearance order */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && first[sig[j]] < first[sig[j - 1]]; j--) {
			uint32_t t = sig[j];

			sig[j] = sig[j - 1];
			sig[j - 1] = t;
		}
	for (int start = 0; start < n && start < 64; start++) {
		bool used[1u << NS_DIMS] = {};
		int total = 0;

		chain[0] = sig[start];
		used[start] = true;
		for (int i = 1; i < n; i++) {
			int pick = -1, pv = -1;

			for (int j = 0; j < n; j++)
				if (!used[j] && sig_overlap(chain[i - 1], sig[j]) > pv) {
					pv = sig_overlap(chain[i - 1], sig[j]);
					pick = j;
				}
			used[pick] = true;
			chain[i] = sig[pick];
			total += pv;
		}
		if (total > best) {
			best = total;
			memcpy(best_chain, chain, n * sizeof(chain[0]));
		}
	}
	for (int i = 0; i < n; i++)
		first[best_chain[i]] = i;
}

static void layout_table(struct ns_compiled *k, const struct ns_tconf *tc,
			 struct ns_table *cfg)
{
	int *order = xcalloc(tc->n, sizeof(int));
	int first[1u << NS_DIMS];

	/* vp temporarily holds each rule's group key: its group's rank. */
	for (uint32_t s = 0; s < (1u << NS_DIMS); s++)
		first[s] = -1;
	for (int i = 0; i < tc->n; i++) {
		uint32_t sig = tc->rules[i].fields & ((1u << NS_DIMS) - 1);

		if (first[sig] < 0)
			first[sig] = i;
		order[i] = i;
	}
	group_order(first);
	for (int i = 0; i < tc->n; i++)
		k->vp[i] = first[tc->rules[i].fields & ((1u << NS_DIMS) - 1)];
	sort_k = k;
	sort_tc = tc;
	qsort(order, tc->n, sizeof(int), cmp_layout);
	/* vp now: a rule's granule within its word, by value order. */
	for (int p = 0; p < tc->n; p++)
		k->vp[order[p]] = (p % 64) / NS_GRAN;
	for (int w = 0; w * 64 < tc->n; w++) {
		int end = (w + 1) * 64 < tc->n ? (w + 1) * 64 : tc->n;

		qsort(order + w * 64, end - w * 64, sizeof(int), cmp_int);
	}
	memset(k->gmask, 0, NS_RULE_WORDS * sizeof(*k->gmask));
	for (int i = 0; i < NS_MAX_RULES; i++)
		cfg->prio[i] = NS_NO_RULE;
	for (int p = 0; p < tc->n; p++) {
		k->gmask[p / 64][k->vp[order[p]] & (NS_GRAN_PER_WORD - 1)] |= 1ULL << (p % 64);
		k->vp[order[p]] = p;
		cfg->prio[p] = order[p];
	}
	cfg->nwords = (tc->n + 63) / 64;
	cfg->words = cfg->nwords >= 64 ? ~0ULL : (1ULL << cfg->nwords) - 1;
	free(order);
}

static void compile_table(struct ns_compiled *k, int t)
{
	const struct ns_tconf *tc = &k->conf->t[t];
	struct ns_table *cfg = k->cfg[t];
	bits_t w;

	for (int i = 0; i < tc->n; i++) {
		cfg->act[i] = tc->rules[i].action | tc->rules[i].effects << 4;
		cfg->slot[i] = tc->rules[i].slot;
	}
	cfg->nrules = tc->n;
	cfg->policy = tc->policy;
	memcpy(cfg->unusable, tc->unusable, sizeof(cfg->unusable));
	for (int i = 0; i < 64; i++)
		cfg->ctz[((1ULL << i) * NS_DEBRUIJN) >> 58] = i;
	if (!tc->n)
		return;
	for (int i = 0; i < tc->n; i++)
		cfg->used |= tc->rules[i].fields;
	cfg->used &= (1u << NS_DIMS) - 1;
	k->vp = xcalloc(tc->n, sizeof(int));
	cur_k = k;
	layout_table(k, tc, cfg);
	for (int d = 0; d < NS_DIMS; d++) {
		unconstrained(tc, d, w);
		cfg->absent[d] = intern(k, w);
	}
	if (cfg->used & (1u << NS_DIM_PROTO))
		exact_field(k, tc, NS_DIM_PROTO, 256, cfg->proto, m_proto);
	if (cfg->used & (1u << NS_DIM_VLAN))
		exact_field(k, tc, NS_DIM_VLAN, NS_VLAN_NONE + 1, cfg->vlan, m_vlan);
	if (cfg->used & (1u << NS_DIM_FRAG)) {
		exact_field(k, tc, NS_DIM_FRAG, 3, cfg->frag, m_frag);
		cfg->frag[3] = cfg->absent[NS_DIM_FRAG];
	}
	if (cfg->used & (1u << NS_DIM_SPORT))
		port_field(k, tc, NS_DIM_SPORT, cfg->sport);
	if (cfg->used & (1u << NS_DIM_DPORT))
		port_field(k, tc, NS_DIM_DPORT, cfg->dport);
	if (cfg->used & (1u << NS_DIM_ICMP))
		icmp_field(k, tc, cfg->icmp);
	if (cfg->used & (1u << NS_DIM_HTTP))
		exact_field(k, tc, NS_DIM_HTTP, NS_HTTP_KINDS, cfg->http, m_http);
	for (int f = 0; f < 2; f++) {
		int d = f ? NS_DIM_DST : NS_DIM_SRC;

		if (!(cfg->used & (1u << d)))
			continue;
		cfg->addr[f][0] = addr_field(k, tc, cfg, d, 4);
		cfg->addr[f][1] = addr_field(k, tc, cfg, d, 6);
	}
	free(k->vp);
	k->vp = NULL;
}

static struct ns_compiled *compile_once(const struct ns_conf *c, uint32_t gen,
					char *err, size_t errlen, uint32_t sub4,
					uint32_t sub6)
{
	struct ns_compiled *k = xcalloc(1, sizeof(*k));
	bits_t all;

	k->gen = gen;
	k->conf = c;
	k->err = err;
	k->errlen = errlen;
	k->sub4 = sub4;
	k->sub6 = sub6;
	k->bm = xcalloc(NS_BITMAPS_PER_GEN, sizeof(*k->bm));
	k->hcap = 1;
	while (k->hcap < 2 * NS_BITMAPS_PER_GEN)
		k->hcap <<= 1;
	k->hash = xcalloc(k->hcap, sizeof(*k->hash));
	k->gmask = xcalloc(NS_RULE_WORDS, sizeof(*k->gmask));
	k->r4 = xcalloc(NS_R4_PER_GEN, sizeof(*k->r4));
	k->r6 = xcalloc(NS_R6_PER_GEN, sizeof(*k->r6));
	for (int t = 0; t < NS_TABLES; t++)
		k->cfg[t] = xcalloc(1, sizeof(struct ns_table));

	/* Id 0 of the generation: every rule (for dimensions no rule uses;
	 * never summarised). */
	memset(all, 0xff, sizeof(all));
	intern(k, all);
	for (int t = 0; t < NS_TABLES && !k->overflow; t++)
		compile_table(k, t);
	if (k->overflow) {
		ns_compiled_free(k);
		return NULL;
	}
	return k;
}

/*
 * IPv4 blocks of more than NS_SUB_DENSE_V4 ranges get a sub-directory when
 * the pool has room for that (a lookup then ends in a search of one or two
 * steps); when it has not (sets near a million prefixes), only blocks of
 * more than NS_SUB_MIN_V4 do; and when even that does not fit (a million
 * prefixes crowded into few blocks: sub-directories cost more entries than
 * the ranges they index), no block does: plain chunks, a longer binary
 * search (up to NS_SEARCH_STEPS), the fewest entries.
 */
struct ns_compiled *ns_compile(const struct ns_conf *c, uint32_t gen, char *err,
			       size_t errlen)
{
	struct ns_compiled *k = compile_once(c, gen, err, errlen, NS_SUB_DENSE_V4,
					     NS_SUB_MIN_V6);

	if (!k)
		k = compile_once(c, gen, err, errlen, NS_SUB_MIN_V4, NS_SUB_MIN_V6);
	if (!k)
		k = compile_once(c, gen, err, errlen, UINT32_MAX, UINT32_MAX);
	return k;
}

void ns_compiled_usage(const struct ns_compiled *k, uint32_t *bitmaps,
		       uint32_t *r4, uint32_t *r6)
{
	*bitmaps = k->nbm;
	*r4 = k->n4;
	*r6 = k->n6;
}

void ns_compiled_free(struct ns_compiled *k)
{
	if (!k)
		return;
	for (int t = 0; t < NS_TABLES; t++)
		free(k->cfg[t]);
	free(k->bm);
	free(k->hash);
	free(k->gmask);
	free(k->r4);
	free(k->r6);
	free(k);
}

static void write_one(int fd, const char *what, uint32_t key, const void *val)
{
	if (bpf_map_update_elem(fd, &key, val, 0))
		ns_die(NS_EXIT_ENV, "writing %s: %s", what, strerror(errno));
}

/* Batched array writes: keys base, base+1, ... */
static void write_range(int fd, const char *what, uint32_t base, const void *vals,
			size_t vsize, uint32_t n)
{
	const size_t chunk = 65536;
	uint32_t *keys;

	if (!n)
		return;
	keys = xcalloc(n < chunk ? n : chunk, sizeof(*keys));
	for (uint32_t off = 0; off < n; off += chunk) {
		__u32 cnt = n - off < chunk ? n - off : chunk;

		for (uint32_t i = 0; i < cnt; i++)
			keys[i] = base + off + i;
		if (bpf_map_update_batch(fd, keys, (const char *)vals + (size_t)off * vsize,
					 &cnt, NULL))
			for (uint32_t i = 0; i < cnt; i++)
				write_one(fd, what, keys[i], (const char *)vals + (size_t)(off + i) * vsize);
	}
	free(keys);
}

/* Everything of the generation but the table slots (ns_store_commit flips
 * those).  Pools no table of this generation uses are not rewritten. */
void ns_compiled_write(struct ns_compiled *k, struct ns_store *s)
{
	write_one(s->fd[M_BITMAP], "rule bitmaps", k->gen, k->bm);
	if (k->n4)
		write_one(s->fd[M_R4], "IPv4 ranges", k->gen, k->r4);
	if (k->n6)
		write_one(s->fd[M_R6], "IPv6 ranges", k->gen, k->r6);
	for (int t = 0; t < NS_TABLES; t++)
		write_range(s->fd[M_RULES], "rules", (k->gen * NS_TABLES + t) * NS_MAX_RULES,
			    k->conf->t[t].rules, sizeof(struct ns_rule), k->conf->t[t].n);
}

const struct ns_table *ns_compiled_table(const struct ns_compiled *k, int t)
{
	return k->cfg[t];
}
