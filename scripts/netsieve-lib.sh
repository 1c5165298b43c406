# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash disable=SC2034
# (SC2034: NS_ERR, XDP_* and the like are set here for the scripts to read)
# Shared by the netsieve runbook scripts (sourced, not run).  Every ip/tc call
# goes through ns_run so that -v shows exactly what is executed.

NS_VERBOSE=${NS_VERBOSE:-0}
NS_SCRIPT=${NS_SCRIPT:-$(basename "$0")}

ns_die() { echo "$NS_SCRIPT: $*" >&2; exit 1; }
# A usage error: the script's usage() on stderr, exit 2.
ns_usage_err() { usage >&2; exit 2; }

# The first line sed prints for the script $1 from stdin.  Reads all of its
# input: no early-exiting reader in a pipeline (under pipefail the writer's
# SIGPIPE would fail the whole command at random).
ns_first_match() {
	sed -n "$1" | sed -n 1p
}

# True when stdin has a line matching the extended regex $1 (reads all of
# stdin, unlike grep -q; see above).
ns_has_line() {
	[ -n "$(grep -E -- "$1" || true)" ]
}

# With -v: the command, quoted so that it can be pasted back, with the
# TC_BPF_MNT that decides where ip, tc (and the CLI) find the pinned maps.
ns_show() {
	local cmd pre=
	[ "$NS_VERBOSE" = 1 ] || return 0
	cmd=$(printf '%q ' "$@")
	case "${1##*/}" in
	ip|tc|netsieve) [ -z "${TC_BPF_MNT:-}" ] || pre="TC_BPF_MNT=$(printf '%q' "$TC_BPF_MNT") " ;;
	esac
	printf '+ %s%s\n' "$pre" "${cmd% }" >&2
}

ns_run() {
	ns_show "$@"
	"$@"
}

# Like ns_run, but the command's stderr is kept, not shown: on failure
# NS_ERR holds its last line, for a one-line error naming the cause.
ns_try() {
	local err rc=0
	ns_show "$@"
	# stderr into $err, stdout where it was (fd 3); no temporary file
	{ err=$("$@" 2>&1 1>&3 3>&-) || rc=$?; } 3>&1
	# shellcheck disable=SC2016 # a sed script: the last non-blank line
	NS_ERR=$(printf '%s\n' "$err" | sed -n '/[^[:space:]]/h; ${x;p;}')
	if [ "$rc" != 0 ] && [ "$NS_VERBOSE" = 1 ] && [ -n "$err" ]; then
		printf '%s\n' "$err" >&2
	fi
	return "$rc"
}

# ip and tc pin maps under ${TC_BPF_MNT:-/sys/fs/bpf}.  A TC_BPF_MNT that is
# not a mounted bpffs would make them mount a fresh one there: new, empty
# maps, a firewall with no rules.  Refuse that.
ns_require_bpffs() {
	local mnt=${TC_BPF_MNT:-}
	[ -n "$mnt" ] || return 0
	[ -d "$mnt" ] || ns_die "TC_BPF_MNT=$mnt does not exist: mount a bpf filesystem there first (mount -t bpf bpf $mnt)"
	[ "$(stat -f -c %T "$mnt" 2>/dev/null)" = bpf_fs ] ||
		ns_die "TC_BPF_MNT=$mnt is not a bpf filesystem (mount -t bpf bpf $mnt), so ip/tc would pin new, empty maps"
}

# True when the BPF object $1 defines a program (function symbol) named $2.
# (The symbol name sits NUL-terminated in the ELF string table.)
ns_obj_has_prog() {
	LC_ALL=C grep -qaP "\\x00$2\\x00" "$1"
}

# Where the BPF objects are: NETSIEVE_OBJDIR, the build/ directory of a
# source tree, or the installed lib/netsieve.
ns_find_obj() {
	local name=$1 here
	here=$(cd "$(dirname "$0")" && pwd)
	for d in "${NETSIEVE_OBJDIR:-}" "$here/../build" "$here/../lib/netsieve" /usr/local/lib/netsieve; do
		if [ -n "$d" ] && [ -r "$d/$name" ]; then
			echo "$d/$name"
			return 0
		fi
	done
	ns_die "cannot find $name (build it with make, or set NETSIEVE_OBJDIR)"
}

ns_require_dev() {
	ip link show dev "$1" >/dev/null 2>&1 || ns_die "no network device '$1' in this namespace"
}

# Sets XDP_MODE (none|native|generic|offload), XDP_ID and XDP_NAME for $1.
# The mode is the word ip prints right after "mtu N" on the first line
# (not anywhere on it: "master xdp" names a bridge called xdp).
ns_xdp_state() {
	local out first word
	out=$(ip -d link show dev "$1") || ns_die "no network device '$1' in this namespace"
	first=${out%%$'\n'*}
	word=$(ns_first_match 's/.* mtu [0-9][0-9]* \(xdp[a-z]*\)\(\/id:[0-9]*\)\{0,1\} .*/\1/p' <<<"$first")
	XDP_MODE=none XDP_ID='' XDP_NAME=''
	case "$word" in
	xdpgeneric) XDP_MODE=generic ;;
	xdpoffload) XDP_MODE=offload ;;
	xdp|xdpdrv) XDP_MODE=native ;;
	esac
	if [ "$XDP_MODE" != none ]; then
		XDP_ID=$(ns_first_match 's/.*prog\/xdp id \([0-9]*\).*/\1/p' <<<"$out")
		XDP_NAME=$(ns_first_match 's/.*prog\/xdp id [0-9]* name \([^ ]*\).*/\1/p' <<<"$out")
	fi
}

ns_xdp_keyword() {
	case "$1" in
	native) echo xdpdrv ;;
	generic) echo xdpgeneric ;;
	offload) echo xdpoffload ;;
	*) ns_die "unknown XDP mode '$1'" ;;
	esac
}

# tc filters we own sit at this pref (and handle 1) unless -p/--pref says
# otherwise; programs of ours are named cls_fw_*, cls_classify*, cls_http_*.
NS_TC_PREF=${NS_TC_PREF:-49374}
NS_STATE_DIR=${NS_STATE_DIR:-/run/netsieve}

ns_ours_prog() {
	case "$1" in
	cls_fw_*|cls_classify*|cls_http_*) return 0 ;;
	*) return 1 ;;
	esac
}

# The program name of the bpf filter at our pref ($3) on $1 $2 (ingress,
# egress or "parent X:"), empty when there is none or it is not bpf.
ns_tc_filter_prog() {
	local dev=$1 where=$2 pref=$3
	# shellcheck disable=SC2086
	tc filter show dev "$dev" $where pref "$pref" 2>/dev/null |
		ns_first_match 's/.* bpf .* name \([^ ]*\) tag .*/\1/p'
}

# What sits at pref $3 on $1 $2, for messages: "bpf filter NAME", "u32
# filter", ...
ns_tc_filter_desc() {
	local dev=$1 where=$2 pref=$3 kind name
	# shellcheck disable=SC2086
	kind=$(tc filter show dev "$dev" $where pref "$pref" 2>/dev/null |
		ns_first_match 's/^filter .*protocol [^ ]* \(pref [0-9]* \)\{0,1\}\([a-z0-9_]*\) .*/\2/p')
	name=$(ns_tc_filter_prog "$dev" "$where" "$pref")
	echo "${kind:-a} filter${name:+ $name}"
}

ns_tc_has_filter() {
	local dev=$1 where=$2 pref=$3
	# shellcheck disable=SC2086
	[ -n "$(tc filter show dev "$dev" $where pref "$pref" 2>/dev/null)" ]
}

ns_has_clsact() {
	tc qdisc show dev "$1" 2>/dev/null | ns_has_line '^qdisc clsact '
}

ns_ifindex() {
	ip -o link show dev "$1" 2>/dev/null | cut -d: -f1
}

# A marker remembers that we created the clsact qdisc of a device: keyed by
# network namespace (its inode) and ifindex, so that neither a new device of
# the same name nor a namesake in another namespace is mistaken for it.
ns_clsact_marker() {
	local netns
	netns=$(stat -L -c %i /proc/self/ns/net 2>/dev/null || echo 0)
	echo "$NS_STATE_DIR/clsact-$netns-$1-$(ns_ifindex "$1")"
}
