/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * netsieve CLI: the configuration model (tables, rules, sets), its text form,
 * the pinned-map store it lives in, and the compiler that turns it into the
 * lookup structures the BPF engine reads.
 */
#ifndef NETSIEVE_CONF_H
#define NETSIEVE_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "netsieve/config.h"
#include "ns.h"

typedef unsigned __int128 u128;

struct ns_pfx4 {
	uint32_t addr; /* host order */
	uint8_t plen;
};

struct ns_pfx6 {
	u128 addr;     /* host order, bit 127 = first bit on the wire */
	uint8_t plen;
};

struct ns_set {
	char name[NS_SET_NAME_LEN]; /* "" = free slot */
	bool loaded;                /* members read from the store */
	bool damaged;               /* members read do not add up to the
				     * directory's counts: a write was cut */
	struct ns_pfx4 *v4;
	size_t n4, cap4;
	struct ns_pfx6 *v6;
	size_t n6, cap6;
	uint32_t count4, count6;    /* as recorded in the set directory */
};

struct ns_tconf {
	struct ns_rule *rules;
	int n, cap;
	uint8_t policy;
	uint8_t unusable[NS_RC_MAX];
};

struct ns_conf {
	struct ns_tconf t[NS_TABLES];
	struct ns_set sets[NS_MAX_SETS];
	uint32_t next_rule_id;
	bool cache_off;     /* `cache off` (nsv4_state.flags NS_STATE_NO_FCACHE) */
};

/* Names. */
extern const char *const ns_table_names[NS_TABLES];
extern const char *const ns_rc_names[NS_RC_MAX];
int ns_table_by_name(const char *s);
const char *ns_proto_name(int proto); /* NULL when only a number */
const char *ns_reason_name(unsigned r);
const char *ns_http_name(unsigned k);

/* ---- rules.c: text <-> struct ns_rule ------------------------------- */

/* Parse words of a rule (after "rule add" and the table/pos options are
 * consumed by the caller, or everything when table/pos pointers are given).
 * On error returns false with a one-line message in err. */
struct ns_rule_parse {
	int table;          /* -1 when not given */
	int pos;            /* 0 when not given (1-based otherwise) */
};
bool ns_rule_parse(struct ns_conf *c, int argc, char **argv, struct ns_rule *r,
		   struct ns_rule_parse *p, char *err, size_t errlen);
/* The rule's words as `rule add` takes them (without table/pos). */
void ns_rule_format(const struct ns_conf *c, const struct ns_rule *r,
		    char *buf, size_t len);
bool ns_rule_same(const struct ns_rule *a, const struct ns_rule *b);

bool ns_parse_prefix(const char *s, int *family, struct ns_pfx4 *p4,
		     struct ns_pfx6 *p6, char *err, size_t errlen);
void ns_format_pfx4(const struct ns_pfx4 *p, char *buf, size_t len);
void ns_format_pfx6(const struct ns_pfx6 *p, char *buf, size_t len);
bool ns_valid_set_name(const char *s);
int ns_set_find(const struct ns_conf *c, const char *name);

/* Split a line into words (in place); returns count, -1 when too many. */
int ns_split_words(char *line, char **words, int max);
int ns_split_line(char *line, char ***words, size_t *cap);

/* ---- sets.c: set contents -------------------------------------------- */
void ns_set_add4(struct ns_set *s, struct ns_pfx4 p);
void ns_set_add6(struct ns_set *s, struct ns_pfx6 p);
/* Sort and drop duplicates. */
void ns_set_normalize(struct ns_set *s);
bool ns_set_has4(const struct ns_set *s, struct ns_pfx4 p);
bool ns_set_has6(const struct ns_set *s, struct ns_pfx6 p);
bool ns_set_del4(struct ns_set *s, struct ns_pfx4 p);
bool ns_set_del6(struct ns_set *s, struct ns_pfx6 p);
void ns_set_clear(struct ns_set *s);
/* Which tables/rules reference set index i ("table xdp rule 3"), or NULL. */
bool ns_set_referenced(const struct ns_conf *c, int i, char *where, size_t len);

/* ---- store.c: the pinned maps ------------------------------------------ */

enum ns_map_id {
	M_STATE, M_TABLES, M_RULES, M_BITMAP, M_R4, M_R6, M_SETDIR, M_SETPFX,
	M_CNT_RULE, M_CNT_VERD, M_CNT_RSN, M_CNT_HTTP,
	M_COUNT,
};
extern const char *const ns_map_names[M_COUNT];

struct ns_store {
	int fd[M_COUNT];
	int lock_fd;
	struct ns_state state;
	int ncpus;
};

/* The store over the maps of a loaded object (pinned or private); false when
 * the object does not have netsieve's maps. */
bool ns_store_from_object(struct ns_store *s, struct bpf_object *obj);
void ns_stats_report(struct ns_store *s, bool json, struct ns_buf *out);
/* Open every pinned map; dies (exit 5) naming what is missing. */
void ns_store_open(struct ns_store *s, bool lock);
void ns_store_close(struct ns_store *s);
bool ns_store_table_words(struct ns_store *s, uint32_t t, uint32_t *gen, uint32_t *epoch);
/* Read rules and policies of the active generation and the set directory
 * (not the members). */
void ns_store_read(struct ns_store *s, struct ns_conf *c);
/* Read the members of set i (once). */
void ns_store_read_set(struct ns_store *s, struct ns_conf *c, int i);
void ns_store_read_all_sets(struct ns_store *s, struct ns_conf *c);
/* Replace the members of sets marked in `dirty` by their in-memory content. */
void ns_store_write_sets(struct ns_store *s, struct ns_conf *c, const bool *dirty,
			 struct ns_conf *old);
/* Compile c into the inactive generation, flip, wait for readers.  Fails
 * (exit 2) without touching the live generation when c does not fit. */
void ns_store_commit(struct ns_store *s, struct ns_conf *c,
		     const struct ns_conf *old);
/* Sum a per-CPU counter. */
struct ns_counter ns_store_counter(struct ns_store *s, int map, uint32_t key);
void ns_store_zero_table(struct ns_store *s, const struct ns_conf *c, int t);
void ns_conf_free(struct ns_conf *c);

/* ---- compile.c ---------------------------------------------------------- */

struct ns_compiled;
/* Compile into generation gen; returns NULL with a message when it does not
 * fit the map sizes. */
struct ns_compiled *ns_compile(const struct ns_conf *c, uint32_t gen,
			       char *err, size_t errlen);
void ns_compiled_write(struct ns_compiled *k, struct ns_store *s);
const struct ns_table *ns_compiled_table(const struct ns_compiled *k, int t);
void ns_compiled_free(struct ns_compiled *k);
/* Sizes, for messages and tests. */
void ns_compiled_usage(const struct ns_compiled *k, uint32_t *bitmaps,
		       uint32_t *r4, uint32_t *r6);

/* ---- config file (conffile.c) ----------------------------------------- */
/* Apply one configuration line (words of a CLI command without "netsieve")
 * to c.  base_dir resolves `set load` paths.  *table: the table the line
 * configures (-1: none, a set line).  With touched (a load file), sets are
 * left unsorted: the caller runs ns_set_normalize() on the touched ones. */
bool ns_conf_apply_words(struct ns_conf *c, int argc, char **argv,
			 bool *touched, const char *base_dir, int *table,
			 char *err, size_t errlen);
/* Apply every line of f (a `netsieve load` file) to c, then normalise the
 * sets the lines touched.  only (NULL: any) lists the tables a line may
 * configure.  Returns the number of `rule` lines; or -1, with *lineno the
 * refused line and err the reason; or -2 when f cannot be read (errno). */
int ns_conf_apply_file(struct ns_conf *c, FILE *f, const char *base_dir,
		       const bool *only, int *lineno, char *err, size_t errlen);
void ns_conf_save(struct ns_conf *c, FILE *out);
bool ns_policy_parse(int argc, char **argv, int *table, int *cls, int *action,
		     char *err, size_t len);
void ns_policy_apply(struct ns_conf *c, int table, int cls, int action);
int ns_set_get(struct ns_conf *c, const char *name, bool create, char *err,
	       size_t len);
bool ns_set_add_words(struct ns_conf *c, int i, int n, char **words, bool normalize,
		      char *err,
		      size_t len);
bool ns_set_load_file(struct ns_conf *c, int i, const char *path, bool append,
		      bool normalize,
		      char *err, size_t len);
bool ns_rule_insert(struct ns_conf *c, struct ns_rule *r, struct ns_rule_parse *p,
		    char *err, size_t len);
void ns_conf_dup(struct ns_conf *dst, const struct ns_conf *src);

#endif /* NETSIEVE_CONF_H */
