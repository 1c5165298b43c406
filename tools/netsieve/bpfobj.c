// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Opening netsieve (and other) BPF objects: pick the program, decide per map
 * whether it is private or the one pinned in the pin directory, and load with
 * errors an operator can act on (the verifier log when the kernel says no).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "ns.h"

/* Counter maps (name contains "_cnt") are never shared by a replay: a replay
 * must not add to the live statistics. */
static bool map_is_counter(const char *name)
{
	return strstr(name, "_cnt") != NULL;
}

static const char *prog_type_name(enum bpf_prog_type t)
{
	const char *n = libbpf_bpf_prog_type_str(t);

	return n ? n : "unknown";
}

static void check_compat(struct bpf_map *map, int fd, const char *pin)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		ns_die(NS_EXIT_ENV, "%s: cannot inspect pinned map: %s", pin,
		       strerror(errno));
	if (info.type != bpf_map__type(map) ||
	    info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    info.max_entries != bpf_map__max_entries(map) ||
	    info.map_flags != bpf_map__map_flags(map))
		ns_die(NS_EXIT_OBJECT,
		       "pinned map %s has another layout than map '%s' of the object "
		       "(pinned/object: key %u/%u bytes, value %u/%u bytes, %u/%u "
		       "entries): it comes from a different build; use --private, or "
		       "detach the programs and remove the pin",
		       pin, bpf_map__name(map), info.key_size,
		       bpf_map__key_size(map), info.value_size,
		       bpf_map__value_size(map), info.max_entries,
		       bpf_map__max_entries(map));
}

static void list_programs(struct bpf_object *obj, struct ns_buf *b)
{
	struct bpf_program *p;
	bool first = true;

	bpf_object__for_each_program(p, obj) {
		ns_buf_printf(b, "%s%s", first ? "" : ", ", bpf_program__name(p));
		first = false;
	}
}

/* OBJ given as id:N or pinned:PATH: a program already loaded in the kernel,
 * run as it is, with its own maps. */
static bool load_existing(struct ns_obj *o, const char *spec)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	uint64_t id;

	if (!strncmp(spec, "id:", 3)) {
		if (!ns_parse_u64(spec + 3, 1, UINT32_MAX, &id))
			ns_die(NS_EXIT_USAGE, "'%s': expected id:N with a program id (bpftool prog show)", spec);
		o->prog_fd = bpf_prog_get_fd_by_id(id);
		if (o->prog_fd < 0)
			ns_die(errno == EPERM ? NS_EXIT_ENV : NS_EXIT_OBJECT,
			       "no loaded BPF program with id %llu: %s", (unsigned long long)id,
			       strerror(errno));
	} else if (!strncmp(spec, "pinned:", 7)) {
		o->prog_fd = bpf_obj_get(spec + 7);
		if (o->prog_fd < 0)
			ns_die(NS_EXIT_OBJECT, "%s: %s", spec + 7, strerror(errno));
	} else {
		return false;
	}
	if (bpf_obj_get_info_by_fd(o->prog_fd, &info, &len))
		ns_die(NS_EXIT_OBJECT, "%s: not a BPF program: %s", spec, strerror(errno));
	o->type = info.type;
	snprintf(o->name, sizeof(o->name), "%s", info.name);
	if (o->type != BPF_PROG_TYPE_XDP && o->type != BPF_PROG_TYPE_SCHED_CLS)
		ns_die(NS_EXIT_OBJECT, "%s: program '%s' is of type %s: netsieve runs xdp and tc programs",
		       spec, info.name, prog_type_name(o->type));
	return true;
}

void ns_obj_load(struct ns_obj *o, const char *path, const char *prog_name,
		 enum ns_pin_mode mode)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = ns_g.pin_dir);
	struct bpf_program *p, *chosen = NULL;
	struct bpf_map *map;
	struct stat st;
	int n = 0, err;

	memset(o, 0, sizeof(*o));
	o->prog_fd = -1;
	if (load_existing(o, path))
		return;
	if (stat(path, &st))
		ns_die(NS_EXIT_OBJECT, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		ns_die(NS_EXIT_OBJECT, "%s: not a regular file", path);

	ns_libbpf_log_reset();
	o->obj = bpf_object__open_file(path, &oo);
	if (!o->obj || libbpf_get_error(o->obj)) {
		char msg[128];
		int err = errno;

		libbpf_strerror(err, msg, sizeof(msg));
		ns_die(NS_EXIT_OBJECT, "%s: not a BPF object file libbpf can open (%s)",
		       path, msg);
	}

	bpf_object__for_each_program(p, o->obj) {
		n++;
		if (prog_name && !strcmp(bpf_program__name(p), prog_name))
			chosen = p;
		if (prog_name && !*prog_name && !chosen)
			chosen = p;
	}
	if (n == 0)
		ns_die(NS_EXIT_OBJECT, "%s: contains no BPF programs", path);
	if (prog_name && !chosen) {
		struct ns_buf b = {};

		list_programs(o->obj, &b);
		ns_die(NS_EXIT_OBJECT, "%s: no program named '%s' (programs: %s)",
		       path, prog_name, b.s);
	}
	if (!chosen && n > 1) {
		struct ns_buf b = {};

		list_programs(o->obj, &b);
		ns_die(NS_EXIT_USAGE,
		       "%s has %d programs (%s): choose one with --prog NAME", path,
		       n, b.s);
	}
	if (!chosen)
		chosen = bpf_object__next_program(o->obj, NULL);
	o->prog = chosen;
	o->type = bpf_program__type(chosen);
	if (o->type != BPF_PROG_TYPE_XDP && o->type != BPF_PROG_TYPE_SCHED_CLS)
		ns_die(NS_EXIT_OBJECT,
		       "%s: program '%s' (section %s) is of type %s: netsieve runs "
		       "xdp and tc programs",
		       path, bpf_program__name(chosen),
		       bpf_program__section_name(chosen), prog_type_name(o->type));
	bpf_object__for_each_program(p, o->obj)
		bpf_program__set_autoload(p, p == chosen);

	bpf_object__for_each_map(map, o->obj) {
		const char *pin = bpf_map__pin_path(map);
		char pinbuf[4096];
		int fd;

		if (!pin) {
			o->maps_private++;
			continue;
		}
		snprintf(pinbuf, sizeof(pinbuf), "%s", pin);
		if (mode == NS_PIN_PRIVATE ||
		    (mode == NS_PIN_REUSE && map_is_counter(bpf_map__name(map)))) {
			bpf_map__set_pin_path(map, NULL);
			o->maps_private++;
			continue;
		}
		fd = bpf_obj_get(pinbuf);
		if (fd < 0) {
			if (mode == NS_PIN_REUSE) {
				bpf_map__set_pin_path(map, NULL);
				o->maps_private++;
			} else {
				o->maps_created++;
			}
			continue;
		}
		check_compat(map, fd, pinbuf);
		if (mode == NS_PIN_REUSE) {
			if (bpf_map__reuse_fd(map, fd))
				ns_die(NS_EXIT_ENV, "%s: cannot reuse pinned map: %s",
				       pinbuf, strerror(errno));
			bpf_map__set_pin_path(map, NULL);
		}
		close(fd);
		o->maps_reused++;
	}

	ns_libbpf_log_reset();
	err = bpf_object__load(o->obj);
	if (err) {
		char *vlog = ns_verifier_log();

		if (err == -EPERM || err == -EACCES) {
			if (vlog && *vlog)
				ns_die(NS_EXIT_OBJECT,
				       "%s: program '%s' rejected by the kernel verifier:\n%s",
				       path, bpf_program__name(chosen), vlog);
			ns_die(NS_EXIT_ENV,
			       "%s: loading BPF needs root (CAP_BPF and CAP_NET_ADMIN): %s",
			       path, strerror(-err));
		}
		if (vlog && *vlog)
			ns_die(NS_EXIT_OBJECT,
			       "%s: program '%s' rejected by the kernel verifier:\n%s",
			       path, bpf_program__name(chosen), vlog);
		ns_die(NS_EXIT_OBJECT, "%s: load failed: %s\n%s", path,
		       strerror(-err), ns_libbpf_log());
	}
	o->prog_fd = bpf_program__fd(chosen);
	snprintf(o->name, sizeof(o->name), "%s", bpf_program__name(chosen));
}

void ns_obj_close(struct ns_obj *o)
{
	if (!o->obj && o->prog_fd >= 0)
		close(o->prog_fd);
	if (o->obj)
		bpf_object__close(o->obj);
	memset(o, 0, sizeof(*o));
	o->prog_fd = -1;
}
