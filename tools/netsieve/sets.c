// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* netsieve CLI: prefix set contents in memory (sorted arrays). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	while (*cap < need)
		*cap *= 2;
	p = realloc(p, *cap * elem);
	if (!p)
		ns_die(NS_EXIT_FAIL, "out of memory");
	return p;
}

void ns_set_add4(struct ns_set *s, struct ns_pfx4 p)
{
	s->v4 = grow(s->v4, &s->cap4, s->n4 + 1, sizeof(*s->v4));
	s->v4[s->n4++] = p;
}

void ns_set_add6(struct ns_set *s, struct ns_pfx6 p)
{
	s->v6 = grow(s->v6, &s->cap6, s->n6 + 1, sizeof(*s->v6));
	s->v6[s->n6++] = p;
}

static int cmp4(const void *a, const void *b)
{
	const struct ns_pfx4 *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->plen - (int)y->plen;
}

static int cmp6(const void *a, const void *b)
{
	const struct ns_pfx6 *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->plen - (int)y->plen;
}

void ns_set_normalize(struct ns_set *s)
{
	size_t j = 0;

	if (s->n4) {
		qsort(s->v4, s->n4, sizeof(*s->v4), cmp4);
		for (size_t i = 0; i < s->n4; i++)
			if (!j || cmp4(&s->v4[i], &s->v4[j - 1]))
				s->v4[j++] = s->v4[i];
		s->n4 = j;
	}
	j = 0;
	if (s->n6) {
		qsort(s->v6, s->n6, sizeof(*s->v6), cmp6);
		for (size_t i = 0; i < s->n6; i++)
			if (!j || cmp6(&s->v6[i], &s->v6[j - 1]))
				s->v6[j++] = s->v6[i];
		s->n6 = j;
	}
}

bool ns_set_has4(const struct ns_set *s, struct ns_pfx4 p)
{
	return s->n4 && bsearch(&p, s->v4, s->n4, sizeof(p), cmp4);
}

bool ns_set_has6(const struct ns_set *s, struct ns_pfx6 p)
{
	return s->n6 && bsearch(&p, s->v6, s->n6, sizeof(p), cmp6);
}

bool ns_set_del4(struct ns_set *s, struct ns_pfx4 p)
{
	struct ns_pfx4 *f = s->n4 ? bsearch(&p, s->v4, s->n4, sizeof(p), cmp4) : NULL;

	if (!f)
		return false;
	memmove(f, f + 1, (s->v4 + s->n4 - f - 1) * sizeof(*f));
	s->n4--;
	return true;
}

bool ns_set_del6(struct ns_set *s, struct ns_pfx6 p)
{
	struct ns_pfx6 *f = s->n6 ? bsearch(&p, s->v6, s->n6, sizeof(p), cmp6) : NULL;

	if (!f)
		return false;
	memmove(f, f + 1, (s->v6 + s->n6 - f - 1) * sizeof(*f));
	s->n6--;
	return true;
}

void ns_set_clear(struct ns_set *s)
{
	s->n4 = s->n6 = 0;
	s->damaged = false;  /* whatever follows replaces it whole */
}

bool ns_set_referenced(const struct ns_conf *c, int i, char *where, size_t len)
{
	for (int t = 0; t < NS_TABLES; t++)
		for (int r = 0; r < c->t[t].n; r++) {
			const struct ns_rule *x = &c->t[t].rules[r];

			if (((x->fields & (1u << NS_DIM_SRC)) && x->src_kind == NS_ADDR_KIND_SET &&
			     x->src_set == i) ||
			    ((x->fields & (1u << NS_DIM_DST)) && x->dst_kind == NS_ADDR_KIND_SET &&
			     x->dst_set == i)) {
				if (where)
					snprintf(where, len, "table %s rule id %u (position %d)",
						 ns_table_names[t], x->id, r + 1);
				return true;
			}
		}
	return false;
}

void ns_conf_dup(struct ns_conf *dst, const struct ns_conf *src)
{
	*dst = *src;
	for (int t = 0; t < NS_TABLES; t++) {
		dst->t[t].rules = calloc(src->t[t].cap ? src->t[t].cap : 1, sizeof(struct ns_rule));
		if (!dst->t[t].rules)
			ns_die(NS_EXIT_FAIL, "out of memory");
		memcpy(dst->t[t].rules, src->t[t].rules, src->t[t].n * sizeof(struct ns_rule));
		dst->t[t].cap = src->t[t].cap ? src->t[t].cap : 1;
	}
	for (int i = 0; i < NS_MAX_SETS; i++) {
		const struct ns_set *s = &src->sets[i];
		struct ns_set *d = &dst->sets[i];

		d->v4 = NULL;
		d->v6 = NULL;
		d->cap4 = d->cap6 = 0;
		d->n4 = d->n6 = 0;
		for (size_t j = 0; j < s->n4; j++)
			ns_set_add4(d, s->v4[j]);
		for (size_t j = 0; j < s->n6; j++)
			ns_set_add6(d, s->v6[j]);
	}
}
