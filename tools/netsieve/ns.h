/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* netsieve CLI: declarations shared by the command modules. */
#ifndef NETSIEVE_CLI_H
#define NETSIEVE_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpf/libbpf.h>

#define NS_VERSION "0.1.0"

/*
 * Exit codes (documented in README and `netsieve --help`).
 */
enum ns_exit {
	NS_EXIT_OK = 0,
	NS_EXIT_FAIL = 1,   /* a check failed (replay --expect mismatch) or
			     * the operation could not be completed */
	NS_EXIT_USAGE = 2,  /* bad command line or bad value (CIDR, port, ...) */
	NS_EXIT_INPUT = 3,  /* bad input file (pcap, expect file, rule file) */
	NS_EXIT_OBJECT = 4, /* BPF object: missing, no such program, rejected
			     * by the verifier, pinned map layout mismatch */
	NS_EXIT_ENV = 5,    /* environment: no bpffs, nothing pinned yet, no
			     * permission, kernel refused an operation */
};

/* Global options (before the subcommand). */
struct ns_globals {
	const char *pin_dir;  /* resolved pin directory */
	bool pin_dir_given;   /* --pin-dir was on the command line */
};
extern struct ns_globals ns_g;

/* Print "netsieve: MESSAGE" on stderr and exit with code. */
__attribute__((noreturn, format(printf, 2, 3)))
void ns_die(int code, const char *fmt, ...);
/* Print "netsieve: MESSAGE" on stderr. */
__attribute__((format(printf, 1, 2))) void ns_warn(const char *fmt, ...);

/* Strict number parsing: whole string, decimal or 0x hex, within [lo, hi]. */
bool ns_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* libbpf messages are captured here instead of going to stderr. */
void ns_libbpf_capture(void);
const char *ns_libbpf_log(void);
void ns_libbpf_log_reset(void);
/* The verifier log inside the captured libbpf output, or NULL. */
char *ns_verifier_log(void);

/* Is path a directory on a bpf filesystem? */
bool ns_is_bpffs(const char *path);

/* The layout versions other than this netsieve's whose maps are pinned in
 * dir ("v1, v2"; "" when none), for upgrade hints. */
void ns_other_layouts(const char *dir, char *out, size_t len);

/* Growable string buffer. */
struct ns_buf {
	char *s;
	size_t len, cap;
};
/* Write a message into err (len bytes) and return false: the parsers'
 * way of refusing input. */
__attribute__((format(printf, 3, 4)))
bool ns_fail(char *err, size_t len, const char *fmt, ...);

__attribute__((format(printf, 2, 3)))
void ns_buf_printf(struct ns_buf *b, const char *fmt, ...);
void ns_buf_free(struct ns_buf *b);

/* JSON string literal (with quotes) of s into b. */
void ns_json_str(struct ns_buf *b, const char *s);

/* BPF object handling (bpfobj.c). */
enum ns_pin_mode {
	NS_PIN_PRIVATE,   /* every map private and empty */
	NS_PIN_REUSE,     /* reuse maps pinned in the pin dir, private otherwise;
			   * never creates pins; counter maps stay private */
	NS_PIN_CREATE,    /* reuse or create and pin (like ip/tc would) */
};

struct ns_obj {
	struct bpf_object *obj;
	struct bpf_program *prog;
	enum bpf_prog_type type;  /* BPF_PROG_TYPE_XDP or _SCHED_CLS */
	int prog_fd;
	char name[64];            /* program name */
	int maps_reused, maps_private, maps_created;
};

/* Open OBJ, choose the program (name, the only one, or with "" the first),
 * apply the pin mode and load.  Dies with a clear message on any failure. */
void ns_obj_load(struct ns_obj *o, const char *path, const char *prog_name,
		 enum ns_pin_mode mode);
void ns_obj_close(struct ns_obj *o);

/* Subcommands. */
int cmd_replay(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_observe(int argc, char **argv);

#endif /* NETSIEVE_CLI_H */
