// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve CLI: the configuration as it lives in the pinned maps.
 *
 * A change is made in memory, compiled (which checks it fits), written to the
 * generation the programs are not reading, and then published with one write
 * of nsv4_state.gen.  Afterwards the CLI waits for an RCU grace period, so no
 * program is still reading the old generation when the next change reuses
 * it.  Commands hold an exclusive flock on the pin directory meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conf.h"

const char *const ns_map_names[M_COUNT] = {
	[M_STATE] = "nsv4_state",       [M_TABLES] = "nsv4_tables",
	[M_RULES] = "nsv4_rules",       [M_BITMAP] = "nsv4_bitmap",
	[M_R4] = "nsv4_r4",             [M_R6] = "nsv4_r6",
	[M_SETDIR] = "nsv4_setdir",     [M_SETPFX] = "nsv4_setpfx",
	[M_CNT_RULE] = "nsv4_cnt_rule", [M_CNT_VERD] = "nsv4_cnt_verd",
	[M_CNT_RSN] = "nsv4_cnt_rsn",   [M_CNT_HTTP] = "nsv4_cnt_http",
};

static const uint32_t value_size[M_COUNT] = {
	[M_STATE] = sizeof(struct ns_state),   [M_TABLES] = sizeof(struct ns_tslot),
	[M_RULES] = sizeof(struct ns_rule),    [M_BITMAP] = sizeof(struct ns_bmpool),
	[M_R4] = sizeof(struct ns_r4pool),     [M_R6] = sizeof(struct ns_r6pool),
	[M_SETDIR] = sizeof(struct ns_setdir), [M_SETPFX] = sizeof(__u8),
	[M_CNT_RULE] = sizeof(struct ns_counter),
	[M_CNT_VERD] = sizeof(struct ns_counter),
	[M_CNT_RSN] = sizeof(struct ns_counter),
	[M_CNT_HTTP] = sizeof(struct ns_counter),
};

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		ns_die(NS_EXIT_FAIL, "out of memory");
	return p;
}

static void wait_for_readers(void);

/*
 * A table's next epoch (config.h): the flow cache stamps entries with a
 * table's gen and epoch words, so every change must give the pair a value
 * it never had.  The epoch moves in the first pass of a change (with the
 * new half, under the old gen) and gen in the second, and the epoch is a
 * Gray-code count: every write changes one bit of the pair (two when
 * `cache on|off` moves the live bit too), so a packet reading the words
 * while an update copies them byte by byte sees a state that really was,
 * or will be, current.  An epoch is never reused (2^31 changes), so a
 * stamp, once left behind, never matches again.  A roll-forward
 * (finish_flip) only flips gen: the pair (new epoch, new gen) is new.
 */
static uint32_t epoch_next(const struct ns_store *st, uint32_t e)
{
	uint32_t n = e & ~NS_EPOCH_LIVE;

	for (int s = 1; s < 32; s <<= 1)
		n ^= n >> s;              /* Gray code to binary */
	n = (n + 1) & ~NS_EPOCH_LIVE;
	return (st->state.flags & NS_STATE_NO_FCACHE ? 0 : NS_EPOCH_LIVE) | (n ^ (n >> 1));
}

/* The generation packets use, or will once an interrupted change is rolled
 * forward: a table that moved past nsv4_state's gen says so (read-only
 * commands then show what packets see). */
static uint32_t live_gen(struct ns_store *s)
{
	static struct ns_tslot ts;
	uint32_t g = s->state.gen & 1;

	for (__u32 t = 0; t < NS_TABLES; t++)
		if (!bpf_map_lookup_elem(s->fd[M_TABLES], &t, &ts) && (ts.gen & 1) != g)
			return g ^ 1;
	return g;
}

/* A change interrupted half way through its flip leaves some tables on the
 * new generation (complete: it was written before any flip) and nsv4_state
 * on the old one.  Finish it before anything else. */
static void finish_flip(struct ns_store *s)
{
	static struct ns_tslot ts;
	uint32_t g = s->state.gen & 1;
	__u32 key = 0;

	if (live_gen(s) == g)
		return;
	/* A table flipped means every table's new half was written first
	 * (ns_store_commit): roll the others forward to it. */
	ns_warn("finishing a configuration change that was interrupted");
	for (__u32 t = 0; t < NS_TABLES; t++) {
		if (bpf_map_lookup_elem(s->fd[M_TABLES], &t, &ts))
			ns_die(NS_EXIT_ENV, "reading nsv4_tables: %s", strerror(errno));
		if ((ts.gen & 1) == (g ^ 1))
			continue;
		ts.gen = g ^ 1;  /* the epoch moved in the first pass */
		if (bpf_map_update_elem(s->fd[M_TABLES], &t, &ts, 0))
			ns_die(NS_EXIT_ENV, "writing nsv4_tables: %s", strerror(errno));
	}
	s->state.gen = g ^ 1;
	s->state.serial++;
	if (bpf_map_update_elem(s->fd[M_STATE], &key, &s->state, 0))
		ns_die(NS_EXIT_ENV, "writing nsv4_state: %s", strerror(errno));
	wait_for_readers();
}

/* Table t's gen and epoch words (the flow cache's stamp); false when the
 * table cannot be read. */
bool ns_store_table_words(struct ns_store *s, uint32_t t, uint32_t *gen, uint32_t *epoch)
{
	static struct ns_tslot ts;

	if (bpf_map_lookup_elem(s->fd[M_TABLES], &t, &ts))
		return false;
	*gen = ts.gen;
	*epoch = ts.epoch;
	return true;
}

void ns_store_open(struct ns_store *s, bool lock)
{
	char path[4096];
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
	for (int i = 0; i < M_COUNT; i++)
		s->fd[i] = -1;
	if (stat(ns_g.pin_dir, &st)) {
		if (errno == ENOENT)
			ns_die(NS_EXIT_ENV, "%s does not exist: nothing is pinned there yet "
			       "(run 'netsieve init', or attach xdp_firewall.o with ip/tc)",
			       ns_g.pin_dir);
		ns_die(NS_EXIT_ENV, "%s: %s", ns_g.pin_dir, strerror(errno));
	}
	if (!ns_is_bpffs(ns_g.pin_dir))
		ns_die(NS_EXIT_ENV, "%s is not on a bpf filesystem (mount one with: "
		       "mount -t bpf bpf /sys/fs/bpf)", ns_g.pin_dir);
	for (int i = 0; i < M_COUNT; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		snprintf(path, sizeof(path), "%s/%s", ns_g.pin_dir, ns_map_names[i]);
		s->fd[i] = bpf_obj_get(path);
		if (s->fd[i] < 0) {
			if (errno == ENOENT && i == 0) {
				char other[128];

				ns_other_layouts(ns_g.pin_dir, other, sizeof(other));
				if (other[0])
					ns_die(NS_EXIT_ENV, "no layout %s maps in %s, only layout %s "
					       "ones from another netsieve version: save their "
					       "configuration with that version, then 'netsieve init' "
					       "and 'netsieve load' it (README: Pinned maps)",
					       NS_LAYOUT, ns_g.pin_dir, other);
				ns_die(NS_EXIT_ENV, "no netsieve maps in %s: run 'netsieve init' "
				       "or attach xdp_firewall.o with ip/tc first", ns_g.pin_dir);
			}
			if (errno == ENOENT)
				ns_die(NS_EXIT_ENV, "%s is missing: the pinned maps in %s are "
				       "incomplete (remove them and run 'netsieve init')",
				       ns_map_names[i], ns_g.pin_dir);
			ns_die(NS_EXIT_ENV, "%s: %s", path, strerror(errno));
		}
		if (bpf_obj_get_info_by_fd(s->fd[i], &info, &len))
			ns_die(NS_EXIT_ENV, "%s: %s", path, strerror(errno));
		if (info.value_size != value_size[i])
			ns_die(NS_EXIT_OBJECT, "%s has value size %u, this netsieve expects %u: "
			       "the maps come from another build", path, info.value_size,
			       value_size[i]);
	}
	if (lock) {
		/* Changes wait for each other, but not for ever: a writer that
		 * was stopped (^Z, kill -STOP) would hang every runbook. */
		const char *w = getenv("NETSIEVE_LOCK_WAIT");
		long wait_ms = (w && atol(w) > 0 ? atol(w) : 60) * 1000L, waited = 0;

		s->lock_fd = open(ns_g.pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->lock_fd < 0)
			ns_die(NS_EXIT_ENV, "cannot lock %s: %s", ns_g.pin_dir, strerror(errno));
		while (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			if (errno != EWOULDBLOCK && errno != EINTR)
				ns_die(NS_EXIT_ENV, "cannot lock %s: %s", ns_g.pin_dir, strerror(errno));
			if (waited == 1000)
				ns_warn("waiting for another netsieve command to finish its change in %s",
					ns_g.pin_dir);
			if (waited >= wait_ms)
				ns_die(NS_EXIT_ENV, "another netsieve command has held the lock on %s "
				       "for %ld s (is one stopped?); nothing was changed",
				       ns_g.pin_dir, wait_ms / 1000);
			nanosleep(&ts, NULL);
			waited += 100;
		}
	}
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0)
		ns_die(NS_EXIT_ENV, "cannot count CPUs: %s", strerror(-s->ncpus));
	{
		__u32 k = 0;

		if (bpf_map_lookup_elem(s->fd[M_STATE], &k, &s->state))
			ns_die(NS_EXIT_ENV, "reading nsv4_state: %s", strerror(errno));
	}
	if (lock)
		finish_flip(s);
}

bool ns_store_from_object(struct ns_store *s, struct bpf_object *obj)
{
	__u32 k = 0;

	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
	for (int i = 0; i < M_COUNT; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, ns_map_names[i]);

		s->fd[i] = m ? bpf_map__fd(m) : -1;
		if (s->fd[i] < 0)
			return false;
	}
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0 || bpf_map_lookup_elem(s->fd[M_STATE], &k, &s->state))
		return false;
	return true;
}

void ns_store_close(struct ns_store *s)
{
	for (int i = 0; i < M_COUNT; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
}

void ns_store_read(struct ns_store *s, struct ns_conf *c)
{
	uint32_t gen = live_gen(s);

	memset(c, 0, sizeof(*c));
	c->next_rule_id = s->state.next_rule_id ? s->state.next_rule_id : 1;
	c->cache_off = s->state.flags & NS_STATE_NO_FCACHE;
	for (int t = 0; t < NS_TABLES; t++) {
		static struct ns_tslot ts;
		struct ns_table *cfg = &ts.g[gen];
		__u32 k = gen * NS_TABLES + t, tk = t;
		struct ns_tconf *tc = &c->t[t];

		if (bpf_map_lookup_elem(s->fd[M_TABLES], &tk, &ts))
			ns_die(NS_EXIT_ENV, "reading nsv4_tables: %s", strerror(errno));
		tc->policy = cfg->policy;
		memcpy(tc->unusable, cfg->unusable, sizeof(tc->unusable));
		tc->n = cfg->nrules > NS_MAX_RULES ? NS_MAX_RULES : cfg->nrules;
		tc->cap = tc->n + 1;
		tc->rules = xcalloc(tc->cap, sizeof(*tc->rules));
		for (int i = 0; i < tc->n; i++) {
			__u32 rk = k * NS_MAX_RULES + i;

			if (bpf_map_lookup_elem(s->fd[M_RULES], &rk, &tc->rules[i]))
				ns_die(NS_EXIT_ENV, "reading nsv4_rules: %s", strerror(errno));
			/* Ids stay unique even if a change stopped before it
			 * recorded the next one. */
			if (tc->rules[i].id >= c->next_rule_id)
				c->next_rule_id = tc->rules[i].id + 1;
		}
	}
	for (int i = 0; i < NS_MAX_SETS; i++) {
		struct ns_setdir d;
		__u32 k = i;

		if (bpf_map_lookup_elem(s->fd[M_SETDIR], &k, &d))
			ns_die(NS_EXIT_ENV, "reading nsv4_setdir: %s", strerror(errno));
		d.name[NS_SET_NAME_LEN - 1] = 0;
		memcpy(c->sets[i].name, d.name, NS_SET_NAME_LEN);
		c->sets[i].count4 = d.count4;
		c->sets[i].count6 = d.count6;
	}
}

static void pfx_from_key(const struct ns_setpfx *k, struct ns_pfx4 *p4,
			 struct ns_pfx6 *p6)
{
	if (k->family == 4) {
		p4->addr = (uint32_t)k->addr[0] << 24 | k->addr[1] << 16 |
			   k->addr[2] << 8 | k->addr[3];
		p4->plen = k->plen;
	} else {
		p6->addr = 0;
		for (int i = 0; i < 16; i++)
			p6->addr = (p6->addr << 8) | k->addr[i];
		p6->plen = k->plen;
	}
}

void ns_store_read_all_sets(struct ns_store *s, struct ns_conf *c)
{
	const __u32 chunk = 8192;
	struct ns_setpfx *keys = xcalloc(chunk, sizeof(*keys));
	__u8 *vals = xcalloc(chunk, 8);
	struct ns_setpfx in, out;
	bool first = true;

	for (int i = 0; i < NS_MAX_SETS; i++) {
		ns_set_clear(&c->sets[i]);
		c->sets[i].loaded = true;
	}
	for (;;) {
		__u32 n = chunk;
		int err = bpf_map_lookup_batch(s->fd[M_SETPFX], first ? NULL : &in, &out,
					       keys, vals, &n, NULL);

		if (err && errno != ENOENT)
			ns_die(NS_EXIT_ENV, "reading nsv4_setpfx: %s", strerror(errno));
		for (__u32 j = 0; j < n; j++) {
			struct ns_pfx4 p4;
			struct ns_pfx6 p6;

			if (keys[j].set >= NS_MAX_SETS)
				continue;
			pfx_from_key(&keys[j], &p4, &p6);
			if (keys[j].family == 4)
				ns_set_add4(&c->sets[keys[j].set], p4);
			else
				ns_set_add6(&c->sets[keys[j].set], p6);
		}
		if (err)
			break;
		in = out;
		first = false;
	}
	for (int i = 0; i < NS_MAX_SETS; i++) {
		struct ns_set *x = &c->sets[i];

		ns_set_normalize(x);
		x->damaged = x->name[0] && (x->n4 != x->count4 || x->n6 != x->count6);
	}
	free(keys);
	free(vals);
}

void ns_store_read_set(struct ns_store *s, struct ns_conf *c, int i)
{
	if (!c->sets[i].loaded)
		ns_store_read_all_sets(s, c);
}

static void key4(struct ns_setpfx *k, int set, const struct ns_pfx4 *p)
{
	memset(k, 0, sizeof(*k));
	k->set = set;
	k->family = 4;
	k->plen = p->plen;
	for (int b = 0; b < 4; b++)
		k->addr[b] = p->addr >> (24 - 8 * b);
}

static void key6(struct ns_setpfx *k, int set, const struct ns_pfx6 *p)
{
	u128 v = p->addr;

	memset(k, 0, sizeof(*k));
	k->set = set;
	k->family = 6;
	k->plen = p->plen;
	for (int b = 15; b >= 0; b--) {
		k->addr[b] = (uint8_t)v;
		v >>= 8;
	}
}

struct keybuf {
	struct ns_setpfx *k;
	size_t n, cap;
};

static void kb_push(struct keybuf *b, const struct ns_setpfx *k)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		b->k = realloc(b->k, b->cap * sizeof(*b->k));
		if (!b->k)
			ns_die(NS_EXIT_FAIL, "out of memory");
	}
	b->k[b->n++] = *k;
}

static void flush_keys(struct ns_store *s, struct keybuf *b, bool add)
{
	const size_t chunk = 8192;
	__u8 *ones = xcalloc(chunk, 1);

	memset(ones, 1, chunk);
	for (size_t off = 0; off < b->n; off += chunk) {
		__u32 cnt = b->n - off < chunk ? b->n - off : chunk;
		int err = add ? bpf_map_update_batch(s->fd[M_SETPFX], b->k + off, ones, &cnt, NULL) :
				bpf_map_delete_batch(s->fd[M_SETPFX], b->k + off, &cnt, NULL);

		if (err) {
			for (size_t i = off; i < off + (b->n - off < chunk ? b->n - off : chunk); i++) {
				err = add ? bpf_map_update_elem(s->fd[M_SETPFX], &b->k[i], ones, 0) :
					    bpf_map_delete_elem(s->fd[M_SETPFX], &b->k[i]);
				if (err && !(errno == ENOENT && !add)) {
					if (errno == E2BIG || errno == ENOMEM)
						ns_die(NS_EXIT_ENV, "the set store is full (%u prefixes in all sets)",
						       NS_SET_MEMBERS);
					ns_die(NS_EXIT_ENV, "writing nsv4_setpfx: %s", strerror(errno));
				}
			}
		}
	}
	free(ones);
	b->n = 0;
}

void ns_store_write_sets(struct ns_store *s, struct ns_conf *c, const bool *dirty,
			 struct ns_conf *old)
{
	struct keybuf add = {}, del = {};
	uint64_t total = 0;

	/* The store's capacity, before anything is written. */
	for (int i = 0; i < NS_MAX_SETS; i++) {
		if (!c->sets[i].name[0])
			continue;
		total += dirty[i] ? c->sets[i].n4 + c->sets[i].n6 :
				    (uint64_t)c->sets[i].count4 + c->sets[i].count6;
	}
	if (total > NS_SET_MEMBERS)
		ns_die(NS_EXIT_USAGE, "the sets would hold %llu prefixes in all, more than the "
		       "set store's %u; nothing was changed", (unsigned long long)total,
		       NS_SET_MEMBERS);

	for (int i = 0; i < NS_MAX_SETS; i++) {
		struct ns_set *n = &c->sets[i], *o = &old->sets[i];
		struct ns_setdir d = {};
		struct ns_setpfx k;
		size_t a = 0, b = 0;
		__u32 key = i;

		if (!dirty[i])
			continue;
		ns_set_normalize(n);
		/* Both sorted: walk them together. */
		while (a < n->n4 || b < o->n4) {
			if (b >= o->n4 || (a < n->n4 && (n->v4[a].addr < o->v4[b].addr ||
			    (n->v4[a].addr == o->v4[b].addr && n->v4[a].plen < o->v4[b].plen)))) {
				key4(&k, i, &n->v4[a++]);
				kb_push(&add, &k);
			} else if (a >= n->n4 || n->v4[a].addr != o->v4[b].addr ||
				   n->v4[a].plen != o->v4[b].plen) {
				key4(&k, i, &o->v4[b++]);
				kb_push(&del, &k);
			} else {
				a++;
				b++;
			}
		}
		a = b = 0;
		while (a < n->n6 || b < o->n6) {
			if (b >= o->n6 || (a < n->n6 && (n->v6[a].addr < o->v6[b].addr ||
			    (n->v6[a].addr == o->v6[b].addr && n->v6[a].plen < o->v6[b].plen)))) {
				key6(&k, i, &n->v6[a++]);
				kb_push(&add, &k);
			} else if (a >= n->n6 || n->v6[a].addr != o->v6[b].addr ||
				   n->v6[a].plen != o->v6[b].plen) {
				key6(&k, i, &o->v6[b++]);
				kb_push(&del, &k);
			} else {
				a++;
				b++;
			}
		}
		memcpy(d.name, n->name, NS_SET_NAME_LEN);
		d.count4 = n->name[0] ? n->n4 : 0;
		d.count6 = n->name[0] ? n->n6 : 0;
		n->count4 = d.count4;
		n->count6 = d.count6;
		if (bpf_map_update_elem(s->fd[M_SETDIR], &key, &d, 0))
			ns_die(NS_EXIT_ENV, "writing nsv4_setdir: %s", strerror(errno));
	}
	flush_keys(s, &del, false);
	flush_keys(s, &add, true);
	free(add.k);
	free(del.k);
}

/* Wait until no BPF program can still be running with the old generation:
 * updating a map-in-map makes the kernel wait for an RCU grace period. */
static void wait_for_readers(void)
{
	int inner, outer;
	__u32 k = 0;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (inner < 0)
		goto fallback;
	{
		LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = inner);

		outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, NULL, 4, 4, 1, &o);
	}
	if (outer < 0) {
		close(inner);
		goto fallback;
	}
	bpf_map_update_elem(outer, &k, &inner, 0);
	close(outer);
	close(inner);
	return;
fallback:
	/* Programs run for microseconds; this is generous. */
	usleep(100000);
}

static void zero_slot(struct ns_store *s, uint32_t slot)
{
	struct ns_counter *z = xcalloc(s->ncpus, sizeof(*z));

	if (bpf_map_update_elem(s->fd[M_CNT_RULE], &slot, z, 0))
		ns_die(NS_EXIT_ENV, "zeroing counters: %s", strerror(errno));
	free(z);
}

/* Zero every counter of table t: its rules', verdicts', reasons' and HTTP
 * kinds'.  The caller holds the lock (rules keep their slots). */
void ns_store_zero_table(struct ns_store *s, const struct ns_conf *c, int t)
{
	struct ns_counter *z = xcalloc(s->ncpus, sizeof(*z));
	const struct { int map; uint32_t from, n; } ranges[] = {
		{ M_CNT_VERD, (uint32_t)t * NS_SOURCES * NS_ACT_MAX, NS_SOURCES * NS_ACT_MAX },
		{ M_CNT_RSN, (uint32_t)t * NS_R_MAX, NS_R_MAX },
		{ M_CNT_HTTP, (uint32_t)t * NS_HTTP_KINDS, NS_HTTP_KINDS },
	};

	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++)
		for (uint32_t k = ranges[r].from; k < ranges[r].from + ranges[r].n; k++)
			if (bpf_map_update_elem(s->fd[ranges[r].map], &k, z, 0))
				ns_die(NS_EXIT_ENV, "zeroing counters: %s", strerror(errno));
	free(z);
	for (int i = 0; i < c->t[t].n; i++)
		if (c->t[t].rules[i].slot < NS_RULE_SLOTS)
			zero_slot(s, c->t[t].rules[i].slot);
}

void ns_store_commit(struct ns_store *s, struct ns_conf *c, const struct ns_conf *old)
{
	static bool used[NS_RULE_SLOTS], old_used[NS_RULE_SLOTS];
	uint32_t next_slot = 0, newgen = (s->state.gen & 1) ^ 1;
	struct ns_compiled *k;
	char err[512];
	__u32 key = 0;

	/* Identity and counters: rules carried over keep theirs. */
	memset(used, 0, sizeof(used));
	memset(old_used, 0, sizeof(old_used));
	for (int t = 0; t < NS_TABLES; t++) {
		for (int i = 0; i < old->t[t].n; i++)
			if (old->t[t].rules[i].slot < NS_RULE_SLOTS)
				used[old->t[t].rules[i].slot] = old_used[old->t[t].rules[i].slot] = true;
		for (int i = 0; i < c->t[t].n; i++)
			if (c->t[t].rules[i].id && c->t[t].rules[i].slot < NS_RULE_SLOTS)
				used[c->t[t].rules[i].slot] = true;
	}
	for (int t = 0; t < NS_TABLES; t++)
		for (int i = 0; i < c->t[t].n; i++) {
			struct ns_rule *r = &c->t[t].rules[i];

			/* New rules, and replaced ones (id kept, slot
			 * NS_RULE_SLOTS), get a fresh counter slot. */
			if (r->id && r->slot < NS_RULE_SLOTS)
				continue;
			while (next_slot < NS_RULE_SLOTS && used[next_slot])
				next_slot++;
			if (next_slot == NS_RULE_SLOTS)
				ns_die(NS_EXIT_USAGE, "no free counter slots (%d): too many rules", NS_RULE_SLOTS);
			used[next_slot] = true;
			r->slot = next_slot;
			if (!r->id)
				r->id = c->next_rule_id++;
		}

	/* A set whose members a cut write left incomplete is not compiled
	 * into anything: it must be replaced whole first. */
	for (int i = 0; i < NS_MAX_SETS; i++)
		if (c->sets[i].name[0] && c->sets[i].loaded && c->sets[i].damaged)
			ns_die(NS_EXIT_INPUT, "set %s is incomplete (%zu of %u prefixes stored: a "
			       "change to it was interrupted); replace it with 'netsieve set load "
			       "%s FILE' or 'netsieve load' a saved configuration; nothing was changed",
			       c->sets[i].name, c->sets[i].n4 + c->sets[i].n6,
			       c->sets[i].count4 + c->sets[i].count6, c->sets[i].name);
	k = ns_compile(c, newgen, err, sizeof(err));
	if (!k)
		ns_die(NS_EXIT_USAGE, "%s; nothing was changed", err);
	/* The cache switch goes with the change (epoch_next reads it). */
	if (c->cache_off)
		s->state.flags |= NS_STATE_NO_FCACHE;
	else
		s->state.flags &= ~NS_STATE_NO_FCACHE;

	wait_for_readers();
	/* Sets first, in place (not double-buffered): the directory's counts
	 * go first, so a write cut half way leaves members that do not add up
	 * to them, and the next change refuses to compile that set until it is
	 * replaced whole (ns_store_read_all_sets marks it damaged).  Packets
	 * keep the last compiled configuration meanwhile. */
	{
		bool dirty[NS_MAX_SETS];
		bool any = false;

		for (int i = 0; i < NS_MAX_SETS; i++) {
			dirty[i] = strcmp(c->sets[i].name, old->sets[i].name) ||
				   (c->sets[i].loaded && (c->sets[i].n4 != old->sets[i].n4 ||
							  c->sets[i].n6 != old->sets[i].n6 ||
							  (c->sets[i].n4 && memcmp(c->sets[i].v4, old->sets[i].v4, c->sets[i].n4 * sizeof(struct ns_pfx4))) ||
							  (c->sets[i].n6 && memcmp(c->sets[i].v6, old->sets[i].v6, c->sets[i].n6 * sizeof(struct ns_pfx6)))));
			any |= dirty[i];
		}
		if (any)
			ns_store_write_sets(s, c, dirty, (struct ns_conf *)old);
	}
	/* New rules start from zero (their slot may hold a deleted rule's
	 * counts; no program uses it since the last grace period). */
	for (int t = 0; t < NS_TABLES; t++)
		for (int i = 0; i < c->t[t].n; i++)
			if (!old_used[c->t[t].rules[i].slot])
				zero_slot(s, c->t[t].rules[i].slot);
	ns_compiled_write(k, s);
	/*
	 * The flip, in two passes.  An array-map update copies the value in
	 * place, gen (offset 0) first, so one write of a new half and a new
	 * gen would let a packet read the new gen with the half still being
	 * copied.  First every table gets its new half under the old gen (the
	 * live half is rewritten with the bytes it has); then each gets the
	 * new gen, where gen is the only byte that changes.  A packet reads
	 * one table once: it sees one generation, whole.  Stopped between
	 * flips, finish_flip() rolls the other tables forward: their new
	 * halves are there.
	 */
	for (int pass = 0; pass < 2; pass++)
		for (int t = 0; t < NS_TABLES; t++) {
			static struct ns_tslot ts;
			__u32 tk = t;

			if (bpf_map_lookup_elem(s->fd[M_TABLES], &tk, &ts))
				ns_die(NS_EXIT_ENV, "reading nsv4_tables: %s", strerror(errno));
			if (pass == 0) {
				ts.g[newgen] = *ns_compiled_table(k, t);
				ts.epoch = epoch_next(s, ts.epoch);
			} else {
				ts.gen = newgen;
			}
			if (bpf_map_update_elem(s->fd[M_TABLES], &tk, &ts, 0))
				ns_die(NS_EXIT_ENV, "publishing the new configuration: %s",
				       strerror(errno));
		}
	ns_compiled_free(k);

	s->state.gen = newgen;
	s->state.magic = NS_STATE_MAGIC;
	s->state.serial++;
	s->state.next_rule_id = c->next_rule_id;
	if (bpf_map_update_elem(s->fd[M_STATE], &key, &s->state, 0))
		ns_die(NS_EXIT_ENV, "publishing the new configuration: %s", strerror(errno));
	wait_for_readers();
}

struct ns_counter ns_store_counter(struct ns_store *s, int map, uint32_t key)
{
	struct ns_counter *v = xcalloc(s->ncpus, sizeof(*v)), sum = {};

	if (!bpf_map_lookup_elem(s->fd[map], &key, v))
		for (int i = 0; i < s->ncpus; i++) {
			sum.packets += v[i].packets;
			sum.bytes += v[i].bytes;
		}
	free(v);
	return sum;
}

void ns_conf_free(struct ns_conf *c)
{
	for (int t = 0; t < NS_TABLES; t++)
		free(c->t[t].rules);
	for (int i = 0; i < NS_MAX_SETS; i++) {
		free(c->sets[i].v4);
		free(c->sets[i].v6);
	}
	memset(c, 0, sizeof(*c));
}
