# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The rule engine against a linear-scan oracle, on random rules and packets.

Rules, sets and packets are generated from fixed seeds, biased towards the
places where a bit-vector engine goes wrong: nested and adjacent prefixes,
many prefixes inside one /16 (or one top-16-bit IPv6 block), range ends,
/0 and host prefixes, sets shared by rules.  The oracle reads each packet's
flow from the parser probe (tested field by field elsewhere) and scans the
rules in order, as the documented semantics say.  Every verdict and every
rule's hit count must agree.
"""
import ipaddress
import os
import random
import tempfile

import pytest
from scapy.all import (ARP, Dot1Q, Ether, ICMP, ICMPv6EchoRequest, IP, IPv6,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Raw, SCTP, TCP, UDP)

import pcaputil
from conftest import ns, obj
from flowdesc import decode
from fw import Firewall, table_stats

F_PORTS, F_ICMP = 0x1, 0x2


def rand_pfx(rng, fam, pool):
    """A prefix, often inside or next to one already in pool."""
    bits = 32 if fam == 4 else 128
    if pool and rng.random() < 0.6:
        base = rng.choice(pool)
        plen = min(bits, max(0, base.prefixlen + rng.choice([-2, -1, 0, 1, 3, 8])))
        addr = int(base.network_address) + rng.randrange(max(1, base.num_addresses))
        if rng.random() < 0.3:
            addr = int(base.broadcast_address) + 1  # adjacent
    else:
        plen = rng.choice([0, 1, 8, 12, 16, 17, 20, 24, 28, 31, 32] if fam == 4 else
                          [0, 3, 16, 32, 40, 48, 56, 63, 64, 96, 127, 128])
        if fam == 4:
            addr = rng.choice([0x0a000000, 0xc0000200, 0xcb007100]) + rng.randrange(1 << 16)
        else:
            addr = (0x20010db8 << 96) + (rng.randrange(1 << 16) << 80) + rng.randrange(1 << 20)
    addr %= (1 << bits)
    net = ipaddress.ip_network((addr, plen), strict=False)
    pool.append(net)
    return net


def make_config(rng, nrules, set_sizes):
    pools = {4: [], 6: []}
    sets = {}
    for si, size in enumerate(set_sizes):
        name = f"s{si}"
        sets[name] = [rand_pfx(rng, 4 if rng.random() < 0.7 else 6, pools[4 if rng.random() < 0.7 else 6])
                      for _ in range(size)]
        sets[name] = list({(n.version, int(n.network_address), n.prefixlen): n
                           for n in sets[name]}.values())
    rules = []
    for _ in range(nrules):
        r = {}
        fam = rng.choice([4, 6])
        for f in ("src", "dst"):
            x = rng.random()
            if x < 0.35:
                r[f] = ("pfx", rand_pfx(rng, fam, pools[fam]))
            elif x < 0.5 and sets:
                r[f] = ("set", rng.choice(sorted(sets)))
        if "src" in r and "dst" in r and r["src"][0] == "pfx" and r["dst"][0] == "pfx" \
                and r["src"][1].version != r["dst"][1].version:
            del r["dst"]
        x = rng.random()
        if x < 0.5:
            r["proto"] = rng.choice([6, 17, 132] if rng.random() < 0.8 else [1, 58, 47])
        if r.get("proto") in (None, 6, 17, 132):
            for f in ("sport", "dport"):
                if rng.random() < 0.35:
                    lo = rng.choice([0, 22, 53, 80, 443, 1000, 1024, 5000, 65535, rng.randrange(65536)])
                    hi = min(65535, lo + rng.choice([0, 0, 1, 10, 1000, 65535]))
                    r[f] = (lo, hi)
        if r.get("proto") in (1, 58):
            if rng.random() < 0.6:
                r["icmp"] = (rng.choice([0, 3, 8, 128, 129]), rng.choice([None, 0, 1, 4]))
            fam = 4 if r["proto"] == 1 else 6
            for f in ("src", "dst"):
                if f in r and r[f][0] == "pfx" and r[f][1].version != fam:
                    del r[f]
        if rng.random() < 0.12:
            r["vlan"] = rng.choice([None, 10, 20, 4095])
        if rng.random() < 0.12 and not ("icmp" in r or "sport" in r or "dport" in r):
            r["frag"] = rng.choice(["none", "first", "later"])
        elif rng.random() < 0.05:
            r["frag"] = rng.choice(["none", "first"])
        r["action"] = rng.choice(["drop", "pass"])
        rules.append(r)
    policy = rng.choice(["drop", "pass"])
    return sets, rules, policy


def render(sets, rules, policy):
    out = []
    for name, pfxs in sets.items():
        out.append(f"set add {name} " + " ".join(str(p) for p in pfxs) if pfxs else f"set add {name}")
    out.append(f"policy {policy}")
    pn = {6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "icmpv6", 47: "gre"}
    for r in rules:
        w = ["rule add"]
        for f in ("src", "dst"):
            if f in r:
                w.append(f"{f} " + (str(r[f][1]) if r[f][0] == "pfx" else "@" + r[f][1]))
        if "proto" in r:
            w.append("proto " + pn[r["proto"]])
        for f in ("sport", "dport"):
            if f in r:
                lo, hi = r[f]
                w.append(f"{f} {lo}" if lo == hi else f"{f} {lo}-{hi}")
        if "icmp" in r:
            t, c = r["icmp"]
            w.append(f"icmp-type {t}" if c is None else f"icmp-type {t}/{c}")
        if "vlan" in r:
            w.append("vlan " + ("none" if r["vlan"] is None else str(r["vlan"])))
        if "frag" in r:
            w.append("frag " + r["frag"])
        w.append("action " + r["action"])
        out.append(" ".join(w))
    return "\n".join(out) + "\n"


def flow_addr(flow, which):
    raw = flow["saddr" if which == "src" else "daddr"]
    if flow["l3"] == 4:
        return ipaddress.ip_address(raw[:4])
    return ipaddress.ip_address(raw)


def matches(r, flow, sets):
    l3 = flow["l3"]
    for f in ("src", "dst"):
        if f not in r:
            continue
        if not l3:
            return False
        a = flow_addr(flow, f)
        if r[f][0] == "pfx":
            if a.version != r[f][1].version or a not in r[f][1]:
                return False
        elif not any(a.version == n.version and a in n for n in sets[r[f][1]]):
            return False
    if "proto" in r and (not l3 or flow["l4_proto"] != r["proto"]):
        return False
    for f, key in (("sport", "sport"), ("dport", "dport")):
        if f in r:
            if not flow["flags"] & F_PORTS:
                return False
            if not r[f][0] <= flow[key] <= r[f][1]:
                return False
    if "icmp" in r:
        if not flow["flags"] & F_ICMP:
            return False
        t, c = r["icmp"]
        if flow["icmp_type"] != t or (c is not None and flow["icmp_code"] != c):
            return False
    if "vlan" in r:
        v = flow["vlan_outer"] if flow["vlan_depth"] else None
        if v != r["vlan"]:
            return False
    if "frag" in r:
        if not l3 or ["none", "first", "later"][flow["frag"]] != r["frag"]:
            return False
    return True


def oracle(rules, policy, sets, flow):
    """(verdict, matched position or None)."""
    if flow["reason"] not in ("ok", "non-ip"):
        return "XDP_PASS", None  # unusable: default pass
    for i, r in enumerate(rules):
        if matches(r, flow, sets):
            return ("XDP_DROP" if r["action"] == "drop" else "XDP_PASS"), i + 1
    if flow["reason"] == "non-ip":
        return "XDP_PASS", None
    return ("XDP_DROP" if policy == "drop" else "XDP_PASS"), None


def rand_addr_near(rng, fam, sets, rules):
    cands = [n for r in rules for f in ("src", "dst") if f in r and r[f][0] == "pfx"
             for n in [r[f][1]] if n.version == fam]
    cands += [n for s in sets.values() for n in s if n.version == fam]
    if cands and rng.random() < 0.8:
        n = rng.choice(cands)
        off = rng.choice([0, n.num_addresses - 1, n.num_addresses, -1, rng.randrange(n.num_addresses)])
        v = (int(n.network_address) + off) % (1 << (32 if fam == 4 else 128))
        return str(ipaddress.ip_address(v) if fam == 4 else ipaddress.IPv6Address(v))
    if fam == 4:
        return str(ipaddress.IPv4Address(rng.randrange(1 << 32)))
    return str(ipaddress.IPv6Address((0x20010db8 << 96) + rng.randrange(1 << 96)))


def make_packets(rng, n, sets, rules):
    pk = []
    for _ in range(n):
        fam = rng.choice([4, 4, 6])
        src = rand_addr_near(rng, fam, sets, rules)
        dst = rand_addr_near(rng, fam, sets, rules)
        sport = rng.choice([22, 53, 80, 443, 1000, 1024, 5000, 65535, rng.randrange(65536)])
        dport = rng.choice([22, 53, 80, 443, 999, 1000, 2000, 5000, 0, rng.randrange(65536)])
        kind = rng.choice(["tcp", "udp", "sctp", "icmp", "frag", "gre"])
        l2 = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        if rng.random() < 0.15:
            l2 = l2 / Dot1Q(vlan=rng.choice([10, 20, 30, 4095]))
        if rng.random() < 0.03:
            pk.append(l2 / ARP())
            continue
        if fam == 4:
            ip = IP(src=src, dst=dst)
            if kind == "frag":
                ip = IP(src=src, dst=dst, frag=rng.choice([0, 20]), flags="MF", proto=17)
                l4 = UDP(sport=sport, dport=dport) if ip.frag == 0 else Raw(b"z" * 16)
            elif kind == "icmp":
                l4 = ICMP(type=rng.choice([0, 3, 8]), code=rng.choice([0, 1, 4]))
            elif kind == "gre":
                ip.proto = 47
                l4 = Raw(b"g" * 8)
            else:
                l4 = {"tcp": TCP, "udp": UDP, "sctp": SCTP}[kind](sport=sport, dport=dport)
        else:
            ip = IPv6(src=src, dst=dst)
            if kind == "frag":
                off = rng.choice([0, 20])
                ip = ip / IPv6ExtHdrFragment(m=1, offset=off, nh=17)
                l4 = UDP(sport=sport, dport=dport) if off == 0 else Raw(b"z" * 16)
            elif kind == "icmp":
                l4 = ICMPv6EchoRequest() if rng.random() < 0.5 else \
                    ICMPv6EchoRequest(type=129)
            elif kind == "gre":
                ip.nh = 47
                l4 = Raw(b"g" * 8)
            else:
                if rng.random() < 0.3:
                    ip = ip / IPv6ExtHdrHopByHop()
                l4 = {"tcp": TCP, "udp": UDP, "sctp": SCTP}[kind](sport=sport, dport=dport)
        pk.append(l2 / ip / l4)
    return pk


def probe_flows(frames):
    with tempfile.TemporaryDirectory() as d:
        inp, out = os.path.join(d, "in.pcap"), os.path.join(d, "out.pcap")
        pcaputil.write(inp, frames)
        r = ns("replay", "--quiet", "--prog", "probe_xdp", "--out-all", "--out", out,
               obj("parser_probe.o"), inp)
        assert r.returncode == 0, r.stderr
        return [decode(rec[4])[0] for rec in pcaputil.read(out)[0]]


@pytest.mark.parametrize("seed,nrules,sets,npk", [
    (1, 20, [], 400),
    (2, 60, [30], 500),
    (3, 200, [200, 50], 600),
    (4, 400, [2000], 600),
    (5, 1000, [5000, 300], 800),
])
def test_engine_matches_oracle(pin_dir, seed, nrules, sets, npk):
    rng = random.Random(seed)
    sets_, rules, policy = make_config(rng, nrules, sets)
    frames = make_packets(rng, npk, sets_, rules)
    fw = Firewall(pin_dir)
    fw.load(render(sets_, rules, policy))
    flows = probe_flows(frames)
    want = [oracle(rules, policy, sets_, f) for f in flows]
    verdicts, summary = fw.replay(frames)
    bad = [(i + 1, w[0], v, w[1]) for i, (w, v) in enumerate(zip(want, verdicts)) if w[0] != v]
    assert not bad, f"{len(bad)} mismatches, first: {bad[:5]}"
    hits = {}
    for _, pos in want:
        if pos:
            hits[pos] = hits.get(pos, 0) + 1
    got = {r["pos"]: r["packets"] for r in table_stats(summary)["rules"] if r["packets"]}
    assert got == hits
    # A decent share of the packets must hit rules, or the test proves little.
    assert sum(hits.values()) > npk // 4
