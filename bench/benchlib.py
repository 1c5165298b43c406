# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Plumbing shared by the benchmark scripts (bench/run, bench/tc-classify)."""
import os
import struct
import subprocess
import sys


def log(msg=""):
    print(msg, flush=True)


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode:
        raise RuntimeError("%s failed (exit %d):\n%s%s" % (" ".join(cmd), p.returncode,
                                                          p.stdout, p.stderr))
    return p


def csum(data):
    """The Internet checksum of data (odd lengths padded with a zero byte)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


class Cleanup:
    """Undo, in reverse order, exactly what this run created."""

    def __init__(self):
        self.steps = []

    def push(self, what, fn):
        self.steps.append((what, fn))

    def run(self):
        while self.steps:
            what, fn = self.steps.pop()
            try:
                fn()
            except Exception as e:  # keep going: undo everything else
                print("%s: cleanup: %s: %s" % (os.path.basename(sys.argv[0]), what, e),
                      file=sys.stderr)


def umount(path):
    if os.path.ismount(path):
        if subprocess.run(["umount", path]).returncode:
            subprocess.run(["umount", "-l", path])
