// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* netsieve CLI: errors, number parsing, libbpf log capture, small buffers. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "netsieve/config.h"
#include "ns.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

struct ns_globals ns_g;

void ns_die(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("netsieve: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

void ns_warn(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("netsieve: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool ns_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < lo || v > hi)
		return false;
	/* "010" would be octal to strtoull: refuse leading zeros. */
	if (s[0] == '0' && s[1] && s[1] != 'x' && s[1] != 'X')
		return false;
	*out = v;
	return true;
}

static struct ns_buf libbpf_log;

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	char *tmp = NULL;

	if (level == LIBBPF_DEBUG)
		return 0;
	/* Verifier logs come as one message of any length. */
	if (vasprintf(&tmp, fmt, ap) < 0)
		return 0;
	ns_buf_printf(&libbpf_log, "%s", tmp);
	free(tmp);
	return 0;
}

void ns_libbpf_capture(void)
{
	libbpf_set_print(libbpf_print);
}

const char *ns_libbpf_log(void)
{
	return libbpf_log.s ? libbpf_log.s : "";
}

void ns_libbpf_log_reset(void)
{
	libbpf_log.len = 0;
	if (libbpf_log.s)
		libbpf_log.s[0] = 0;
}

char *ns_verifier_log(void)
{
	const char *begin = "-- BEGIN PROG LOAD LOG --\n";
	const char *log = ns_libbpf_log();
	const char *b = strstr(log, begin), *e;

	if (!b)
		return NULL;
	b += strlen(begin);
	e = strstr(b, "-- END PROG LOAD LOG --");
	if (!e)
		e = b + strlen(b);
	return strndup(b, e - b);
}

bool ns_is_bpffs(const char *path)
{
	struct statfs st;
	struct stat sb;

	if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
		return false;
	if (statfs(path, &st))
		return false;
	return st.f_type == BPF_FS_MAGIC;
}

void ns_other_layouts(const char *dir, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (len)
		out[0] = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		unsigned int v;
		char rest[16];

		/* nsv<N>_state, N not ours */
		if (sscanf(e->d_name, "nsv%u%15s", &v, rest) != 2 || strcmp(rest, "_state"))
			continue;
		if (!strcmp(e->d_name, NS_MAP_PREFIX "state"))
			continue;
		n += snprintf(out + n, n < len ? len - n : 0, "%sv%u", n ? ", " : "", v);
	}
	closedir(d);
}

bool ns_fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return false;
}

void ns_buf_printf(struct ns_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += n;
			return;
		}
		b->cap = (b->cap + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			ns_die(NS_EXIT_FAIL, "out of memory");
	}
}

void ns_buf_free(struct ns_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

void ns_json_str(struct ns_buf *b, const char *s)
{
	ns_buf_printf(b, "\"");
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			ns_buf_printf(b, "\\%c", ch);
		else if (ch == '\n')
			ns_buf_printf(b, "\\n");
		else if (ch < 0x20)
			ns_buf_printf(b, "\\u%04x", ch);
		else
			ns_buf_printf(b, "%c", ch);
	}
	ns_buf_printf(b, "\"");
}
