/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * struct ns_flow: the one description of a packet that the parser produces and
 * every netsieve program matches on.  Shared by BPF and user space; the layout
 * is fixed (explicit padding, 68 bytes) because tests read it back from the
 * parser probe's output (tests/flowdesc.py mirrors it; bump NS_FLOW_VERSION
 * when it changes).
 *
 * Byte order: ports and offsets are host order; addresses are network order
 * as they appear on the wire (IPv4 in saddr[0..3]).
 */
#ifndef NETSIEVE_FLOW_H
#define NETSIEVE_FLOW_H

#include <linux/types.h>

#define NS_FLOW_VERSION 4

/* l3 */
enum ns_l3 {
	NS_L3_NONE = 0, /* not IP, or the frame was unusable before L3 */
	NS_L3_IPV4 = 4,
	NS_L3_IPV6 = 6,
};

/* frag */
enum ns_frag {
	NS_FRAG_NONE = 0,  /* not a fragment (IPv6 atomic fragments count here) */
	NS_FRAG_FIRST = 1, /* offset 0 with more-fragments set: has the L4 header */
	NS_FRAG_LATER = 2, /* offset > 0: no L4 header, so no ports */
};

/* http: what starts the TCP payload (ns_http_kind()). */
enum ns_http {
	NS_HTTP_NONE = 0,
	NS_HTTP_GET = 1,
	NS_HTTP_POST = 2,
	NS_HTTP_PUT = 3,
	NS_HTTP_DELETE = 4,
	NS_HTTP_HEAD = 5,
	NS_HTTP_OPTIONS = 6,
	NS_HTTP_PATCH = 7,
	NS_HTTP_CONNECT = 8,
	NS_HTTP_TRACE = 9,
	NS_HTTP_1XX = 10,   /* responses, by status class */
	NS_HTTP_2XX = 11,
	NS_HTTP_3XX = 12,
	NS_HTTP_4XX = 13,
	NS_HTTP_5XX = 14,
	NS_HTTP_KINDS = 16,
};

/* flags */
#define NS_F_PORTS      0x0001 /* sport/dport are valid (TCP, UDP, SCTP) */
#define NS_F_ICMP       0x0002 /* icmp_type/icmp_code are valid */
#define NS_F_TCP        0x0004 /* tcp_flags is valid */
#define NS_F_IP4_OPTS   0x0008 /* IPv4 header carried options (ihl > 5) */
#define NS_F_IP6_EXT    0x0010 /* IPv6 extension headers were walked */
#define NS_F_FRAG_HDR   0x0020 /* IPv6 fragment header present (even atomic) */
#define NS_F_SHORT      0x0040 /* IP length says the datagram goes on past the
				* frame: cut by a capture snaplen, or truncated */
#define NS_F_LEN0       0x0080 /* IP length field 0 (TSO/BIG TCP/jumbogram):
				* the frame length is used instead */
#define NS_F_HW_VLAN    0x0100 /* outer VLAN tag came from skb metadata (tc) */
#define NS_F_DF         0x0200 /* IPv4 don't-fragment bit */
#define NS_F_PAYLOAD    0x0400 /* payload_off is valid (L4 header complete) */

struct ns_flow {
	__u16 reason;      /* enum ns_reason; NS_R_OK when fully parsed */
	__u16 eth_proto;   /* innermost ethertype, host order */
	__u16 flags;       /* NS_F_* */
	__u8 l3;           /* enum ns_l3 */
	__u8 l4_proto;     /* IPv4 protocol / IPv6 final next header */
	__u8 frag;         /* enum ns_frag */
	__u8 vlan_depth;   /* tags seen, including a metadata tag */
	__u8 ip6_ext;      /* IPv6 extension headers walked */
	__u8 tcp_flags;    /* FIN=0x01 ... CWR=0x80 */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tos;          /* IPv4 TOS / IPv6 traffic class (DSCP << 2 | ECN) */
	__u8 ttl;          /* IPv4 TTL / IPv6 hop limit */
	__u16 vlan_outer;  /* VID of the outermost tag (0 when untagged) */
	__u16 vlan_inner;  /* VID of the innermost tag (== outer for one tag) */
	__u16 sport;       /* host order, valid with NS_F_PORTS */
	__u16 dport;
	__u16 l3_off;      /* offsets from the start of the frame */
	__u16 l4_off;
	__u16 payload_off; /* first byte after the L4 header (NS_F_PAYLOAD) */
	__u16 ip_end;      /* end of the IP datagram: min(frame, IP length) */
	__u8 http;         /* enum ns_http: set by programs that look at HTTP
			    * (cls_http), 0 from the parser */
	__u8 _pad[3];
	__u32 hash;        /* the flow cache's slot hash (engine.h), folded
			    * from the header words the parser loads: the
			    * addresses, L4 protocol, ports or ICMP type and
			    * code, outer VID.  Not a key: any two flows may
			    * share it. */
	__u8 saddr[16];    /* network order; IPv4 uses the first 4 bytes */
	__u8 daddr[16];
} __attribute__((aligned(8)));  /* zeroed and copied in 8-byte words */

/* The IPv6 extension headers the parser walks (hop-by-hop 0, routing 43,
 * fragment 44, AH 51, destination options 60, mobility 135): an IPv6
 * packet's l4_proto is never one of them.  Shared with the CLI, which
 * refuses rules on them that could never match.  (A macro: as an inline
 * function it changed the parser's code.) */
#define ns_ip6_ext_hdr(nh) ((nh) == 0 || (nh) == 43 || (nh) == 60 || \
			    (nh) == 44 || (nh) == 51 || (nh) == 135)

_Static_assert(sizeof(struct ns_flow) == 72, "ns_flow layout changed: update "
	       "tests/flowdesc.py and NS_FLOW_VERSION");

#endif /* NETSIEVE_FLOW_H */
