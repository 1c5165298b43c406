# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Build plumbing: install layout, dependency checks, one parser."""
import os
import re
import shutil
import subprocess
import tempfile

from conftest import ROOT


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def listdir(rel):
    d = os.path.join(ROOT, rel)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_install_layout(tmp_path):
    r = run(["make", "install", "PREFIX=/usr/local", f"DESTDIR={tmp_path}"])
    assert r.returncode == 0, r.stderr
    sbin = tmp_path / "usr/local/sbin"
    lib = tmp_path / "usr/local/lib/netsieve"
    assert os.access(sbin / "netsieve", os.X_OK)
    assert lib.is_dir()
    dist = sorted(os.path.basename(f)[:-2] + ".o"
                  for d in ("xdp", "classifiers")
                  for f in listdir(d) if f.endswith(".c"))
    assert sorted(os.listdir(lib)) == dist, "objects operators load, no test programs"
    for s in listdir("scripts"):
        if s.endswith(".sh"):  # sourced by the scripts beside it, not run
            assert (sbin / s).is_file() and not os.access(sbin / s, os.X_OK), s
        elif not s.endswith(".md"):
            assert os.access(sbin / s, os.X_OK), s
    # the installed scripts run from there (they find their library)
    r = run([str(sbin / "xdp-attach"), "--help"])
    assert r.returncode == 0 and r.stdout.startswith("usage: xdp-attach"), r.stderr
    share = tmp_path / "usr/local/share/netsieve"
    assert sorted(os.listdir(share)) == [f for f in listdir("examples") if f.endswith(".rules")]


def test_changed_flags_rebuild_objects(tmp_path):
    """Objects built with other NS_DEFS are rebuilt, not silently reused."""
    b = str(tmp_path / "build")
    target = f"{b}/empty_xdp.o"

    def make(*extra):
        r = run(["make", f"BUILD={b}", *extra, target])
        assert r.returncode == 0, r.stderr
        return [l for l in r.stdout.splitlines() if l.startswith("clang ")]

    assert len(make()) == 1                           # first build
    assert make() == []                               # nothing changed
    built = make("NS_DEFS=-DNS_MAX_VLAN=3")           # other limits
    assert len(built) == 1 and "-DNS_MAX_VLAN=3" in built[0]
    assert make("NS_DEFS=-DNS_MAX_VLAN=3") == []
    assert len(make()) == 1                           # and back


def test_flow_cache_size_knob_builds(tmp_path):
    """README's `make NS_DEFS=-DNS_FC_BITS=10` builds the firewall and the
    one-entry test build (which sets its own size) alike."""
    b = str(tmp_path / "build")
    r = run(["make", f"BUILD={b}", "NS_DEFS=-DNS_FC_BITS=10",
             f"{b}/xdp_firewall.o", f"{b}/xdp_firewall_fc1.o"])
    assert r.returncode == 0, r.stderr
    assert sorted(f for f in os.listdir(b) if f.endswith(".o")) == \
        ["xdp_firewall.o", "xdp_firewall_fc1.o"]


def test_check_deps_names_missing_package():
    r = run(["tools/check-deps", "build"], env=dict(os.environ, CLANG="clang-nonexistent"))
    assert r.returncode == 1
    assert "missing clang-nonexistent (package clang)" in r.stderr


def test_check_deps_usage():
    r = run(["tools/check-deps"])
    assert r.returncode == 2 and "usage" in r.stderr


def test_make_deps_is_idempotent():
    r = run(["make", "-s", "deps"])
    assert r.returncode == 0, r.stderr
    assert "all dependencies are installed" in r.stdout


def test_make_deps_refuses_non_root_when_something_is_missing():
    # Pretend a package is missing with a fake dpkg-query first on PATH, in a
    # directory the unprivileged user can read.
    d = tempfile.mkdtemp(prefix="ns-fake-dpkg-")
    try:
        os.chmod(d, 0o755)
        fake = os.path.join(d, "dpkg-query")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'deinstall ok config-files'\n")
        os.chmod(fake, 0o755)
        script = os.path.join(d, "check-deps")
        shutil.copy(os.path.join(ROOT, "tools/check-deps"), script)
        os.chmod(script, 0o755)
        env = dict(os.environ, PATH=f"{d}:{os.environ['PATH']}")
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                            "--clear-groups", script, "install"],
                           cwd=d, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(d)
    assert r.returncode == 1, r.stdout
    assert "must run as root" in r.stderr


PARSING = re.compile(r"\b(struct (ethhdr|iphdr|ipv6hdr|tcphdr|udphdr|icmphdr|vlan_hdr)|"
                     r"h_proto|->ihl|->doff|->nexthdr)\b")


def test_parser_is_the_only_packet_parsing_code():
    """Programs get headers from include/netsieve/parser.h, never on their own.

    (A program may write an address it got from the parser, as the seed
    example does with the destination MAC; test programs may build test
    envelopes.)"""
    offenders = []
    for d in ("xdp", "classifiers", "include/netsieve"):
        for f in listdir(d):
            path = os.path.join(d, f)
            if path == "include/netsieve/parser.h" or not f.endswith((".c", ".h")):
                continue
            with open(os.path.join(ROOT, path)) as fh:
                for n, line in enumerate(fh, 1):
                    if PARSING.search(line):
                        offenders.append(f"{path}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_fuzz_target_builds_and_holds_on_a_short_run(tmp_path):
    """`make fuzz`'s target (tests/fuzz/conf_roundtrip.c) keeps building
    against the CLI, and a short fixed-seed run from examples/ finds nothing
    (it aborts when saved text does not load back the same)."""
    r = run(["make", "build/fuzz/conf_roundtrip"])
    if r.returncode and "fuzzer" in r.stderr and "cannot find" in r.stderr:
        import pytest
        pytest.skip("clang's libFuzzer is not installed (libclang-rt-*-dev)")
    assert r.returncode == 0, r.stderr[-2000:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    r = run([os.path.join(ROOT, "build/fuzz/conf_roundtrip"), "-seed=1", "-runs=3000",
             "-dict=tests/fuzz/conf.dict", "-max_len=2000", str(corpus), "examples"],
            timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done 3000 runs" in r.stderr
