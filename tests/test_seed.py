# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The seed example (tests/progs/seed_xdp.c) as a table-driven replay test:
drop TCP, pass UDP unchanged, bounce TCP to port 9090 with a new destination
MAC (XDP_TX).  Verdicts and output bytes are asserted per packet."""
import pytest

import gen_pcaps
import pcaputil
from conftest import PCAP, ns_json, obj

NEW_DST = bytes.fromhex("080027dd382a")

# (what the packet is, verdict, rewritten?) in pcap/seed.pcap order.
TABLE = [
    ("ipv4 tcp/80", "XDP_DROP", False),
    ("ipv4 udp/53", "XDP_PASS", False),
    ("ipv4 tcp/9090", "XDP_TX", True),
    ("ipv4 icmp", "XDP_PASS", False),
    ("arp", "XDP_PASS", False),
    ("ipv6 tcp/22", "XDP_DROP", False),
    ("ipv6 hop-by-hop tcp/9090", "XDP_TX", True),
    ("vlan ipv4 tcp/9090", "XDP_TX", True),
    ("ipv4 options udp/9090", "XDP_PASS", False),
    ("ipv4 later fragment of tcp", "XDP_DROP", False),
    ("ipv6 udp/53", "XDP_PASS", False),
    ("ipv4 ihl=4 (unusable)", "XDP_PASS", False),
]


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed") / "out.pcap"
    r, objs = ns_json("replay", "--json", "--out-all", "--out", out,
                      obj("seed_xdp.o"), f"{PCAP}/seed.pcap")
    assert r.returncode == 0, r.stderr
    recs, _ = pcaputil.read(out)
    return [o for o in objs if "index" in o], recs


def test_table_matches_capture():
    assert len(TABLE) == len(gen_pcaps.seed_packets())


@pytest.mark.parametrize("i", range(len(TABLE)), ids=[t[0] for t in TABLE])
def test_seed_verdict_and_bytes(seed_run, i):
    results, recs = seed_run
    what, verdict, rewritten = TABLE[i]
    original = bytes(gen_pcaps.seed_packets()[i])
    res, rec = results[i], recs[i]
    assert res["index"] == i + 1
    assert res["verdict"] == verdict, what
    assert res["len_in"] == res["len_out"] == len(original)
    out = rec[4]
    if rewritten:
        assert res["modified"] is True
        assert out == NEW_DST + original[6:], "only the destination MAC changes"
    else:
        assert res["modified"] is False
        assert out == original


def test_seed_expect_file(tmp):
    exp = tmp / "seed.expect"
    lines = [f"{i + 1} {v}" for i, (_, v, _) in enumerate(TABLE)]
    exp.write_text("# seed verdicts\n" + "\n".join(lines) + "\n")
    r, _ = ns_json("replay", "--json", "--expect", exp, obj("seed_xdp.o"),
                   f"{PCAP}/seed.pcap")
    assert r.returncode == 0, r.stdout


def test_seed_summary_counts(seed_run):
    r, objs = ns_json("replay", "--json", obj("seed_xdp.o"), f"{PCAP}/seed.pcap")
    summary = objs[-1]
    assert summary["summary"] is True
    want = {}
    for _, v, _ in TABLE:
        want[v] = want.get(v, 0) + 1
    assert summary["verdicts"] == want
    assert summary["packets"] == summary["run"] == len(TABLE)
    assert summary["modified"] == 3
