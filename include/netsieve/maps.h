/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Every pinned map of the bundle, declared once.  All programs include this
 * file, so `ip` and `tc` pin identical definitions by name into the same
 * directory (tc/globals) and the XDP and tc programs share one configuration.
 * Layouts are in config.h; names carry the layout version (nsv4_).
 *
 * Counter maps are named nsv4_cnt_*: `netsieve replay` keeps them private so
 * a replay never adds to live statistics.
 */
#ifndef NETSIEVE_MAPS_H
#define NETSIEVE_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "config.h"

/* Active generation and bookkeeping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ns_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_state SEC(".maps");

/* Per table, both generations: settings, every rule's action and counter
 * slot, the field lookups and address directories.  One lookup per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NS_TABLES);
	__type(key, __u32);
	__type(value, struct ns_tslot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_tables SEC(".maps");

/* Per generation and table: the rules as written (the CLI's record; tc
 * programs read the arguments of rules with effects). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NS_GENS * NS_TABLES * NS_MAX_RULES);
	__type(key, __u32);
	__type(value, struct ns_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_rules SEC(".maps");

/* Rule bitmaps, one pool per generation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NS_GENS);
	__type(key, __u32);
	__type(value, struct ns_bmpool);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_bitmap SEC(".maps");

/* IPv4 and IPv6 address ranges, one pool per generation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NS_GENS);
	__type(key, __u32);
	__type(value, struct ns_r4pool);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_r4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NS_GENS);
	__type(key, __u32);
	__type(value, struct ns_r6pool);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_r6 SEC(".maps");

/* Prefix sets as written (the CLI compiles them into the ranges above;
 * programs never read these two). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NS_MAX_SETS);
	__type(key, __u32);
	__type(value, struct ns_setdir);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_setdir SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NS_SET_MEMBERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ns_setpfx);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_setpfx SEC(".maps");

/* Counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NS_RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct ns_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_cnt_rule SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NS_VERD_SLOTS);
	__type(key, __u32);
	__type(value, struct ns_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_cnt_verd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NS_TABLES * NS_HTTP_KINDS);
	__type(key, __u32);
	__type(value, struct ns_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_cnt_http SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NS_TABLES * NS_R_MAX);
	__type(key, __u32);
	__type(value, struct ns_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsv4_cnt_rsn SEC(".maps");

/*
 * The flow cache (engine.h): per CPU, direct-mapped, private to each loaded
 * object and shared by its programs (not pinned: nothing else reads it, and
 * a reload starts it empty).  Entries are stamped with the table's generation and
 * epoch, so a configuration change makes every older entry a miss.
 */
#ifndef NS_FC_BITS
#define NS_FC_BITS 12   /* 4096 entries of 72 bytes per CPU; 0..20 */
#endif
#ifdef NS_FC_ONE_ENTRY  /* build/xdp_firewall_fc1.o (tests), whatever NS_DEFS says */
#undef NS_FC_BITS
#define NS_FC_BITS 0
#endif
_Static_assert(NS_FC_BITS >= 0 && NS_FC_BITS <= 20, "NS_FC_BITS: 0 to 20");
struct ns_fc_entry {
	__u64 k[7];      /* source, destination, the other fields (engine.h) */
	__u64 stamp;     /* the table's gen and epoch words when filled */
	__u32 res;       /* what ns_engine() returned */
	__u32 ckey;      /* the counter it counted in (NS_FC_VERD) */
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1u << NS_FC_BITS);
	__type(key, __u32);
	__type(value, struct ns_fc_entry);
} ns_fcache SEC(".maps");

#endif /* NETSIEVE_MAPS_H */
