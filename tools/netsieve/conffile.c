// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve CLI: configuration lines.  A configuration file is a list of the
 * same commands the CLI takes, without "netsieve":
 *
 *   set add NAME [PREFIX...]        set load NAME FILE
 *   policy [table T] drop|pass      policy [table T] unusable CLASS drop|pass
 *   rule add [table T] [pos N] ... action ...
 *
 * `netsieve save` prints one; `netsieve load` replaces everything with one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"

/* Parse "policy" words after the command name. */
bool ns_policy_parse(int argc, char **argv, int *table, int *cls, int *action,
		     char *err, size_t len)
{
	int i = 0;

	*table = NS_TABLE_XDP;
	*cls = -1;
	if (i + 1 < argc && !strcmp(argv[i], "table")) {
		*table = ns_table_by_name(argv[i + 1]);
		if (*table < 0)
			return ns_fail(err, len, "unknown table '%s' (xdp, ingress, egress)", argv[i + 1]);
		i += 2;
	} else if (i < argc && !strcmp(argv[i], "table")) {
		return ns_fail(err, len, "table needs a value");
	}
	if (i < argc && !strcmp(argv[i], "unusable")) {
		if (i + 1 >= argc)
			return ns_fail(err, len, "unusable needs a class: truncated, malformed, too-deep or all");
		if (!strcmp(argv[i + 1], "all"))
			*cls = NS_RC_MAX;
		else {
			for (int c = 1; c < NS_RC_MAX; c++)
				if (!strcmp(argv[i + 1], ns_rc_names[c]))
					*cls = c;
			if (*cls < 0)
				return ns_fail(err, len, "unknown class '%s' (truncated, malformed, too-deep, all)",
					    argv[i + 1]);
		}
		i += 2;
	}
	if (i >= argc)
		return ns_fail(err, len, "policy needs drop or pass");
	if (!strcmp(argv[i], "drop"))
		*action = NS_ACT_DROP;
	else if (!strcmp(argv[i], "pass"))
		*action = NS_ACT_PASS;
	else
		return ns_fail(err, len, "policy '%s': expected drop or pass", argv[i]);
	if (i + 1 != argc)
		return ns_fail(err, len, "unexpected '%s' after the policy", argv[i + 1]);
	return true;
}

void ns_policy_apply(struct ns_conf *c, int table, int cls, int action)
{
	if (cls < 0)
		c->t[table].policy = action;
	else if (cls == NS_RC_MAX)
		for (int k = 1; k < NS_RC_MAX; k++)
			c->t[table].unusable[k] = action;
	else
		c->t[table].unusable[cls] = action;
}

/* Find or create set `name`; -1 with err when impossible. */
int ns_set_get(struct ns_conf *c, const char *name, bool create, char *err, size_t len)
{
	int i = ns_set_find(c, name);

	if (i >= 0 || !create)
		return i;
	if (!ns_valid_set_name(name)) {
		ns_fail(err, len, "bad set name '%s': 1-%d letters, digits, '_' or '-'", name,
		     NS_SET_NAME_LEN - 1);
		return -1;
	}
	for (i = 0; i < NS_MAX_SETS; i++)
		if (!c->sets[i].name[0]) {
			snprintf(c->sets[i].name, NS_SET_NAME_LEN, "%s", name);
			c->sets[i].loaded = true;
			ns_set_clear(&c->sets[i]);
			return i;
		}
	ns_fail(err, len, "too many sets (%d)", NS_MAX_SETS);
	return -1;
}

/* Add prefixes words[0..n) to set i; all or nothing. */
bool ns_set_add_words(struct ns_conf *c, int i, int n, char **words, bool normalize,
		      char *err, size_t len)
{
	struct ns_set *s = &c->sets[i];
	size_t n4 = s->n4, n6 = s->n6;

	for (int w = 0; w < n; w++) {
		struct ns_pfx4 p4;
		struct ns_pfx6 p6;
		int fam;

		if (!ns_parse_prefix(words[w], &fam, &p4, &p6, err, len)) {
			s->n4 = n4;
			s->n6 = n6;
			return false;
		}
		if (fam == 4)
			ns_set_add4(s, p4);
		else
			ns_set_add6(s, p6);
	}
	/* A load file adds a big set 8 prefixes a line: its caller sorts
	 * once at the end instead of once a line. */
	if (normalize)
		ns_set_normalize(s);
	return true;
}

/* Read prefixes from path into set i (after its contents when append);
 * lines of any length, any number of prefixes per line. */
bool ns_set_load_file(struct ns_conf *c, int i, const char *path, bool append,
		      bool normalize, char *err, size_t len)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, **words = NULL;
	size_t linecap = 0, wcap = 0, n4, n6;
	int lineno = 0;
	struct ns_set *s = &c->sets[i];

	if (!f)
		return ns_fail(err, len, "%s: %s", path, strerror(errno));
	if (!append)
		ns_set_clear(s);
	n4 = s->n4;
	n6 = s->n6;
#define LOAD_FAIL(...) do {                                                    \
		free(line);                                                    \
		free(words);                                                   \
		fclose(f);                                                     \
		s->n4 = n4;                                                    \
		s->n6 = n6;                                                    \
		return ns_fail(err, len, __VA_ARGS__);                         \
	} while (0)
	errno = 0;
	while (getline(&line, &linecap, f) > 0) {
		int n;

		lineno++;
		n = ns_split_line(line, &words, &wcap);
		for (int w = 0; w < n; w++) {
			struct ns_pfx4 p4;
			struct ns_pfx6 p6;
			char e2[256];
			int fam;

			if (!ns_parse_prefix(words[w], &fam, &p4, &p6, e2, sizeof(e2)))
				LOAD_FAIL("%s:%d: %s", path, lineno, e2);
			if (fam == 4)
				ns_set_add4(s, p4);
			else
				ns_set_add6(s, p6);
		}
		errno = 0;
	}
	/* A directory opens but does not read (EISDIR): that is not an
	 * empty file. */
	if (ferror(f))
		LOAD_FAIL("%s: cannot read: %s", path, strerror(errno ? errno : EIO));
#undef LOAD_FAIL
	free(line);
	free(words);
	fclose(f);
	if (normalize)
		ns_set_normalize(s);
	return true;
}

bool ns_rule_insert(struct ns_conf *c, struct ns_rule *r, struct ns_rule_parse *p,
		    char *err, size_t len)
{
	int t = p->table < 0 ? NS_TABLE_XDP : p->table;
	struct ns_tconf *tc = &c->t[t];
	int pos = p->pos ? p->pos : tc->n + 1;

	if (t == NS_TABLE_XDP && r->effects)
		return ns_fail(err, len, "classify, mark and dscp work in the ingress and egress tables (tc), not in table xdp");
	if (t == NS_TABLE_XDP && (r->fields & (1u << NS_DIM_HTTP)))
		return ns_fail(err, len, "http works in the ingress and egress tables (cls_http), not in table xdp");
	if (tc->n >= NS_MAX_RULES)
		return ns_fail(err, len, "table %s is full (%d rules)", ns_table_names[t], NS_MAX_RULES);
	if (pos > tc->n + 1)
		return ns_fail(err, len, "pos %d: table %s has %d rule%s (use 1-%d)", pos,
			    ns_table_names[t], tc->n, tc->n == 1 ? "" : "s", tc->n + 1);
	if (tc->n + 1 > tc->cap) {
		tc->cap = tc->cap ? tc->cap * 2 : 16;
		tc->rules = realloc(tc->rules, tc->cap * sizeof(*tc->rules));
		if (!tc->rules)
			ns_die(NS_EXIT_FAIL, "out of memory");
	}
	memmove(&tc->rules[pos], &tc->rules[pos - 1], (tc->n - pos + 1) * sizeof(*r));
	tc->rules[pos - 1] = *r;
	tc->n++;
	p->table = t;
	p->pos = pos;
	return true;
}

int ns_conf_apply_file(struct ns_conf *c, FILE *f, const char *base_dir,
		       const bool *only, int *lineno, char *err, size_t errlen)
{
	bool touched[NS_MAX_SETS] = {0};
	char *line = NULL, **words = NULL;
	size_t linecap = 0, wcap = 0;
	int total = 0, ret, e;

	*lineno = 0;
	errno = 0;
	while (getline(&line, &linecap, f) > 0) {
		int n, lt;

		++*lineno;
		n = ns_split_line(line, &words, &wcap);
		if (!ns_conf_apply_words(c, n, words, touched, base_dir, &lt, err, errlen)) {
			total = -1;
			break;
		}
		if (only && lt >= 0 && !only[lt]) {
			snprintf(err, errlen, "table %s is not being loaded (name it with "
				 "'table %s')", ns_table_names[lt], ns_table_names[lt]);
			total = -1;
			break;
		}
		if (n && !strcmp(words[0], "rule"))
			total++;
		errno = 0;
	}
	/* A directory opens but does not read (EISDIR): not an empty file. */
	ret = total >= 0 && ferror(f) ? -2 : total;
	e = errno ? errno : EIO;
	free(words);
	free(line);
	for (int i = 0; i < NS_MAX_SETS; i++)
		if (touched[i])
			ns_set_normalize(&c->sets[i]);
	errno = e;
	return ret;
}

bool ns_conf_apply_words(struct ns_conf *c, int argc, char **argv, bool *touched,
			 const char *base_dir, int *table, char *err, size_t len)
{
	*table = -1;
	if (argc == 0)
		return true;
	if (argc >= 2 && !strcmp(argv[0], "rule") && !strcmp(argv[1], "add")) {
		struct ns_rule r;
		struct ns_rule_parse p;

		if (!ns_rule_parse(c, argc - 2, argv + 2, &r, &p, err, len))
			return false;
		*table = p.table < 0 ? NS_TABLE_XDP : p.table;
		return ns_rule_insert(c, &r, &p, err, len);
	}
	if (!strcmp(argv[0], "policy")) {
		int t, cls, act = NS_ACT_PASS; /* set by ns_policy_parse on success */

		if (!ns_policy_parse(argc - 1, argv + 1, &t, &cls, &act, err, len))
			return false;
		*table = t;
		ns_policy_apply(c, t, cls, act);
		return true;
	}
	if (argc >= 3 && !strcmp(argv[0], "set") &&
	    (!strcmp(argv[1], "add") || !strcmp(argv[1], "load"))) {
		int i = ns_set_get(c, argv[2], true, err, len);

		if (i < 0)
			return false;
		if (touched && !touched[i]) {
			/* The file says what the set holds: start empty. */
			ns_set_clear(&c->sets[i]);
			touched[i] = true;
		}
		if (!strcmp(argv[1], "add"))
			return ns_set_add_words(c, i, argc - 3, argv + 3, !touched, err, len);
		if (argc != 4)
			return ns_fail(err, len, "set load takes NAME FILE");
		{
			char path[4096];

			if (argv[3][0] == '/' || !base_dir)
				snprintf(path, sizeof(path), "%s", argv[3]);
			else
				snprintf(path, sizeof(path), "%s/%s", base_dir, argv[3]);
			/* Inside a file, set load adds to earlier lines. */
			return ns_set_load_file(c, i, path, true, !touched, err, len);
		}
	}
	if (!strcmp(argv[0], "cache")) {
		if (argc != 2 || (strcmp(argv[1], "on") && strcmp(argv[1], "off")))
			return ns_fail(err, len, "cache: expected on or off");
		c->cache_off = !strcmp(argv[1], "off");
		return true;
	}
	return ns_fail(err, len, "'%s%s%s' is not a configuration line (rule add, policy, set add, set load, cache)",
		    argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
}

void ns_conf_save(struct ns_conf *c, FILE *out)
{
	time_t now = time(NULL);
	char ts[64], buf[1024];

	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
	fprintf(out, "# netsieve configuration saved %s from %s\n", ts, ns_g.pin_dir);
	fprintf(out, "# load it with: netsieve load FILE\n");
	for (int i = 0; i < NS_MAX_SETS; i++) {
		struct ns_set *s = &c->sets[i];
		int col = 0;

		if (!s->name[0])
			continue;
		fprintf(out, "\n# set %s: %zu IPv4, %zu IPv6 prefixes\n", s->name, s->n4, s->n6);
		if (!s->n4 && !s->n6)
			fprintf(out, "set add %s\n", s->name);
		for (size_t j = 0; j < s->n4 + s->n6; j++) {
			if (j < s->n4)
				ns_format_pfx4(&s->v4[j], buf, sizeof(buf));
			else
				ns_format_pfx6(&s->v6[j - s->n4], buf, sizeof(buf));
			if (col == 0)
				fprintf(out, "set add %s", s->name);
			fprintf(out, " %s", buf);
			if (++col == 8 || j + 1 == s->n4 + s->n6) {
				fputc('\n', out);
				col = 0;
			}
		}
	}
	if (c->cache_off)
		fprintf(out, "\n# the flow cache is off (netsieve cache on|off)\ncache off\n");
	for (int t = 0; t < NS_TABLES; t++) {
		struct ns_tconf *tc = &c->t[t];

		fprintf(out, "\n# table %s: %d rule%s\n", ns_table_names[t], tc->n, tc->n == 1 ? "" : "s");
		fprintf(out, "policy table %s %s\n", ns_table_names[t],
			tc->policy == NS_ACT_DROP ? "drop" : "pass");
		for (int k = 1; k < NS_RC_MAX; k++)
			if (tc->unusable[k] != NS_ACT_PASS)
				fprintf(out, "policy table %s unusable %s drop\n", ns_table_names[t],
					ns_rc_names[k]);
		for (int i = 0; i < tc->n; i++) {
			ns_rule_format(c, &tc->rules[i], buf, sizeof(buf));
			fprintf(out, "rule add table %s %s\n", ns_table_names[t], buf);
		}
	}
}
