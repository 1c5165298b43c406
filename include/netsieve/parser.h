/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The netsieve packet parser: header-only, hook-agnostic, the only code in the
 * project that reads packet headers.  XDP and tc programs call ns_parse() with
 * their data/data_end pointers (tc programs pull non-linear data first) and
 * get a struct ns_flow back.
 *
 * Every access is preceded by a bounds check against data_end in the form the
 * verifier tracks (pointer + constant size > end).  Lengths read from headers
 * are validated before they move the cursor, and every loop is bounded by a
 * named constant that a program may override before including this file.
 *
 * Policy decisions (documented in README "Parser"):
 *  - An IP length field of 0 means "unknown" (TSO, BIG TCP, jumbograms): the
 *    frame end is used and NS_F_LEN0 is set.  A length shorter than the header
 *    is malformed.  A length longer than the frame sets NS_F_SHORT (snaplen
 *    cut captures) and parsing continues with what is there.
 *  - Only an unfragmented packet or a first fragment (offset 0) yields an L4
 *    header and ports; later fragments report l4_proto and frag=LATER only.
 *  - An IPv6 fragment header with offset 0 and M=0 (atomic fragment) is not a
 *    fragment: frag=NONE, NS_F_FRAG_HDR set.
 *  - ESP (50), No Next Header (59) and unknown next headers end the walk
 *    without error: l4_proto says what came next.
 */
#ifndef NETSIEVE_PARSER_H
#define NETSIEVE_PARSER_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow.h"
#include "reasons.h"

/* VLAN tags walked (802.1Q 0x8100, 802.1ad 0x88a8 and the pre-standard
 * QinQ 0x9100), metadata tag included. */
#ifndef NS_MAX_VLAN
#define NS_MAX_VLAN 2
#endif

/* IPv6 extension headers walked before giving up with NS_R_IP6_EXT_DEEP. */
#ifndef NS_MAX_IP6_EXT
#define NS_MAX_IP6_EXT 8
#endif

#define NS_ETH_P_8021Q  0x8100
#define NS_ETH_P_8021AD 0x88a8
#define NS_ETH_P_QINQ1  0x9100
#define NS_ETH_P_IP     0x0800
#define NS_ETH_P_IPV6   0x86dd

#define NS_IPPROTO_HOPOPTS  0
#define NS_IPPROTO_ICMP     1
#define NS_IPPROTO_TCP      6
#define NS_IPPROTO_UDP      17
#define NS_IPPROTO_ROUTING  43
#define NS_IPPROTO_FRAGMENT 44
#define NS_IPPROTO_AH       51
#define NS_IPPROTO_ICMPV6   58
#define NS_IPPROTO_NONE     59
#define NS_IPPROTO_DSTOPTS  60
#define NS_IPPROTO_SCTP     132
#define NS_IPPROTO_MH       135

/* Cursor over the frame: pos is the next unread byte. */
struct ns_cursor {
	void *start;
	void *pos;
	void *end;
};

static __always_inline __u16 ns_off(const struct ns_cursor *c, const void *p)
{
	return (__u16)((long)p - (long)c->start);
}

/* Rotate a 32-bit word by 16 (the slot hash tells source from destination). */
static __always_inline __u32 ns_rol16(__u32 x)
{
	return x << 16 | x >> 16;
}

static __always_inline int ns_set_reason(struct ns_flow *f, int reason)
{
	f->reason = reason;
	return reason;
}

static __always_inline int ns_is_vlan(__u16 proto)
{
	return proto == NS_ETH_P_8021Q || proto == NS_ETH_P_8021AD ||
	       proto == NS_ETH_P_QINQ1;
}

/*
 * Ethernet and up to NS_MAX_VLAN tags.  hw_vlan carries a tag the NIC or the
 * stack already removed from the bytes (tc: skb->vlan_present/vlan_tci):
 * 0 for none, else 0x10000 | TCI.  Returns the innermost ethertype (host
 * order) or a negative reason.
 */
static __always_inline int ns_parse_eth(struct ns_cursor *c, struct ns_flow *f,
					__u32 hw_vlan, __u32 *h)
{
	struct ethhdr *eth = c->pos;
	__u16 proto;
	int depth = 0;

	if ((void *)(eth + 1) > c->end)
		return -NS_R_ETH_TRUNC;
	c->pos = eth + 1;
	proto = bpf_ntohs(eth->h_proto);

	if (hw_vlan) {
		f->vlan_outer = f->vlan_inner = hw_vlan & 0x0fff;
		*h = (hw_vlan & 0x0fff) << 20;
		f->flags |= NS_F_HW_VLAN;
		depth = 1;
	}

#pragma unroll
	for (int i = 0; i < NS_MAX_VLAN; i++) {
		/* Tags are 4 bytes: TCI then the next ethertype. */
		struct { __be16 tci; __be16 proto; } *tag = c->pos;

		if (!ns_is_vlan(proto))
			break;
		if (depth >= NS_MAX_VLAN)
			break; /* metadata tag used the last slot */
		if ((void *)(tag + 1) > c->end)
			return -NS_R_VLAN_TRUNC;
		if (depth == 0) {
			f->vlan_outer = bpf_ntohs(tag->tci) & 0x0fff;
			*h = (__u32)f->vlan_outer << 20;
		}
		f->vlan_inner = bpf_ntohs(tag->tci) & 0x0fff;
		proto = bpf_ntohs(tag->proto);
		c->pos = tag + 1;
		depth++;
	}
	f->vlan_depth = depth;
	f->eth_proto = proto;
	if (ns_is_vlan(proto))
		return -NS_R_VLAN_DEEP;
	return proto;
}

/* IPv4 header at c->pos.  Returns the protocol or a negative reason. */
static __always_inline int ns_parse_ipv4(struct ns_cursor *c, struct ns_flow *f,
					__u32 *h)
{
	struct {
		__u8 vihl, tos;
		__be16 tot_len, id, frag_off;
		__u8 ttl, protocol;
		__be16 check;
		__be32 saddr, daddr;
	} *iph = c->pos;
	__u32 hlen, tot, avail, foff;

	if ((void *)(iph + 1) > c->end)
		return -NS_R_IP4_TRUNC;
	if ((iph->vihl >> 4) != 4)
		return -NS_R_IP4_VERSION;
	hlen = (iph->vihl & 0x0f) * 4;
	if (hlen < 20)
		return -NS_R_IP4_IHL;
	if (c->pos + hlen > c->end)
		return -NS_R_IP4_OPTS_TRUNC;

	f->l3 = NS_L3_IPV4;
	f->l3_off = ns_off(c, iph);
	f->tos = iph->tos;
	f->ttl = iph->ttl;
	f->l4_proto = iph->protocol;
	__builtin_memcpy(f->saddr, &iph->saddr, 4);
	__builtin_memcpy(f->daddr, &iph->daddr, 4);
	*h ^= iph->saddr ^ ns_rol16(iph->daddr);
	if (hlen > 20)
		f->flags |= NS_F_IP4_OPTS;

	avail = (__u32)(c->end - c->pos);
	tot = bpf_ntohs(iph->tot_len);
	if (tot == 0) {
		f->flags |= NS_F_LEN0;
		tot = avail;
	} else if (tot < hlen) {
		return -NS_R_IP4_TOTLEN;
	} else if (tot > avail) {
		f->flags |= NS_F_SHORT;
		tot = avail;
	}
	f->ip_end = f->l3_off + tot;

	foff = bpf_ntohs(iph->frag_off);
	if (foff & 0x4000)
		f->flags |= NS_F_DF;
	if (foff & 0x1fff)
		f->frag = NS_FRAG_LATER;
	else if (foff & 0x2000)
		f->frag = NS_FRAG_FIRST;

	c->pos += hlen;
	return iph->protocol;
}

/*
 * IPv6 header and extension chain.  Returns the upper-layer protocol (or the
 * next header after a later fragment) or a negative reason.
 */
static __always_inline int ns_parse_ipv6(struct ns_cursor *c, struct ns_flow *f,
					__u32 *h)
{
	struct {
		__be32 vtcfl;
		__be16 payload_len;
		__u8 nexthdr, hop_limit;
		__u8 saddr[16], daddr[16];
	} *ip6 = c->pos;
	__u32 plen, avail, vtcfl;
	int nh;

	if ((void *)(ip6 + 1) > c->end)
		return -NS_R_IP6_TRUNC;
	vtcfl = bpf_ntohl(ip6->vtcfl);
	if ((vtcfl >> 28) != 6)
		return -NS_R_IP6_VERSION;

	f->l3 = NS_L3_IPV6;
	f->l3_off = ns_off(c, ip6);
	f->tos = (vtcfl >> 20) & 0xff;
	f->ttl = ip6->hop_limit;
	__builtin_memcpy(f->saddr, ip6->saddr, 16);
	__builtin_memcpy(f->daddr, ip6->daddr, 16);
	{
		const __u32 *s = (const __u32 *)ip6->saddr, *d = (const __u32 *)ip6->daddr;

		*h ^= s[0] ^ s[1] ^ s[2] ^ s[3] ^ ns_rol16(d[0] ^ d[1] ^ d[2] ^ d[3]);
	}
	c->pos = ip6 + 1;

	avail = (__u32)(c->end - c->pos);
	plen = bpf_ntohs(ip6->payload_len);
	if (plen == 0) {
		f->flags |= NS_F_LEN0;
		plen = avail;
	} else if (plen > avail) {
		f->flags |= NS_F_SHORT;
		plen = avail;
	}
	f->ip_end = f->l3_off + 40 + plen;

	nh = ip6->nexthdr;
	f->l4_proto = nh;
#pragma unroll
	for (int i = 0; i < NS_MAX_IP6_EXT; i++) {
		struct { __u8 nexthdr, hdrlen; __be16 frag_off; } *ext = c->pos;
		__u32 len;

		/* !ns_ip6_ext_hdr(nh), spelled out: written with the macro,
		 * clang builds this unrolled walk with more instructions. */
		if (nh != NS_IPPROTO_HOPOPTS && nh != NS_IPPROTO_ROUTING &&
		    nh != NS_IPPROTO_DSTOPTS && nh != NS_IPPROTO_FRAGMENT &&
		    nh != NS_IPPROTO_AH && nh != NS_IPPROTO_MH)
			return nh;
		/* Every extension header starts with 8 bytes we can read. */
		if ((void *)ext + 8 > c->end)
			return -NS_R_IP6_EXT_TRUNC;
		if (nh == NS_IPPROTO_FRAGMENT)
			len = 8;
		else if (nh == NS_IPPROTO_AH)
			len = ((__u32)ext->hdrlen + 2) * 4;
		else
			len = ((__u32)ext->hdrlen + 1) * 8;
		if (ns_off(c, ext) + len > f->ip_end)
			return -NS_R_IP6_EXT_TRUNC;
		if ((void *)ext + len > c->end)
			return -NS_R_IP6_EXT_TRUNC;

		f->ip6_ext++;
		f->flags |= NS_F_IP6_EXT;
		if (nh == NS_IPPROTO_FRAGMENT) {
			__u16 fo = bpf_ntohs(ext->frag_off);

			f->flags |= NS_F_FRAG_HDR;
			if (fo & 0xfff8) {
				f->frag = NS_FRAG_LATER;
				nh = ext->nexthdr;
				f->l4_proto = nh;
				c->pos = (void *)ext + len;
				return nh;
			}
			if (fo & 1)
				f->frag = NS_FRAG_FIRST;
		}
		nh = ext->nexthdr;
		f->l4_proto = nh;
		c->pos = (void *)ext + len;
	}
	if (ns_ip6_ext_hdr(nh))
		return -NS_R_IP6_EXT_DEEP;
	return nh;
}

/* Fits [pos, pos+n) in both the frame and the IP datagram? */
static __always_inline int ns_fits(struct ns_cursor *c, struct ns_flow *f,
				   void *p, __u32 n)
{
	if (p + n > c->end)
		return 0;
	return ns_off(c, p) + n <= f->ip_end;
}

/* L4 header at c->pos for protocol proto (unfragmented or first fragment). */
static __always_inline int ns_parse_l4(struct ns_cursor *c, struct ns_flow *f,
				       int proto, __u32 *h)
{
	void *p = c->pos;

	f->l4_off = ns_off(c, p);
	switch (proto) {
	case NS_IPPROTO_TCP: {
		struct {
			__be16 source, dest;
			__be32 seq, ack;
			__u8 doff_res, flags;
			__be16 window, check, urg;
		} *th = p;
		__u32 doff;

		if ((void *)(th + 1) > c->end || !ns_fits(c, f, p, 20))
			return -NS_R_TCP_TRUNC;
		f->sport = bpf_ntohs(th->source);
		f->dport = bpf_ntohs(th->dest);
		*h ^= th->source | (__u32)th->dest << 16;
		f->tcp_flags = th->flags;
		f->flags |= NS_F_PORTS | NS_F_TCP;
		doff = (th->doff_res >> 4) * 4;
		if (doff < 20)
			return -NS_R_TCP_DOFF;
		if (!ns_fits(c, f, p, doff))
			return -NS_R_TCP_OPTS_TRUNC;
		c->pos = p + doff;
		break;
	}
	case NS_IPPROTO_UDP: {
		struct { __be16 source, dest, len, check; } *uh = p;

		if ((void *)(uh + 1) > c->end || !ns_fits(c, f, p, 8))
			return -NS_R_UDP_TRUNC;
		f->sport = bpf_ntohs(uh->source);
		f->dport = bpf_ntohs(uh->dest);
		*h ^= uh->source | (__u32)uh->dest << 16;
		f->flags |= NS_F_PORTS;
		c->pos = uh + 1;
		break;
	}
	case NS_IPPROTO_SCTP: {
		struct { __be16 source, dest; __be32 vtag, check; } *sh = p;

		if ((void *)(sh + 1) > c->end || !ns_fits(c, f, p, 12))
			return -NS_R_SCTP_TRUNC;
		f->sport = bpf_ntohs(sh->source);
		f->dport = bpf_ntohs(sh->dest);
		*h ^= sh->source | (__u32)sh->dest << 16;
		f->flags |= NS_F_PORTS;
		c->pos = sh + 1;
		break;
	}
	case NS_IPPROTO_ICMP:
	case NS_IPPROTO_ICMPV6: {
		struct { __u8 type, code; __be16 check; __be32 rest; } *ih = p;

		/* ICMP inside IPv6 or ICMPv6 inside IPv4 is just a number. */
		if ((proto == NS_IPPROTO_ICMP) != (f->l3 == NS_L3_IPV4))
			return 0;
		if ((void *)(ih + 1) > c->end || !ns_fits(c, f, p, 8))
			return proto == NS_IPPROTO_ICMP ? -NS_R_ICMP_TRUNC :
							  -NS_R_ICMP6_TRUNC;
		f->icmp_type = ih->type;
		f->icmp_code = ih->code;
		*h ^= (__u32)ih->type << 16 | (__u32)ih->code << 24;
		f->flags |= NS_F_ICMP;
		c->pos = ih + 1;
		break;
	}
	default:
		return 0;
	}
	f->payload_off = ns_off(c, c->pos);
	f->flags |= NS_F_PAYLOAD;
	return 0;
}

/*
 * What an HTTP/1.x TCP payload starts with, from its first 12 bytes (a
 * shorter payload zero-filled: its method still shows, a status line needs
 * all 12): a request method followed by a space, or "HTTP/1.x " and a
 * status code.  Returns enum ns_http.
 */
static __always_inline __u8 ns_http_kind(const __u8 *b)
{
	/* Requests: method and space.  Compare as little-endian words. */
	__u64 w = (__u64)b[0] | (__u64)b[1] << 8 | (__u64)b[2] << 16 |
		  (__u64)b[3] << 24 | (__u64)b[4] << 32 | (__u64)b[5] << 40 |
		  (__u64)b[6] << 48 | (__u64)b[7] << 56;

	if ((w & 0xffffffff) == 0x20544547)                  /* "GET " */
		return NS_HTTP_GET;
	if ((w & 0xffffffff) == 0x20545550)                  /* "PUT " */
		return NS_HTTP_PUT;
	if ((w & 0xffffffffffULL) == 0x2054534f50ULL)        /* "POST " */
		return NS_HTTP_POST;
	if ((w & 0xffffffffffULL) == 0x2044414548ULL)        /* "HEAD " */
		return NS_HTTP_HEAD;
	if ((w & 0xffffffffffffULL) == 0x204843544150ULL)    /* "PATCH " */
		return NS_HTTP_PATCH;
	if ((w & 0xffffffffffffULL) == 0x204543415254ULL)    /* "TRACE " */
		return NS_HTTP_TRACE;
	if ((w & 0xffffffffffffffULL) == 0x204554454c4544ULL) /* "DELETE " */
		return NS_HTTP_DELETE;
	if (w == 0x20534e4f4954504fULL)                      /* "OPTIONS " */
		return NS_HTTP_OPTIONS;
	if (w == 0x205443454e4e4f43ULL)                      /* "CONNECT " */
		return NS_HTTP_CONNECT;
	/* Responses: "HTTP/1.0 " or "HTTP/1.1 ", then a 3-digit status. */
	if ((w & 0x00ffffffffffffffULL) == 0x002e312f50545448ULL && /* "HTTP/1." */
	    b[8] == ' ' && b[9] >= '1' && b[9] <= '5' &&
	    b[10] >= '0' && b[10] <= '9' && b[11] >= '0' && b[11] <= '9' &&
	    (b[7] == '0' || b[7] == '1'))
		return NS_HTTP_1XX + (b[9] - '1');
	return NS_HTTP_NONE;
}

/*
 * Parse the frame [data, data_end) into *f (zeroed here).  Returns f->reason:
 * NS_R_OK, NS_R_NON_IP (not IP: L2 fields valid) or an unusable-frame code
 * (fields up to the failing layer are valid).
 */
static __always_inline int ns_parse(void *data, void *data_end,
				    struct ns_flow *f, __u32 hw_vlan)
{
	struct ns_cursor c = { .start = data, .pos = data, .end = data_end };
	__u32 h = 0;  /* f->hash, kept in a register until it is complete */
	int ret;

	__builtin_memset(f, 0, sizeof(*f));

	ret = ns_parse_eth(&c, f, hw_vlan, &h);
	if (ret < 0)
		return ns_set_reason(f, -ret);
	if (ret == NS_ETH_P_IP)
		ret = ns_parse_ipv4(&c, f, &h);
	else if (ret == NS_ETH_P_IPV6)
		ret = ns_parse_ipv6(&c, f, &h);
	else
		return ns_set_reason(f, NS_R_NON_IP);
	if (ret < 0)
		return ns_set_reason(f, -ret);
	h ^= (__u32)ret << 8;
	if (f->frag == NS_FRAG_LATER) {
		f->hash = h;
		return NS_R_OK;
	}
	ret = ns_parse_l4(&c, f, ret, &h);
	if (ret < 0)
		return ns_set_reason(f, -ret);
	f->hash = h;
	return NS_R_OK;
}

#endif /* NETSIEVE_PARSER_H */
