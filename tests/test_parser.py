# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The shared parser, field by field, under both hooks.

Each case of pcap/gen_pcaps.py:parser_cases() is run through
tests/progs/parser_probe.c (XDP and tc) with `netsieve replay --out`; the
probe prepends the struct ns_flow it produced, and every field is compared
with what scapy built.
"""
import pytest

import gen_pcaps
import pcaputil
from conftest import PCAP, ns_json, obj
from flowdesc import REASONS, decode, slot_hash

CASES = gen_pcaps.parser_cases()
HOOKS = ("probe_xdp", "probe_tc")
# The kernel's tc test run refuses a frame whose ethertype says IP but that
# is too short for the IP header (EINVAL); the XDP probe covers those.
TC_REFUSED = {"ipv4_truncated", "ipv6_truncated"}


@pytest.fixture(scope="module")
def probe_out(tmp_path_factory):
    """{hook: [(flow, frame) or None when not runnable]}."""
    out = {}
    for hook in HOOKS:
        path = tmp_path_factory.mktemp(hook) / "out.pcap"
        r, objs = ns_json("replay", "--json", "--prog", hook, "--out-all",
                          "--out", path, obj("parser_probe.o"),
                          f"{PCAP}/parser_cases.pcap")
        assert r.returncode == 0, r.stderr
        recs, _ = pcaputil.read(path)
        pkts = [o for o in objs if "index" in o]
        assert len(pkts) == len(recs) == len(CASES)
        out[hook] = [decode(rec[4], keep_hash=True) if o["runnable"] else None
                     for o, rec in zip(pkts, recs)]
    return out


def test_enough_cases_and_every_reason_covered():
    assert len(CASES) >= 50
    covered = {e["reason"] for _, _, e in CASES}
    every = {name for _, name, _ in REASONS.values()}
    assert every <= covered, f"reasons without a case: {sorted(every - covered)}"


def test_case_names_unique():
    names = [n for n, _, _ in CASES]
    assert len(names) == len(set(names))


def test_committed_capture_matches_cases():
    recs, linktype = pcaputil.read(f"{PCAP}/parser_cases.pcap")
    assert linktype == 1
    assert [r[4] for r in recs] == [f for _, f, _ in CASES]


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("idx", range(len(CASES)), ids=[c[0] for c in CASES])
def test_flow_fields(probe_out, hook, idx):
    name, frame, want = CASES[idx]
    if hook == "probe_tc" and name in TC_REFUSED:
        assert probe_out[hook][idx] is None, "kernel now runs it: drop from TC_REFUSED"
        return
    assert probe_out[hook][idx] is not None, f"{name} not runnable under {hook}"
    flow, original = probe_out[hook][idx]
    assert original == frame, "probe must leave the frame itself untouched"
    got = {k: flow[k] for k in want}
    assert got == want, f"{name} under {hook}"
    assert set(flow) - {"hash"} == set(want), "case must specify every flow field"
    assert flow["hash"] == slot_hash(flow), f"{name} under {hook}: slot hash"


def test_hooks_agree(probe_out):
    """XDP and tc see the same bytes here, so the flows must be identical."""
    for x, t, (name, _, _) in zip(probe_out["probe_xdp"], probe_out["probe_tc"],
                                  CASES):
        if name in TC_REFUSED:
            continue
        assert x[0] == t[0], name
