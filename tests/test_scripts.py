# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The runbook scripts' parsing of ip/tc output, against stand-in ip and tc
commands that print long outputs.

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
