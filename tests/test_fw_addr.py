# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Address lookups where they are hardest: crowded blocks.

A /16 (IPv4) or top-16-bit block (IPv6) with many range boundaries gets a
sub-directory over the bits after the boundaries' common prefix
(include/netsieve/config.h); blocks with few get a plain chunk.  These sets
put hundreds of prefixes into single blocks, clustered (a long common
prefix) and spread (none), next to each other and nested, and then ask
about every prefix's first and last address, the addresses just outside,
and random ones, against Python's ipaddress.  Two overlapping sets with
different actions check that each range carries the right rules.
"""
import ipaddress
import random

import pytest
from scapy.all import Ether, IP, IPv6, UDP

from fw import Firewall, rule_hits


def E():
    return Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")


def crowd(rng, base, plen_lo, plen_hi, n, bits):
    """n random prefixes inside network base."""
    out = set()
    while len(out) < n:
        plen = rng.randint(plen_lo, plen_hi)
        a = int(base.network_address) + rng.randrange(base.num_addresses)
        out.add(ipaddress.ip_network((a >> (bits - plen) << (bits - plen), plen)))
    return sorted(out)


def build(rng):
    v4 = []
    v4 += crowd(rng, ipaddress.ip_network("10.20.0.0/16"), 24, 32, 300, 32)    # spread
    v4 += crowd(rng, ipaddress.ip_network("10.30.5.0/24"), 31, 32, 60, 32)    # clustered
    v4 += [ipaddress.ip_network("10.30.0.0/22")]  # from the block start: below != above
    v4 += crowd(rng, ipaddress.ip_network("10.40.0.0/16"), 18, 24, 40, 32)     # plain chunk
    v4 += [ipaddress.ip_network("10.50.0.0/32"), ipaddress.ip_network("10.50.255.255/32")]
    v6 = []
    v6 += crowd(rng, ipaddress.ip_network("2a00:db8:1::/48"), 96, 128, 200, 128)  # clustered
    v6 += [ipaddress.ip_network("2a00::/32")]  # from the block start: below != above
    v6 += crowd(rng, ipaddress.ip_network("2001::/16"), 40, 64, 120, 128)         # spread
    v6 += crowd(rng, ipaddress.ip_network("3fff:ab00::/24"), 48, 128, 60, 128)
    v6 += crowd(rng, ipaddress.ip_network("fd00::/16"), 17, 40, 10, 128)          # plain
    return v4, v6


def probes(rng, nets):
    out = []
    for n in nets:
        a, b = int(n.network_address), int(n.broadcast_address)
        top = (1 << n.max_prefixlen) - 1
        out += [a, b, max(a - 1, 0), min(b + 1, top)]
    for _ in range(200):
        n = rng.choice(nets)
        out.append(int(n.network_address) + rng.randrange(n.num_addresses))
        # the same block, outside the cluster's common prefix, both sides
        blk = int(n.network_address) >> (n.max_prefixlen - 16) << (n.max_prefixlen - 16)
        out.append(blk + rng.randrange(1 << (n.max_prefixlen - 16)))
    return sorted(set(out))


@pytest.mark.parametrize("field", ["src", "dst"])
def test_crowded_blocks_against_ipaddress(pin_dir, field):
    rng = random.Random(1729)
    v4, v6 = build(rng)
    # Set a: every prefix; set b: a third of them plus some wider ones.
    b4 = v4[::3] + [ipaddress.ip_network("10.20.128.0/17"), ipaddress.ip_network("10.30.5.128/25")]
    b6 = v6[::3] + [ipaddress.ip_network("2a00:db8:1:8000::/49")]
    fw = Firewall(pin_dir)
    conf = ("set add b " + " ".join(map(str, b4 + b6)) + "\n" +
            "set add a " + " ".join(map(str, v4 + v6)) + "\n" +
            f"rule add {field} @b proto udp dport 1 action pass\n"
            f"rule add {field} @a action drop\n")
    fw.load(conf)
    frames, want, want_rule = [], [], []
    other4, other6 = "192.0.2.1", "2001:db8:ffff::1"
    for fam, nets, others in ((4, v4, other4), (6, v6, other6)):
        for a in probes(rng, nets):
            ip = ipaddress.ip_address(a)
            addr = str(ip)
            src, dst = (addr, others) if field == "src" else (others, addr)
            for dport in (1, 2):
                l3 = IP(src=src, dst=dst) if fam == 4 else IPv6(src=src, dst=dst)
                frames.append(E() / l3 / UDP(sport=9, dport=dport))
                in_a = any(ip in n for n in (v4 if fam == 4 else v6))
                in_b = any(ip in n for n in (b4 if fam == 4 else b6))
                rule = 1 if (in_b and dport == 1) else 2 if in_a else None
                want_rule.append(rule)
                want.append("XDP_DROP" if rule == 2 else "XDP_PASS")
    verdicts, summary = fw.replay(frames, extra=["--stats"])
    bad = [(i, frames[i].summary(), v, w) for i, (v, w) in enumerate(zip(verdicts, want))
           if v != w]
    assert not bad, f"{len(bad)} wrong of {len(frames)}: {bad[:5]}"
    hits = rule_hits(summary)
    assert hits == {1: want_rule.count(1), 2: want_rule.count(2)}
    assert len(frames) > 3000


@pytest.mark.parametrize("conf,probes", [
    # a prefix and a set reaching the last address (240.0.0.0/4: bogon lists)
    ("rule add dst 240.0.0.0/4 action drop\n",
     {"255.255.255.255": 1, "255.255.0.1": 1, "240.0.0.0": 1, "239.255.255.255": None}),
    ("set add top 255.255.255.0/24 255.255.0.0/16 10.0.0.0/8\nrule add dst @top action drop\n",
     {"255.255.255.255": 1, "255.255.1.1": 1, "255.254.255.255": None, "10.9.9.9": 1}),
    ("rule add dst 255.255.255.255 action drop\nrule add dst 0.0.0.0/32 action drop\n",
     {"255.255.255.255": 1, "255.255.255.254": None, "0.0.0.0": 2, "0.0.0.1": None}),
    ("rule add dst ffff::/16 action drop\nrule add dst ff00::/8 action drop\n",
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": 1, "ffff::": 1, "fffe:ffff::1": 2,
      "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": None}),
    ("set add top6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120 ffff:ffff::/32\n"
     "rule add dst @top6 action drop\n",
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": 1, "ffff:ffff:1::": 1, "ffff:fffe::1": None}),
], ids=["v4-prefix", "v4-set", "v4-hosts", "v6-prefixes", "v6-set"])
def test_prefixes_at_the_ends_of_the_address_space(pin_dir, conf, probes):
    fw = Firewall(pin_dir)
    fw.load(conf)
    frames = [E() / (IP(src="192.0.2.1", dst=a) if ":" not in a else
                     IPv6(src="2001:db8::1", dst=a)) / UDP(sport=9, dport=9)
              for a in probes]
    verdicts, summary = fw.replay(frames, extra=["--stats"])
    assert verdicts == ["XDP_DROP" if r else "XDP_PASS" for r in probes.values()], list(probes)
    want = {}
    for r in probes.values():
        if r:
            want[r] = want.get(r, 0) + 1
    assert {k: v for k, v in rule_hits(summary).items() if v} == want


def test_million_prefix_set(pin_dir, tmp_path):
    """A set of 1,000,000 prefixes (900k IPv4, 100k IPv6) loads, compiles
    for a source and a destination rule (too big for dense sub-directories:
    the compiler falls back), and judges members and non-members right."""
    rng = random.Random(4242)
    v4 = set()
    while len(v4) < 900000:
        plen = rng.choice((16, 20, 22, 24, 24, 24, 28, 32, 32, 32))
        v4.add((rng.getrandbits(32) >> (32 - plen) << (32 - plen), plen))
    v6 = set()
    while len(v6) < 100000:
        plen = rng.choice((32, 48, 56, 64, 64, 128))
        v6.add((rng.getrandbits(128) >> (128 - plen) << (128 - plen), plen))

    def v4s(a, plen):
        return f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}/{plen}"

    path = tmp_path / "big.txt"
    with open(path, "w") as f:
        for a, plen in v4:
            f.write(v4s(a, plen) + "\n")
        for a, plen in v6:
            f.write(f"{ipaddress.IPv6Address(a)}/{plen}\n")
    fw = Firewall(pin_dir)
    out = fw.ok("set", "load", "big", str(path))
    assert "900000 IPv4 and 100000 IPv6" in out
    fw.ok("rule", "add", "src", "@big", "proto", "udp", "dport", "1", "action", "drop")
    fw.ok("rule", "add", "dst", "@big", "action", "drop")

    def member(a, bits, nets):
        return any((a >> (bits - p) << (bits - p), p) in nets for p in range(bits + 1))

    frames, want = [], []
    # the other address of each probe: one outside the set
    other4 = next(str(ipaddress.ip_address(a)) for a in range(0xc0000201, 1 << 32, 104729)
                  if not member(a, 32, v4))
    other6 = next(str(ipaddress.IPv6Address(a)) for a in
                  range(0x20010db8ffff << 80 | 1, 1 << 128, 1 << 100)
                  if not member(a, 128, v6))
    s4, s6 = sorted(v4), sorted(v6)
    for fam, pool, bits in ((4, s4, 32), (6, s6, 128)):
        nets = v4 if fam == 4 else v6
        addrs = []
        for a, plen in rng.sample(pool, 300):
            addrs += [a, a + (1 << (bits - plen)) - 1, a - 1, a + (1 << (bits - plen))]
        addrs += [rng.getrandbits(bits) for _ in range(300)]
        for a in addrs:
            a &= (1 << bits) - 1
            addr = str(ipaddress.ip_address(a) if fam == 4 else ipaddress.IPv6Address(a))
            inside = member(a, bits, nets)
            for field in ("src", "dst"):
                src, dst = (addr, other4 if fam == 4 else other6)
                if field == "dst":
                    src, dst = dst, src
                l3 = IP(src=src, dst=dst) if fam == 4 else IPv6(src=src, dst=dst)
                frames.append(E() / l3 / UDP(sport=9, dport=1))
                want.append("XDP_DROP" if inside else "XDP_PASS")
    verdicts = fw.verdicts(frames)
    bad = [(i, frames[i].summary(), v, w) for i, (v, w) in enumerate(zip(verdicts, want))
           if v != w]
    assert not bad, f"{len(bad)} wrong of {len(frames)}: {bad[:5]}"
    assert want.count("XDP_DROP") > 1000 and want.count("XDP_PASS") > 500


def test_million_prefixes_crowded_into_one_slash8(pin_dir, tmp_path):
    """A million /32s inside 10.0.0.0/8: with sub-directories the ranges
    take more than the pool holds (each crowded block's sub-blocks add
    entries), so the compiler falls back to plain chunks, which fit; members,
    their neighbours and outsiders are judged right."""
    rng = random.Random(777)
    members = set()
    while len(members) < 1_000_000:
        members.add(rng.getrandbits(24))
    path = tmp_path / "dense.txt"
    with open(path, "w") as f:
        f.write("".join(f"10.{a >> 16}.{a >> 8 & 255}.{a & 255}\n" for a in members))
    fw = Firewall(pin_dir)
    assert "1000000 IPv4" in fw.ok("set", "load", "dense", str(path))
    fw.ok("rule", "add", "src", "@dense", "action", "drop")
    probes = rng.sample(sorted(members), 400)
    addrs = probes + [(a + 1) & 0xffffff for a in probes] + [rng.getrandbits(24) for _ in range(400)]
    frames = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
              IP(src=f"10.{a >> 16}.{a >> 8 & 255}.{a & 255}", dst="192.0.2.1") / UDP(dport=9)
              for a in addrs]
    want = ["XDP_DROP" if a in members else "XDP_PASS" for a in addrs]
    verdicts, _ = fw.replay(frames)
    assert verdicts == want


def test_v6_hosts_crowded_just_past_the_clamp(pin_dir):
    """A crowded IPv6 block whose boundaries share 59 bits after the /16:
    the sub-directory's prefix must be clamped to 64 - kb bits (C5 only
    clamped at 64, so c + kb > 64 and lookups read the wrong sub-block)."""
    fw = Firewall(pin_dir)
    hosts = [f"2001:db8:0:0:{h:x}::1" for h in range(32)]
    fw.load("set add h " + " ".join(hosts) + "\nrule add dst @h action drop\n")
    frames, want = [], []
    for h in range(34):
        for last in (0, 1, 2):
            a = f"2001:db8:0:0:{h:x}::{last:x}"
            frames.append(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                          IPv6(src="2001:db8:1::1", dst=a) / UDP(sport=1, dport=2))
            want.append("XDP_DROP" if (h < 32 and last == 1) else "XDP_PASS")
    got = fw.verdicts(frames)
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, bad[:5]
