# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Shared by the netsieve runbook scripts (sourced, not run).  Every ip/tc call
# goes through ns_run so that -v shows exactly what is executed.

NS_VERBOSE=${NS_VERBOSE:-0}
NS_SCRIPT=${NS_SCRIPT:-$(basename "$0")}

ns_die() { echo "$NS_SCRIPT: $*" >&2; exit 1; }

ns_run() {
	if [ "$NS_VERBOSE" = 1 ]; then printf '+ %s\n' "$*" >&2; fi
	"$@"
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
ns_xdp_state() {
	local out first
	out=$(ip -d link show dev "$1") || ns_die "no network device '$1' in this namespace"
	first=$(printf '%s\n' "$out" | head -n 1)
	XDP_MODE=none XDP_ID= XDP_NAME=
	case "$first" in
	*" xdpgeneric"*) XDP_MODE=generic ;;
	*" xdpoffload"*) XDP_MODE=offload ;;
	*" xdp "*|*" xdpdrv "*) XDP_MODE=native ;;
	esac
	if [ "$XDP_MODE" != none ]; then
		XDP_ID=$(printf '%s\n' "$out" | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -n 1)
		XDP_NAME=$(printf '%s\n' "$out" | sed -n 's/.*prog\/xdp id [0-9]* name \([^ ]*\).*/\1/p' | head -n 1)
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
