# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Helpers for firewall tests: a configured pin directory and replays."""
import json
import os
import tempfile

import pcaputil
from conftest import ns, obj

FW_O = obj("xdp_firewall.o")


class Firewall:
    """netsieve configuration in one private pin directory."""

    def __init__(self, pin_dir):
        self.pin_dir = pin_dir
        r = self.cli("init", FW_O)
        assert r.returncode == 0, r.stderr

    def cli(self, *args, input=None, cpu=None):
        return ns(*args, pin_dir=self.pin_dir, input=input, cpu=cpu)

    def ok(self, *args, input=None):
        r = self.cli(*args, input=input)
        assert r.returncode == 0, f"{args}: {r.stderr}"
        return r.stdout

    def load(self, text):
        """Replace the configuration with `text` (configuration lines)."""
        return self.ok("load", "-", input=text)

    def rules(self, table=None):
        args = ["rule", "list", "--json"] + (["table", table] if table else [])
        return json.loads(self.ok(*args))

    def stats(self):
        return json.loads(self.ok("stats", "--json"))

    def replay(self, frames, prog_obj=FW_O, prog=None, extra=(), cpu=None):
        """Replay frames (on CPU cpu); returns (verdicts, summary)."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "in.pcap")
            pcaputil.write(path, frames)
            args = ["replay", "--json"] + (["--prog", prog] if prog else []) + list(extra)
            r = self.cli(*args, prog_obj, path, cpu=cpu)
        assert r.returncode == 0, r.stderr
        objs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        return [o["verdict"] for o in objs if "index" in o], objs[-1]

    def verdicts(self, frames, **kw):
        return self.replay(frames, **kw)[0]


def table_stats(summary, table="xdp"):
    for t in summary["netsieve"]["tables"]:
        if t["table"] == table:
            return t
    raise KeyError(table)


def rule_hits(summary, table="xdp"):
    """{rule id: packets} of a replay."""
    return {r["id"]: r["packets"] for r in table_stats(summary, table)["rules"]}
