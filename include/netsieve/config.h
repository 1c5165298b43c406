/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The configuration ABI shared by the BPF programs and the CLI: limits, map
 * names, and the key/value layouts of every pinned map.
 *
 * Layout version: NS_LAYOUT ("v4") is part of every map name (nsv4_*).  Any
 * change to a key or value layout, a limit that sizes a map, or the meaning of
 * a field must bump it, so that a new object never reuses maps pinned by an
 * old one (the load would fail with "parameter mismatch" or, worse, misread
 * them).  See docs/DESIGN.md for how the maps fit together.
 */
#ifndef NETSIEVE_CONFIG_H
#define NETSIEVE_CONFIG_H

#include <linux/types.h>

#include "flow.h"
#include "reasons.h"

#define NS_LAYOUT "v4"
#define NS_MAP_PREFIX "nsv4_"

/* Rules per table; sizes every bitmap (NS_RULE_WORDS 64-bit words). */
#ifndef NS_MAX_RULES
#define NS_MAX_RULES 4096
#endif
#define NS_RULE_WORDS (NS_MAX_RULES / 64)

/* Rules per granule: the unit of a bitmap's spec summary.  A word's rules
 * are laid out in written order, but its granules are the NS_GRAN rules that
 * sat together before that (the most similar ones), wherever they ended up
 * in the word; the compiler summarises each bitmap over them. */
#define NS_GRAN 16
#define NS_GRAN_PER_WORD (64 / NS_GRAN)

/* Distinct rule bitmaps per generation (deduplicated across all tables and
 * fields).  Bitmap ids are 16 bits wide in the lookup arrays. */
#ifndef NS_BITMAPS_PER_GEN
#define NS_BITMAPS_PER_GEN 16384
#endif

/* Address ranges per generation (all tables, fields and sets together).  A
 * field whose rules and sets hold N scattered prefixes needs up to 2N+1. */
#ifndef NS_R4_PER_GEN
#define NS_R4_PER_GEN (2u << 20)
#endif
#ifndef NS_R6_PER_GEN
#define NS_R6_PER_GEN (2u << 20)
#endif

/* Prefix sets and their members (v4 and v6 together). */
#ifndef NS_MAX_SETS
#define NS_MAX_SETS 256
#endif
#ifndef NS_SET_MEMBERS
#define NS_SET_MEMBERS (4u << 20)
#endif
#define NS_SET_NAME_LEN 32

/* Tables.  Programs pick theirs at the edge. */
enum ns_table_id {
	NS_TABLE_XDP = 0,
	NS_TABLE_INGRESS = 1,
	NS_TABLE_EGRESS = 2,
	NS_TABLES = 3,
};

#define NS_GENS 2
/* Counter slots: every live rule keeps one across edits; a full replacement
 * needs a second set while the old rules are still live.  (Slots are 16 bits
 * wide in struct ns_table.) */
#define NS_RULE_SLOTS (NS_TABLES * NS_MAX_RULES * 2)
_Static_assert(NS_RULE_SLOTS <= 65536, "rule slots must fit 16 bits");

/* Rule actions (verdict part).  Counters are indexed by these. */
enum ns_action {
	NS_ACT_PASS = 0,
	NS_ACT_DROP = 1,
	NS_ACT_MAX = 2,
};

/* Extra effects a rule can carry on top of pass (tc classifiers). */
#define NS_EFF_CLASSIFY 0x01 /* arg_classid */
#define NS_EFF_MARK     0x02 /* arg_mark */
#define NS_EFF_DSCP     0x04 /* arg_dscp */

/* Match dimensions.  Each gives, per packet, the bitmap of rules whose
 * constraint on that field the packet satisfies.  The engine collects the
 * used ones in this order (the compiler's per-dimension data follows it). */
enum ns_dim {
	NS_DIM_SRC = 0,
	NS_DIM_DST,
	NS_DIM_PROTO,
	NS_DIM_VLAN,
	NS_DIM_FRAG,
	NS_DIM_SPORT,
	NS_DIM_DPORT,
	NS_DIM_ICMP,
	NS_DIM_HTTP,    /* only cls_http fills in flow.http */
	NS_DIMS,
};

#define NS_VLAN_NONE 4096 /* vlan lookup index of an untagged frame */

/* Address lookup reference (struct ns_table.addr): either a constant bitmap
 * id, or NS_ADDR_L1: look the address up in the table's directory l1[][]. */
#define NS_ADDR_L1 0x80000000u

/*
 * Directory entry (struct ns_table.l1, and sub-directory entries): bit 31
 * clear: the bitmap id for the whole block (a /16 for IPv4, the top 16 bits
 * for IPv6; or a sub-block).  Bit 31 set: bits 0..23 index a chunk in the
 * generation's range pool, which starts with a header:
 *
 *  - plain chunk, header bit 31 (IPv6: bit 63 of hi) clear: n (bits 0..21;
 *    IPv6: hi bits 0..31) sorted ranges follow, the first active at the
 *    start of the (sub-)block, and lg = floor(log2(n)) (bits 24..28; IPv6:
 *    hi bits 32..36) starts the binary search.
 *  - sub-directory, header bit 31 set, for crowded blocks: every range
 *    boundary inside the block shares its first c bits after the block's 16
 *    (the value P); an address whose bits differ from P lies below all of
 *    them (id `below`) or above (id `above`); otherwise its next k bits
 *    index 2^k entries of this same format (pointing to plain chunks only).
 *    IPv4: header = bit 31 | k | c << 8, then P, then below | above << 16,
 *    then the 2^k entries.  IPv6: header {hi = bit 63 | k | c << 8, lo =
 *    below | above << 16}, then {hi = P}, then the 2^k entries packed four
 *    to a pool entry (hi low half, hi high half, lo low half, lo high half).
 *    c + k <= 16 (IPv4) or 64 (IPv6).
 */
#define NS_L1_CHUNK 0x80000000u
#define NS_L1_INDEX(e) ((e) & 0xffffff)
#define NS_L1_ENTRIES 65536
#define NS_CHUNK_SUB 0x80000000u
#define NS_CHUNK_N(h) ((h) & 0x3fffff)
#define NS_CHUNK_LG(h) (((h) >> 24) & 31)
#define NS_SUB_MIN_V4 64  /* plain chunks up to this many ranges */
#define NS_SUB_MIN_V6 16
#define NS_SUB_DENSE_V4 4  /* ... or this many when the pool has room */

/* IPv4 range: (low 16 bits of the first address << 16) | bitmap id.
 * IPv6 range: hi = address bits 16..79, lo = (bits 80..127 << 16) | id.
 * (Offsets from the start of the /16 or top-16-bit block, also in
 * sub-directories' chunks.)  Pools hold one generation each, in one map
 * value (pool sizes are powers of two so that an index can be masked into
 * range). */
_Static_assert((NS_R4_PER_GEN & (NS_R4_PER_GEN - 1)) == 0, "power of two");
_Static_assert((NS_R6_PER_GEN & (NS_R6_PER_GEN - 1)) == 0, "power of two");
_Static_assert((NS_BITMAPS_PER_GEN & (NS_BITMAPS_PER_GEN - 1)) == 0, "power of two");

/* ---- map values ---------------------------------------------------- */

/* nsv4_state[0]: the CLI's bookkeeping (programs read nsv4_tables). */
struct ns_state {
	__u32 gen;          /* generation of the last change (0 or 1) */
	__u32 magic;        /* NS_STATE_MAGIC once `netsieve init` ran */
	__u64 serial;       /* bumped by every change to the compiled rules (not by
			     * sets no rule uses) */
	__u32 next_rule_id;
	__u32 flags;        /* NS_STATE_* */
};
#define NS_STATE_NO_FCACHE 0x1  /* `netsieve cache off`: changes leave
				 * NS_EPOCH_LIVE clear, programs skip the
				 * flow cache */
#define NS_STATE_MAGIC 0x6e737634 /* "nsv4" */

/*
 * One generation of one table: everything a packet needs besides the
 * bitmaps and address ranges, so that one map lookup finds it all.
 *
 * Bitmaps do not hold rules in their written order: rules are laid out so
 * that rules constraining the same fields, and accepting similar values,
 * share 64-rule words, each word in written order (docs/DESIGN.md).  prio[]
 * maps a layout position back to the rule position, which decides between
 * matches in different words.  Bitmap ids are relative to the generation.
 */
struct ns_table {
	__u16 nrules;
	__u8 nwords;                  /* layout words in use */
	__u8 policy;                  /* enum ns_action when no rule matches */
	__u8 unusable[NS_RC_MAX];     /* verdict per reason class (enum ns_action) */
	__u32 used;                   /* bit per enum ns_dim some rule constrains */
	__u16 absent[NS_DIMS];        /* bitmap id when the packet lacks the field */
	__u32 addr[2][2];             /* [src,dst][v4,v6]: see NS_ADDR_L1 */
	__u64 words;                  /* bit w: layout word w holds rules */
	__u8 ctz[64];                 /* de Bruijn table: trailing zeros of a bit
				       * (x & -x) * NS_DEBRUIJN >> 58 */
	__u16 prio[NS_MAX_RULES];     /* layout position -> rule position */
	__u8 act[NS_MAX_RULES];       /* by rule position: action | effects << 4 */
	__u16 slot[NS_MAX_RULES];     /* by rule position: counter slot */
	/* Bitmap ids by field value. */
	__u16 proto[256];
	__u16 vlan[NS_VLAN_NONE + 4]; /* VID, or NS_VLAN_NONE when untagged */
	__u16 frag[4];                /* by enum ns_frag; [3] unused */
	__u16 sport[65536];
	__u16 dport[65536];
	__u16 icmp[65536];            /* type << 8 | code */
	__u16 http[NS_HTTP_KINDS];    /* by enum ns_http */
	__u32 l1[2][2][NS_L1_ENTRIES]; /* [src,dst][v4,v6] address directories */
};
#define NS_NO_RULE 0xffff
#define NS_DEBRUIJN 0x03f79d71b4ca8b09ULL

/* nsv4_tables[table]: both generations of a table and which one is live,
 * so that a packet needs one lookup to find its rules.  The CLI writes the
 * idle generation, then the whole value with gen flipped (the live half is
 * rewritten with the bytes it already has). */
struct ns_tslot {
	__u32 gen;
	__u32 epoch;        /* a Gray-code count of changes, moved in the first
			     * pass of each (gen in the second), with
			     * NS_EPOCH_LIVE when the flow cache is on: the
			     * cache's stamp (engine.h, store.c epoch_next) */
	struct ns_table g[NS_GENS];
};

#define NS_EPOCH_LIVE 0x80000000u

/* nsv4_rules[(gen * NS_TABLES + table) * NS_MAX_RULES + position] */
struct ns_rule {
	/* What the tc programs read when the rule has effects. */
	__u8 action;        /* enum ns_action */
	__u8 effects;       /* NS_EFF_* */
	__u8 arg_dscp;
	__u8 _pad0;
	__u32 slot;         /* counter slot (nsv4_cnt_rule) */
	__u32 arg_classid;  /* major << 16 | minor */
	__u32 arg_mark;
	/* The rule as written (the CLI's copy; programs never read it). */
	__u32 id;           /* stable id shown by `rule list` */
	__u16 fields;       /* bit per enum ns_dim that the rule constrains */
	__u8 src_kind, dst_kind;   /* NS_ADDR_KIND_* */
	__u8 src_plen, dst_plen;
	__u16 src_set, dst_set;    /* set index for NS_ADDR_KIND_SET */
	__u8 src_addr[16], dst_addr[16];
	__u8 proto;
	__u8 frag;          /* enum ns_frag + 1 (0: any) */
	__u8 icmp_type, icmp_code;
	__u8 icmp_has_code;
	__u8 _pad1;
	__u16 vlan;         /* 0..4095, NS_VLAN_NONE for "untagged" */
	__u16 sport_lo, sport_hi, dport_lo, dport_hi;
	__u16 http_mask;    /* bit per enum ns_http the rule accepts */
	__u16 _pad2;
};

#define NS_ADDR_KIND_ANY 0
#define NS_ADDR_KIND_V4  1
#define NS_ADDR_KIND_V6  2
#define NS_ADDR_KIND_SET 3

/* nsv4_bitmap[id]: the rules a value of one field satisfies. */
struct ns_bitmap {
	/* spec[q] bit w: granule q of word w holds a rule of this bitmap.  A
	 * word is a candidate when one of its granules holds a rule of every
	 * used field's bitmap. */
	__u64 spec[NS_GRAN_PER_WORD];
	__u64 w[NS_RULE_WORDS];      /* bit p: rule at layout position p */
};

/* nsv4_bitmap[gen], nsv4_r4[gen], nsv4_r6[gen]: one generation each. */
struct ns_bmpool {
	struct ns_bitmap b[NS_BITMAPS_PER_GEN];
};

struct ns_r6 {
	__u64 hi, lo;
};

struct ns_r4pool {
	__u32 r[NS_R4_PER_GEN];
};

struct ns_r6pool {
	struct ns_r6 r[NS_R6_PER_GEN];
};

/* nsv4_setdir[index] */
struct ns_setdir {
	char name[NS_SET_NAME_LEN];   /* empty: free slot */
	__u32 count4, count6;
};

/* nsv4_setpfx key (value: __u8 1) */
struct ns_setpfx {
	__u16 set;
	__u8 family;    /* 4 or 6 */
	__u8 plen;
	__u8 addr[16];
};

/* Counters (per-CPU; the CLI sums them). */
struct ns_counter {
	__u64 packets;
	__u64 bytes;
};

/* Where a verdict came from. */
enum ns_source {
	NS_SRC_RULE = 0,     /* a rule matched */
	NS_SRC_POLICY = 1,   /* no rule matched an IP packet: the table's policy */
	NS_SRC_UNUSABLE = 2, /* the parser could not use the frame */
	NS_SRC_NONIP = 3,    /* no rule matched a non-IP frame (ARP, LLDP...):
			      * it passes whatever the policy, so that a
			      * default-drop IP firewall does not cut ARP */
	NS_SOURCES = 4,
};

/* nsv4_cnt_http[table * NS_HTTP_KINDS + kind]: HTTP requests by method and
 * responses by status class seen by cls_http.
 * nsv4_cnt_verd[(table * NS_SOURCES + source) * NS_ACT_MAX + action];
 * nsv4_cnt_rsn[table * NS_R_MAX + reason] counts unusable and non-IP frames. */
#define NS_VERD_SLOTS (NS_TABLES * NS_SOURCES * NS_ACT_MAX)

#endif /* NETSIEVE_CONFIG_H */
