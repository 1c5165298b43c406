// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve CLI: init, rule, policy, set, load, save.
 *
 * Every command that changes something parses and checks all of its input
 * first, builds the new configuration in memory, compiles it (which proves
 * it fits) and only then writes: a bad input changes nothing.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "conf.h"

#define ERRLEN 512

static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

/* ---- init ------------------------------------------------------------------ */

static const char *default_object(const char *name)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX];
	const char *dir = getenv("NETSIEVE_OBJDIR");
	ssize_t n;

	if (dir && *dir) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		return path;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		dir = dirname(exe);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (!access(path, R_OK))
			return path;   /* build/netsieve beside the objects in build/ */
		snprintf(path, sizeof(path), "%s/../lib/netsieve/%s", dir, name);
		if (!access(path, R_OK))
			return path;   /* installed: sbin/ and lib/netsieve/ */
	}
	snprintf(path, sizeof(path), "/usr/local/lib/netsieve/%s", name);
	return path;
}

static void mkdir_p(const char *dir)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(buf, 0700);
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		ns_die(NS_EXIT_ENV, "cannot create %s: %s", dir, strerror(errno));
}

static int cmd_init(int argc, char **argv)
{
	const char *obj;
	struct ns_obj o;
	struct ns_store s;
	char parent[PATH_MAX], *p;

	if (!want_help(argc, argv) && argc > 2)
		ns_die(NS_EXIT_USAGE, "init: unexpected '%s' (usage: netsieve init [OBJ])", argv[2]);
	if (want_help(argc, argv)) {
		printf("usage: netsieve [--pin-dir DIR] init [OBJ]\n\n"
		       "Create and pin the netsieve maps (from OBJ, default xdp_firewall.o)\n"
		       "without attaching anything; a later ip/tc attach of the same layout\n"
		       "reuses them.  Running it again changes nothing.\n");
		return NS_EXIT_OK;
	}
	obj = argc == 2 ? argv[1] : default_object("xdp_firewall.o");
	/* The pin directory must end up on a bpffs: find the nearest existing
	 * ancestor and check it. */
	snprintf(parent, sizeof(parent), "%s", ns_g.pin_dir);
	while ((p = strrchr(parent, '/')) && access(parent, F_OK))
		*p = 0;
	if (!parent[0] || !ns_is_bpffs(parent))
		ns_die(NS_EXIT_ENV, "%s is not on a bpf filesystem (mount one with: "
		       "mount -t bpf bpf /sys/fs/bpf)", parent[0] ? parent : "/");
	{
		struct stat st;
		bool existed = !stat(ns_g.pin_dir, &st);

		mkdir_p(ns_g.pin_dir);
		ns_obj_load(&o, obj, "", NS_PIN_CREATE);
		if (!o.maps_created && !o.maps_reused) {
			/* Not a netsieve object: leave no empty directory. */
			ns_obj_close(&o);
			if (!existed)
				rmdir(ns_g.pin_dir);
			ns_die(NS_EXIT_OBJECT, "%s has no netsieve maps (%s*): init takes a "
			       "netsieve object such as xdp_firewall.o", obj, NS_MAP_PREFIX);
		}
	}
	printf("maps in %s: %d created, %d already pinned (reused)\n", ns_g.pin_dir,
	       o.maps_created, o.maps_reused);
	ns_obj_close(&o);
	{
		char other[128];

		ns_other_layouts(ns_g.pin_dir, other, sizeof(other));
		if (other[0])
			fprintf(stderr, "netsieve: note: layout %s maps from another netsieve "
				"version are pinned in %s too; their configuration is not "
				"carried over (README: Pinned maps)\n", other, ns_g.pin_dir);
	}

	ns_store_open(&s, true);
	if (s.state.magic != NS_STATE_MAGIC) {
		__u32 k = 0;

		s.state.magic = NS_STATE_MAGIC;
		if (!s.state.next_rule_id)
			s.state.next_rule_id = 1;
		if (bpf_map_update_elem(s.fd[M_STATE], &k, &s.state, 0))
			ns_die(NS_EXIT_ENV, "initializing nsv4_state: %s", strerror(errno));
	}
	ns_store_close(&s);
	return NS_EXIT_OK;
}

/* ---- rule ---------------------------------------------------------------- */

static void rule_usage(FILE *f)
{
	fprintf(f,
		"usage: netsieve [--pin-dir DIR] rule add [table T] [pos N] [src X] [dst X]\n"
		"                  [proto P] [sport R] [dport R] [icmp-type T[/C]] [vlan ID|none]\n"
		"                  [frag none|first|later] action drop|pass\n"
		"       netsieve rule add table ingress|egress ... [http H] action [pass]\n"
		"                  [classify MAJ:MIN] [mark N] [dscp NAME|N]\n"
		"       netsieve rule del [table T] ID\n"
		"       netsieve rule replace [table T] ID [src X] ... action ...\n"
		"       netsieve rule list [table T] [--json]\n"
		"       netsieve rule flush [table T]\n"
		"\n"
		"X: an IPv4 or IPv6 address or CIDR, or @SET.  R: a port or range P-Q.\n"
		"P: tcp, udp, sctp, icmp, icmpv6, gre, esp, ah or 0-255.\n"
		"Rules are ordered; the first that matches decides.  Tables: xdp (default),\n"
		"ingress, egress.  pos N inserts before the rule now at position N.\n"
		"replace swaps rule ID for the new one in one atomic change: same id and\n"
		"position, counters from zero.\n"
		"H (tc tables, seen by cls_http only): comma-separated GET, POST, PUT, DELETE,\n"
		"HEAD, OPTIONS, PATCH, CONNECT, TRACE, 1xx..5xx, request, response.\n"
		"Effects (classify, mark, dscp) apply only under cls_classify and cls_http;\n"
		"the xdp table and cls_firewall take drop/pass alone.\n");
}

static void load_conf(struct ns_store *s, struct ns_conf *c, bool with_sets)
{
	ns_store_read(s, c);
	if (with_sets)
		ns_store_read_all_sets(s, c);
}

/* Rules referencing sets need the set contents to compile. */
static bool needs_sets(const struct ns_conf *c)
{
	for (int i = 0; i < NS_MAX_SETS; i++)
		if (c->sets[i].name[0] && ns_set_referenced(c, i, NULL, 0))
			return true;
	return false;
}

static void commit(struct ns_store *s, struct ns_conf *c, struct ns_conf *old)
{
	ns_store_commit(s, c, old);
}

static int parse_table_opt(int *argc, char ***argv, int def)
{
	int t = def;

	if (*argc >= 2 && !strcmp((*argv)[0], "table")) {
		t = ns_table_by_name((*argv)[1]);
		if (t < 0)
			ns_die(NS_EXIT_USAGE, "unknown table '%s' (xdp, ingress, egress)", (*argv)[1]);
		*argc -= 2;
		*argv += 2;
	} else if (*argc == 1 && !strcmp((*argv)[0], "table")) {
		ns_die(NS_EXIT_USAGE, "table needs a value");
	}
	return t;
}

static void print_rules_text(struct ns_store *s, struct ns_conf *c, int t)
{
	struct ns_tconf *tc = &c->t[t];
	char buf[1024];

	printf("table %s: policy %s, %d rule%s", ns_table_names[t],
	       tc->policy == NS_ACT_DROP ? "drop" : "pass", tc->n, tc->n == 1 ? "" : "s");
	for (int k = 1; k < NS_RC_MAX; k++)
		if (tc->unusable[k] != NS_ACT_PASS)
			printf(", unusable %s drop", ns_rc_names[k]);
	printf("\n");
	if (!tc->n)
		return;
	printf("  %4s %6s %12s %14s  %s\n", "pos", "id", "packets", "bytes", "rule");
	for (int i = 0; i < tc->n; i++) {
		struct ns_counter cnt = ns_store_counter(s, M_CNT_RULE, tc->rules[i].slot);

		ns_rule_format(c, &tc->rules[i], buf, sizeof(buf));
		printf("  %4d %6u %12llu %14llu  %s\n", i + 1, tc->rules[i].id,
		       (unsigned long long)cnt.packets, (unsigned long long)cnt.bytes, buf);
	}
}

static void print_rules_json(struct ns_store *s, struct ns_conf *c, int t, bool *first)
{
	struct ns_tconf *tc = &c->t[t];
	char buf[1024];

	for (int i = 0; i < tc->n; i++) {
		struct ns_counter cnt = ns_store_counter(s, M_CNT_RULE, tc->rules[i].slot);
		struct ns_buf b = {};

		ns_rule_format(c, &tc->rules[i], buf, sizeof(buf));
		ns_buf_printf(&b, "%s{\"table\":\"%s\",\"pos\":%d,\"id\":%u,\"packets\":%llu,"
			      "\"bytes\":%llu,\"action\":\"%s\",\"rule\":", *first ? "" : ",",
			      ns_table_names[t], i + 1, tc->rules[i].id,
			      (unsigned long long)cnt.packets, (unsigned long long)cnt.bytes,
			      tc->rules[i].action == NS_ACT_DROP ? "drop" : "pass");
		ns_json_str(&b, buf);
		ns_buf_printf(&b, "}");
		printf("%s", b.s);
		ns_buf_free(&b);
		*first = false;
	}
}

/* Position of rule id (in table t, or any table when t < 0), its table in
 * *table; dies naming what `rule what` could not find. */
static int find_rule(const struct ns_conf *c, uint64_t id, int t, const char *what, int *table)
{
	for (int x = 0; x < NS_TABLES; x++)
		for (int i = 0; i < c->t[x].n; i++)
			if (c->t[x].rules[i].id == id && (t < 0 || t == x)) {
				*table = x;
				return i;
			}
	ns_die(NS_EXIT_USAGE, "rule %s: no rule with id %llu%s%s", what, (unsigned long long)id,
	       t < 0 ? "" : " in table ", t < 0 ? "" : ns_table_names[t]);
}

static void remove_rule(struct ns_conf *c, int t, int i)
{
	memmove(&c->t[t].rules[i], &c->t[t].rules[i + 1],
		(c->t[t].n - i - 1) * sizeof(struct ns_rule));
	c->t[t].n--;
}

static int cmd_rule(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c, old;
	char err[ERRLEN];

	if (argc < 2)
		ns_die(NS_EXIT_USAGE, "rule needs a subcommand: add, del, replace, list, flush (see netsieve rule --help)");
	if (want_help(argc, argv)) { /* anywhere: "rule del --help" too */
		rule_usage(stdout);
		return NS_EXIT_OK;
	}
	if (!strcmp(argv[1], "add")) {
		struct ns_rule r;
		struct ns_rule_parse p;

		ns_store_open(&s, true);
		load_conf(&s, &c, false);
		if (!ns_rule_parse(&c, argc - 2, argv + 2, &r, &p, err, sizeof(err)))
			ns_die(NS_EXIT_USAGE, "rule add: %s", err);
		if (needs_sets(&c) || r.src_kind == NS_ADDR_KIND_SET || r.dst_kind == NS_ADDR_KIND_SET)
			ns_store_read_all_sets(&s, &c);
		ns_conf_dup(&old, &c);
		if (!ns_rule_insert(&c, &r, &p, err, sizeof(err)))
			ns_die(NS_EXIT_USAGE, "rule add: %s", err);
		commit(&s, &c, &old);
		printf("rule %u added to table %s at position %d\n",
		       c.t[p.table].rules[p.pos - 1].id, ns_table_names[p.table], p.pos);
		return NS_EXIT_OK;
	}
	if (!strcmp(argv[1], "del") || !strcmp(argv[1], "delete")) {
		int ac = argc - 2, t = -1, ft, fi;
		char **av = argv + 2;
		uint64_t id;

		if (ac >= 1 && !strcmp(av[0], "table"))
			t = parse_table_opt(&ac, &av, NS_TABLE_XDP);
		if (ac != 1)
			ns_die(NS_EXIT_USAGE, "rule del: expected [table T] ID");
		if (!ns_parse_u64(av[0], 1, UINT32_MAX, &id))
			ns_die(NS_EXIT_USAGE, "rule del: '%s' is not a rule id (see netsieve rule list)", av[0]);
		ns_store_open(&s, true);
		load_conf(&s, &c, false);
		fi = find_rule(&c, id, t, "del", &ft);
		if (needs_sets(&c))
			ns_store_read_all_sets(&s, &c);
		ns_conf_dup(&old, &c);
		remove_rule(&c, ft, fi);
		commit(&s, &c, &old);
		printf("rule %llu deleted from table %s (was at position %d)\n",
		       (unsigned long long)id, ns_table_names[ft], fi + 1);
		return NS_EXIT_OK;
	}
	if (!strcmp(argv[1], "replace")) {
		int ac = argc - 2, t = -1, ft, fi;
		char **av = argv + 2;
		struct ns_rule r;
		struct ns_rule_parse p;
		uint64_t id;

		if (ac >= 1 && !strcmp(av[0], "table"))
			t = parse_table_opt(&ac, &av, NS_TABLE_XDP);
		if (ac < 2)
			ns_die(NS_EXIT_USAGE, "rule replace: expected [table T] ID RULE... action ...");
		if (!ns_parse_u64(av[0], 1, UINT32_MAX, &id))
			ns_die(NS_EXIT_USAGE, "rule replace: '%s' is not a rule id (see netsieve rule list)", av[0]);
		ns_store_open(&s, true);
		load_conf(&s, &c, false);
		if (!ns_rule_parse(&c, ac - 1, av + 1, &r, &p, err, sizeof(err)))
			ns_die(NS_EXIT_USAGE, "rule replace: %s", err);
		if (p.pos)
			ns_die(NS_EXIT_USAGE, "rule replace: pos does not go with replace (the rule keeps its position)");
		if (p.table >= 0)
			ns_die(NS_EXIT_USAGE, "rule replace: table goes before the id ('rule replace table T ID ...')");
		fi = find_rule(&c, id, t, "replace", &ft);
		if (needs_sets(&c) || r.src_kind == NS_ADDR_KIND_SET || r.dst_kind == NS_ADDR_KIND_SET)
			ns_store_read_all_sets(&s, &c);
		ns_conf_dup(&old, &c);
		remove_rule(&c, ft, fi);
		/* Same id and position; its counters start from zero. */
		r.id = (uint32_t)id;
		r.slot = NS_RULE_SLOTS;
		p.table = ft;
		p.pos = fi + 1;
		if (!ns_rule_insert(&c, &r, &p, err, sizeof(err)))
			ns_die(NS_EXIT_USAGE, "rule replace: %s", err);
		commit(&s, &c, &old);
		printf("rule %llu replaced in table %s at position %d\n",
		       (unsigned long long)id, ns_table_names[ft], fi + 1);
		return NS_EXIT_OK;
	}
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "show")) {
		int ac = argc - 2, t = -1;
		char **av = argv + 2;
		bool json = false, first = true;

		while (ac > 0) {
			if (!strcmp(av[0], "--json")) {
				json = true;
				ac--;
				av++;
			} else if (!strcmp(av[0], "table")) {
				if (t >= 0)
					ns_die(NS_EXIT_USAGE, "rule list: table given twice (one table, or none for all)");
				t = parse_table_opt(&ac, &av, NS_TABLE_XDP);
			} else {
				ns_die(NS_EXIT_USAGE, "rule list: unexpected '%s' (expected [table T] [--json])", av[0]);
			}
		}
		ns_store_open(&s, false);
		load_conf(&s, &c, false);
		if (json)
			printf("[");
		for (int x = 0; x < NS_TABLES; x++) {
			if (t >= 0 && x != t)
				continue;
			if (json)
				print_rules_json(&s, &c, x, &first);
			else
				print_rules_text(&s, &c, x);
		}
		if (json)
			printf("]\n");
		return NS_EXIT_OK;
	}
	if (!strcmp(argv[1], "flush")) {
		int ac = argc - 2, t;
		char **av = argv + 2;
		int n;

		t = parse_table_opt(&ac, &av, NS_TABLE_XDP);
		if (ac)
			ns_die(NS_EXIT_USAGE, "rule flush: unexpected '%s' (expected [table T])", av[0]);
		ns_store_open(&s, true);
		load_conf(&s, &c, false);
		if (needs_sets(&c))
			ns_store_read_all_sets(&s, &c);
		ns_conf_dup(&old, &c);
		n = c.t[t].n;
		c.t[t].n = 0;
		if (n)
			commit(&s, &c, &old);
		printf("table %s: %d rule%s removed\n", ns_table_names[t], n, n == 1 ? "" : "s");
		return NS_EXIT_OK;
	}
	ns_die(NS_EXIT_USAGE, "rule: unknown subcommand '%s' (add, del, replace, list, flush)", argv[1]);
}

/* ---- policy ---------------------------------------------------------------- */

static int cmd_policy(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c, old;
	char err[ERRLEN];
	int t, cls, act;

	if (want_help(argc, argv)) {
		printf("usage: netsieve [--pin-dir DIR] policy [table T] drop|pass\n"
		       "       netsieve policy [table T] unusable truncated|malformed|too-deep|all drop|pass\n"
		       "       netsieve policy [table T]          (show; every table without T)\n\n"
		       "The verdict when no rule matches, and for frames the parser cannot use\n"
		       "(by class; the default is pass, and such frames are always counted).\n");
		return NS_EXIT_OK;
	}
	if (argc == 1 || (argc == 3 && !strcmp(argv[1], "table"))) {
		t = argc == 1 ? -1 : ns_table_by_name(argv[2]);
		if (argc == 3 && t < 0)
			ns_die(NS_EXIT_USAGE, "unknown table '%s' (xdp, ingress, egress)", argv[2]);
		ns_store_open(&s, false);
		load_conf(&s, &c, false);
		for (int u = 0; u < NS_TABLES; u++) {
			if (t >= 0 && u != t)
				continue;
			printf("table %s: policy %s", ns_table_names[u],
			       c.t[u].policy == NS_ACT_DROP ? "drop" : "pass");
			for (int k = 1; k < NS_RC_MAX; k++)
				printf(", unusable %s %s", ns_rc_names[k],
				       c.t[u].unusable[k] == NS_ACT_DROP ? "drop" : "pass");
			printf("\n");
		}
		return NS_EXIT_OK;
	}
	if (!ns_policy_parse(argc - 1, argv + 1, &t, &cls, &act, err, sizeof(err)))
		ns_die(NS_EXIT_USAGE, "policy: %s", err);
	ns_store_open(&s, true);
	load_conf(&s, &c, false);
	if (needs_sets(&c))
		ns_store_read_all_sets(&s, &c);
	ns_conf_dup(&old, &c);
	ns_policy_apply(&c, t, cls, act);
	commit(&s, &c, &old);
	if (cls < 0)
		printf("table %s: policy %s\n", ns_table_names[t], act == NS_ACT_DROP ? "drop" : "pass");
	else
		printf("table %s: unusable %s frames: %s\n", ns_table_names[t],
		       cls == NS_RC_MAX ? "all" : ns_rc_names[cls], act == NS_ACT_DROP ? "drop" : "pass");
	return NS_EXIT_OK;
}

/* ---- cache ----------------------------------------------------------------- */

static int cmd_cache(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c, old;
	bool off;

	if (want_help(argc, argv)) {
		printf("usage: netsieve [--pin-dir DIR] cache [on|off]\n\n"
		       "The programs' flow cache (on by default): packets of a flow judged\n"
		       "since the last change take that result instead of searching the rules.\n"
		       "It never changes a verdict; it saves most of the search for established\n"
		       "flows and costs the first packet of each flow a little more.  Turn it\n"
		       "off when nearly every packet is a new flow (a flood of spoofed\n"
		       "sources).  The switch is a configuration change like any other\n"
		       "(atomic, counters kept); without an argument, show the setting.\n"
		       "`save` writes 'cache off' when it is off; `load` of a file with a\n"
		       "cache line sets it, without one keeps it.\n");
		return NS_EXIT_OK;
	}
	if (argc > 2)
		ns_die(NS_EXIT_USAGE, "cache: unexpected '%s' (cache [on|off])", argv[2]);
	if (argc == 2 && strcmp(argv[1], "on") && strcmp(argv[1], "off"))
		ns_die(NS_EXIT_USAGE, "cache: expected on or off, not '%s'", argv[1]);
	if (argc == 1) {
		ns_store_open(&s, false);
		load_conf(&s, &c, false);
		printf("flow cache: %s\n", c.cache_off ? "off" : "on");
		return NS_EXIT_OK;
	}
	off = !strcmp(argv[1], "off");
	ns_store_open(&s, true);
	load_conf(&s, &c, false);
	if (needs_sets(&c))
		ns_store_read_all_sets(&s, &c);
	ns_conf_dup(&old, &c);
	/* commit() applies it to the tables and stores it with the change;
	 * refused (a damaged set), it changes neither. */
	c.cache_off = off;
	commit(&s, &c, &old);
	printf("flow cache: %s\n", off ? "off" : "on");
	return NS_EXIT_OK;
}

/* ---- set ------------------------------------------------------------------- */

static void set_usage(FILE *f)
{
	fprintf(f,
		"usage: netsieve [--pin-dir DIR] set add NAME [PREFIX...]\n"
		"       netsieve set del NAME PREFIX...\n"
		"       netsieve set list [NAME]\n"
		"       netsieve set flush NAME\n"
		"       netsieve set load NAME FILE     (replace the contents, one prefix\n"
		"                                       per line or space-separated, # comments)\n"
		"       netsieve set destroy NAME       (only when no rule uses it)\n\n"
		"A set holds IPv4 and IPv6 prefixes; rules use it as src @NAME or dst @NAME.\n");
}

/* Commit a set change: a full recompile when rules use the set, else only
 * the stored contents. */
static void commit_sets(struct ns_store *s, struct ns_conf *c, struct ns_conf *old, int i)
{
	if (ns_set_referenced(c, i, NULL, 0) || ns_set_referenced(old, i, NULL, 0)) {
		commit(s, c, old);
	} else {
		bool dirty[NS_MAX_SETS] = {};

		dirty[i] = true;
		ns_store_write_sets(s, c, dirty, old);
	}
}

static int cmd_set(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c, old;
	char err[ERRLEN];
	const char *sub;
	int i;

	if (argc < 2)
		ns_die(NS_EXIT_USAGE, "set needs a subcommand: add, del, list, flush, load, destroy (see netsieve set --help)");
	if (want_help(argc, argv)) { /* anywhere: "set load --help" too */
		set_usage(stdout);
		return NS_EXIT_OK;
	}
	sub = argv[1];
	if (!strcmp(sub, "list")) {
		if (argc > 3)
			ns_die(NS_EXIT_USAGE, "set list: expected at most one NAME");
		ns_store_open(&s, false);
		load_conf(&s, &c, false);
		if (argc == 2) {
			bool any = false;

			for (i = 0; i < NS_MAX_SETS; i++) {
				char where[128];

				if (!c.sets[i].name[0])
					continue;
				if (!any)
					printf("%-32s %10s %10s  %s\n", "set", "ipv4", "ipv6", "used by");
				any = true;
				printf("%-32s %10u %10u  %s\n", c.sets[i].name, c.sets[i].count4,
				       c.sets[i].count6,
				       ns_set_referenced(&c, i, where, sizeof(where)) ? where : "-");
			}
			if (!any)
				printf("no sets\n");
			return NS_EXIT_OK;
		}
		i = ns_set_find(&c, argv[2]);
		if (i < 0)
			ns_die(NS_EXIT_USAGE, "set list: no set named '%s'", argv[2]);
		ns_store_read_all_sets(&s, &c);
		for (size_t j = 0; j < c.sets[i].n4; j++) {
			ns_format_pfx4(&c.sets[i].v4[j], err, sizeof(err));
			printf("%s\n", err);
		}
		for (size_t j = 0; j < c.sets[i].n6; j++) {
			ns_format_pfx6(&c.sets[i].v6[j], err, sizeof(err));
			printf("%s\n", err);
		}
		return NS_EXIT_OK;
	}
	if (argc < 3)
		ns_die(NS_EXIT_USAGE, "set %s needs a set NAME (see netsieve set --help)", sub);
	if (strcmp(sub, "add") && strcmp(sub, "del") && strcmp(sub, "delete") &&
	    strcmp(sub, "flush") && strcmp(sub, "load") && strcmp(sub, "destroy"))
		ns_die(NS_EXIT_USAGE, "set: unknown subcommand '%s' (add, del, list, flush, load, destroy)", sub);
	if (!ns_valid_set_name(argv[2]))
		ns_die(NS_EXIT_USAGE, "bad set name '%s': 1-%d letters, digits, '_' or '-'", argv[2],
		       NS_SET_NAME_LEN - 1);

	ns_store_open(&s, true);
	load_conf(&s, &c, true);
	ns_conf_dup(&old, &c);
	if (!strcmp(sub, "add")) {
		bool created = ns_set_find(&c, argv[2]) < 0;
		size_t before;

		i = ns_set_get(&c, argv[2], true, err, sizeof(err));
		if (i < 0)
			ns_die(NS_EXIT_USAGE, "set add: %s", err);
		before = c.sets[i].n4 + c.sets[i].n6;
		if (!ns_set_add_words(&c, i, argc - 3, argv + 3, true, err, sizeof(err)))
			ns_die(NS_EXIT_USAGE, "set add: %s; nothing was changed", err);
		commit_sets(&s, &c, &old, i);
		printf("set %s: %s%zu prefix%s added, %zu in all\n", argv[2], created ? "created, " : "",
		       c.sets[i].n4 + c.sets[i].n6 - before,
		       c.sets[i].n4 + c.sets[i].n6 - before == 1 ? "" : "es",
		       c.sets[i].n4 + c.sets[i].n6);
		return NS_EXIT_OK;
	}
	i = ns_set_find(&c, argv[2]);
	if (i < 0 && !strcmp(sub, "load")) {
		/* like in a configuration file: load creates the set */
		i = ns_set_get(&c, argv[2], true, err, sizeof(err));
		if (i < 0)
			ns_die(NS_EXIT_USAGE, "set load: %s", err);
	}
	if (i < 0)
		ns_die(NS_EXIT_USAGE, "set %s: no set named '%s'", sub, argv[2]);
	if (!strcmp(sub, "del") || !strcmp(sub, "delete")) {
		if (argc < 4)
			ns_die(NS_EXIT_USAGE, "set del needs NAME and at least one PREFIX");
		struct ns_set gone = {};
		struct ns_buf absent = {};
		int removed = 0;

		/* Like set add, idempotent: a prefix already absent is named,
		 * not an error.  The prefixes are checked (all of them, before
		 * anything changes) into a set of their own, which also drops
		 * repeats. */
		for (int w = 3; w < argc; w++) {
			struct ns_pfx4 p4;
			struct ns_pfx6 p6;
			int fam;

			if (!ns_parse_prefix(argv[w], &fam, &p4, &p6, err, sizeof(err)))
				ns_die(NS_EXIT_USAGE, "set del: %s; nothing was changed", err);
			if (fam == 4)
				ns_set_add4(&gone, p4);
			else
				ns_set_add6(&gone, p6);
		}
		ns_set_normalize(&gone);
		for (size_t j = 0; j < gone.n4 + gone.n6; j++) {
			bool v4 = j < gone.n4;

			if (v4 ? ns_set_del4(&c.sets[i], gone.v4[j]) :
				 ns_set_del6(&c.sets[i], gone.v6[j - gone.n4])) {
				removed++;
				continue;
			}
			if (v4)
				ns_format_pfx4(&gone.v4[j], err, sizeof(err));
			else
				ns_format_pfx6(&gone.v6[j - gone.n4], err, sizeof(err));
			ns_buf_printf(&absent, "%s%s", absent.s ? ", " : "", err);
		}
		free(gone.v4);
		free(gone.v6);
		if (removed)
			commit_sets(&s, &c, &old, i);
		printf("set %s: %d prefix%s removed, %zu left", argv[2], removed,
		       removed == 1 ? "" : "es", c.sets[i].n4 + c.sets[i].n6);
		if (absent.s)
			printf(" (not in the set: %s)", absent.s);
		printf("\n");
		ns_buf_free(&absent);
		return NS_EXIT_OK;
	}
	if (!strcmp(sub, "flush")) {
		if (argc != 3)
			ns_die(NS_EXIT_USAGE, "set flush takes only NAME");
		ns_set_clear(&c.sets[i]);
		commit_sets(&s, &c, &old, i);
		printf("set %s: emptied\n", argv[2]);
		return NS_EXIT_OK;
	}
	if (!strcmp(sub, "load")) {
		if (argc != 4)
			ns_die(NS_EXIT_USAGE, "set load takes NAME FILE");
		if (argc == 4 && !ns_set_load_file(&c, i, argv[3], false, true, err, sizeof(err)))
			ns_die(NS_EXIT_INPUT, "set load: %s; nothing was changed", err);
		commit_sets(&s, &c, &old, i);
		printf("set %s: %zu IPv4 and %zu IPv6 prefixes loaded\n", argv[2], c.sets[i].n4,
		       c.sets[i].n6);
		return NS_EXIT_OK;
	}
	/* destroy */
	if (argc != 3)
		ns_die(NS_EXIT_USAGE, "set destroy takes only NAME");
	if (ns_set_referenced(&c, i, err, sizeof(err)))
		ns_die(NS_EXIT_USAGE, "set destroy: set %s is used by %s; delete that rule first",
		       argv[2], err);
	ns_set_clear(&c.sets[i]);
	c.sets[i].name[0] = 0;
	commit_sets(&s, &c, &old, i);
	printf("set %s destroyed\n", argv[2]);
	return NS_EXIT_OK;
}

/* ---- load / save ------------------------------------------------------------- */

static int cmd_load(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c, old;
	bool only[NS_TABLES] = {}, some = false, check = false;
	char err[ERRLEN], dirbuf[PATH_MAX];
	const char *path, *base;
	FILE *f;
	int lineno, total;

	if (want_help(argc, argv)) {
		printf("usage: netsieve [--pin-dir DIR] load [--check] [table T]... FILE\n\n"
		       "Replace the rules and policies of every table (or only of the tables\n"
		       "named), and the sets the file names, with the configuration in FILE\n"
		       "(lines as 'netsieve save' prints them; '-' reads standard input).\n"
		       "The switch is atomic: no packet sees a mix of old and new rules.\n"
		       "Sets the file does not name, and tables not named, are kept; a line\n"
		       "for a table not named is an error.\n"
		       "--check: check and compile everything, change nothing.\n");
		return NS_EXIT_OK;
	}
	argc--;
	argv++;
	if (argc >= 1 && !strcmp(argv[0], "--check")) {
		check = true;
		argc--;
		argv++;
	}
	while (argc >= 1 && !strcmp(argv[0], "table")) {
		only[parse_table_opt(&argc, &argv, 0)] = true;
		some = true;
	}
	if (argc != 1)
		ns_die(NS_EXIT_USAGE, "usage: netsieve [--pin-dir DIR] load [--check] [table T]... FILE");
	path = argv[0];
	f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		ns_die(NS_EXIT_INPUT, "%s: %s", path, strerror(errno));
	/* set load paths are relative to the file's directory */
	snprintf(dirbuf, sizeof(dirbuf), "%s", strcmp(path, "-") ? path : ".");
	base = strcmp(path, "-") ? dirname(dirbuf) : ".";

	ns_store_open(&s, !check);
	load_conf(&s, &c, true);
	ns_conf_dup(&old, &c);
	/* Start the loaded tables empty with default policies; keep sets. */
	for (int t = 0; t < NS_TABLES; t++) {
		if (some && !only[t])
			continue;
		c.t[t].n = 0;
		c.t[t].policy = NS_ACT_PASS;
		memset(c.t[t].unusable, NS_ACT_PASS, sizeof(c.t[t].unusable));
	}
	total = ns_conf_apply_file(&c, f, base, some ? only : NULL, &lineno, err, sizeof(err));
	if (total == -1)
		ns_die(NS_EXIT_INPUT, "%s:%d: %s; nothing was changed", path, lineno, err);
	if (total == -2)
		ns_die(NS_EXIT_INPUT, "%s: cannot read: %s; nothing was changed", path,
		       strerror(errno));
	if (f != stdin)
		fclose(f);
	if (check) {
		/* Everything commit would refuse (sizes, unused-set limits):
		 * compile it, then drop it. */
		struct ns_compiled *k = ns_compile(&c, 0, err, sizeof(err));

		if (!k)
			ns_die(NS_EXIT_INPUT, "%s: %s; nothing was changed", path, err);
		ns_compiled_free(k);
		printf("checked %s: %d rules (xdp %d, ingress %d, egress %d); nothing was changed\n",
		       path, total, c.t[0].n, c.t[1].n, c.t[2].n);
		return NS_EXIT_OK;
	}
	/* Rules identical to live ones keep their id and counters. */
	for (int t = 0; t < NS_TABLES; t++) {
		bool *taken = calloc(old.t[t].n + 1, sizeof(bool));

		for (int i = 0; i < c.t[t].n; i++)
			for (int j = 0; j < old.t[t].n; j++)
				if (!taken[j] && ns_rule_same(&c.t[t].rules[i], &old.t[t].rules[j])) {
					c.t[t].rules[i].id = old.t[t].rules[j].id;
					c.t[t].rules[i].slot = old.t[t].rules[j].slot;
					taken[j] = true;
					break;
				}
		free(taken);
	}
	commit(&s, &c, &old);
	printf("loaded %s: %d rules (xdp %d, ingress %d, egress %d)\n", path, total,
	       c.t[0].n, c.t[1].n, c.t[2].n);
	return NS_EXIT_OK;
}

static int cmd_save(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c;

	if (want_help(argc, argv)) {
		printf("usage: netsieve [--pin-dir DIR] save\n\n"
		       "Print the live configuration (sets, policies, rules) as a file that\n"
		       "'netsieve load' takes.\n");
		return NS_EXIT_OK;
	}
	if (argc != 1)
		ns_die(NS_EXIT_USAGE, "save: unexpected '%s' (it takes no arguments)", argv[1]);
	ns_store_open(&s, false);
	load_conf(&s, &c, true);
	ns_conf_save(&c, stdout);
	return NS_EXIT_OK;
}

int cmd_config(int argc, char **argv)
{
	if (!strcmp(argv[0], "init"))
		return cmd_init(argc, argv);
	if (!strcmp(argv[0], "rule"))
		return cmd_rule(argc, argv);
	if (!strcmp(argv[0], "policy"))
		return cmd_policy(argc, argv);
	if (!strcmp(argv[0], "set"))
		return cmd_set(argc, argv);
	if (!strcmp(argv[0], "load"))
		return cmd_load(argc, argv);
	if (!strcmp(argv[0], "save"))
		return cmd_save(argc, argv);
	if (!strcmp(argv[0], "cache"))
		return cmd_cache(argc, argv);
	return NS_EXIT_USAGE;
}
