# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# netsieve: one pattern rule builds every BPF object into build/, plus the CLI.
#
#   make            build BPF objects and build/netsieve
#   make test       run the whole test suite (needs root: BPF test runs, netns)
#   make demo       the main job: throwaway netns lab, firewall, live traffic
#   make bench      XDP firewall benchmark (bench/run), ratios side by side
#   make bench-tc   tc benchmark: cls_classify vs u32 chains, N = 10/100/1000
#   make fuzz       libFuzzer over the CLI's config parser (FUZZ_SECONDS=60)
#   make deps       install missing Debian packages (root, apt)
#   make install PREFIX=/usr/local DESTDIR=   (objects to lib/netsieve, CLI and
#                   scripts to sbin, example rule files to share/netsieve)
#   make clean

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   := build
ARCH    := $(shell uname -m)
PYTHON  ?= /usr/bin/python3

CLANG   ?= clang
CC      ?= gcc
# Extra -D overrides (limits in include/netsieve/*.h), e.g. NS_DEFS=-DNS_MAX_VLAN=3
NS_DEFS ?=

BPF_CFLAGS := --target=bpf -mcpu=v3 -O2 -g -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-missing-field-initializers \
	-I include -I/usr/include/$(ARCH)-linux-gnu -MMD -MP $(NS_DEFS)
CLI_CFLAGS := -O2 -g -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-std=gnu11 -I include -MMD -MP $(NS_DEFS)
CLI_LDLIBS := -lbpf -lpcap

# Every BPF program in the bundle, flat in build/ (names are unique).
BPF_SRCS := $(wildcard xdp/*.c classifiers/*.c tests/progs/*.c)
BPF_OBJS := $(addprefix $(BUILD)/,$(notdir $(BPF_SRCS:.c=.o)))
CLI_SRCS := $(wildcard tools/netsieve/*.c)
CLI_OBJS := $(addprefix $(BUILD)/cli/,$(notdir $(CLI_SRCS:.c=.o)))
# Objects operators install (test programs stay in build/).
DIST_OBJS := $(addprefix $(BUILD)/,$(notdir $(patsubst %.c,%.o,$(wildcard xdp/*.c classifiers/*.c))))
SCRIPTS := $(filter-out %.md,$(wildcard scripts/*))

vpath %.c xdp classifiers tests/progs tools/netsieve

# The compilers and flags the objects were built with.  Rewritten only when
# they change (e.g. another NS_DEFS), and every object depends on it, so a
# change rebuilds everything instead of mixing objects built with different
# limits.
.DEFAULT_GOAL := all
FLAGS_NOW := $(CLANG) $(BPF_CFLAGS) ; $(CC) $(CLI_CFLAGS)
$(BUILD)/flags: FORCE | $(BUILD)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@
FORCE:

.PHONY: all check-build check-test test demo bench bench-tc fuzz deps install clean FORCE

# The firewall with a flow cache that never hits (bench/run, tests), and
# with a one-entry cache, where every flow meets every other (tests).
FCMISS_OBJ := $(BUILD)/xdp_firewall_fcmiss.o
FC1_OBJ := $(BUILD)/xdp_firewall_fc1.o
TC_FC1_OBJ := $(BUILD)/cls_firewall_fc1.o  # tests: ingress and egress meet in one entry

all: $(BPF_OBJS) $(FCMISS_OBJ) $(FC1_OBJ) $(TC_FC1_OBJ) $(BUILD)/netsieve

check-build:
	@tools/check-deps build

check-test:
	@tools/check-deps test

$(BUILD) $(BUILD)/cli:
	@mkdir -p $@

$(BUILD)/%.o: %.c Makefile $(BUILD)/flags | check-build $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(FCMISS_OBJ): xdp/xdp_firewall.c Makefile $(BUILD)/flags | check-build $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -DNS_FC_ALWAYS_MISS -c $< -o $@

$(FC1_OBJ): xdp/xdp_firewall.c Makefile $(BUILD)/flags | check-build $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -DNS_FC_ONE_ENTRY -c $< -o $@

$(TC_FC1_OBJ): classifiers/cls_firewall.c Makefile $(BUILD)/flags | check-build $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -DNS_FC_ONE_ENTRY -c $< -o $@

$(BUILD)/cli/%.o: %.c Makefile $(BUILD)/flags | check-build $(BUILD)/cli
	$(CC) $(CLI_CFLAGS) -c $< -o $@

$(BUILD)/netsieve: $(CLI_OBJS)
	$(CC) -o $@ $^ $(CLI_LDLIBS)

test: all | check-test
	$(PYTHON) -m pytest -ra tests

demo: all
	@tools/demo

bench: all
	@bench/run

bench-tc: all
	@bench/tc-classify

deps:
	@tools/check-deps install

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/netsieve $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(PREFIX)/share/netsieve
	$(if $(DIST_OBJS),install -m 0644 $(DIST_OBJS) $(DESTDIR)$(PREFIX)/lib/netsieve/)
	install -m 0755 $(BUILD)/netsieve $(DESTDIR)$(PREFIX)/sbin/netsieve
	$(if $(SCRIPTS),install -m 0755 $(filter-out %.sh,$(SCRIPTS)) $(DESTDIR)$(PREFIX)/sbin/)
	install -m 0644 scripts/netsieve-lib.sh $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 examples/*.rules $(DESTDIR)$(PREFIX)/share/netsieve/

# libFuzzer over the CLI's configuration parser, compiler and save
# (tests/fuzz/conf_roundtrip.c); needs clang's libFuzzer (libclang-rt-*-dev).
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -std=gnu11 -I include -I tools/netsieve $(NS_DEFS)
FUZZ_OBJS := $(addprefix $(BUILD)/fuzz/,$(notdir $(patsubst %.c,%.o,$(filter-out %/main.c,$(CLI_SRCS)))))

$(BUILD)/fuzz:
	@mkdir -p $@

$(BUILD)/fuzz/%.o: %.c Makefile $(BUILD)/flags | check-build $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(BUILD)/fuzz/conf_roundtrip: tests/fuzz/conf_roundtrip.c $(FUZZ_OBJS)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(CLI_LDLIBS)

fuzz: $(BUILD)/fuzz/conf_roundtrip
	@mkdir -p $(BUILD)/fuzz/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -dict=tests/fuzz/conf.dict -max_len=4000 \
		-timeout=20 -rss_limit_mb=4096 $(BUILD)/fuzz/corpus examples

clean:
	rm -rf $(BUILD)
	find tests -name __pycache__ -type d -prune -exec rm -rf {} +

-include $(BPF_OBJS:.o=.d) $(FCMISS_OBJ:.o=.d) $(FC1_OBJ:.o=.d) $(TC_FC1_OBJ:.o=.d) $(CLI_OBJS:.o=.d)
