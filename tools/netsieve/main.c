// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* netsieve CLI entry point: global options and subcommand dispatch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "init", cmd_config, "create and pin the maps without attaching anything" },
	{ "rule", cmd_config, "add, del, replace, list, flush rules" },
	{ "policy", cmd_config, "verdict when no rule matches, and for unusable frames" },
	{ "set", cmd_config, "prefix sets: add, del, list, flush, load, destroy" },
	{ "load", cmd_config, "replace the whole configuration from a file, atomically" },
	{ "save", cmd_config, "print the live configuration as a loadable file" },
	{ "cache", cmd_config, "the flow cache: on (default) or off" },
	{ "stats", cmd_observe, "counters per verdict, reason and rule (--watch: rates, --zero)" },
	{ "status", cmd_observe, "where the programs are attached, maps, generation" },
	{ "replay", cmd_replay, "run a capture through a BPF program (BPF_PROG_TEST_RUN)" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
		"usage: netsieve [--pin-dir DIR] COMMAND [ARGS...]\n"
		"\n"
		"netsieve %s: XDP and tc packet filters driven by pinned maps.\n"
		"\n"
		"global options (before COMMAND):\n"
		"  --pin-dir DIR   where the maps are pinned (default: the directory\n"
		"                  iproute2 pins into, $TC_BPF_MNT/tc/globals or\n"
		"                  /sys/fs/bpf/tc/globals)\n"
		"  -h, --help      this help; COMMAND --help for a command\n"
		"  --version       print the version\n"
		"\n"
		"commands:\n", NS_VERSION);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"exit codes: 0 ok, 1 check failed, 2 usage or bad value, 3 bad input\n"
		"file, 4 bad BPF object, 5 environment (bpffs, permissions, nothing pinned)\n");
}

static const char *default_pin_dir(void)
{
	static char buf[4096];
	const char *mnt = getenv("TC_BPF_MNT");

	snprintf(buf, sizeof(buf), "%s/tc/globals",
		 mnt && *mnt ? mnt : "/sys/fs/bpf");
	return buf;
}

/* Output that could not be written (a full disk, a closed pipe) is a
 * failure, not a silent success. */
static int finish(int rc)
{
	errno = 0;
	if (fflush(stdout) || ferror(stdout))
		ns_die(NS_EXIT_ENV, "cannot write the output: %s",
		       strerror(errno ? errno : EIO));
	return rc;
}

int main(int argc, char **argv)
{
	int i = 1;

	ns_libbpf_capture();
	ns_g.pin_dir = default_pin_dir();
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--pin-dir")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				ns_die(NS_EXIT_USAGE, "--pin-dir needs a directory");
			ns_g.pin_dir = argv[i + 1];
			ns_g.pin_dir_given = true;
			i += 2;
		} else if (!strncmp(argv[i], "--pin-dir=", 10)) {
			if (!argv[i][10])
				ns_die(NS_EXIT_USAGE, "--pin-dir needs a directory");
			ns_g.pin_dir = argv[i] + 10;
			ns_g.pin_dir_given = true;
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return NS_EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			printf("netsieve %s\n", NS_VERSION);
			return NS_EXIT_OK;
		} else {
			ns_die(NS_EXIT_USAGE,
			       "unknown global option '%s' (see netsieve --help)",
			       argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return NS_EXIT_USAGE;
	}
	for (size_t c = 0; c < NCOMMANDS; c++)
		if (!strcmp(argv[i], commands[c].name))
			return finish(commands[c].fn(argc - i, argv + i));
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return NS_EXIT_OK;
	}
	ns_die(NS_EXIT_USAGE, "unknown command '%s' (see netsieve --help)", argv[i]);
}
