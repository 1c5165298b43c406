# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Throwaway network labs for live tests: two namespaces joined by a veth
pair, addresses inside them, a private bpffs for pins.  Everything is created
by the lab and deleted by it; processes it starts are ended by PID."""
import itertools
import os
import signal
import subprocess
import time

from conftest import NETSIEVE, PYTHON, ROOT

_seq = itertools.count()
PEER = os.path.join(ROOT, "tools", "netpeer")


def lines(path):
    """The non-empty lines of a log a peer process writes ([] until it exists)."""
    try:
        with open(path) as f:
            return [l.strip() for l in f if l.strip()]
    except FileNotFoundError:
        return []


class Lab:
    """Namespace `a` (client, vA, 10.77.N.1 + extras) and `b` (server, vB,
    10.77.N.2): traffic from a arrives on vB, where the firewall sits."""

    def __init__(self, bpffs):
        n = next(_seq) % 200
        tag = f"{os.getpid() % 10000}{n}"
        self.a, self.b = f"nsta{tag}", f"nstb{tag}"
        self.va, self.vb = f"va{tag}", f"vb{tag}"
        self.net = f"10.77.{n}"
        self.a4, self.b4 = f"{self.net}.1", f"{self.net}.2"
        self.a6, self.b6 = f"fd77:{n}::1", f"fd77:{n}::2"
        self.extra4 = [f"{self.net}.{i}" for i in (11, 12, 13)]
        self.mnt = os.path.join(bpffs, f"lab{tag}")
        os.makedirs(self.mnt, exist_ok=True)
        self.pin_dir = os.path.join(self.mnt, "tc", "globals")
        self.env = dict(os.environ, TC_BPF_MNT=self.mnt)
        self.procs = []
        self._up()

    def sh(self, *cmd, check=True, ns=None, env=None, **kw):
        full = (["nsenter", f"--net=/run/netns/{ns}"] if ns else []) + [str(c) for c in cmd]
        r = subprocess.run(full, capture_output=True, text=True, env=env or self.env, **kw)
        if check and r.returncode:
            raise AssertionError(f"{' '.join(full)}: {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def _up(self):
        for ns in (self.a, self.b):
            self.sh("ip", "netns", "add", ns)
        self.sh("ip", "link", "add", self.va, "netns", self.a, "type", "veth",
                "peer", "name", self.vb, "netns", self.b)
        for ns, dev, v4, v6 in ((self.a, self.va, self.a4, self.a6),
                                (self.b, self.vb, self.b4, self.b6)):
            self.sh("ip", "addr", "add", f"{v4}/24", "dev", dev, ns=ns)
            self.sh("ip", "addr", "add", f"{v6}/64", "dev", dev, "nodad", ns=ns)
            self.sh("ip", "link", "set", dev, "up", ns=ns)
            self.sh("ip", "link", "set", "lo", "up", ns=ns)
        for x in self.extra4:
            self.sh("ip", "addr", "add", f"{x}/24", "dev", self.va, ns=self.a)

    def netsieve(self, *args, check=True, input=None, ns=None):
        return self.sh(NETSIEVE, "--pin-dir", self.pin_dir, *args, check=check,
                       input=input, ns=ns or self.b)

    def start(self, ns, *args):
        p = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", PYTHON, PEER,
                              *[str(a) for a in args]], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        time.sleep(0.3)
        assert p.poll() is None, p.stderr.read()
        return p

    def peer(self, ns, *args, check=False):
        return self.sh(PYTHON, PEER, *args, ns=ns, check=check)

    def ping(self, dst, count=1):
        return self.sh("ping", "-c", count, "-W", "1", "-i", "0.2", dst, ns=self.a,
                       check=False).returncode == 0

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
