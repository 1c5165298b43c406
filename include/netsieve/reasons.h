/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Why the parser could not fully use a frame: one stable code per way a frame
 * can be unusable.  Shared by the BPF programs, the CLI and the tests.
 *
 * RULE: numbers are part of the on-map ABI (counters are indexed by them and
 * test expectations name them).  Never renumber or reuse a code; append new
 * ones before NS_R_MAX and give them a new number.
 *
 * Columns: number, enum suffix, name printed by the CLI, class, description.
 * Classes decide which configurable verdict applies to an unusable frame:
 *   NONE       usable (OK), or not IP at all (NON_IP): rules still apply
 *   TRUNCATED  a header we need does not fit in the frame or the datagram
 *   MALFORMED  a header is present but its fields are impossible
 *   DEEP       more VLAN tags / IPv6 extension headers than the parser walks
 */
#ifndef NETSIEVE_REASONS_H
#define NETSIEVE_REASONS_H

#define NS_REASONS(X)                                                          \
	X(0,  OK,              "ok",                      NONE,                \
	  "parsed completely")                                                 \
	X(1,  ETH_TRUNC,       "eth-truncated",           TRUNCATED,           \
	  "frame shorter than an Ethernet header (14 bytes)")                  \
	X(2,  VLAN_TRUNC,      "vlan-truncated",          TRUNCATED,           \
	  "802.1Q/802.1ad tag cut short")                                      \
	X(3,  VLAN_DEEP,       "vlan-too-deep",           DEEP,                \
	  "more VLAN tags than NS_MAX_VLAN")                                   \
	X(4,  NON_IP,          "non-ip",                  NONE,                \
	  "ethertype is neither IPv4 nor IPv6 (ARP, LLDP, MPLS, 802.3 ...)")   \
	X(5,  IP4_TRUNC,       "ipv4-truncated",          TRUNCATED,           \
	  "fewer than 20 bytes of IPv4 header")                                \
	X(6,  IP4_VERSION,     "ipv4-bad-version",        MALFORMED,           \
	  "ethertype IPv4 but version field is not 4")                         \
	X(7,  IP4_IHL,         "ipv4-bad-ihl",            MALFORMED,           \
	  "IPv4 header length (ihl) below 5")                                  \
	X(8,  IP4_OPTS_TRUNC,  "ipv4-options-truncated",  TRUNCATED,           \
	  "IPv4 options run past the end of the frame")                        \
	X(9,  IP4_TOTLEN,      "ipv4-bad-total-length",   MALFORMED,           \
	  "IPv4 total length smaller than the header")                         \
	X(10, IP6_TRUNC,       "ipv6-truncated",          TRUNCATED,           \
	  "fewer than 40 bytes of IPv6 header")                                \
	X(11, IP6_VERSION,     "ipv6-bad-version",        MALFORMED,           \
	  "ethertype IPv6 but version field is not 6")                         \
	X(12, IP6_EXT_TRUNC,   "ipv6-ext-truncated",      TRUNCATED,           \
	  "IPv6 extension header cut short (frame or payload length)")         \
	X(13, IP6_EXT_DEEP,    "ipv6-ext-too-deep",       DEEP,                \
	  "more IPv6 extension headers than NS_MAX_IP6_EXT")                   \
	X(14, TCP_TRUNC,       "tcp-truncated",           TRUNCATED,           \
	  "fewer than 20 bytes of TCP header")                                 \
	X(15, TCP_DOFF,        "tcp-bad-doff",            MALFORMED,           \
	  "TCP data offset below 5")                                           \
	X(16, TCP_OPTS_TRUNC,  "tcp-options-truncated",   TRUNCATED,           \
	  "TCP options run past the end of the frame or datagram")             \
	X(17, UDP_TRUNC,       "udp-truncated",           TRUNCATED,           \
	  "fewer than 8 bytes of UDP header")                                  \
	X(18, SCTP_TRUNC,      "sctp-truncated",          TRUNCATED,           \
	  "fewer than 12 bytes of SCTP common header")                         \
	X(19, ICMP_TRUNC,      "icmp-truncated",          TRUNCATED,           \
	  "fewer than 8 bytes of ICMP header")                                 \
	X(20, ICMP6_TRUNC,     "icmpv6-truncated",        TRUNCATED,           \
	  "fewer than 8 bytes of ICMPv6 header")

enum ns_reason {
#define NS_REASON_ENUM(num, id, name, cls, desc) NS_R_##id = num,
	NS_REASONS(NS_REASON_ENUM)
#undef NS_REASON_ENUM
	NS_R_MAX = 21, /* one past the highest code; counters are sized by it */
};

/* Reason classes (see above).  Values index per-class verdict settings. */
enum ns_reason_class {
	NS_RC_NONE = 0,
	NS_RC_TRUNCATED = 1,
	NS_RC_MALFORMED = 2,
	NS_RC_DEEP = 3,
	NS_RC_MAX = 4,
};

/* Class of a reason code; constant-folded in BPF. */
static inline __attribute__((always_inline)) int ns_reason_class(unsigned int r)
{
	switch (r) {
#define NS_REASON_CLASS(num, id, name, cls, desc) case num: return NS_RC_##cls;
	NS_REASONS(NS_REASON_CLASS)
#undef NS_REASON_CLASS
	}
	return NS_RC_MALFORMED;
}

#endif /* NETSIEVE_REASONS_H */
