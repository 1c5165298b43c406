# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""XDP firewall, table-driven through `netsieve replay` on pinned config.

Each case is a configuration and packets with the verdict each must get and
what decided it: a rule position (1-based), "policy", "unusable" or "nonip".
The replay's own counters must agree: hits per rule and per verdict source.
"""
import collections

import pytest
from scapy.all import (ARP, Dot1AD, Dot1Q, Ether, ICMP, ICMPv6EchoRequest, IP,
                       IPOption_NOP, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw, SCTP, TCP, UDP)
from scapy.layers.ipsec import AH

from fw import Firewall, table_stats

A4, B4 = "192.0.2.10", "198.51.100.20"
A6, B6 = "2001:db8::a", "2001:db8:1::b"


def E(**kw):
    return Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b", **kw)


def tcp(sport=40000, dport=80, src=A4, dst=B4, **ip):
    return E() / IP(src=src, dst=dst, **ip) / TCP(sport=sport, dport=dport)


def udp(sport=40000, dport=53, src=A4, dst=B4, **ip):
    return E() / IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport)


def tcp6(sport=40000, dport=80, src=A6, dst=B6):
    return E() / IPv6(src=src, dst=dst) / TCP(sport=sport, dport=dport)


def udp6(sport=40000, dport=53, src=A6, dst=B6):
    return E() / IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport)


def icmp4(t=8, c=0, src=A4):
    return E() / IP(src=src, dst=B4) / ICMP(type=t, code=c)


def arp():
    return E() / ARP(psrc=A4, pdst=B4)


def bad_ihl():
    raw = bytearray(bytes(tcp()))
    raw[14] = 0x44  # version 4, ihl 4
    return Ether(bytes(raw))


def cut_tcp():
    return Ether(bytes(tcp())[:14 + 20 + 10])  # TCP header truncated


def deep_vlan():
    return E() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP(src=A4, dst=B4) / UDP()


# (name, config, [(label, frame, verdict, decided_by)])
CASES = [
    ("src_cidr_v4_boundaries", "rule add src 10.1.2.0/24 action drop\n", [
        ("first address", tcp(src="10.1.2.0"), "XDP_DROP", 1),
        ("last address", tcp(src="10.1.2.255"), "XDP_DROP", 1),
        ("one below", tcp(src="10.1.1.255"), "XDP_PASS", "policy"),
        ("one above", tcp(src="10.1.3.0"), "XDP_PASS", "policy"),
        ("dst in prefix does not count", tcp(dst="10.1.2.5"), "XDP_PASS", "policy"),
        ("v6 packet never matches a v4 prefix", tcp6(), "XDP_PASS", "policy"),
    ]),
    ("dst_host_v4", "rule add dst 198.51.100.20 action drop\n", [
        ("the host", udp(), "XDP_DROP", 1),
        ("next host", udp(dst="198.51.100.21"), "XDP_PASS", "policy"),
    ]),
    ("src_cidr_v6_boundaries", "rule add src 2001:db8:a::/48 action drop\n", [
        ("first", tcp6(src="2001:db8:a::"), "XDP_DROP", 1),
        ("last", tcp6(src="2001:db8:a:ffff:ffff:ffff:ffff:ffff"), "XDP_DROP", 1),
        ("above", tcp6(src="2001:db8:b::"), "XDP_PASS", "policy"),
        ("below", tcp6(src="2001:db8:9:ffff:ffff:ffff:ffff:ffff"), "XDP_PASS", "policy"),
        ("v4 never matches a v6 prefix", tcp(), "XDP_PASS", "policy"),
    ]),
    ("zero_prefixes_are_per_family", "rule add src 0.0.0.0/0 action drop\nrule add dst ::/0 proto udp action drop\n", [
        ("all v4", tcp(src="1.2.3.4"), "XDP_DROP", 1),
        ("v6 tcp: neither", tcp6(), "XDP_PASS", "policy"),
        ("v6 udp: second", udp6(), "XDP_DROP", 2),
    ]),
    ("protocols", "rule add proto tcp action drop\nrule add proto sctp action drop\nrule add proto 47 action drop\nrule add proto icmpv6 action drop\n", [
        ("tcp", tcp(), "XDP_DROP", 1),
        ("udp", udp(), "XDP_PASS", "policy"),
        ("sctp", E() / IP(src=A4, dst=B4) / SCTP(sport=1, dport=2), "XDP_DROP", 2),
        ("gre by number", E() / IP(src=A4, dst=B4, proto=47) / Raw(b"x" * 8), "XDP_DROP", 3),
        ("icmpv6", E() / IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(), "XDP_DROP", 4),
        ("icmp (v4) is not icmpv6", icmp4(), "XDP_PASS", "policy"),
        ("tcp over ipv6", tcp6(), "XDP_DROP", 1),
    ]),
    ("port_ranges", "rule add proto tcp dport 1000-2000 action drop\nrule add sport 53 action drop\n", [
        ("lo", tcp(dport=1000), "XDP_DROP", 1),
        ("hi", tcp(dport=2000), "XDP_DROP", 1),
        ("lo-1", tcp(dport=999), "XDP_PASS", "policy"),
        ("hi+1", tcp(dport=2001), "XDP_PASS", "policy"),
        ("udp in range: proto differs", udp(dport=1500), "XDP_PASS", "policy"),
        ("sport without proto: udp", udp(sport=53, dport=9), "XDP_DROP", 2),
        ("sport without proto: tcp", tcp(sport=53, dport=9), "XDP_DROP", 2),
        ("sport without proto: sctp", E() / IP(src=A4, dst=B4) / SCTP(sport=53, dport=1), "XDP_DROP", 2),
        ("icmp has no ports", icmp4(), "XDP_PASS", "policy"),
    ]),
    ("port_extremes", "rule add dport 0 action drop\nrule add dport 65535 action drop\n", [
        ("port 0", udp(dport=0), "XDP_DROP", 1),
        ("port 65535", udp(dport=65535), "XDP_DROP", 2),
        ("port 1", udp(dport=1), "XDP_PASS", "policy"),
    ]),
    ("icmp_type_code", "rule add proto icmp icmp-type 3/4 action pass\nrule add proto icmp icmp-type 3 action drop\nrule add proto icmpv6 icmp-type 128 action drop\n", [
        ("3/4 passes first", icmp4(3, 4), "XDP_PASS", 1),
        ("3/1 dropped by type", icmp4(3, 1), "XDP_DROP", 2),
        ("echo v4", icmp4(8), "XDP_PASS", "policy"),
        ("echo v6", E() / IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(), "XDP_DROP", 3),
    ]),
    ("vlan", "rule add vlan 100 action drop\nrule add vlan none proto udp action drop\n", [
        ("vlan 100", E() / Dot1Q(vlan=100) / IP(src=A4, dst=B4) / TCP(), "XDP_DROP", 1),
        ("vlan 101", E() / Dot1Q(vlan=101) / IP(src=A4, dst=B4) / TCP(), "XDP_PASS", "policy"),
        ("qinq outer 100", E() / Dot1AD(vlan=100) / Dot1Q(vlan=5) / IP(src=A4, dst=B4) / TCP(), "XDP_DROP", 1),
        ("qinq inner 100 only", E() / Dot1AD(vlan=5) / Dot1Q(vlan=100) / IP(src=A4, dst=B4) / TCP(), "XDP_PASS", "policy"),
        ("old qinq 0x9100 outer 100", E(type=0x9100) / Dot1Q(vlan=100) / Dot1Q(vlan=5) / IP(src=A4, dst=B4) / TCP(), "XDP_DROP", 1),
        ("untagged udp", udp(), "XDP_DROP", 2),
        ("tagged udp", E() / Dot1Q(vlan=7) / IP(src=A4, dst=B4) / UDP(), "XDP_PASS", "policy"),
        ("arp on vlan 100: a rule says so", E() / Dot1Q(vlan=100) / ARP(), "XDP_DROP", 1),
    ]),
    ("fragments", "rule add proto udp dport 53 action drop\nrule add frag later action drop\nrule add frag first proto tcp action drop\n", [
        ("unfragmented", udp(), "XDP_DROP", 1),
        ("first fragment has ports", udp(flags="MF"), "XDP_DROP", 1),
        ("later fragment: no ports, frag later", E() / IP(src=A4, dst=B4, frag=10, proto=17) / Raw(b"x" * 16), "XDP_DROP", 2),
        ("first tcp fragment", tcp(flags="MF"), "XDP_DROP", 3),
        ("unfragmented tcp", tcp(), "XDP_PASS", "policy"),
        ("v6 later fragment", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(offset=5, nh=17) / Raw(b"x" * 16), "XDP_DROP", 2),
        ("v6 first fragment", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(m=1, offset=0) / UDP(dport=53), "XDP_DROP", 1),
        # later fragments whose payload looks like a DNS header: the ports
        # must not be read (offset bit 12 in IPv4, offset 1 in IPv6)
        ("later fragment, offset 0x1000", E() / IP(src=A4, dst=B4, flags="MF", frag=0x1000, proto=17) / Raw(b"\x00\x35\x00\x35" + bytes(20)), "XDP_DROP", 2),
        ("v6 later fragment, offset 1", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(m=1, offset=1, nh=17) / Raw(b"\x00\x35\x00\x35" + bytes(20)), "XDP_DROP", 2),
    ]),
    ("precedence_first_match_wins", "rule add proto tcp dport 22 src 10.0.0.0/8 action pass\nrule add proto tcp dport 22 action drop\nrule add proto tcp action pass\npolicy drop\n", [
        ("ssh from 10/8", tcp(src="10.9.9.9", dport=22), "XDP_PASS", 1),
        ("ssh elsewhere", tcp(dport=22), "XDP_DROP", 2),
        ("other tcp", tcp(dport=443), "XDP_PASS", 3),
        ("udp falls to policy drop", udp(), "XDP_DROP", "policy"),
        ("arp passes despite policy drop", arp(), "XDP_PASS", "nonip"),
    ]),
    ("sets_vs_prefixes", "set add bl 203.0.113.0/24 203.0.113.128/25 198.18.0.1 2001:db8:bad::/48\nrule add src @bl action drop\nrule add dst @bl proto udp action pass\nrule add src 198.18.0.0/15 action pass\npolicy drop\n", [
        ("v4 member /24", tcp(src="203.0.113.5"), "XDP_DROP", 1),
        ("nested /25", tcp(src="203.0.113.200"), "XDP_DROP", 1),
        ("single host", tcp(src="198.18.0.1"), "XDP_DROP", 1),
        ("neighbour of the host: prefix rule", tcp(src="198.18.0.2"), "XDP_PASS", 3),
        ("v6 member", tcp6(src="2001:db8:bad::1"), "XDP_DROP", 1),
        ("dst in set, udp", udp(dst="203.0.113.9"), "XDP_PASS", 2),
        ("dst in set, tcp", tcp(dst="203.0.113.9"), "XDP_DROP", "policy"),
        ("not in set", tcp(src="203.0.114.1"), "XDP_DROP", "policy"),
    ]),
    ("ipv4_options_and_ipv6_chains", "rule add proto udp dport 5000 action drop\n", [
        ("ipv4 options", udp(dport=5000, options=[IPOption_NOP()] * 8), "XDP_DROP", 1),
        ("hop-by-hop", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / UDP(dport=5000), "XDP_DROP", 1),
        ("routing", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrRouting() / UDP(dport=5000), "XDP_DROP", 1),
        ("dest opts x2", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / UDP(dport=5000), "XDP_DROP", 1),
        ("ah", E() / IPv6(src=A6, dst=B6) / AH(nh=17, payloadlen=2, icv=bytes(4)) / UDP(dport=5000), "XDP_DROP", 1),
        ("other port", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / UDP(dport=5001), "XDP_PASS", "policy"),
    ]),
    ("unusable_default_pass", "rule add action drop\n", [
        ("bad ihl passes unseen", bad_ihl(), "XDP_PASS", "unusable"),
        ("cut tcp passes unseen", cut_tcp(), "XDP_PASS", "unusable"),
        ("too many vlans", deep_vlan(), "XDP_PASS", "unusable"),
        ("ok frame hits the rule", udp(), "XDP_DROP", 1),
        ("arp hits a match-all rule", arp(), "XDP_DROP", 1),
    ]),
    ("unusable_per_class", "policy unusable malformed drop\npolicy unusable too-deep drop\n", [
        ("malformed dropped", bad_ihl(), "XDP_DROP", "unusable"),
        ("truncated still passes", cut_tcp(), "XDP_PASS", "unusable"),
        ("too deep dropped", deep_vlan(), "XDP_DROP", "unusable"),
        ("normal", udp(), "XDP_PASS", "policy"),
    ]),
    ("empty_config_passes_everything", "", [
        ("tcp", tcp(), "XDP_PASS", "policy"),
        ("arp", arp(), "XDP_PASS", "nonip"),
        ("unusable", bad_ihl(), "XDP_PASS", "unusable"),
    ]),
    ("all_fields_together", "rule add src 10.0.0.0/8 dst 10.1.0.0/16 proto tcp sport 1024-65535 dport 443 vlan 42 frag none action drop\n", [
        ("everything matches", E() / Dot1Q(vlan=42) / IP(src="10.2.0.1", dst="10.1.0.9") / TCP(sport=5000, dport=443), "XDP_DROP", 1),
        ("wrong vlan", E() / Dot1Q(vlan=43) / IP(src="10.2.0.1", dst="10.1.0.9") / TCP(sport=5000, dport=443), "XDP_PASS", "policy"),
        ("low sport", E() / Dot1Q(vlan=42) / IP(src="10.2.0.1", dst="10.1.0.9") / TCP(sport=80, dport=443), "XDP_PASS", "policy"),
        ("first fragment", E() / Dot1Q(vlan=42) / IP(src="10.2.0.1", dst="10.1.0.9", flags="MF") / TCP(sport=5000, dport=443), "XDP_PASS", "policy"),
        ("dst outside", E() / Dot1Q(vlan=42) / IP(src="10.2.0.1", dst="10.2.0.9") / TCP(sport=5000, dport=443), "XDP_PASS", "policy"),
    ]),
]

SOURCE_KEYS = {"policy": "policy", "unusable": "unusable", "nonip": "nonip"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_case(pin_dir, case):
    name, config, packets = case
    fw = Firewall(pin_dir)
    fw.load(config)
    verdicts, summary = fw.replay([p[1] for p in packets])
    got = list(zip([p[0] for p in packets], verdicts))
    want = [(p[0], p[2]) for p in packets]
    assert got == want

    ts = table_stats(summary)
    # Per rule hits, by position.
    hits = collections.Counter(p[3] for p in packets if isinstance(p[3], int))
    assert {r["pos"]: r["packets"] for r in ts["rules"]} == \
        {r["pos"]: hits.get(r["pos"], 0) for r in ts["rules"]}
    # Per verdict source.
    for src in SOURCE_KEYS.values():
        for act in ("pass", "drop"):
            key = f"{src}_{act}"
            if key not in ts["verdicts"]:
                continue
            n = sum(1 for p in packets if p[3] == src and p[2] == f"XDP_{act.upper()}")
            assert ts["verdicts"][key]["packets"] == n, key
    n_rule = sum(1 for p in packets if isinstance(p[3], int))
    assert ts["verdicts"]["rule_pass"]["packets"] + ts["verdicts"]["rule_drop"]["packets"] == n_rule


def test_reason_counters(pin_dir):
    fw = Firewall(pin_dir)
    _, summary = fw.replay([bad_ihl(), bad_ihl(), cut_tcp(), arp(), deep_vlan()])
    reasons = {k: v["packets"] for k, v in table_stats(summary)["reasons"].items()}
    assert reasons == {"ipv4-bad-ihl": 2, "tcp-truncated": 1, "non-ip": 1, "vlan-too-deep": 1}


def test_insert_position_changes_precedence(pin_dir):
    fw = Firewall(pin_dir)
    fw.ok("rule", "add", "proto", "tcp", "action", "drop")
    assert fw.verdicts([tcp(dport=22)]) == ["XDP_DROP"]
    fw.ok("rule", "add", "pos", "1", "proto", "tcp", "dport", "22", "action", "pass")
    assert fw.verdicts([tcp(dport=22), tcp(dport=23)]) == ["XDP_PASS", "XDP_DROP"]
    assert [r["pos"] for r in fw.rules()] == [1, 2]


def test_many_rules_last_one_matches(pin_dir):
    """4096 rules of distinct /24s; the packet matches only the last one."""
    lines = [f"rule add src 10.{i // 256}.{i % 256}.0/24 proto udp action drop" for i in range(4095)]
    lines.append("rule add src 172.16.0.0/12 proto udp dport 53 action drop")
    fw = Firewall(pin_dir)
    fw.load("\n".join(lines) + "\n")
    frames = [udp(src="172.16.5.5"), udp(src="172.16.5.5", dport=54),
              udp(src="10.15.254.1"), udp(src="10.15.255.1"), udp(src="10.0.0.1")]
    verdicts, summary = fw.replay(frames)
    assert verdicts == ["XDP_DROP", "XDP_PASS", "XDP_DROP", "XDP_PASS", "XDP_DROP"]
    ts = table_stats(summary)
    hits = {r["pos"]: r["packets"] for r in ts["rules"] if r["packets"]}
    assert hits == {4096: 1, 4095: 1, 1: 1}
    assert ts["rules_count"] == 4096
