// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* netsieve CLI: rule and prefix syntax, both directions. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "netsieve/flow.h"

const char *const ns_table_names[NS_TABLES] = { "xdp", "ingress", "egress" };
const char *const ns_rc_names[NS_RC_MAX] = { "none", "truncated", "malformed",
					     "too-deep" };

static const struct {
	const char *name;
	int num;
} protos[] = {
	{ "tcp", 6 }, { "udp", 17 }, { "sctp", 132 }, { "icmp", 1 },
	{ "icmpv6", 58 }, { "gre", 47 }, { "esp", 50 }, { "ah", 51 },
};

int ns_table_by_name(const char *s)
{
	for (int i = 0; i < NS_TABLES; i++)
		if (!strcmp(s, ns_table_names[i]))
			return i;
	return -1;
}

const char *ns_proto_name(int proto)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	return NULL;
}

const char *ns_reason_name(unsigned r)
{
	switch (r) {
#define NS_REASON_NAME(num, id, name, cls, desc) case num: return name;
	NS_REASONS(NS_REASON_NAME)
#undef NS_REASON_NAME
	}
	return "unknown";
}

static u128 mask6(int plen)
{
	if (plen == 0)
		return 0;
	return ~(u128)0 << (128 - plen);
}

static uint32_t mask4(int plen)
{
	return plen ? ~0u << (32 - plen) : 0;
}

/* A prefix length: decimal digits, no sign, no leading zero, up to max. */
static bool parse_plen(const char *s, uint64_t max, uint64_t *plen)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*plen = v;
	return true;
}

bool ns_parse_prefix(const char *s, int *family, struct ns_pfx4 *p4,
		     struct ns_pfx6 *p6, char *err, size_t errlen)
{
	char buf[128];
	char *slash;
	uint64_t plen;
	int has_len;

	if (strlen(s) >= sizeof(buf))
		return ns_fail(err, errlen, "'%.40s...' is not an address or prefix", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	has_len = slash != NULL;
	if (slash)
		*slash = 0;
	if (strchr(buf, ':')) {
		struct in6_addr a;
		u128 v = 0;

		if (inet_pton(AF_INET6, buf, &a) != 1) {
			/* 192.0.2.1:80: a port where an address goes */
			if (strchr(buf, '.') && strchr(buf, ':') == strrchr(buf, ':'))
				return ns_fail(err, errlen, "'%s' is not an address or prefix "
					       "(ports go in sport/dport)", s);
			return ns_fail(err, errlen, "'%s' is not an IPv6 address or prefix", s);
		}
		for (int i = 0; i < 16; i++)
			v = (v << 8) | a.s6_addr[i];
		plen = 128;
		if (has_len && !parse_plen(slash + 1, 128, &plen))
			return ns_fail(err, errlen,
				    "bad prefix '%s': the length after / must be a number 0-128 "
				    "(decimal, no leading zero)", s);
		if (v & ~mask6(plen)) {
			struct ns_pfx6 fix = { v & mask6(plen), plen };
			char fb[64];

			ns_format_pfx6(&fix, fb, sizeof(fb));
			return ns_fail(err, errlen,
				    "prefix '%s' has host bits set (did you mean %s?)", s, fb);
		}
		*family = 6;
		p6->addr = v;
		p6->plen = plen;
		return true;
	}
	{
		struct in_addr a;
		uint32_t v;

		/* inet_pton takes only dotted quads; no "10/8" shorthands. */
		if (inet_pton(AF_INET, buf, &a) != 1)
			return ns_fail(err, errlen, "'%s' is not an IPv4 or IPv6 address or prefix", s);
		v = ntohl(a.s_addr);
		plen = 32;
		if (has_len && !parse_plen(slash + 1, 32, &plen))
			return ns_fail(err, errlen,
				    "bad prefix '%s': the length after / must be a number 0-32 "
				    "(decimal, no leading zero)", s);
		if (v & ~mask4(plen)) {
			struct ns_pfx4 fix = { v & mask4(plen), plen };
			char fb[32];

			ns_format_pfx4(&fix, fb, sizeof(fb));
			return ns_fail(err, errlen,
				    "prefix '%s' has host bits set (did you mean %s?)", s, fb);
		}
		*family = 4;
		p4->addr = v;
		p4->plen = plen;
		return true;
	}
}

void ns_format_pfx4(const struct ns_pfx4 *p, char *buf, size_t len)
{
	struct in_addr a = { htonl(p->addr) };
	char ab[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, ab, sizeof(ab));
	snprintf(buf, len, "%s/%u", ab, p->plen);
}

void ns_format_pfx6(const struct ns_pfx6 *p, char *buf, size_t len)
{
	struct in6_addr a;
	char ab[INET6_ADDRSTRLEN];
	u128 v = p->addr;

	for (int i = 15; i >= 0; i--) {
		a.s6_addr[i] = (uint8_t)v;
		v >>= 8;
	}
	inet_ntop(AF_INET6, &a, ab, sizeof(ab));
	snprintf(buf, len, "%s/%u", ab, p->plen);
}

bool ns_valid_set_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= NS_SET_NAME_LEN)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

int ns_set_find(const struct ns_conf *c, const char *name)
{
	for (int i = 0; i < NS_MAX_SETS; i++)
		if (c->sets[i].name[0] && !strcmp(c->sets[i].name, name))
			return i;
	return -1;
}

/* ns_split_words() for a line of any length (a set line may list
 * thousands of prefixes): *words grows to fit; free it once at the end. */
int ns_split_line(char *line, char ***words, size_t *cap)
{
	size_t need = strlen(line) / 2 + 2;

	if (need > *cap) {
		free(*words);
		*words = calloc(need, sizeof(**words));
		if (!*words)
			ns_die(NS_EXIT_FAIL, "out of memory");
		*cap = need;
	}
	return ns_split_words(line, *words, (int)(need - 1));
}

int ns_split_words(char *line, char **words, int max)
{
	int n = 0;
	char *save = NULL, *w;

	for (w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (*w == '#')
			break;
		if (n == max)
			return -1;
		words[n++] = w;
	}
	return n;
}

/* "P" or "P-Q" */
static bool parse_ports(const char *what, const char *s, uint16_t *lo,
			uint16_t *hi, char *err, size_t len)
{
	char buf[32];
	char *dash;
	uint64_t a, b;

	if (strlen(s) >= sizeof(buf))
		return ns_fail(err, len, "%s '%.20s...': expected a port or a range P-Q", what, s);
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = 0;
	if (!ns_parse_u64(buf, 0, UINT64_MAX, &a) ||
	    (dash && !ns_parse_u64(dash + 1, 0, UINT64_MAX, &b)))
		return ns_fail(err, len, "%s '%s': expected a port 0-65535 or a range P-Q", what, s);
	if (!dash)
		b = a;
	if (a > 65535 || b > 65535)
		return ns_fail(err, len, "%s '%s': port %llu is out of range 0-65535", what, s,
			    (unsigned long long)(a > 65535 ? a : b));
	if (b < a)
		return ns_fail(err, len, "%s '%s': range is backwards (did you mean %llu-%llu?)",
			    what, s, (unsigned long long)b, (unsigned long long)a);
	*lo = a;
	*hi = b;
	return true;
}

static bool parse_addr(struct ns_conf *c, const char *what, const char *s,
		       uint8_t *kind, uint8_t *plen, uint16_t *set,
		       uint8_t *addr, char *err, size_t len)
{
	struct ns_pfx4 p4 = {0};
	struct ns_pfx6 p6 = {0};
	int fam = 0, i;

	if (s[0] == '@') {
		i = ns_set_find(c, s + 1);
		if (i < 0)
			return ns_fail(err, len, "%s %s: no set named '%s' (create it with 'netsieve set add %s PREFIX...')",
				    what, s, s + 1, ns_valid_set_name(s + 1) ? s + 1 : "NAME");
		*kind = NS_ADDR_KIND_SET;
		*set = i;
		return true;
	}
	if (!ns_parse_prefix(s, &fam, &p4, &p6, err, len)) {
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "%s: %s", what, err);
		snprintf(err, len, "%s", tmp);
		return false;
	}
	memset(addr, 0, 16);
	if (fam == 4) {
		*kind = NS_ADDR_KIND_V4;
		*plen = p4.plen;
		for (int b = 0; b < 4; b++)
			addr[b] = p4.addr >> (24 - 8 * b);
	} else {
		u128 v = p6.addr;

		*kind = NS_ADDR_KIND_V6;
		*plen = p6.plen;
		for (int b = 15; b >= 0; b--) {
			addr[b] = (uint8_t)v;
			v >>= 8;
		}
	}
	return true;
}

static const struct {
	const char *name;
	int val;
} dscp_names[] = {
	{ "cs0", 0 }, { "default", 0 }, { "be", 0 }, { "le", 1 },
	{ "cs1", 8 }, { "af11", 10 }, { "af12", 12 }, { "af13", 14 },
	{ "cs2", 16 }, { "af21", 18 }, { "af22", 20 }, { "af23", 22 },
	{ "cs3", 24 }, { "af31", 26 }, { "af32", 28 }, { "af33", 30 },
	{ "cs4", 32 }, { "af41", 34 }, { "af42", 36 }, { "af43", 38 },
	{ "cs5", 40 }, { "va", 44 }, { "ef", 46 }, { "cs6", 48 }, { "cs7", 56 },
};

static bool parse_dscp(const char *s, uint8_t *out, char *err, size_t len)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(dscp_names) / sizeof(dscp_names[0]); i++)
		if (!strcasecmp(s, dscp_names[i].name)) {
			*out = dscp_names[i].val;
			return true;
		}
	if (!ns_parse_u64(s, 0, UINT64_MAX, &v))
		return ns_fail(err, len, "dscp '%s': expected a name (ef, af11..af43, cs0..cs7, va, le, be) or 0-63", s);
	if (v > 63)
		return ns_fail(err, len, "dscp %s is out of range 0-63", s);
	*out = v;
	return true;
}

static const char *dscp_name(int v)
{
	static char buf[8];

	for (size_t i = 0; i < sizeof(dscp_names) / sizeof(dscp_names[0]); i++)
		if (dscp_names[i].val == v && strcmp(dscp_names[i].name, "default") &&
		    strcmp(dscp_names[i].name, "be"))
			return dscp_names[i].name;
	snprintf(buf, sizeof(buf), "%d", v);
	return buf;
}

/* tc class ids are hex: "1:10" is major 1, minor 0x10. */
static bool parse_classid(const char *s, uint32_t *out, char *err, size_t len)
{
	const char *colon = strchr(s, ':');
	char *end;
	unsigned long maj, min;

	if (!colon || colon == s || !colon[1])
		return ns_fail(err, len, "classify '%s': expected MAJ:MIN in hex as tc prints it (e.g. 1:10)", s);
	if (!isxdigit((unsigned char)s[0]))
		return ns_fail(err, len, "classify '%s': major must be hex 1-fffe", s);
	maj = strtoul(s, &end, 16);
	/* ffff: is tc's root/ingress/clsact space, not a qdisc's. */
	if (end != colon || maj == 0 || maj > 0xfffe)
		return ns_fail(err, len, "classify '%s': major must be hex 1-fffe", s);
	min = strtoul(colon + 1, &end, 16);
	if (*end || min > 0xffff || !isxdigit((unsigned char)colon[1]))
		return ns_fail(err, len, "classify '%s': minor must be hex 1-ffff", s);
	if (min == 0)
		return ns_fail(err, len, "classify '%s': minor 0 names the qdisc %lx: itself, not a "
			       "class (HTB would send the packets to its unshaped direct queue)", s, maj);
	*out = (uint32_t)(maj << 16 | min);
	return true;
}

static const char *const http_names[NS_HTTP_KINDS] = {
	[NS_HTTP_GET] = "GET", [NS_HTTP_POST] = "POST", [NS_HTTP_PUT] = "PUT",
	[NS_HTTP_DELETE] = "DELETE", [NS_HTTP_HEAD] = "HEAD",
	[NS_HTTP_OPTIONS] = "OPTIONS", [NS_HTTP_PATCH] = "PATCH",
	[NS_HTTP_CONNECT] = "CONNECT", [NS_HTTP_TRACE] = "TRACE",
	[NS_HTTP_1XX] = "1xx", [NS_HTTP_2XX] = "2xx", [NS_HTTP_3XX] = "3xx",
	[NS_HTTP_4XX] = "4xx", [NS_HTTP_5XX] = "5xx",
};
#define HTTP_REQUESTS (((1u << (NS_HTTP_TRACE + 1)) - 1) & ~1u)
#define HTTP_RESPONSES (((1u << (NS_HTTP_5XX + 1)) - 1) & ~((1u << NS_HTTP_1XX) - 1))

const char *ns_http_name(unsigned k)
{
	return k < NS_HTTP_KINDS && http_names[k] ? http_names[k] : "none";
}

/* "GET,POST", "4xx", "request", "response" */
static bool parse_http(const char *s, uint16_t *mask, char *err, size_t len)
{
	char buf[128], *save = NULL, *w;

	if (strlen(s) >= sizeof(buf))
		return ns_fail(err, len, "http '%.20s...': too long", s);
	strcpy(buf, s);
	*mask = 0;
	if (!*s || *s == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
		return ns_fail(err, len, "http '%s': an empty item in the list", s);
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int k;

		if (!strcasecmp(w, "request")) {
			*mask |= HTTP_REQUESTS;
			continue;
		}
		if (!strcasecmp(w, "response")) {
			*mask |= HTTP_RESPONSES;
			continue;
		}
		for (k = 1; k < NS_HTTP_KINDS; k++)
			if (http_names[k] && !strcasecmp(w, http_names[k]))
				break;
		if (k == NS_HTTP_KINDS)
			return ns_fail(err, len, "http '%s': expected methods (GET, POST, PUT, DELETE, HEAD, OPTIONS, PATCH, CONNECT, TRACE), status classes (1xx..5xx), request or response, comma-separated", s);
		*mask |= 1u << k;
	}
	if (!*mask)
		return ns_fail(err, len, "http needs a value");
	return true;
}

static int proto_by_name(const char *s)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcasecmp(s, protos[i].name))
			return protos[i].num;
	if (ns_parse_u64(s, 0, 255, &v))
		return (int)v;
	return -1;
}

#define HAS(f) (r->fields & (1u << (f)))

bool ns_rule_parse(struct ns_conf *c, int argc, char **argv, struct ns_rule *r,
		   struct ns_rule_parse *p, char *err, size_t len)
{
	bool have_action = false, seen_table = false, seen_pos = false;
	uint64_t v;

	memset(r, 0, sizeof(*r));
	p->table = -1;
	p->pos = 0;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (have_action) {
			/* Everything after 'action' describes it. */
			if (!strcmp(w, "drop") || !strcmp(w, "pass")) {
				return ns_fail(err, len, "'%s' after the action: a rule has one verdict", w);
			} else if (!strcmp(w, "classify") || !strcmp(w, "mark") ||
				   !strcmp(w, "dscp")) {
				uint8_t eff = !strcmp(w, "classify") ? NS_EFF_CLASSIFY :
					      !strcmp(w, "mark") ? NS_EFF_MARK : NS_EFF_DSCP;

				if (r->action == NS_ACT_DROP)
					return ns_fail(err, len, "'%s' cannot go with drop", w);
				if (!val)
					return ns_fail(err, len, "%s needs a value", w);
				if (r->effects & eff)
					return ns_fail(err, len, "%s given twice", w);
				if (eff == NS_EFF_CLASSIFY && !parse_classid(val, &r->arg_classid, err, len))
					return false;
				if (eff == NS_EFF_MARK) {
					if (!ns_parse_u64(val, 0, UINT64_MAX, &v))
						return ns_fail(err, len, "mark '%s': expected a number (decimal or 0x hex)", val);
					if (v > 0xffffffffULL)
						return ns_fail(err, len, "mark %s is out of range 0-0xffffffff", val);
					r->arg_mark = v;
				}
				if (eff == NS_EFF_DSCP && !parse_dscp(val, &r->arg_dscp, err, len))
					return false;
				r->effects |= eff;
				i++;
				continue;
			}
			return ns_fail(err, len, "unknown action word '%s' (drop, pass, classify MAJ:MIN, mark N, dscp D)", w);
		}
		if (!strcmp(w, "action")) {
			if (!val)
				return ns_fail(err, len, "action needs drop, pass, classify, mark or dscp");
			have_action = true;
			if (!strcmp(val, "drop")) {
				r->action = NS_ACT_DROP;
				i++;
			} else if (!strcmp(val, "pass")) {
				r->action = NS_ACT_PASS;
				i++;
			} else {
				r->action = NS_ACT_PASS; /* effects imply pass */
			}
			continue;
		}
		if (!val)
			return ns_fail(err, len, !strcmp(w, "table") || !strcmp(w, "pos") ||
				    !strcmp(w, "src") || !strcmp(w, "dst") ||
				    !strcmp(w, "proto") || !strcmp(w, "sport") ||
				    !strcmp(w, "dport") || !strcmp(w, "icmp-type") ||
				    !strcmp(w, "vlan") || !strcmp(w, "frag") || !strcmp(w, "http") ?
				    "%s needs a value" :
				    "unknown word '%s' (expected table, pos, src, dst, proto, sport, dport, icmp-type, vlan, frag, http, action)", w);
		if (!strcmp(w, "table")) {
			if (seen_table)
				return ns_fail(err, len, "table given twice");
			p->table = ns_table_by_name(val);
			if (p->table < 0)
				return ns_fail(err, len, "unknown table '%s' (xdp, ingress, egress)", val);
			seen_table = true;
		} else if (!strcmp(w, "pos")) {
			if (seen_pos)
				return ns_fail(err, len, "pos given twice");
			if (!ns_parse_u64(val, 1, NS_MAX_RULES + 1, &v))
				return ns_fail(err, len, "pos '%s': expected a rule position 1-%d", val, NS_MAX_RULES);
			p->pos = v;
			seen_pos = true;
		} else if (!strcmp(w, "src") || !strcmp(w, "dst")) {
			int d = w[0] == 's' ? NS_DIM_SRC : NS_DIM_DST;

			if (HAS(d))
				return ns_fail(err, len, "%s given twice", w);
			if (d == NS_DIM_SRC ? !parse_addr(c, w, val, &r->src_kind, &r->src_plen,
							  &r->src_set, r->src_addr, err, len) :
					      !parse_addr(c, w, val, &r->dst_kind, &r->dst_plen,
							  &r->dst_set, r->dst_addr, err, len))
				return false;
			r->fields |= 1u << d;
		} else if (!strcmp(w, "proto")) {
			int pr = proto_by_name(val);

			if (HAS(NS_DIM_PROTO))
				return ns_fail(err, len, "proto given twice");
			if (pr < 0)
				return ns_fail(err, len, "proto '%s': expected tcp, udp, sctp, icmp, icmpv6, gre, esp, ah or a number 0-255", val);
			r->proto = pr;
			r->fields |= 1u << NS_DIM_PROTO;
		} else if (!strcmp(w, "sport") || !strcmp(w, "dport")) {
			int d = w[0] == 's' ? NS_DIM_SPORT : NS_DIM_DPORT;

			if (HAS(d))
				return ns_fail(err, len, "%s given twice", w);
			if (!parse_ports(w, val, d == NS_DIM_SPORT ? &r->sport_lo : &r->dport_lo,
					 d == NS_DIM_SPORT ? &r->sport_hi : &r->dport_hi, err, len))
				return false;
			r->fields |= 1u << d;
		} else if (!strcmp(w, "icmp-type")) {
			char buf[32];
			char *sl;
			uint64_t t, cd = 0;

			if (HAS(NS_DIM_ICMP))
				return ns_fail(err, len, "icmp-type given twice");
			if (strlen(val) >= sizeof(buf))
				return ns_fail(err, len, "icmp-type '%.20s...': expected TYPE or TYPE/CODE, each 0-255", val);
			snprintf(buf, sizeof(buf), "%s", val);
			sl = strchr(buf, '/');
			if (sl)
				*sl = 0;
			if (!ns_parse_u64(buf, 0, 255, &t) ||
			    (sl && !ns_parse_u64(sl + 1, 0, 255, &cd)))
				return ns_fail(err, len, "icmp-type '%s': expected TYPE or TYPE/CODE, each 0-255", val);
			r->icmp_type = t;
			r->icmp_code = cd;
			r->icmp_has_code = sl != NULL;
			r->fields |= 1u << NS_DIM_ICMP;
		} else if (!strcmp(w, "vlan")) {
			if (HAS(NS_DIM_VLAN))
				return ns_fail(err, len, "vlan given twice");
			if (!strcmp(val, "none")) {
				r->vlan = NS_VLAN_NONE;
			} else {
				if (!ns_parse_u64(val, 0, UINT64_MAX, &v) || v > 4095)
					return ns_fail(err, len, "vlan '%s': expected a VLAN id 0-4095 or none", val);
				r->vlan = v;
			}
			r->fields |= 1u << NS_DIM_VLAN;
		} else if (!strcmp(w, "http")) {
			if (HAS(NS_DIM_HTTP))
				return ns_fail(err, len, "http given twice");
			if (!parse_http(val, &r->http_mask, err, len))
				return false;
			r->fields |= 1u << NS_DIM_HTTP;
		} else if (!strcmp(w, "frag")) {
			if (HAS(NS_DIM_FRAG))
				return ns_fail(err, len, "frag given twice");
			if (!strcmp(val, "none"))
				r->frag = NS_FRAG_NONE + 1;
			else if (!strcmp(val, "first"))
				r->frag = NS_FRAG_FIRST + 1;
			else if (!strcmp(val, "later"))
				r->frag = NS_FRAG_LATER + 1;
			else
				return ns_fail(err, len, "frag '%s': expected none, first or later", val);
			r->fields |= 1u << NS_DIM_FRAG;
		} else {
			return ns_fail(err, len, "unknown word '%s' (expected table, pos, src, dst, proto, sport, dport, icmp-type, vlan, frag, http, action)", w);
		}
		i++;
	}
	if (!have_action)
		return ns_fail(err, len, "a rule needs an action (action drop, action pass, ...)");
	/* Combinations that can never match are mistakes: refuse them. */
	if ((HAS(NS_DIM_SPORT) || HAS(NS_DIM_DPORT)) && HAS(NS_DIM_PROTO) &&
	    r->proto != 6 && r->proto != 17 && r->proto != 132)
		return ns_fail(err, len, "ports need proto tcp, udp or sctp (or no proto, which means all three)");
	if (HAS(NS_DIM_ICMP) && (!HAS(NS_DIM_PROTO) || (r->proto != 1 && r->proto != 58)))
		return ns_fail(err, len, "icmp-type needs proto icmp or proto icmpv6");
	if (HAS(NS_DIM_ICMP) && (HAS(NS_DIM_SPORT) || HAS(NS_DIM_DPORT)))
		return ns_fail(err, len, "icmp-type and ports cannot match the same packet");
	if (HAS(NS_DIM_SRC) && HAS(NS_DIM_DST) &&
	    r->src_kind != NS_ADDR_KIND_SET && r->dst_kind != NS_ADDR_KIND_SET &&
	    r->src_kind != r->dst_kind)
		return ns_fail(err, len, "src and dst are of different IP versions: the rule could never match");
	if (HAS(NS_DIM_PROTO) && (r->proto == 1 || r->proto == 58)) {
		int want = r->proto == 1 ? NS_ADDR_KIND_V4 : NS_ADDR_KIND_V6;

		if ((HAS(NS_DIM_SRC) && r->src_kind != NS_ADDR_KIND_SET && r->src_kind != want) ||
		    (HAS(NS_DIM_DST) && r->dst_kind != NS_ADDR_KIND_SET && r->dst_kind != want))
			return ns_fail(err, len, "proto %s is for IPv%d addresses", r->proto == 1 ? "icmp" : "icmpv6",
				    r->proto == 1 ? 4 : 6);
	}
	/* The IPv6 extension headers the parser walks (as nftables' meta
	 * l4proto does) are never an IPv6 packet's protocol. */
	if (HAS(NS_DIM_PROTO) && ns_ip6_ext_hdr(r->proto) &&
	    ((HAS(NS_DIM_SRC) && r->src_kind == NS_ADDR_KIND_V6) ||
	     (HAS(NS_DIM_DST) && r->dst_kind == NS_ADDR_KIND_V6)))
		return ns_fail(err, len, "proto %u is an IPv6 extension header: an IPv6 packet's "
			       "protocol is the one after it, so the rule could never match", r->proto);
	if (HAS(NS_DIM_HTTP) && HAS(NS_DIM_PROTO) && r->proto != 6)
		return ns_fail(err, len, "http needs proto tcp (or no proto)");
	if (HAS(NS_DIM_HTTP) && HAS(NS_DIM_FRAG) && r->frag == NS_FRAG_LATER + 1)
		return ns_fail(err, len, "frag later carries no TCP payload start: http could never match");
	if (HAS(NS_DIM_FRAG) && r->frag == NS_FRAG_LATER + 1 &&
	    (HAS(NS_DIM_SPORT) || HAS(NS_DIM_DPORT) || HAS(NS_DIM_ICMP)))
		return ns_fail(err, len, "frag later carries no ports or ICMP header: the rule could never match");
	return true;
}

static void fmt_addr(const struct ns_conf *c, char *out, size_t len, uint8_t kind,
		     uint8_t plen, uint16_t set, const uint8_t *addr)
{
	if (kind == NS_ADDR_KIND_SET) {
		snprintf(out, len, "@%s", set < NS_MAX_SETS && c->sets[set].name[0] ?
			 c->sets[set].name : "?");
	} else if (kind == NS_ADDR_KIND_V4) {
		struct ns_pfx4 p = { (uint32_t)addr[0] << 24 | addr[1] << 16 | addr[2] << 8 | addr[3], plen };

		ns_format_pfx4(&p, out, len);
	} else {
		struct ns_pfx6 p = { 0, plen };

		for (int i = 0; i < 16; i++)
			p.addr = (p.addr << 8) | addr[i];
		ns_format_pfx6(&p, out, len);
	}
}

void ns_rule_format(const struct ns_conf *c, const struct ns_rule *r,
		    char *buf, size_t len)
{
	struct ns_buf b = {};
	char a[128];

	if (HAS(NS_DIM_SRC)) {
		fmt_addr(c, a, sizeof(a), r->src_kind, r->src_plen, r->src_set, r->src_addr);
		ns_buf_printf(&b, "src %s ", a);
	}
	if (HAS(NS_DIM_DST)) {
		fmt_addr(c, a, sizeof(a), r->dst_kind, r->dst_plen, r->dst_set, r->dst_addr);
		ns_buf_printf(&b, "dst %s ", a);
	}
	if (HAS(NS_DIM_PROTO)) {
		const char *n = ns_proto_name(r->proto);

		if (n)
			ns_buf_printf(&b, "proto %s ", n);
		else
			ns_buf_printf(&b, "proto %u ", r->proto);
	}
	if (HAS(NS_DIM_SPORT)) {
		if (r->sport_lo == r->sport_hi)
			ns_buf_printf(&b, "sport %u ", r->sport_lo);
		else
			ns_buf_printf(&b, "sport %u-%u ", r->sport_lo, r->sport_hi);
	}
	if (HAS(NS_DIM_DPORT)) {
		if (r->dport_lo == r->dport_hi)
			ns_buf_printf(&b, "dport %u ", r->dport_lo);
		else
			ns_buf_printf(&b, "dport %u-%u ", r->dport_lo, r->dport_hi);
	}
	if (HAS(NS_DIM_ICMP)) {
		if (r->icmp_has_code)
			ns_buf_printf(&b, "icmp-type %u/%u ", r->icmp_type, r->icmp_code);
		else
			ns_buf_printf(&b, "icmp-type %u ", r->icmp_type);
	}
	if (HAS(NS_DIM_VLAN)) {
		if (r->vlan == NS_VLAN_NONE)
			ns_buf_printf(&b, "vlan none ");
		else
			ns_buf_printf(&b, "vlan %u ", r->vlan);
	}
	if (HAS(NS_DIM_FRAG))
		ns_buf_printf(&b, "frag %s ", r->frag == NS_FRAG_NONE + 1 ? "none" :
			      r->frag == NS_FRAG_FIRST + 1 ? "first" : "later");
	if (HAS(NS_DIM_HTTP)) {
		uint16_t m = r->http_mask;
		bool first = true;

		ns_buf_printf(&b, "http ");
		if ((m & HTTP_REQUESTS) == HTTP_REQUESTS) {
			ns_buf_printf(&b, "request");
			m &= ~HTTP_REQUESTS;
			first = false;
		}
		if ((m & HTTP_RESPONSES) == HTTP_RESPONSES) {
			ns_buf_printf(&b, "%sresponse", first ? "" : ",");
			m &= ~HTTP_RESPONSES;
			first = false;
		}
		for (int k = 1; k < NS_HTTP_KINDS; k++)
			if (m & (1u << k)) {
				ns_buf_printf(&b, "%s%s", first ? "" : ",", http_names[k]);
				first = false;
			}
		ns_buf_printf(&b, " ");
	}
	ns_buf_printf(&b, "action");
	if (r->action == NS_ACT_DROP)
		ns_buf_printf(&b, " drop");
	else if (!r->effects)
		ns_buf_printf(&b, " pass");
	if (r->effects & NS_EFF_CLASSIFY)
		ns_buf_printf(&b, " classify %x:%x", r->arg_classid >> 16, r->arg_classid & 0xffff);
	if (r->effects & NS_EFF_MARK)
		ns_buf_printf(&b, " mark %#x", r->arg_mark);
	if (r->effects & NS_EFF_DSCP)
		ns_buf_printf(&b, " dscp %s", dscp_name(r->arg_dscp));
	snprintf(buf, len, "%s", b.s);
	ns_buf_free(&b);
}

bool ns_rule_same(const struct ns_rule *a, const struct ns_rule *b)
{
	struct ns_rule x = *a, y = *b;

	/* Compare the rule as written, not its identity or counters. */
	x.id = y.id = 0;
	x.slot = y.slot = 0;
	return !memcmp(&x, &y, sizeof(x));
}
