# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The runbook scripts against stand-in ip, tc and netsieve commands: their
parsing of long ip/tc outputs, and htb-example's rule swap.

The scripts run under `set -o pipefail`; a reader that quits early (head -n 1,
grep -q) makes the writer die of SIGPIPE at random, and the whole command
then fails with 141 (an xdp-detach failed that way in CI).  Long outputs make
that race certain, so these tests fail on any such pipeline.
"""
import os
import subprocess

import pytest

from conftest import ROOT

SCRIPTS = os.path.join(ROOT, "scripts")
FILLER = 20000  # lines after the interesting one: far more than a pipe holds

IP = """#!/bin/sh
echo "ip $*" >> "$SHIM_LOG"
case "$*" in
*"link set"*) exit 0 ;;
esac
echo "7: {dev}@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 xdpgeneric qdisc noqueue state UP mode DEFAULT group default qlen 1000"
echo "    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff link-netns x"
echo "    prog/xdp id 42 name {prog} tag 0123456789abcdef jited"
i=0
while [ $i -lt {filler} ]; do echo "    filler line $i"; i=$((i+1)); done
"""

TC = """#!/bin/sh
echo "tc $*" >> "$SHIM_LOG"
case "$*" in
"qdisc show"*)
    echo "qdisc clsact ffff: parent ffff:fff1"
    echo "qdisc htb 1: root refcnt 2 r2q 10 default 0x30"
    i=0
    while [ $i -lt {filler} ]; do echo "qdisc filler $i"; i=$((i+1)); done ;;
"filter show"*"pref 49374"*)
    echo "filter protocol all pref 49374 bpf chain 0 handle 0x1 cls_classify_da:[9] direct-action not_in_hw id 9 name cls_classify_da tag 0123456789abcdef jited"
    i=0
    while [ $i -lt {filler} ]; do echo "filter filler $i"; i=$((i+1)); done ;;
esac
exit 0
"""


@pytest.fixture
def shim(tmp_path):
    """A PATH with stand-in ip and tc first; returns (env, log path)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "log"
    log.write_text("")

    def write(name, text):
        p = bindir / name
        p.write_text(text.replace("{filler}", str(FILLER)))
        p.chmod(0o755)

    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", SHIM_LOG=str(log),
               NS_STATE_DIR=str(tmp_path / "state"))

    def setup(prog="xdp_firewall", dev="dev0"):
        write("ip", IP.replace("{dev}", dev).replace("{prog}", prog))
        write("tc", TC)
        return env, log
    return setup


def run(script, *args, env):
    return subprocess.run([os.path.join(SCRIPTS, script), *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("attempt", range(3))
def test_xdp_detach_reads_long_ip_output(shim, attempt):
    env, log = shim()
    r = run("xdp-detach", "dev0", env=env)
    assert r.returncode == 0, r.stderr
    assert "xdp_firewall detached from dev0 (generic)" in r.stdout
    assert "ip link set dev dev0 xdpgeneric off" in log.read_text()


def test_xdp_detach_refuses_foreign_program_seen_in_long_output(shim):
    env, log = shim(prog="someone_else")
    r = run("xdp-detach", "dev0", env=env)
    assert r.returncode == 1
    assert r.stderr.strip() == ("xdp-detach: dev0 runs XDP program 'someone_else' (id 42), "
                                "not netsieve's; use --force to detach it")
    assert "link set" not in log.read_text()


@pytest.mark.parametrize("attempt", range(3))
def test_tc_detach_reads_long_tc_output(shim, attempt):
    env, log = shim()
    r = run("tc-detach", "dev0", "egress", env=env)
    assert r.returncode == 0, r.stderr
    assert "bpf filter cls_classify_da removed from dev0 egress (pref 49374)" in r.stdout
    assert "tc filter del dev dev0 egress pref 49374 handle 1 bpf" in log.read_text()


def test_tc_attach_classic_finds_parent_in_long_qdisc_list(shim):
    """The classful parent is on the second line of a long `tc qdisc show`."""
    env, log = shim()
    obj = os.path.join(ROOT, "build", "cls_classify.o")
    r = run("tc-attach", "dev0", "classic", "1:", obj, env=env)
    assert "has no qdisc with handle" not in r.stderr
    assert r.returncode == 0, r.stderr
    assert "tc filter replace dev dev0 parent 1:" in log.read_text()


def test_tc_attach_sees_existing_clsact_in_long_qdisc_list(shim):
    """clsact is on the first line of a long `tc qdisc show`: not added again."""
    env, log = shim()
    obj = os.path.join(ROOT, "build", "cls_classify.o")
    r = run("tc-attach", "dev0", "egress", obj, env=env)
    assert r.returncode == 0, r.stderr
    text = log.read_text()
    assert "tc qdisc add" not in text
    assert "tc filter replace dev dev0 egress pref 49374 handle 1 bpf da" in text


# --- htb-example: the rule swap is one CLI call -----------------------------

HTB_TC = """#!/bin/sh
echo "tc $*" >> "$SHIM_LOG"
case "$*" in
"qdisc show"*) echo "qdisc noqueue 0: root refcnt 2" ;;
esac
exit 0
"""

HTB_IP = """#!/bin/sh
echo "ip $*" >> "$SHIM_LOG"
echo "7: dev0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP"
"""

NETSIEVE = """#!/bin/sh
echo "netsieve $*" >> "$SHIM_LOG"
case "$* $REFUSE_CHECK" in
*--check*yes) echo "netsieve: $5:1: table ingress is not being loaded (name it with 'table ingress'); nothing was changed" >&2; exit 3 ;;
esac
exit 0
"""


@pytest.fixture
def htb(tmp_path):
    """htb-example run from a copy of scripts/ (so no build/netsieve beside
    it) with stand-in ip, tc and netsieve first on PATH."""
    bindir, scripts = tmp_path / "bin", tmp_path / "scripts"
    bindir.mkdir()
    scripts.mkdir()
    for name in ("htb-example", "tc-attach", "netsieve-lib.sh"):
        (scripts / name).write_text(open(os.path.join(SCRIPTS, name)).read())
        (scripts / name).chmod(0o755)
    for name, text in (("ip", HTB_IP), ("tc", HTB_TC), ("netsieve", NETSIEVE)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    rules = tmp_path / "htb.rules"
    rules.write_text("rule add table egress proto tcp dport 22 action classify 1:10\n")
    log = tmp_path / "log"
    log.write_text("")
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", SHIM_LOG=str(log),
               NETSIEVE_OBJDIR=os.path.join(ROOT, "build"),
               NS_STATE_DIR=str(tmp_path / "state"))

    def run_htb(*extra, refuse=False):
        e = dict(env, REFUSE_CHECK="yes" if refuse else "no")
        r = subprocess.run([str(scripts / "htb-example"), "dev0", "--rules", str(rules), *extra],
                           env=e, capture_output=True, text=True, timeout=60)
        return r, log.read_text(), str(rules)
    return run_htb


def test_htb_example_swaps_only_the_egress_rules(htb):
    """One `load table egress` (the CLI keeps the other tables, atomically and
    under its lock), never a save piped back into a load of everything: a
    failed or concurrent save could lose the other tables' rules."""
    r, log, rules = htb()
    assert r.returncode == 0, r.stderr
    assert "tc qdisc replace dev dev0 root handle 1: htb default 30" in log
    calls = [l for l in log.splitlines() if l.startswith("netsieve ")]
    assert calls[1:] == [f"netsieve load --check table egress {rules}",
                         f"netsieve load table egress {rules}"]
    assert calls[0].startswith("netsieve init ")


def test_htb_example_checks_the_rules_before_changing_anything(htb):
    r, log, rules = htb(refuse=True)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"htb-example: {rules}:1: table ingress is not being "
                                "loaded (name it with 'table ingress'); nothing was changed")
    assert "tc qdisc replace" not in log and "tc class" not in log
    assert f"netsieve load table egress" not in log


@pytest.mark.parametrize("rate", ["2.5gbit", "100", "0mbit", "10mbps", "99999999gbit"])
def test_htb_example_refuses_a_bad_rate_before_changing_anything(htb, rate):
    r, log, _ = htb(rate)
    assert r.returncode == 1 and "TOTAL_RATE" in r.stderr and len(r.stderr.splitlines()) == 1
    assert "tc qdisc replace" not in log and "netsieve" not in log


def test_scripts_help_goes_to_stdout_and_exits_0():
    for script in ("xdp-attach", "xdp-detach", "tc-attach", "tc-detach", "htb-example"):
        r = subprocess.run([os.path.join(SCRIPTS, script), "--help"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("usage: ") and r.stderr == "", script
        assert "Exit:" in r.stdout, script
        r = subprocess.run([os.path.join(SCRIPTS, script)], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2 and r.stderr.startswith("usage: ") and r.stdout == "", script
