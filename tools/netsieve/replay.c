// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netsieve replay: run every packet of a capture through an XDP or tc program
 * with BPF_PROG_TEST_RUN (repeat=1) and report what each packet got.
 *
 * The capture is read twice: a first pass validates the whole file (so a
 * truncated capture is one error and no output), the second runs packets.
 * A capture that is not a regular file (a pipe, `-` for stdin, a process
 * substitution) is read into memory once and both passes read that.
 * --out is written to a temporary file renamed into place on success (and
 * removed on error or on SIGINT/SIGTERM/SIGHUP).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
/* pcap/bpf.h clashes with linux/bpf.h; replay needs neither pcap's filter
 * compiler nor its struct bpf_insn. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/dlt.h>
#include <pcap/pcap.h>

#include "conf.h"
#include "ns.h"

/* Output room for programs that grow packets (adjust_head/tail, change_head). */
#define OUT_ROOM 4096
#define MAX_FRAME 262144

enum nr_why {
	NR_RUNT = 0,  /* shorter than an Ethernet header */
	NR_BIG,       /* longer than BPF_PROG_TEST_RUN accepts */
	NR_REFUSED,   /* test run said EINVAL for this frame (tc needs a full
		       * IP header when the ethertype says IP) */
	NR_NOFRAGS,   /* XDP: more than one buffer, and the program is not
		       * frags-aware: the test run would hand it the first
		       * buffer only, which no live attachment does */
	NR_MAX,
};

static const char *nr_text[NR_MAX] = {
	[NR_RUNT] = "shorter than 14 bytes",
	[NR_BIG] = "longer than test-run accepts",
	[NR_REFUSED] = "refused by the kernel's test run",
	[NR_NOFRAGS] = "longer than one XDP buffer; the program is not frags-aware",
};

static const char *nr_key[NR_MAX] = {
	[NR_RUNT] = "runt",
	[NR_BIG] = "too_big",
	[NR_REFUSED] = "refused",
	[NR_NOFRAGS] = "needs_frags",
};

struct expect {
	uint64_t lo, hi;      /* 1-based inclusive packet range */
	char verdict[32];     /* upper-case name or NOT_RUNNABLE */
	int line;
};

struct verdict_count {
	char name[32];
	uint64_t n;
};

/* The capture: a path, or its bytes when it is not a regular file. */
struct capture {
	const char *path;
	char *buf;
	size_t len;
};

struct replay {
	const char *obj_path, *pcap_path, *prog_name;
	const char *out_path, *expect_path;
	bool json, out_all, private_maps, quiet, stats, classic;
	uint64_t bench;
	bool have_ctx;
	uint32_t ctx_mark, ctx_prio, ctx_ifindex;

	struct ns_obj o;
	bool is_tc;
	uint32_t xdp_linear;  /* XDP: the longest frame one buffer holds, when
			       * the program cannot take fragments (0: no limit) */
	struct expect *exp;
	size_t nexp;

	struct verdict_count *vc;
	size_t nvc, cvc;
	uint64_t packets, run, nr[NR_MAX], written, modified, cut, mismatches;
	uint64_t *bench_ns;
	size_t nbench;
	uint64_t bench_skipped;
};

static const char *usage_text =
"usage: netsieve [--pin-dir DIR] replay [options] OBJ PCAP\n"
"\n"
"Run every packet of PCAP (pcap or pcapng, Ethernet) through the XDP or tc\n"
"program in OBJ with BPF_PROG_TEST_RUN and print what each packet got.\n"
"OBJ may also be id:N or pinned:PATH, a program already loaded (e.g. the one\n"
"attached to a device): it runs as it is, with its own maps and counters.\n"
"Packets are numbered from 1, as in tcpdump -# and Wireshark.\n"
"\n"
"options:\n"
"  --prog NAME         program to run (needed when OBJ has several)\n"
"  --json              JSON lines: one object per packet, then a summary\n"
"  --quiet             print only the summary\n"
"  --out FILE          write packets as the program left them (pcap);\n"
"                      dropped and not runnable packets are omitted\n"
"  --out-all           with --out: write every packet\n"
"  --expect FILE       compare verdicts with FILE; exit 1 on any mismatch\n"
"                      lines: 'N VERDICT', 'N-M VERDICT' or '* VERDICT'\n"
"                      (VERDICT as printed, e.g. XDP_DROP, TC_ACT_SHOT,\n"
"                      NOT_RUNNABLE; '#' starts a comment)\n"
"  --private           private, empty maps (default: reuse maps pinned in\n"
"                      the pin directory; counters always stay private)\n"
"  --ctx K=V[,K=V]     tc only: initial mark=N, priority=N, ifindex=N\n"
"  --classic           tc only: the program is a classic (non-da) classifier:\n"
"                      report return values as CLASS_MAJ:MIN, UNCLASSIFIED (0)\n"
"                      or DEFAULT_CLASS (-1)\n"
"  --bench N           also time each packet with repeat=N (ns/packet);\n"
"                      packets the program rewrites are not timed\n"
"  --stats             netsieve programs: after the summary, the counters of\n"
"                      this replay per table, reason and rule (JSON: always,\n"
"                      as the summary's \"netsieve\" key)\n"
"  -h, --help          this help\n"
"\n"
"tc programs: mark and priority are the skb's after the run; class is the\n"
"class id netsieve's classifiers leave in cb[0] (the kernel does not report\n"
"tc_classid back).\n"
"exit: 0 ok, 1 expectation mismatch, 2 usage, 3 bad capture or expect file,\n"
"      4 bad object or program, 5 environment (bpffs, permissions)\n";

static __attribute__((noreturn)) void usage_err(const char *fmt, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	ns_die(NS_EXIT_USAGE, "replay: %s (see netsieve replay --help)", msg);
}

static const char *verdict_name(struct replay *r, int ret, char *buf, size_t len)
{
	static const char *xdp[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS",
				     "XDP_TX", "XDP_REDIRECT" };
	static const char *tc[] = { "TC_ACT_OK", "TC_ACT_RECLASSIFY",
				    "TC_ACT_SHOT", "TC_ACT_PIPE",
				    "TC_ACT_STOLEN", "TC_ACT_QUEUED",
				    "TC_ACT_REPEAT", "TC_ACT_REDIRECT",
				    "TC_ACT_TRAP" };

	if (!r->is_tc) {
		if (ret >= 0 && ret <= 4)
			return xdp[ret];
		snprintf(buf, len, "XDP_UNKNOWN_%d", ret);
		return buf;
	}
	if (r->classic) {
		/* Classic cls_bpf: 0 no match, -1 the filter's default class,
		 * anything else a class id MAJ:MIN (hex, as tc prints it). */
		if (ret == 0)
			return "UNCLASSIFIED";
		if (ret == -1)
			return "DEFAULT_CLASS";
		snprintf(buf, len, "CLASS_%x:%x", (unsigned)ret >> 16, (unsigned)ret & 0xffff);
		return buf;
	}
	if (ret == -1)
		return "TC_ACT_UNSPEC";
	if (ret >= 0 && ret <= 8)
		return tc[ret];
	snprintf(buf, len, "TC_UNKNOWN_%d", ret);
	return buf;
}

static bool verdict_drops(struct replay *r, int ret)
{
	if (r->classic)
		return false; /* classic classifiers cannot drop */
	if (!r->is_tc)
		return ret == XDP_ABORTED || ret == XDP_DROP;
	return ret == TC_ACT_SHOT || ret == TC_ACT_STOLEN || ret == TC_ACT_TRAP;
}

static void count_verdict(struct replay *r, const char *name)
{
	for (size_t i = 0; i < r->nvc; i++)
		if (!strcmp(r->vc[i].name, name)) {
			r->vc[i].n++;
			return;
		}
	if (r->nvc == r->cvc) {
		r->cvc = r->cvc ? r->cvc * 2 : 16;
		r->vc = realloc(r->vc, r->cvc * sizeof(*r->vc));
		if (!r->vc)
			ns_die(NS_EXIT_FAIL, "out of memory");
	}
	snprintf(r->vc[r->nvc].name, sizeof(r->vc[0].name), "%s", name);
	r->vc[r->nvc++].n = 1;
}

static void parse_ctx(struct replay *r, const char *arg)
{
	char *s = strdup(arg), *save = NULL, *tok;

	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t v;

		if (!eq)
			usage_err("--ctx: '%s' is not KEY=VALUE", tok);
		*eq = 0;
		if (!ns_parse_u64(eq + 1, 0, UINT32_MAX, &v)) {
			*eq = '=';
			usage_err("--ctx: '%s' needs a number from 0 to 4294967295", tok);
		}
		if (!strcmp(tok, "mark"))
			r->ctx_mark = v;
		else if (!strcmp(tok, "priority"))
			r->ctx_prio = v;
		else if (!strcmp(tok, "ifindex"))
			r->ctx_ifindex = v;
		else
			usage_err("--ctx: unknown key '%s' (mark, priority, ifindex)", tok);
	}
	r->have_ctx = true;
	free(s);
}

/* Verdict names are matched case-insensitively; CLASS_MAJ:MIN keeps its
 * class id in lower-case hex, as printed. */
static void upcase(char *s)
{
	bool classid = !strncasecmp(s, "CLASS_", 6);

	for (int i = 0; s[i]; i++) {
		if (classid && i >= 6)
			s[i] = tolower((unsigned char)s[i]);
		else
			s[i] = toupper((unsigned char)s[i]);
	}
}

static bool known_verdict(struct replay *r, const char *v)
{
	static const char *xdp[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS",
				     "XDP_TX", "XDP_REDIRECT", NULL };
	static const char *tc[] = { "TC_ACT_UNSPEC", "TC_ACT_OK",
				    "TC_ACT_RECLASSIFY", "TC_ACT_SHOT",
				    "TC_ACT_PIPE", "TC_ACT_STOLEN",
				    "TC_ACT_QUEUED", "TC_ACT_REPEAT",
				    "TC_ACT_REDIRECT", "TC_ACT_TRAP", NULL };
	const char **l = r->is_tc ? tc : xdp;

	if (!strcmp(v, "NOT_RUNNABLE"))
		return true;
	if (r->classic) {
		unsigned a, b;
		char tail;

		return !strcmp(v, "UNCLASSIFIED") || !strcmp(v, "DEFAULT_CLASS") ||
		       sscanf(v, "CLASS_%x:%x%c", &a, &b, &tail) == 2;
	}
	for (; *l; l++)
		if (!strcmp(*l, v))
			return true;
	return false;
}

static void read_expect(struct replay *r)
{
	FILE *f = fopen(r->expect_path, "r");
	char line[1024];
	int lineno = 0;
	size_t cap = 0;

	if (!f)
		ns_die(NS_EXIT_INPUT, "%s: %s", r->expect_path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char what[256], verdict[256], extra[8];
		struct expect e = { .line = ++lineno };
		char *hash = strchr(line, '#');
		int n;

		if (hash)
			*hash = 0;
		n = sscanf(line, "%255s %255s %7s", what, verdict, extra);
		if (n <= 0)
			continue;
		if (n != 2)
			ns_die(NS_EXIT_INPUT,
			       "%s:%d: expected 'N VERDICT', 'N-M VERDICT' or '* VERDICT'",
			       r->expect_path, lineno);
		upcase(verdict);
		if (strlen(verdict) >= sizeof(e.verdict) || !known_verdict(r, verdict))
			ns_die(NS_EXIT_INPUT, "%s:%d: unknown %s verdict '%s'",
			       r->expect_path, lineno, r->is_tc ? "tc" : "XDP",
			       verdict);
		strcpy(e.verdict, verdict);
		if (!strcmp(what, "*")) {
			e.lo = 1;
			e.hi = UINT64_MAX;
		} else {
			char *dash = strchr(what, '-');

			if (dash)
				*dash = 0;
			if (!ns_parse_u64(what, 1, UINT64_MAX, &e.lo) ||
			    (dash && !ns_parse_u64(dash + 1, 1, UINT64_MAX, &e.hi)))
				ns_die(NS_EXIT_INPUT,
				       "%s:%d: '%s%s%s' is not a packet number or range N-M (packets count from 1)",
				       r->expect_path, lineno, what, dash ? "-" : "",
				       dash ? dash + 1 : "");
			if (!dash)
				e.hi = e.lo;
			if (e.hi < e.lo)
				ns_die(NS_EXIT_INPUT, "%s:%d: range %s-%s is backwards",
				       r->expect_path, lineno, what, dash + 1);
		}
		if (r->nexp == cap) {
			cap = cap ? cap * 2 : 16;
			r->exp = realloc(r->exp, cap * sizeof(*r->exp));
		}
		r->exp[r->nexp++] = e;
	}
	fclose(f);
}

/* Expected verdict of packet idx: the last matching line wins. */
static const struct expect *expected(struct replay *r, uint64_t idx)
{
	const struct expect *m = NULL;

	for (size_t i = 0; i < r->nexp; i++)
		if (idx >= r->exp[i].lo && idx <= r->exp[i].hi)
			m = &r->exp[i];
	return m;
}

/* A pipe or stdin can be read only once: keep its bytes. */
static void read_capture(struct capture *c, const char *path)
{
	struct stat st;
	FILE *f;
	size_t cap = 0, n;

	c->path = path;
	if (strcmp(path, "-") && !stat(path, &st) && S_ISREG(st.st_mode))
		return;
	f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		ns_die(NS_EXIT_INPUT, "%s: cannot read capture: %s", path, strerror(errno));
	do {
		if (c->len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			c->buf = realloc(c->buf, cap);
			if (!c->buf)
				ns_die(NS_EXIT_FAIL, "%s: out of memory reading the capture", path);
		}
		n = fread(c->buf + c->len, 1, cap - c->len, f);
		c->len += n;
	} while (n);
	if (ferror(f))
		ns_die(NS_EXIT_INPUT, "%s: cannot read capture: %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	if (!c->len)
		ns_die(NS_EXIT_INPUT, "%s: cannot read capture: it is empty", path);
}

static pcap_t *open_capture(const struct capture *c)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	const char *path = c->path;
	size_t plen = strlen(path);
	pcap_t *p;

	if (c->buf) {
		FILE *f = fmemopen(c->buf, c->len, "rb");

		if (!f)
			ns_die(NS_EXIT_FAIL, "%s: %s", path, strerror(errno));
		p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO,
							     errbuf);
		if (!p)
			fclose(f);
	} else {
		p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO,
							    errbuf);
	}
	if (!p) {
		/* libpcap often starts its message with the path already. */
		const char *msg = errbuf;

		if (!strncmp(msg, path, plen) && !strncmp(msg + plen, ": ", 2))
			msg += plen + 2;
		ns_die(NS_EXIT_INPUT, "%s: cannot read capture: %s", path, msg);
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		const char *n = pcap_datalink_val_to_name(pcap_datalink(p));

		ns_die(NS_EXIT_INPUT,
		       "%s: link type %s (DLT %d) is not Ethernet (EN10MB): only Ethernet captures can be replayed",
		       path, n ? n : "unknown", pcap_datalink(p));
	}
	return p;
}

/* First pass: the whole capture must be readable. */
static uint64_t validate_capture(const struct capture *c)
{
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t n = 0;
	pcap_t *p = open_capture(c);
	int rc;

	while ((rc = pcap_next_ex(p, &h, &d)) == 1)
		n++;
	if (rc == PCAP_ERROR) {
		const char *e = pcap_geterr(p), *t = strstr(e, "has a type ");
		int dlt;

		/* pcapng: a later interface of another link type */
		if (t && strstr(e, "different from the type of the first interface") &&
		    sscanf(t, "has a type %d", &dlt) == 1) {
			const char *name = pcap_datalink_val_to_name(dlt);

			ns_die(NS_EXIT_INPUT,
			       "%s: an interface after packet %llu has link type %s (DLT %d), not Ethernet (EN10MB): only Ethernet captures can be replayed",
			       c->path, (unsigned long long)n, name ? name : "unknown", dlt);
		}
		ns_die(NS_EXIT_INPUT, "%s: capture is damaged after packet %llu: %s",
		       c->path, (unsigned long long)n, e);
	}
	pcap_close(p);
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void print_header(struct replay *r)
{
	if (r->json || r->quiet)
		return;
	printf("%6s  %-16s %5s %7s %7s  %-8s", "#", "verdict", "ret", "len_in",
	       "len_out", "modified");
	if (r->is_tc)
		printf(" %10s %10s %-*s", "mark", "priority", r->bench ? 9 : 0, "class");
	if (r->bench)
		printf(" %8s", "ns/pkt");
	printf("\n");
}

/* A record the capture cut short (caplen < len): the program judged only
 * the bytes captured, a live program sees the whole frame. */
static void print_cut(uint32_t len_in, uint32_t wire)
{
	if (wire > len_in)
		printf("  (cut: %u bytes on the wire)", wire);
}

static void print_not_runnable(struct replay *r, uint64_t idx, uint32_t len,
			       uint32_t wire, enum nr_why why)
{
	if (r->quiet)
		return;
	if (r->json) {
		printf("{\"index\":%llu,\"verdict\":\"NOT_RUNNABLE\",\"retval\":null,"
		       "\"len_in\":%u,\"len_wire\":%u,\"len_out\":null,\"modified\":false,"
		       "\"runnable\":false,\"why\":\"%s\"}\n",
		       (unsigned long long)idx, len, wire, nr_key[why]);
		return;
	}
	printf("%6llu  %-16s %5s %7u %7s  %-8s (%s)", (unsigned long long)idx,
	       "NOT_RUNNABLE", "-", len, "-", "-", nr_text[why]);
	print_cut(len, wire);
	printf("\n");
}

static void print_result(struct replay *r, uint64_t idx, const char *verdict,
			 int ret, uint32_t len_in, uint32_t wire, uint32_t len_out,
			 bool modified, const struct __sk_buff *skb,
			 long long ns)
{
	if (r->quiet)
		return;
	if (r->json) {
		printf("{\"index\":%llu,\"verdict\":\"%s\",\"retval\":%d,"
		       "\"len_in\":%u,\"len_wire\":%u,\"len_out\":%u,\"modified\":%s,"
		       "\"runnable\":true",
		       (unsigned long long)idx, verdict, ret, len_in, wire, len_out,
		       modified ? "true" : "false");
		if (r->is_tc)
			printf(",\"mark\":%u,\"priority\":%u,\"cb0\":%u", skb->mark,
			       skb->priority, skb->cb[0]);
		if (r->is_tc && skb->cb[0])
			printf(",\"class\":\"%x:%x\"", skb->cb[0] >> 16, skb->cb[0] & 0xffff);
		if (r->bench) {
			if (ns >= 0)
				printf(",\"ns\":%lld", ns);
			else
				printf(",\"ns\":null");
		}
		printf("}\n");
		return;
	}
	printf("%6llu  %-16s %5d %7u %7u  %-8s", (unsigned long long)idx, verdict,
	       ret, len_in, len_out, modified ? "yes" : "no");
	if (r->is_tc) {
		char cls[16] = "-";

		/* netsieve's classifiers leave the class id in cb[0] */
		if (skb->cb[0])
			snprintf(cls, sizeof(cls), "%x:%x", skb->cb[0] >> 16,
				 skb->cb[0] & 0xffff);
		printf(" %#10x %#10x %-*s", skb->mark, skb->priority, r->bench ? 9 : 0, cls);
	}
	if (r->bench) {
		if (ns >= 0)
			printf(" %8lld", ns);
		else
			printf(" %8s", "rewrites");
	}
	print_cut(len_in, wire);
	printf("\n");
}

static void print_summary(struct replay *r)
{
	uint64_t nr_total = 0;
	double median = 0;

	for (int i = 0; i < NR_MAX; i++)
		nr_total += r->nr[i];
	if (r->nbench) {
		qsort(r->bench_ns, r->nbench, sizeof(uint64_t), cmp_u64);
		median = r->nbench % 2 ? r->bench_ns[r->nbench / 2] :
			(r->bench_ns[r->nbench / 2 - 1] + r->bench_ns[r->nbench / 2]) / 2.0;
	}

	if (r->json) {
		struct ns_buf b = {};

		ns_buf_printf(&b, "{\"summary\":true,\"program\":");
		ns_json_str(&b, r->o.name);
		ns_buf_printf(&b, ",\"type\":\"%s\",\"packets\":%llu,\"run\":%llu,"
			      "\"verdicts\":{", r->is_tc ? "tc" : "xdp",
			      (unsigned long long)r->packets,
			      (unsigned long long)r->run);
		for (size_t i = 0; i < r->nvc; i++)
			ns_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "",
				      r->vc[i].name, (unsigned long long)r->vc[i].n);
		ns_buf_printf(&b, "},\"not_runnable\":%llu,\"not_runnable_why\":{",
			      (unsigned long long)nr_total);
		for (int i = 0, first = 1; i < NR_MAX; i++)
			if (r->nr[i]) {
				ns_buf_printf(&b, "%s\"%s\":%llu", first ? "" : ",",
					      nr_key[i], (unsigned long long)r->nr[i]);
				first = 0;
			}
		ns_buf_printf(&b, "},\"cut\":%llu,\"modified\":%llu,"
			      "\"maps\":{\"pinned\":%d,\"private\":%d,\"loaded\":%s}",
			      (unsigned long long)r->cut, (unsigned long long)r->modified,
			      r->o.maps_reused, r->o.maps_private,
			      r->o.obj ? "false" : "true");
		if (r->expect_path)
			ns_buf_printf(&b, ",\"mismatches\":%llu",
				      (unsigned long long)r->mismatches);
		{
			/* What verifying the program cost (kernel >= 5.16;
			 * 0 when it does not say). */
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);

			if (bpf_obj_get_info_by_fd(r->o.prog_fd, &info, &len))
				info.verified_insns = 0;
			ns_buf_printf(&b, ",\"verified_insns\":%u", info.verified_insns);
		}
		if (r->out_path)
			ns_buf_printf(&b, ",\"written\":%llu",
				      (unsigned long long)r->written);
		if (r->bench)
			ns_buf_printf(&b, ",\"bench\":{\"repeat\":%llu,\"timed\":%zu,"
				      "\"not_timed\":%llu,\"median_ns\":%.1f}",
				      (unsigned long long)r->bench, r->nbench,
				      (unsigned long long)r->bench_skipped, median);
		{
			struct ns_store st;

			/* The maps this run used belong to the object: do not
			 * close them through the store. */
			if (r->o.obj && ns_store_from_object(&st, r->o.obj)) {
				ns_buf_printf(&b, ",\"netsieve\":");
				ns_stats_report(&st, true, &b);
			}
		}
		ns_buf_printf(&b, "}");
		printf("%s\n", b.s);
		ns_buf_free(&b);
		return;
	}

	printf("summary: %llu packets through %s (%s): %llu run, %llu not runnable\n",
	       (unsigned long long)r->packets, r->o.name,
	       r->is_tc ? "tc" : "xdp", (unsigned long long)r->run,
	       (unsigned long long)nr_total);
	for (size_t i = 0; i < r->nvc; i++)
		printf("  %-20s %llu\n", r->vc[i].name, (unsigned long long)r->vc[i].n);
	for (int i = 0; i < NR_MAX; i++)
		if (r->nr[i])
			printf("  %-20s %llu (%s)\n", "NOT_RUNNABLE",
			       (unsigned long long)r->nr[i], nr_text[i]);
	if (r->cut)
		printf("  cut by the capture's snaplen: %llu (judged on the bytes captured; "
		       "a live program sees whole frames)\n", (unsigned long long)r->cut);
	printf("  modified: %llu\n", (unsigned long long)r->modified);
	if (!r->o.obj)
		printf("  maps: the loaded program's own (live: this replay added to its counters)\n");
	else if (r->o.maps_reused)
		printf("  maps: %d pinned in %s, %d private\n", r->o.maps_reused,
		       ns_g.pin_dir, r->o.maps_private);
	else
		printf("  maps: private\n");
	if (r->out_path)
		printf("  written to %s: %llu packets\n", r->out_path,
		       (unsigned long long)r->written);
	if (r->bench) {
		if (r->nbench)
			printf("  bench: median %.1f ns/packet over %zu packets (repeat %llu)",
			       median, r->nbench, (unsigned long long)r->bench);
		else
			printf("  bench: no packet could be timed");
		if (r->bench_skipped)
			printf(", %llu not timed (rewritten by the program)",
			       (unsigned long long)r->bench_skipped);
		printf("\n");
	}
	if (r->stats) {
		struct ns_store st;

		if (r->o.obj && ns_store_from_object(&st, r->o.obj)) {
			printf("netsieve counters of this replay:\n");
			ns_stats_report(&st, false, NULL);
		} else if (!r->o.obj) {
			printf("  (--stats: %s is a loaded program: its counters are the live ones, see netsieve stats)\n",
			       r->obj_path);
		} else {
			printf("  (--stats: %s has no netsieve maps)\n", r->obj_path);
		}
	}
}

/* The --out temporary file, removed if a signal ends the run. */
static char tmp_out[PATH_MAX];

static void drop_tmp_out(int sig)
{
	if (tmp_out[0])
		unlink(tmp_out);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* --out FILE through a symlink writes the file it points to. */
static const char *out_target(const char *path)
{
	static char real[PATH_MAX];
	struct stat st;

	if (!lstat(path, &st) && S_ISLNK(st.st_mode) && realpath(path, real))
		return real;
	return path;
}

/* Give up the --out file: close it (when open) and remove it. */
static void discard_out(pcap_dumper_t *dumper)
{
	if (dumper)
		pcap_dump_close(dumper);
	if (tmp_out[0])
		unlink(tmp_out);
	tmp_out[0] = 0;
}

static __attribute__((noreturn)) void out_failed(pcap_dumper_t *dumper,
						 const char *out_path, int err)
{
	discard_out(dumper);
	ns_die(NS_EXIT_INPUT, "%s: cannot write: %s", out_path, strerror(err));
}

/* One packet to --out; a failed write (a full disk) ends the run. */
static void dump(pcap_dumper_t *dumper, const char *out_path,
		 const struct pcap_pkthdr *h, const u_char *data)
{
	errno = 0;
	pcap_dump((u_char *)dumper, h, data);
	if (ferror(pcap_dump_file(dumper)))
		out_failed(dumper, out_path, errno ? errno : EIO);
}

/* Flush and check the --out file; on error remove it and fail. */
static void finish_out(pcap_dumper_t *dumper, const char *out_path)
{
	FILE *f = pcap_dump_file(dumper);
	int err = 0;

	errno = 0;
	if (pcap_dump_flush(dumper) || ferror(f))
		err = errno ? errno : EIO;
	else if (fsync(fileno(f)))
		err = errno;
	if (err)
		out_failed(dumper, out_path, err);
	pcap_dump_close(dumper);
	if (rename(tmp_out, out_path))
		out_failed(NULL, out_path, errno);
	tmp_out[0] = 0;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prog", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "out", required_argument, NULL, 'o' },
		{ "out-all", no_argument, NULL, 'A' },
		{ "expect", required_argument, NULL, 'e' },
		{ "private", no_argument, NULL, 'P' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "bench", required_argument, NULL, 'b' },
		{ "stats", no_argument, NULL, 's' },
		{ "classic", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct replay r = {};
	struct capture capt = {};
	const char *out_path = NULL;
	pcap_dumper_t *dumper = NULL;
	pcap_t *cap, *dead = NULL;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint8_t *out;
	uint64_t idx = 0;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': r.prog_name = optarg; break;
		case 'j': r.json = true; break;
		case 'q': r.quiet = true; break;
		case 's': r.stats = true; break;
		case 'C': r.classic = true; break;
		case 'o': r.out_path = optarg; break;
		case 'A': r.out_all = true; break;
		case 'e': r.expect_path = optarg; break;
		case 'P': r.private_maps = true; break;
		case 'c': parse_ctx(&r, optarg); break;
		case 'b':
			if (!ns_parse_u64(optarg, 1, 100000000, &r.bench))
				usage_err("--bench: '%s' is not a repeat count from 1 to 100000000",
					  optarg);
			break;
		case 'h': fputs(usage_text, stdout); return NS_EXIT_OK;
		default:
			ns_die(NS_EXIT_USAGE,
			       "replay: unknown option or missing value: '%s' (see netsieve replay --help)",
			       argv[optind - 1]);
		}
	}
	for (int i = optind; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			ns_die(NS_EXIT_USAGE,
			       "replay: '%s' after the operands: options go before OBJ and PCAP",
			       argv[i]);
	if (argc - optind != 2)
		ns_die(NS_EXIT_USAGE,
		       "replay: needs OBJ and PCAP after the options (see netsieve replay --help)");
	r.obj_path = argv[optind];
	r.pcap_path = argv[optind + 1];
	if (r.out_all && !r.out_path)
		usage_err("%s", "--out-all needs --out FILE");
	if (r.prog_name && !r.prog_name[0])
		usage_err("%s", "--prog needs a program name");
	if (r.out_path && (!r.out_path[0] || !strcmp(r.out_path, "-")))
		usage_err("--out '%s': give a file name (the packet list goes to stdout)",
			  r.out_path);

	/* Cheap checks first: the capture, then the object. */
	read_capture(&capt, r.pcap_path);
	validate_capture(&capt);
	cap = open_capture(&capt);

	if (!r.private_maps && ns_g.pin_dir_given && !ns_is_bpffs(ns_g.pin_dir))
		ns_die(NS_EXIT_ENV, "--pin-dir %s: not a directory on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)",
		       ns_g.pin_dir);
	ns_obj_load(&r.o, r.obj_path, r.prog_name,
		    r.private_maps || !ns_is_bpffs(ns_g.pin_dir) ? NS_PIN_PRIVATE :
								  NS_PIN_REUSE);
	if (!r.o.obj && (r.prog_name || r.private_maps))
		usage_err("%s", "--prog and --private need an object file, not a loaded program");
	r.is_tc = r.o.type == BPF_PROG_TYPE_SCHED_CLS;
	if (r.have_ctx && !r.is_tc)
		usage_err("--ctx applies to tc programs; '%s' is an XDP program",
			  r.o.name);
	if (r.classic && !r.is_tc)
		usage_err("--classic applies to tc programs; '%s' is an XDP program",
			  r.o.name);
	if (r.is_tc && !r.classic && strstr(r.o.name, "_classic"))
		fprintf(stderr, "netsieve: note: %s looks like a classic classifier: "
			"add --classic to read its return values as class ids\n", r.o.name);
	if (r.expect_path)
		read_expect(&r);
	/* An XDP test run puts what does not fit one page (after 256 bytes of
	 * headroom and the skb_shared_info tailroom, 320 on 64-bit) in
	 * fragments.  A program loaded without BPF_F_XDP_HAS_FRAGS (section
	 * "xdp", not "xdp.frags") sees only the first buffer then, which never
	 * happens live: such a program cannot attach natively where frames
	 * that long arrive, and generic XDP linearises them. */
	if (!r.is_tc && r.o.prog && !(bpf_program__flags(r.o.prog) & BPF_F_XDP_HAS_FRAGS) &&
	    strncmp(bpf_program__section_name(r.o.prog), "xdp.frags", 9))
		r.xdp_linear = (uint32_t)sysconf(_SC_PAGESIZE) - 256 - 320;

	if (r.out_path) {
		struct stat st;
		mode_t mode = 0644;
		int fd;

		/* Written next to its target and renamed over it: keep the
		 * mode of a file already there. */
		out_path = out_target(r.out_path);
		if (!stat(out_path, &st) && S_ISREG(st.st_mode))
			mode = st.st_mode & 07777;
		if (strlen(out_path) + 11 > sizeof(tmp_out))
			usage_err("--out '%s': the path is too long", r.out_path);
		memcpy(tmp_out, out_path, strlen(out_path));
		memcpy(tmp_out + strlen(out_path), ".tmpXXXXXX", 11);
		signal(SIGINT, drop_tmp_out);
		signal(SIGTERM, drop_tmp_out);
		signal(SIGHUP, drop_tmp_out);
		fd = mkstemp(tmp_out);
		if (fd < 0) {
			tmp_out[0] = 0;
			ns_die(NS_EXIT_INPUT, "%s: cannot create: %s", r.out_path,
			       strerror(errno));
		}
		fchmod(fd, mode);
		close(fd);
		dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, MAX_FRAME,
							    PCAP_TSTAMP_PRECISION_NANO);
		dumper = pcap_dump_open(dead, tmp_out);
		if (!dumper) {
			discard_out(NULL);
			ns_die(NS_EXIT_INPUT, "%s: cannot write: %s", r.out_path,
			       pcap_geterr(dead));
		}
	}

	out = malloc(MAX_FRAME + OUT_ROOM);
	if (!out)
		ns_die(NS_EXIT_FAIL, "out of memory");
	print_header(&r);

	while ((rc = pcap_next_ex(cap, &h, &data)) == 1) {
		struct __sk_buff skb_in = {}, skb_out = {};
		LIBBPF_OPTS(bpf_test_run_opts, t);
		const struct expect *e;
		const char *verdict;
		char vbuf[32];
		bool modified, drops;
		long long ns = -1;
		int err;

		idx++;
		r.packets++;
		if (h->len > h->caplen)
			r.cut++;
		e = expected(&r, idx);
		if (h->caplen < 14) {
			r.nr[NR_RUNT]++;
			print_not_runnable(&r, idx, h->caplen, h->len, NR_RUNT);
			verdict = "NOT_RUNNABLE";
			goto check;
		}
		if (r.xdp_linear && h->caplen > r.xdp_linear) {
			r.nr[NR_NOFRAGS]++;
			print_not_runnable(&r, idx, h->caplen, h->len, NR_NOFRAGS);
			verdict = "NOT_RUNNABLE";
			goto check;
		}
		t.data_in = data;
		t.data_size_in = h->caplen;
		t.data_out = out;
		t.data_size_out = MAX_FRAME + OUT_ROOM;
		t.repeat = 1;
		if (r.is_tc) {
			skb_in.mark = r.ctx_mark;
			skb_in.priority = r.ctx_prio;
			skb_in.ifindex = r.ctx_ifindex;
			t.ctx_in = &skb_in;
			t.ctx_size_in = sizeof(skb_in);
			t.ctx_out = &skb_out;
			t.ctx_size_out = sizeof(skb_out);
		}
		err = bpf_prog_test_run_opts(r.o.prog_fd, &t);
		if (err) {
			err = errno;
			/* XDP test runs take large frames as fragments until
			 * they run out of them (ENOMEM); tc refuses anything
			 * over about a page (EINVAL). */
			if (err == EINVAL || (h->caplen > 1514 &&
					      (err == ENOMEM || err == E2BIG))) {
				enum nr_why why = h->caplen > 1514 ? NR_BIG : NR_REFUSED;

				r.nr[why]++;
				print_not_runnable(&r, idx, h->caplen, h->len, why);
				verdict = "NOT_RUNNABLE";
				goto check;
			}
			discard_out(dumper);
			if (err == ENODEV)
				ns_die(NS_EXIT_ENV, "packet %llu: --ctx ifindex=%u: no such device",
				       (unsigned long long)idx, r.ctx_ifindex);
			ns_die(NS_EXIT_ENV, "packet %llu: test run failed: %s",
			       (unsigned long long)idx, strerror(err));
		}
		r.run++;
		verdict = verdict_name(&r, (int)t.retval, vbuf, sizeof(vbuf));
		count_verdict(&r, verdict);
		modified = t.data_size_out != h->caplen ||
			   memcmp(out, data, h->caplen);
		if (modified)
			r.modified++;
		drops = verdict_drops(&r, (int)t.retval);

		if (r.bench) {
			if (modified) {
				r.bench_skipped++;
			} else {
				LIBBPF_OPTS(bpf_test_run_opts, tb);
				struct __sk_buff sb = skb_in;

				tb.data_in = data;
				tb.data_size_in = h->caplen;
				tb.repeat = r.bench;
				if (r.is_tc) {
					tb.ctx_in = &sb;
					tb.ctx_size_in = sizeof(sb);
				}
				if (bpf_prog_test_run_opts(r.o.prog_fd, &tb))
					ns_die(NS_EXIT_ENV, "packet %llu: timed run failed: %s",
					       (unsigned long long)idx, strerror(errno));
				ns = tb.duration;
				if (r.nbench % 1024 == 0)
					r.bench_ns = realloc(r.bench_ns,
							     (r.nbench + 1024) * sizeof(uint64_t));
				r.bench_ns[r.nbench++] = tb.duration;
			}
		}
		print_result(&r, idx, verdict, (int)t.retval, h->caplen, h->len,
			     t.data_size_out, modified, &skb_out, ns);

		if (dumper && (r.out_all || !drops)) {
			struct pcap_pkthdr oh = *h;
			long delta = (long)t.data_size_out - (long)h->caplen;

			oh.caplen = t.data_size_out;
			oh.len = (long)h->len + delta > 0 ? (bpf_u_int32)((long)h->len + delta) : oh.caplen;
			dump(dumper, out_path, &oh, out);
			r.written++;
		}
		goto check_done;
check:
		if (dumper && r.out_all) {
			dump(dumper, out_path, h, data);
			r.written++;
		}
check_done:
		if (e && strcmp(e->verdict, verdict)) {
			r.mismatches++;
			if (!r.json)
				printf("MISMATCH packet %llu: expected %s (%s line %d), got %s\n",
				       (unsigned long long)idx, e->verdict,
				       r.expect_path, e->line, verdict);
			else
				printf("{\"mismatch\":true,\"index\":%llu,\"expected\":\"%s\",\"got\":\"%s\"}\n",
				       (unsigned long long)idx, e->verdict, verdict);
		}
	}
	if (rc == PCAP_ERROR) {
		discard_out(dumper);
		ns_die(NS_EXIT_INPUT, "%s: capture is damaged after packet %llu: %s",
		       r.pcap_path, (unsigned long long)idx, pcap_geterr(cap));
	}
	/* Expectations naming packets the capture does not have. */
	for (size_t i = 0; i < r.nexp; i++) {
		if (r.exp[i].hi != UINT64_MAX && r.exp[i].hi > idx) {
			r.mismatches++;
			if (!r.json)
				printf("MISMATCH %s line %d: expects packets up to %llu, capture has %llu\n",
				       r.expect_path, r.exp[i].line,
				       (unsigned long long)r.exp[i].hi,
				       (unsigned long long)idx);
			else
				printf("{\"mismatch\":true,\"line\":%d,\"expected_packets\":%llu,\"packets\":%llu}\n",
				       r.exp[i].line, (unsigned long long)r.exp[i].hi,
				       (unsigned long long)idx);
		}
	}
	if (dumper)
		finish_out(dumper, out_path);
	print_summary(&r);
	if (r.expect_path && !r.json)
		printf("  expect: %llu mismatches\n", (unsigned long long)r.mismatches);
	pcap_close(cap);
	if (dead)
		pcap_close(dead);
	free(out);
	free(r.exp);
	free(r.vc);
	free(r.bench_ns);
	free(capt.buf);
	ns_obj_close(&r.o);
	return r.mismatches ? NS_EXIT_FAIL : NS_EXIT_OK;
}
