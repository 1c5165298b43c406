# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Corpus robustness: the parser probe over every capture in ../shared/corpus.

All 947 captures are merged into one (test runs cost microseconds, loading a
program does not) and replayed under XDP and tc.  The run must end without
any test-run error; frames the kernel refuses are reported as not runnable.
Every flow the parser produced must be self-consistent.  Counts per reason
are printed (pytest -s, or the summary with -rA).
"""
import collections

import pytest

import pcaputil
from conftest import CORPUS, CORPUS_FILES, ns_json, obj
from flowdesc import HDR_SIZE, decode, slot_hash

FILES = CORPUS_FILES
pytestmark = pytest.mark.skipif(
    not FILES, reason=f"corpus not found at {CORPUS} (present on developer "
                      "machines and in CI, not in a user's clone)")


@pytest.fixture
def merged(corpus_merged):
    return corpus_merged


def check_flow(flow, frame, where):
    n = len(frame)
    assert flow["ip_end"] <= n, where
    if flow["reason"] in ("ok",):
        assert flow["l3"] in (4, 6), where
    if flow["l3"]:
        assert 14 <= flow["l3_off"] <= 14 + 4 * 2, where
    if flow["ip_end"]:  # 0 when the IP length itself was unusable
        assert flow["l3_off"] < flow["ip_end"] <= n, where
    if flow["flags"] & 0x1:  # ports
        assert flow["frag"] != 2, f"{where}: later fragment with ports"
        assert flow["l4_off"] + 4 <= n, where
    if flow["frag"] == 2:
        assert not flow["flags"] & 0x403, where
    if flow["flags"] & 0x400:  # payload offset valid
        assert flow["l4_off"] < flow["payload_off"] <= flow["ip_end"], where
    assert flow["vlan_depth"] <= 2, where


@pytest.mark.parametrize("hook", ["probe_xdp", "probe_tc"])
def test_corpus_robust(merged, tmp_path, hook):
    path, recs, origin = merged
    out = tmp_path / "out.pcap"
    r, objs = ns_json("replay", "--json", "--prog", hook, "--out-all", "--out",
                      out, obj("parser_probe.o"), path)
    assert r.returncode == 0, r.stderr  # any test-run error is fatal there
    pk = [o for o in objs if "index" in o]
    summary = objs[-1]
    assert len(pk) == len(recs) == summary["packets"]
    outs, _ = pcaputil.read(out)
    reasons = collections.Counter()
    for o, rec, orig, src in zip(pk, outs, recs, origin):
        where = f"{src} (merged packet {o['index']})"
        if not o["runnable"]:
            assert o["why"] in ("runt", "too_big", "refused", "needs_frags"), where
            if o["why"] == "runt":
                assert len(orig[4]) < 14, where
            if o["why"] == "needs_frags":  # XDP, more than one buffer
                assert hook == "probe_xdp" and len(orig[4]) > 3520, where
            continue
        flow, frame = decode(rec[4], keep_hash=True)
        assert frame == orig[4], where
        assert len(rec[4]) == len(orig[4]) + HDR_SIZE
        assert flow.pop("hash") == slot_hash(flow), where
        check_flow(flow, frame, where)
        reasons[flow["reason"]] += 1
    runts = sum(1 for rec in recs if len(rec[4]) < 14)
    assert summary["not_runnable_why"].get("runt", 0) == runts
    print(f"\n{hook}: {summary['packets']} packets, {summary['run']} run, "
          f"not runnable {summary['not_runnable_why']}")
    for reason, n in reasons.most_common():
        print(f"  {reason:24} {n}")
    # The corpus is mostly well-formed IP: a parser that gave up on most of
    # it would be broken, whatever the invariants say.
    assert reasons["ok"] > 0.8 * summary["run"]
