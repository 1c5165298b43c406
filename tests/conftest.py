# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Shared fixtures: paths, the CLI runner, private bpffs mounts."""
import glob
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
NETSIEVE = os.path.join(BUILD, "netsieve")
PCAP = os.path.join(ROOT, "pcap")
PYTHON = "/usr/bin/python3"
CORPUS = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))
CORPUS_FILES = sorted(glob.glob(os.path.join(CORPUS, "pcap", "*.pcap")))

sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, PCAP)

_seq = itertools.count()


def obj(name):
    return os.path.join(BUILD, name)


def ns(*args, input=None, env=None, pin_dir=None, timeout=600, cpu=None):
    """Run build/netsieve (on CPU cpu: taskset); returns CompletedProcess (text)."""
    cmd = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [NETSIEVE]
    if pin_dir:
        cmd += ["--pin-dir", pin_dir]
    cmd += [str(a) for a in args]
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(cmd, capture_output=True, text=True, input=input,
                          env=e, timeout=timeout)


def ns_json(*args, **kw):
    """Run with --json output; returns (CompletedProcess, [objects])."""
    r = ns(*args, **kw)
    objs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    return r, objs


def one_line_error(r, code, *needles):
    """Assert exit code, a single 'netsieve: ...' stderr line containing needles."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) >= 1 and lines[0].startswith("netsieve: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def bpffs():
    """A private bpf filesystem for this test session (never /sys/fs/bpf)."""
    d = tempfile.mkdtemp(prefix="ns-test-bpffs-")
    subprocess.run(["mount", "-t", "bpf", "bpf", d], check=True)
    yield d
    subprocess.run(["umount", "-l", d], check=False)
    os.rmdir(d)


@pytest.fixture(scope="session")
def corpus_merged(tmp_path_factory):
    """The whole corpus as one capture (test runs cost microseconds, loading
    a program does not): (path, records, origin file of each record), or
    None when ../shared/corpus is absent."""
    import pcaputil
    if not CORPUS_FILES:
        return None
    recs, origin = [], []
    for f in CORPUS_FILES:
        r, linktype = pcaputil.read(f)
        assert linktype == 1, f"{f}: corpus promises Ethernet"
        recs += r
        origin += [os.path.basename(f)] * len(r)
    path = tmp_path_factory.mktemp("corpus") / "all.pcap"
    pcaputil.write_records(path, recs)
    return path, recs, origin


@pytest.fixture
def pin_dir(bpffs):
    """An empty directory on the private bpffs, removed afterwards."""
    d = os.path.join(bpffs, f"t{os.getpid()}_{next(_seq)}")
    os.mkdir(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


@pytest.fixture(scope="session", autouse=True)
def system_bpffs_untouched():
    """No test may pin anything in the system's bpffs (/sys/fs/bpf, where
    libbpf and iproute2 pin by default): every test works in a private one."""
    def listing():
        out = []
        for d, dirs, files in os.walk("/sys/fs/bpf"):
            out += [os.path.join(d, n) for n in dirs + files]
        return sorted(out)
    before = listing()
    yield
    after = listing()
    assert after == before, f"tests left pins in /sys/fs/bpf: {sorted(set(after) - set(before))}"


@pytest.fixture(scope="session", autouse=True)
def no_mount_left_behind(bpffs):
    """Every mount a test makes (one ip/tc makes when TC_BPF_MNT is wrong,
    a lab's) is gone when the session ends.  It takes the session's private
    bpffs so that that mount is made before and removed after the check
    (pytest does not otherwise order session teardowns)."""
    def mounts():
        with open("/proc/self/mountinfo") as f:
            return sorted(l.split()[4] for l in f)
    before = mounts()
    yield
    # /run/netns: iproute2 mounts it at the first `ip netns add` and keeps
    # it by design; the namespaces' own mounts below it must be gone
    left = [m for m in mounts() if m not in before and m != "/run/netns"]
    assert not left, f"tests left mounts behind: {left}"
