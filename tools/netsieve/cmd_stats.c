// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* netsieve CLI: stats and status. */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conf.h"

static const char *const src_names[NS_SOURCES] = { "rule", "policy", "unusable", "non-ip" };
static const char *const src_keys[NS_SOURCES] = { "rule", "policy", "unusable", "nonip" };

struct snapshot {
	struct ns_counter verd[NS_VERD_SLOTS];
	struct ns_counter rsn[NS_TABLES * NS_R_MAX];
	struct ns_counter http[NS_TABLES * NS_HTTP_KINDS];
	struct ns_counter *rule[NS_TABLES];
};

static void take(struct ns_store *s, struct ns_conf *c, struct snapshot *sn)
{
	for (int i = 0; i < NS_VERD_SLOTS; i++)
		sn->verd[i] = ns_store_counter(s, M_CNT_VERD, i);
	for (int i = 0; i < NS_TABLES * NS_R_MAX; i++)
		sn->rsn[i] = ns_store_counter(s, M_CNT_RSN, i);
	for (int i = 0; i < NS_TABLES * NS_HTTP_KINDS; i++)
		sn->http[i] = ns_store_counter(s, M_CNT_HTTP, i);
	for (int t = 0; t < NS_TABLES; t++) {
		sn->rule[t] = calloc(c->t[t].n + 1, sizeof(struct ns_counter));
		for (int i = 0; i < c->t[t].n; i++) {
			const struct ns_rule *r = &c->t[t].rules[i];
			struct ns_counter *v;

			sn->rule[t][i] = ns_store_counter(s, M_CNT_RULE, r->slot);
			/* Programs count a matched packet once, on its rule; the
			 * per-verdict totals of rules are the sum over rules. */
			v = &sn->verd[(t * NS_SOURCES + NS_SRC_RULE) * NS_ACT_MAX +
				      (r->action & (NS_ACT_MAX - 1))];
			v->packets += sn->rule[t][i].packets;
			v->bytes += sn->rule[t][i].bytes;
		}
	}
}

/* What changed from b to a (counters only grow: a change of the
 * configuration realigns b first, see realign()). */
static struct ns_counter diff(struct ns_counter a, struct ns_counter b)
{
	struct ns_counter d;

	d.packets = a.packets >= b.packets ? a.packets - b.packets : 0;
	d.bytes = a.bytes >= b.bytes ? a.bytes - b.bytes : 0;
	return d;
}

/* A count, or with secs > 0 a rate: a tenth of a packet per second is
 * not rounded away. */
static const char *num(char *buf, size_t len, uint64_t v, double secs)
{
	if (secs > 0)
		snprintf(buf, len, "%.1f", (double)v / secs);
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

static bool table_active(struct ns_conf *c, struct snapshot *sn, int t)
{
	if (c->t[t].n)
		return true;
	for (int h = 0; h < NS_HTTP_KINDS; h++)
		if (sn->http[t * NS_HTTP_KINDS + h].packets)
			return true;
	for (int k = 0; k < NS_SOURCES * NS_ACT_MAX; k++)
		if (sn->verd[t * NS_SOURCES * NS_ACT_MAX + k].packets)
			return true;
	return false;
}

/* One line "  LABEL: name N, name N" of the non-zero counters [from, to) of
 * one table (rates when prev is given), or nothing when all are zero. */
static void print_counts(const char *label, const struct ns_counter *now,
			 const struct ns_counter *prev, int from, int to,
			 const char *(*name)(unsigned), double secs, const char *unit)
{
	bool any = false;
	char nb[32];

	for (int i = from; i < to; i++) {
		struct ns_counter v = prev ? diff(now[i], prev[i]) : now[i];

		if (!v.packets)
			continue;
		if (!any)
			printf("  %s: ", label);
		printf("%s%s %s%s", any ? ", " : "", name(i),
		       num(nb, sizeof(nb), v.packets, prev ? secs : 0), unit);
		any = true;
	}
	if (any)
		printf("\n");
}

static void print_text(struct ns_conf *c, struct snapshot *now, struct snapshot *prev,
		       double secs, const bool *show)
{
	const char *unit = prev ? "/s" : "";
	double rs = prev ? secs : 0;
	char buf[1024], n1[32], n2[32];

	for (int t = 0; t < NS_TABLES; t++) {
		if (show && !show[t])
			continue;
		if (!table_active(c, now, t)) {
			printf("table %s: no rules, no packets\n", ns_table_names[t]);
			continue;
		}
		printf("table %s: policy %s, %d rule%s\n", ns_table_names[t],
		       c->t[t].policy == NS_ACT_DROP ? "drop" : "pass", c->t[t].n,
		       c->t[t].n == 1 ? "" : "s");
		printf("  %-16s %14s %16s\n", "verdict", prev ? "packets/s" : "packets",
		       prev ? "bytes/s" : "bytes");
		for (int sr = 0; sr < NS_SOURCES; sr++)
			for (int a = 0; a < NS_ACT_MAX; a++) {
				int k = (t * NS_SOURCES + sr) * NS_ACT_MAX + a;
				struct ns_counter v = prev ? diff(now->verd[k], prev->verd[k]) :
							     now->verd[k];

				if (sr == NS_SRC_NONIP && a == NS_ACT_DROP)
					continue;
				snprintf(buf, sizeof(buf), "%s %s", src_names[sr], a ? "drop" : "pass");
				printf("  %-16s %14s %16s\n", buf, num(n1, sizeof(n1), v.packets, rs),
				       num(n2, sizeof(n2), v.bytes, rs));
			}
		print_counts("unusable or non-IP frames", now->rsn + t * NS_R_MAX,
			     prev ? prev->rsn + t * NS_R_MAX : NULL, 0, NS_R_MAX,
			     ns_reason_name, secs, unit);
		print_counts("http (cls_http)", now->http + t * NS_HTTP_KINDS,
			     prev ? prev->http + t * NS_HTTP_KINDS : NULL, 1, NS_HTTP_KINDS,
			     ns_http_name, secs, unit);
		if (c->t[t].n) {
			printf("  %4s %6s %12s %14s  %s\n", "pos", "id", prev ? "packets/s" : "packets",
			       prev ? "bytes/s" : "bytes", "rule");
			for (int i = 0; i < c->t[t].n; i++) {
				struct ns_counter v = prev ? diff(now->rule[t][i], prev->rule[t][i]) :
							     now->rule[t][i];

				ns_rule_format(c, &c->t[t].rules[i], buf, sizeof(buf));
				printf("  %4d %6u %12s %14s  %s\n", i + 1, c->t[t].rules[i].id,
				       num(n1, sizeof(n1), v.packets, rs), num(n2, sizeof(n2), v.bytes, rs),
				       buf);
			}
		}
	}
}

static void cnt_json(struct ns_buf *b, const char *key, struct ns_counter v, bool comma,
		     double rs)
{
	char n1[32], n2[32];

	ns_buf_printf(b, "%s\"%s\":{\"packets\":%s,\"bytes\":%s}", comma ? "," : "", key,
		      num(n1, sizeof(n1), v.packets, rs), num(n2, sizeof(n2), v.bytes, rs));
}

static void stats_json(struct ns_buf *out, struct ns_conf *c, struct snapshot *now,
		       struct snapshot *prev, double secs, const bool *show)
{
	struct ns_buf b = {};
	double rs = prev ? secs : 0;
	char buf[1024], n1[32], n2[32];
	bool first = true;

	ns_buf_printf(&b, "{\"rates\":%s,\"tables\":[", prev ? "true" : "false");
	for (int t = 0; t < NS_TABLES; t++) {
		bool comma = false;

		if (show && !show[t])
			continue;
		ns_buf_printf(&b, "%s{\"table\":\"%s\",\"policy\":\"%s\",\"rules_count\":%d,\"verdicts\":{",
			      first ? "" : ",", ns_table_names[t],
			      c->t[t].policy == NS_ACT_DROP ? "drop" : "pass", c->t[t].n);
		for (int sr = 0; sr < NS_SOURCES; sr++)
			for (int a = 0; a < NS_ACT_MAX; a++) {
				int k = (t * NS_SOURCES + sr) * NS_ACT_MAX + a;

				if (sr == NS_SRC_NONIP && a == NS_ACT_DROP)
					continue; /* never happens: non-IP falls back to pass */
				snprintf(buf, sizeof(buf), "%s_%s", src_keys[sr], a ? "drop" : "pass");
				cnt_json(&b, buf, prev ? diff(now->verd[k], prev->verd[k]) :
							now->verd[k], comma, rs);
				comma = true;
			}
		ns_buf_printf(&b, "},\"reasons\":{");
		comma = false;
		for (int r = 0; r < NS_R_MAX; r++) {
			struct ns_counter v = now->rsn[t * NS_R_MAX + r];

			if (prev)
				v = diff(v, prev->rsn[t * NS_R_MAX + r]);
			if (!v.packets && !prev)
				continue;
			cnt_json(&b, ns_reason_name(r), v, comma, rs);
			comma = true;
		}
		ns_buf_printf(&b, "},\"http\":{");
		comma = false;
		for (int h = 1; h < NS_HTTP_KINDS; h++) {
			struct ns_counter v = now->http[t * NS_HTTP_KINDS + h];

			if (prev)
				v = diff(v, prev->http[t * NS_HTTP_KINDS + h]);
			if (!v.packets && !prev)
				continue;
			cnt_json(&b, ns_http_name(h), v, comma, rs);
			comma = true;
		}
		ns_buf_printf(&b, "},\"rules\":[");
		for (int i = 0; i < c->t[t].n; i++) {
			struct ns_counter v = prev ? diff(now->rule[t][i], prev->rule[t][i]) :
						     now->rule[t][i];

			ns_rule_format(c, &c->t[t].rules[i], buf, sizeof(buf));
			ns_buf_printf(&b, "%s{\"pos\":%d,\"id\":%u,\"packets\":%s,\"bytes\":%s,\"rule\":",
				      i ? "," : "", i + 1, c->t[t].rules[i].id,
				      num(n1, sizeof(n1), v.packets, rs), num(n2, sizeof(n2), v.bytes, rs));
			ns_json_str(&b, buf);
			ns_buf_printf(&b, "}");
		}
		ns_buf_printf(&b, "]}");
		first = false;
	}
	ns_buf_printf(&b, "]}");
	ns_buf_printf(out, "%s", b.s);
	ns_buf_free(&b);
}

static void print_json(struct ns_conf *c, struct snapshot *now, struct snapshot *prev,
		       double secs, const bool *show)
{
	struct ns_buf b = {};

	stats_json(&b, c, now, prev, secs, show);
	printf("%s\n", b.s);
	ns_buf_free(&b);
}

/* For replay: the counters of the maps a replay used (json: into out). */
void ns_stats_report(struct ns_store *s, bool json, struct ns_buf *out)
{
	struct ns_conf c;
	struct snapshot a = {};

	ns_store_read(s, &c);
	take(s, &c, &a);
	if (json)
		stats_json(out, &c, &a, NULL, 1, NULL);
	else
		print_text(&c, &a, NULL, 1, NULL);
	for (int t = 0; t < NS_TABLES; t++)
		free(a.rule[t]);
	ns_conf_free(&c);
}

static void drop_rules(struct snapshot *sn)
{
	for (int t = 0; t < NS_TABLES; t++) {
		free(sn->rule[t]);
		sn->rule[t] = NULL;
	}
}

/*
 * The configuration changed between prev (taken under oldc) and now (under
 * newc): give prev newc's rules.  A rule kept (same id) keeps its previous
 * count; a new one starts from its current count (its rate this interval
 * is 0); the per-verdict rule totals are sums over the rules, redone.
 */
static void realign(struct snapshot *prev, const struct ns_conf *oldc,
		    const struct ns_conf *newc, const struct snapshot *now)
{
	for (int t = 0; t < NS_TABLES; t++) {
		struct ns_counter *r = calloc(newc->t[t].n + 1, sizeof(*r));

		if (!r)
			ns_die(NS_EXIT_FAIL, "out of memory");
		for (int a = 0; a < NS_ACT_MAX; a++)
			prev->verd[(t * NS_SOURCES + NS_SRC_RULE) * NS_ACT_MAX + a] =
				(struct ns_counter){ 0, 0 };
		for (int i = 0; i < newc->t[t].n; i++) {
			const struct ns_rule *nr = &newc->t[t].rules[i];
			struct ns_counter *v;

			r[i] = now->rule[t][i];
			for (int j = 0; j < oldc->t[t].n; j++)
				if (oldc->t[t].rules[j].id == nr->id) {
					r[i] = prev->rule[t][j];
					break;
				}
			v = &prev->verd[(t * NS_SOURCES + NS_SRC_RULE) * NS_ACT_MAX +
					(nr->action & (NS_ACT_MAX - 1))];
			v->packets += r[i].packets;
			v->bytes += r[i].bytes;
		}
		free(prev->rule[t]);
		prev->rule[t] = r;
	}
}

static const char *zeroed_names(const bool *show)
{
	static char buf[64];
	size_t len = 0;

	buf[0] = 0;
	for (int t = 0; t < NS_TABLES; t++)
		if (!show || show[t])
			len += snprintf(buf + len, sizeof(buf) - len, "%stable %s",
					len ? ", " : "", ns_table_names[t]);
	return buf;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_stats(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c;
	struct snapshot a = {}, b = {};
	bool json = false, zero = false, show[NS_TABLES], some = false;
	uint64_t watch = 0, count = 0;

	memset(show, true, sizeof(show)); /* every table unless "table T" names some */

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--watch") && i + 1 < argc) {
			if (!ns_parse_u64(argv[++i], 1, 3600, &watch))
				ns_die(NS_EXIT_USAGE, "stats: --watch '%s': expected seconds 1-3600", argv[i]);
		} else if (!strcmp(argv[i], "--zero")) {
			zero = true;
		} else if (!strcmp(argv[i], "table")) {
			int t;

			if (i + 1 >= argc)
				ns_die(NS_EXIT_USAGE, "stats: table needs a value (xdp, ingress, egress)");
			t = ns_table_by_name(argv[i + 1]);
			if (t < 0)
				ns_die(NS_EXIT_USAGE, "stats: unknown table '%s' (xdp, ingress, egress)", argv[i + 1]);
			if (!some)
				memset(show, 0, sizeof(show));
			show[t] = some = true;
			i++;
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			if (!ns_parse_u64(argv[++i], 1, UINT32_MAX, &count))
				ns_die(NS_EXIT_USAGE, "stats: --count '%s': expected a number of reports", argv[i]);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: netsieve [--pin-dir DIR] stats [table T]... [--json]\n"
			       "                    [--watch SECONDS [--count N] | --zero]\n\n"
			       "Counters per table: verdicts by where they came from (a rule, the\n"
			       "policy, an unusable frame), frames the parser could not use by\n"
			       "reason, and every rule.  table T: only those tables.  --watch prints\n"
			       "rates every SECONDS until interrupted (or N times).  --zero prints\n"
			       "the counters, then sets them to zero (packets counted between the\n"
			       "two are lost, as with iptables -L -Z).\n");
			return NS_EXIT_OK;
		} else {
			ns_die(NS_EXIT_USAGE, "stats: unexpected '%s' (see netsieve stats --help)", argv[i]);
		}
	}
	if (count && !watch)
		ns_die(NS_EXIT_USAGE, "stats: --count goes with --watch");
	if (zero && watch)
		ns_die(NS_EXIT_USAGE, "stats: --zero and --watch do not go together");
	/* Zeroing writes: it takes the lock, so a concurrent change cannot
	 * move rules to other counter slots under it. */
	ns_store_open(&s, zero);
	ns_store_read(&s, &c);
	take(&s, &c, &a);
	if (!watch) {
		if (json)
			print_json(&c, &a, NULL, 1, show);
		else
			print_text(&c, &a, NULL, 1, show);
		if (zero) {
			for (int t = 0; t < NS_TABLES; t++)
				if (show[t])
					ns_store_zero_table(&s, &c, t);
			/* The notice goes to stderr: stdout stays the report
			 * (parseable with --json). */
			fflush(stdout);
			fprintf(stderr, "netsieve: counters zeroed (%s)\n", zeroed_names(show));
		}
		drop_rules(&a);
		ns_conf_free(&c);
		return NS_EXIT_OK;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (uint64_t n = 0; !stop && (!count || n < count); n++) {
		struct timespec ts = { (time_t)watch, 0 };
		uint64_t serial = s.state.serial;
		__u32 k = 0;

		while (nanosleep(&ts, &ts) && !stop)
			;
		if (stop)
			break;
		/* A configuration change renumbers rules: line the previous
		 * counts up with the new rules (by id) and go on. */
		bpf_map_lookup_elem(s.fd[M_STATE], &k, &s.state);
		if (s.state.serial != serial) {
			struct ns_conf c2;

			ns_store_read(&s, &c2);
			take(&s, &c2, &b);
			realign(&a, &c, &c2, &b);
			ns_conf_free(&c);
			c = c2;
		} else {
			take(&s, &c, &b);
		}
		if (json)
			print_json(&c, &b, &a, watch, show);
		else {
			time_t now = time(NULL);
			char tb[32];

			strftime(tb, sizeof(tb), "%H:%M:%S", localtime(&now));
			printf("--- %s, rates over %llus\n", tb, (unsigned long long)watch);
			print_text(&c, &b, &a, watch, show);
		}
		fflush(stdout);
		drop_rules(&a);
		a = b;
	}
	drop_rules(&a);
	ns_conf_free(&c);
	return NS_EXIT_OK;
}

/* ---- status ------------------------------------------------------------------ */

struct attach {
	char ifname[IF_NAMESIZE];
	char where[64];
	uint32_t prog_id;
};

/*
 * Dump the tc objects (RTM_GETTFILTER, RTM_GETQDISC or RTM_GETTCLASS) of
 * ifindex under parent (0: all) and call fn for each message with its
 * attributes.  Errors end the dump quietly: status shows what it found.
 */
typedef void (*tc_msg_fn)(const struct tcmsg *t, struct rtattr *attrs, int alen,
			  void *ctx);

static void tc_dump(int type, int ifindex, uint32_t parent, tc_msg_fn fn, void *ctx)
{
	struct {
		struct nlmsghdr n;
		struct tcmsg t;
	} req = {};
	char buf[32768];
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return;
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(req.t));
	req.n.nlmsg_type = type;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.t.tcm_family = AF_UNSPEC;
	req.t.tcm_ifindex = ifindex;
	req.t.tcm_parent = parent;
	if (send(fd, &req, req.n.nlmsg_len, 0) < 0) {
		close(fd);
		return;
	}
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len <= 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			struct tcmsg *t = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				goto done;
			fn(t, (struct rtattr *)((char *)t + NLMSG_ALIGN(sizeof(*t))),
			   h->nlmsg_len - NLMSG_LENGTH(sizeof(*t)), ctx);
		}
	}
done:
	close(fd);
}

struct filters_ctx {
	const char *dir, *ifname;
	struct attach *out;
	int max, n;
};

static void filter_msg(const struct tcmsg *t, struct rtattr *a, int alen, void *ctx)
{
	struct filters_ctx *c = ctx;
	bool is_bpf = false;
	uint32_t id = 0;

	for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type == TCA_KIND)
			is_bpf = !strcmp(RTA_DATA(a), "bpf");
		if (a->rta_type == TCA_OPTIONS) {
			struct rtattr *o;
			int olen = RTA_PAYLOAD(a);

			for (o = RTA_DATA(a); RTA_OK(o, olen); o = RTA_NEXT(o, olen))
				if (o->rta_type == TCA_BPF_ID)
					id = *(uint32_t *)RTA_DATA(o);
		}
	}
	if (is_bpf && id && c->n < c->max) {
		struct attach *o = &c->out[c->n++];

		snprintf(o->ifname, sizeof(o->ifname), "%s", c->ifname);
		snprintf(o->where, sizeof(o->where), "tc %s pref %u handle %#x",
			 c->dir, t->tcm_info >> 16, t->tcm_handle);
		o->prog_id = id;
	}
}

/* tc filters of kind bpf on dev ifindex, parent `parent`. */
static int tc_filters(int ifindex, uint32_t parent, const char *dir, const char *ifname,
		      struct attach *out, int max)
{
	struct filters_ctx c = { .dir = dir, .ifname = ifname, .out = out, .max = max };

	tc_dump(RTM_GETTFILTER, ifindex, parent, filter_msg, &c);
	return c.n;
}

struct handles_ctx {
	int ifindex;
	uint32_t *out;
	int max, n;
};

static void handle_msg(const struct tcmsg *t, struct rtattr *a, int alen, void *ctx)
{
	struct handles_ctx *c = ctx;

	if (t->tcm_ifindex != c->ifindex || !t->tcm_handle)
		return;
	for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen))
		if (a->rta_type == TCA_KIND &&
		    (!strcmp(RTA_DATA(a), "clsact") || !strcmp(RTA_DATA(a), "ingress")))
			return;
	if (c->n < c->max)
		c->out[c->n++] = t->tcm_handle;
}

/* Handles of the qdiscs (RTM_GETQDISC) or classes (RTM_GETTCLASS) of
 * ifindex that can hold classic filters (not clsact/ingress). */
static int tc_handles(int ifindex, int type, uint32_t *out, int max)
{
	struct handles_ctx c = { .ifindex = ifindex, .out = out, .max = max };

	tc_dump(type, ifindex, 0, handle_msg, &c);
	return c.n;
}

static int find_attachments(struct attach *out, int max)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int n = 0;

	if (!ifs)
		return 0;
	for (i = ifs; i->if_index && n < max; i++) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		if (!bpf_xdp_query(i->if_index, 0, &q)) {
			struct { uint32_t id; const char *mode; } m[] = {
				{ q.drv_prog_id, "xdp native" }, { q.skb_prog_id, "xdp generic" },
				{ q.hw_prog_id, "xdp offload" },
			};

			for (size_t k = 0; k < 3 && n < max; k++)
				if (m[k].id) {
					snprintf(out[n].ifname, sizeof(out[n].ifname), "%s", i->if_name);
					snprintf(out[n].where, sizeof(out[n].where), "%s", m[k].mode);
					out[n].prog_id = m[k].id;
					n++;
				}
		}
		n += tc_filters(i->if_index, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), "ingress",
				i->if_name, out + n, max - n);
		n += tc_filters(i->if_index, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), "egress",
				i->if_name, out + n, max - n);
		/* Classic filters hang off classful qdiscs and their classes. */
		{
			uint32_t h[64];
			int nh = tc_handles(i->if_index, RTM_GETQDISC, h, 64);

			nh += tc_handles(i->if_index, RTM_GETTCLASS, h + nh, 64 - nh);
			for (int k = 0; k < nh && n < max; k++) {
				char where[32];

				if (TC_H_MIN(h[k]))
					snprintf(where, sizeof(where), "parent %x:%x",
						 TC_H_MAJ(h[k]) >> 16, TC_H_MIN(h[k]));
				else
					snprintf(where, sizeof(where), "parent %x:",
						 TC_H_MAJ(h[k]) >> 16);
				n += tc_filters(i->if_index, h[k], where, i->if_name,
						out + n, max - n);
			}
		}
	}
	if_freenameindex(ifs);
	return n;
}

static int cmd_status(int argc, char **argv)
{
	struct ns_store s;
	struct ns_conf c;
	struct bpf_map_info sinfo = {};
	__u32 slen = sizeof(sinfo), id = 0;
	struct attach att[256];
	int natt, nsets = 0;
	bool json = false, first = true;
	struct ns_buf b = {};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: netsieve [--pin-dir DIR] status [--json]\n\n"
			       "Where the configuration lives, what it holds, and which programs\n"
			       "use it: their ids, and where in this network namespace they are\n"
			       "attached (XDP mode, tc direction, pref and handle).\n");
			return NS_EXIT_OK;
		} else
			ns_die(NS_EXIT_USAGE, "status: unexpected '%s' (see netsieve status --help)", argv[i]);
	}
	ns_store_open(&s, false);
	ns_store_read(&s, &c);
	for (int i = 0; i < NS_MAX_SETS; i++)
		nsets += c.sets[i].name[0] != 0;
	/* Programs read nsv4_tables: that map's id identifies users. */
	bpf_obj_get_info_by_fd(s.fd[M_TABLES], &sinfo, &slen);
	natt = find_attachments(att, 256);

	if (json) {
		ns_buf_printf(&b, "{\"pin_dir\":");
		ns_json_str(&b, ns_g.pin_dir);
		ns_buf_printf(&b, ",\"layout\":\"%s\",\"generation\":%u,\"serial\":%llu,"
			      "\"initialized\":%s,\"sets\":%d,\"flow_cache\":%s,\"tables\":{",
			      NS_LAYOUT, s.state.gen, (unsigned long long)s.state.serial,
			      s.state.magic == NS_STATE_MAGIC ? "true" : "false", nsets,
			      s.state.flags & NS_STATE_NO_FCACHE ? "false" : "true");
		for (int t = 0; t < NS_TABLES; t++) {
			uint32_t tg = 0, te = 0;

			ns_store_table_words(&s, t, &tg, &te);
			ns_buf_printf(&b, "%s\"%s\":{\"rules\":%d,\"policy\":\"%s\","
				      "\"gen\":%u,\"epoch\":%u}", t ? "," : "",
				      ns_table_names[t], c.t[t].n,
				      c.t[t].policy == NS_ACT_DROP ? "drop" : "pass", tg, te);
		}
		ns_buf_printf(&b, "},\"maps\":{");
		for (int i = 0; i < M_COUNT; i++) {
			struct bpf_map_info mi = {};
			__u32 ml = sizeof(mi);

			bpf_obj_get_info_by_fd(s.fd[i], &mi, &ml);
			ns_buf_printf(&b, "%s\"%s\":%u", i ? "," : "", ns_map_names[i], mi.id);
		}
		ns_buf_printf(&b, "},\"programs\":[");
	} else {
		printf("pin dir: %s (layout %s%s)\n", ns_g.pin_dir, NS_LAYOUT,
		       s.state.magic == NS_STATE_MAGIC ? "" : ", not configured yet");
		printf("configuration: generation %u, change %llu; sets: %d; flow cache %s\n",
		       s.state.gen, (unsigned long long)s.state.serial, nsets,
		       s.state.flags & NS_STATE_NO_FCACHE ? "off" : "on");
		for (int t = 0; t < NS_TABLES; t++)
			printf("  table %-8s %4d %-6s policy %s\n", ns_table_names[t], c.t[t].n,
			       c.t[t].n == 1 ? "rule," : "rules,",
			       c.t[t].policy == NS_ACT_DROP ? "drop" : "pass");
		printf("maps: ");
		for (int i = 0; i < M_COUNT; i++) {
			struct bpf_map_info mi = {};
			__u32 ml = sizeof(mi);

			bpf_obj_get_info_by_fd(s.fd[i], &mi, &ml);
			printf("%s%s %u", i ? ", " : "", ns_map_names[i] + 5, mi.id);
		}
		printf("\nprograms using these maps:\n");
	}
	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info), map_ids[64];
		int fd = bpf_prog_get_fd_by_id(id);
		bool ours = false, attached = false;

		if (fd < 0)
			continue;
		info.nr_map_ids = 64;
		info.map_ids = (uintptr_t)map_ids;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			for (__u32 m = 0; m < info.nr_map_ids && m < 64; m++)
				ours |= map_ids[m] == sinfo.id;
		close(fd);
		if (!ours)
			continue;
		if (json) {
			ns_buf_printf(&b, "%s{\"id\":%u,\"name\":\"%s\",\"type\":\"%s\",\"attached\":[",
				      first ? "" : ",", id, info.name,
				      libbpf_bpf_prog_type_str(info.type) ?: "?");
			for (int a = 0, f2 = 1; a < natt; a++)
				if (att[a].prog_id == id) {
					ns_buf_printf(&b, "%s{\"dev\":", f2 ? "" : ",");
					ns_json_str(&b, att[a].ifname);
					ns_buf_printf(&b, ",\"hook\":");
					ns_json_str(&b, att[a].where);
					ns_buf_printf(&b, "}");
					f2 = 0;
				}
			ns_buf_printf(&b, "]}");
		} else {
			printf("  id %-6u %-20s %-10s", id, info.name,
			       libbpf_bpf_prog_type_str(info.type) ?: "?");
			for (int a = 0; a < natt; a++)
				if (att[a].prog_id == id) {
					printf(" %s %s: %s", attached ? ";" : " attached to", att[a].ifname,
					       att[a].where);
					attached = true;
				}
			printf("%s\n", attached ? "" : "  (not attached in this network namespace)");
		}
		first = false;
	}
	if (json) {
		ns_buf_printf(&b, "]}");
		printf("%s\n", b.s);
	} else if (first) {
		printf("  none\n");
	}
	return NS_EXIT_OK;
}

int cmd_observe(int argc, char **argv)
{
	if (!strcmp(argv[0], "stats"))
		return cmd_stats(argc, argv);
	return cmd_status(argc, argv);
}
