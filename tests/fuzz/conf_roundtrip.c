// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target (`make fuzz`): configuration text -> the CLI's parser ->
 * compile -> save -> parse the saved text again.  Aborts (a finding) when
 * the saved text is refused, saves differently, compiles differently, or
 * when ASan/UBSan see anything on the way.  No maps, no BPF: the CLI's
 * pure code only.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "conf.h"

static void conf_init(struct ns_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->next_rule_id = 1;
	for (int t = 0; t < NS_TABLES; t++) {
		c->t[t].policy = NS_ACT_PASS;
		memset(c->t[t].unusable, NS_ACT_PASS, sizeof(c->t[t].unusable));
	}
}

/* The text through `netsieve load`'s own reader; false when it refuses a
 * line (or cannot read, which a memory stream never does). */
static bool apply_text(struct ns_conf *c, const char *text, size_t len, char *err,
		       size_t errlen)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int lineno, n;

	if (!f)
		abort();
	n = ns_conf_apply_file(c, f, "/nonexistent-fuzz", NULL, &lineno, err, errlen);
	fclose(f);
	return n >= 0;
}

static char *save(struct ns_conf *c)
{
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ns_conf_save(c, f);
	fclose(f);
	p = strchr(buf, '\n'); /* drop the timestamp line */
	memmove(buf, p + 1, strlen(p + 1) + 1);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ns_conf c1, c2;
	char err[512], err2[512], *text, *s1, *s2, *copy;
	struct ns_compiled *k1, *k2;

	/* set load reads files: keep it to paths that cannot exist */
	if (size > 20000 || (memchr(data, '/', size) && memmem(data, size, "load", 4)))
		return 0;
	text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);    /* NUL bytes included, as a file has them */
	text[size] = 0;
	ns_g.pin_dir = "/fuzz";
	conf_init(&c1);
	if (!apply_text(&c1, text, size, err, sizeof(err)))
		goto out;
	k1 = ns_compile(&c1, 0, err, sizeof(err));
	s1 = save(&c1);
	copy = strdup(s1);
	conf_init(&c2);
	if (!apply_text(&c2, copy, strlen(copy), err2, sizeof(err2))) {
		fprintf(stderr, "saved text refused: %s\n---\n%s---\n", err2, s1);
		abort();
	}
	s2 = save(&c2);
	if (strcmp(s1, s2)) {
		fprintf(stderr, "save not stable\n---\n%s---\n%s---\n", s1, s2);
		abort();
	}
	k2 = ns_compile(&c2, 0, err2, sizeof(err2));
	if (!!k1 != !!k2) {
		fprintf(stderr, "compile differs: %s / %s\n", k1 ? "ok" : err, k2 ? "ok" : err2);
		abort();
	}
	if (k1) {
		for (int t = 0; t < NS_TABLES; t++)
			if (memcmp(ns_compiled_table(k1, t), ns_compiled_table(k2, t), sizeof(struct ns_table))) {
				fprintf(stderr, "compiled table %d differs after save/load\n%s", t, s1);
				abort();
			}
		ns_compiled_free(k1);
		ns_compiled_free(k2);
	}
	free(s1);
	free(s2);
	free(copy);
	ns_conf_free(&c2);
out:
	ns_conf_free(&c1);
	free(text);
	return 0;
}
