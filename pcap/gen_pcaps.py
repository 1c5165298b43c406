#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Write netsieve's committed test captures, deterministically.

    /usr/bin/python3 pcap/gen_pcaps.py [--out DIR]

Every capture is built with scapy from fixed values (no randomness, fixed
timestamps), so regenerating gives the same bytes; tests/test_pcaps.py checks
that.  Besides writing files, this module is imported by the tests: each
parser case carries the flow description the parser must produce.
"""
import argparse
import os
import struct
import sys

from scapy.all import (ARP, Dot1AD, Dot1Q, Dot3, Ether, ICMP, ICMPv6EchoRequest,
                       ICMPv6DestUnreach, IP, IPOption_NOP, IPOption_RR, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, Raw, SCTP, TCP, UDP, conf)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import LLC, SNAP

conf.verb = 0

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1700000000  # fixed capture timestamps

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"
V4_A, V4_B = "192.0.2.10", "198.51.100.20"
V6_A, V6_B = "2001:db8::a", "2001:db8:1::b"

# Test envelope understood by tests/progs/parser_probe.c: a frame with this
# (IEEE local experimental) ethertype carries, after its 14-byte header, the
# frame to parse.  It lets tests feed the parser frames shorter than the 14
# bytes BPF_PROG_TEST_RUN accepts.
ENVELOPE_ETHERTYPE = 0x88b5


def eth(**kw):
    return Ether(src=MAC_A, dst=MAC_B, **kw)


def envelope(inner: bytes) -> bytes:
    return bytes(Ether(src=MAC_A, dst=MAC_B, type=ENVELOPE_ETHERTYPE)) + inner


# ---------------------------------------------------------------------------
# Parser cases: (name, frame bytes, expected fields).  The expected flow is
# built from the scapy layers we assembled (offsets, addresses, ports), then
# adjusted by the explicit dict.  Field names follow struct ns_flow.
# ---------------------------------------------------------------------------

F_PORTS, F_ICMP, F_TCP, F_IP4_OPTS = 0x1, 0x2, 0x4, 0x8
F_IP6_EXT, F_FRAG_HDR, F_SHORT, F_LEN0 = 0x10, 0x20, 0x40, 0x80
F_HW_VLAN, F_DF, F_PAYLOAD = 0x100, 0x200, 0x400

IP6_EXT_LAYERS = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt,
                  IPv6ExtHdrFragment, AH)


def _v4(a):
    return bytes(int(x) for x in a.split(".")) + bytes(12)


def _v6(a):
    import socket
    return socket.inet_pton(socket.AF_INET6, a)


def derive(pkt):
    """Expected ns_flow fields for a well-formed scapy packet."""
    e = dict(reason="ok", eth_proto=0, flags=0, l3=0, l4_proto=0, frag=0,
             vlan_depth=0, ip6_ext=0, tcp_flags=0, icmp_type=0, icmp_code=0,
             tos=0, ttl=0, vlan_outer=0, vlan_inner=0, sport=0, dport=0,
             l3_off=0, l4_off=0, payload_off=0, ip_end=0,
             saddr=bytes(16), daddr=bytes(16))
    raw = bytes(pkt)
    off = 14
    layer = pkt[Ether].payload
    e["eth_proto"] = pkt[Ether].type
    tags = []
    while isinstance(layer, (Dot1Q, Dot1AD)):
        tags.append(layer.vlan)
        e["eth_proto"] = layer.type
        off += 4
        layer = layer.payload
    if tags:
        e.update(vlan_depth=len(tags), vlan_outer=tags[0], vlan_inner=tags[-1])
    if isinstance(layer, IP):
        ip = layer
        hl = ip.ihl * 4 if ip.ihl else len(bytes(ip)) - len(bytes(ip.payload))
        e.update(l3=4, l3_off=off, tos=ip.tos, ttl=ip.ttl, l4_proto=ip.proto,
                 saddr=_v4(ip.src), daddr=_v4(ip.dst))
        if hl > 20:
            e["flags"] |= F_IP4_OPTS
        tot = struct.unpack("!H", raw[off + 2:off + 4])[0]
        avail = len(raw) - off
        if tot == 0:
            e["flags"] |= F_LEN0
            tot = avail
        elif tot > avail:
            e["flags"] |= F_SHORT
            tot = avail
        e["ip_end"] = off + tot
        fl = struct.unpack("!H", raw[off + 6:off + 8])[0]
        if fl & 0x4000:
            e["flags"] |= F_DF
        if fl & 0x1fff:
            e["frag"] = 2
        elif fl & 0x2000:
            e["frag"] = 1
        off += hl
        layer = ip.payload
    elif isinstance(layer, IPv6):
        ip6 = layer
        e.update(l3=6, l3_off=off, tos=ip6.tc, ttl=ip6.hlim,
                 saddr=_v6(ip6.src), daddr=_v6(ip6.dst), l4_proto=ip6.nh)
        plen = struct.unpack("!H", raw[off + 4:off + 6])[0]
        avail = len(raw) - off - 40
        if plen == 0:
            e["flags"] |= F_LEN0
            plen = avail
        elif plen > avail:
            e["flags"] |= F_SHORT
            plen = avail
        e["ip_end"] = off + 40 + plen
        off += 40
        layer = ip6.payload
        while isinstance(layer, IP6_EXT_LAYERS) or type(layer).__name__.startswith("MIP6MH"):
            if type(layer).__name__.startswith("MIP6MH"):
                hlen = (raw[off + 1] + 1) * 8
                nh = raw[off]
            elif isinstance(layer, AH):
                hlen = (raw[off + 1] + 2) * 4
                nh = raw[off]
            elif isinstance(layer, IPv6ExtHdrFragment):
                hlen = 8
                nh = raw[off]
            else:
                hlen = (raw[off + 1] + 1) * 8
                nh = raw[off]
            e["ip6_ext"] += 1
            e["flags"] |= F_IP6_EXT
            e["l4_proto"] = nh
            if isinstance(layer, IPv6ExtHdrFragment):
                e["flags"] |= F_FRAG_HDR
                if layer.offset:
                    e["frag"] = 2
                    off += hlen
                    return e
                if layer.m:
                    e["frag"] = 1
            off += hlen
            layer = layer.payload
    else:
        e["reason"] = "non-ip"
        return e
    if e["frag"] == 2:
        return e
    e["l4_off"] = off
    if isinstance(layer, TCP):
        e.update(sport=layer.sport, dport=layer.dport,
                 tcp_flags=int(layer.flags))
        e["flags"] |= F_PORTS | F_TCP | F_PAYLOAD
        e["payload_off"] = off + (raw[off + 12] >> 4) * 4
    elif isinstance(layer, UDP):
        e.update(sport=layer.sport, dport=layer.dport)
        e["flags"] |= F_PORTS | F_PAYLOAD
        e["payload_off"] = off + 8
    elif isinstance(layer, SCTP):
        e.update(sport=layer.sport, dport=layer.dport)
        e["flags"] |= F_PORTS | F_PAYLOAD
        e["payload_off"] = off + 12
    elif (isinstance(layer, ICMP) and e["l3"] == 4) or \
            (e["l3"] == 6 and e["l4_proto"] == 58):
        e.update(icmp_type=raw[off], icmp_code=raw[off + 1])
        e["flags"] |= F_ICMP | F_PAYLOAD
        e["payload_off"] = off + 8
    return e


def _case(name, pkt, **exp):
    """A case whose expectation starts from derive(pkt)."""
    e = derive(pkt)
    e.update(exp)
    return (name, bytes(pkt), e)


def _raw_case(name, frame, **exp):
    """A case with fully explicit expectations (malformed frames)."""
    e = dict(reason="ok", eth_proto=0, flags=0, l3=0, l4_proto=0, frag=0,
             vlan_depth=0, ip6_ext=0, tcp_flags=0, icmp_type=0, icmp_code=0,
             tos=0, ttl=0, vlan_outer=0, vlan_inner=0, sport=0, dport=0,
             l3_off=0, l4_off=0, payload_off=0, ip_end=0,
             saddr=bytes(16), daddr=bytes(16))
    e.update(exp)
    return (name, frame, e)


def _ip4_frame(ip_bytes, vlan=None):
    hdr = eth(type=0x0800)
    if vlan is not None:
        hdr = eth() / Dot1Q(vlan=vlan, type=0x0800)
    return bytes(hdr) + ip_bytes


def _ip4_hdr(proto=6, ihl=5, tot=None, version=4, payload=b"", frag=0,
             opts=b""):
    tot = (ihl * 4 + len(payload)) if tot is None else tot
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, tot, 1, frag,
                    64, proto, 0, bytes([192, 0, 2, 10]),
                    bytes([198, 51, 100, 20]))
    return h + opts + payload


def _v4base(**kw):
    """Expected fields common to the handmade IPv4 frames above."""
    e = dict(l3=4, l3_off=14, ttl=64, eth_proto=0x0800,
             saddr=_v4(V4_A), daddr=_v4(V4_B))
    e.update(kw)
    return e


def parser_cases():
    c = []
    tcp_pl = Raw(b"GET / HTTP/1.1\r\n\r\n")
    # --- IPv4 -------------------------------------------------------------
    c.append(_case("ipv4_tcp", eth() / IP(src=V4_A, dst=V4_B) /
                   TCP(sport=40000, dport=80, flags="S") / tcp_pl))
    c.append(_case("ipv4_tcp_options", eth() / IP(src=V4_A, dst=V4_B) /
                   TCP(sport=40001, dport=443, flags="SA",
                       options=[("MSS", 1460), ("SAckOK", b""),
                                ("Timestamp", (1, 2)), ("WScale", 7)]) / tcp_pl))
    c.append(_case("ipv4_udp", eth() / IP(src=V4_A, dst=V4_B) /
                   UDP(sport=5353, dport=53) / Raw(b"\x00" * 12)))
    c.append(_case("ipv4_sctp", eth() / IP(src=V4_A, dst=V4_B) /
                   SCTP(sport=3868, dport=3868)))
    c.append(_case("ipv4_icmp_echo", eth() / IP(src=V4_A, dst=V4_B) /
                   ICMP(type=8, code=0) / Raw(b"ping")))
    c.append(_case("ipv4_icmp_unreach", eth() / IP(src=V4_A, dst=V4_B) /
                   ICMP(type=3, code=3) / Raw(bytes(28))))
    c.append(_case("ipv4_options_rr", eth() /
                   IP(src=V4_A, dst=V4_B, options=[IPOption_RR(routers=["1.2.3.4"])]) /
                   TCP(sport=1, dport=22)))
    c.append(_case("ipv4_options_max_ihl15", eth() /
                   IP(src=V4_A, dst=V4_B, options=[IPOption_NOP()] * 40) /
                   UDP(sport=67, dport=68)))
    c.append(_case("ipv4_frag_first", eth() /
                   IP(src=V4_A, dst=V4_B, flags="MF", frag=0, proto=17) /
                   UDP(sport=1000, dport=2000) / Raw(bytes(64))))
    c.append(_case("ipv4_frag_later_udp", eth() /
                   IP(src=V4_A, dst=V4_B, frag=185, proto=17) / Raw(bytes(40))))
    c.append(_case("ipv4_frag_later_tcp_mf", eth() /
                   IP(src=V4_A, dst=V4_B, flags="MF", frag=3, proto=6) /
                   Raw(bytes(24))))
    # offset bit 12 (0x1000 * 8 bytes): a later fragment, whatever the low bits
    c.append(_case("ipv4_frag_later_offset_bit12", eth() /
                   IP(src=V4_A, dst=V4_B, flags="MF", frag=4096, proto=17) /
                   Raw(b"\x00\x35\x00\x35" + bytes(20))))
    # a header and nothing else (total length 20), bare and padded to 60 bytes
    bare = eth() / IP(src=V4_A, dst=V4_B, proto=59)
    c.append(_case("ipv4_header_only", bare))
    c.append(_case("ipv4_header_only_padded", Ether(bytes(bare) + bytes(26))))
    c.append(_case("ipv4_df_tos_ttl", eth() /
                   IP(src=V4_A, dst=V4_B, flags="DF", tos=0xb8, ttl=3) /
                   TCP(sport=5000, dport=5001, flags="PA")))
    c.append(_case("ipv4_gre_no_ports", eth() /
                   IP(src=V4_A, dst=V4_B, proto=47) / Raw(bytes(24))))
    c.append(_case("ipv4_icmpv6_number_in_v4", eth() /
                   IP(src=V4_A, dst=V4_B, proto=58) / Raw(bytes(8))))
    p = eth() / IP(src=V4_A, dst=V4_B, len=0) / TCP(sport=7, dport=9)
    c.append(_case("ipv4_totlen_zero_tso", p))
    p = eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=9, dport=7) / Raw(bytes(200))
    c.append(_case("ipv4_snaplen_cut", Ether(bytes(p)[:60])))
    p = eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=11, dport=12)
    c.append(_case("ipv4_eth_padding", Ether(bytes(p) + bytes(18))))
    # --- VLAN -------------------------------------------------------------
    c.append(_case("vlan_tcp", eth() / Dot1Q(vlan=100) /
                   IP(src=V4_A, dst=V4_B) / TCP(sport=2222, dport=22)))
    c.append(_case("qinq_88a8_8100_udp", eth() / Dot1AD(vlan=200) /
                   Dot1Q(vlan=300) / IP(src=V4_A, dst=V4_B) /
                   UDP(sport=123, dport=123)))
    c.append(_case("qinq_8100_8100_ipv6", eth() / Dot1Q(vlan=4094) /
                   Dot1Q(vlan=1) / IPv6(src=V6_A, dst=V6_B) /
                   TCP(sport=3333, dport=443)))
    c.append(_case("qinq_9100_8100_tcp", eth(type=0x9100) / Dot1Q(vlan=500) /
                   Dot1Q(vlan=600) / IP(src=V4_A, dst=V4_B) /
                   TCP(sport=4444, dport=80)))
    c.append(_case("vlan_9100_single_udp", eth(type=0x9100) / Dot1Q(vlan=9) /
                   IPv6(src=V6_A, dst=V6_B) / UDP(sport=5, dport=6)))
    c.append(_case("vlan_arp_non_ip", eth() / Dot1Q(vlan=7) /
                   ARP(psrc=V4_A, pdst=V4_B)))
    c.append(_case("vlan_prio_bits_ignored", eth() / Dot1Q(prio=5, vlan=42) /
                   IP(src=V4_A, dst=V4_B) / UDP(sport=1, dport=2)))
    # --- Non-IP -----------------------------------------------------------
    c.append(_case("arp_non_ip", eth() / ARP(psrc=V4_A, pdst=V4_B)))
    c.append(_case("lldp_non_ip", Ether(src=MAC_A, dst="01:80:c2:00:00:0e",
                                          type=0x88cc) / Raw(bytes(30))))
    c.append(_raw_case("llc_8023_length_non_ip",
                       bytes(Dot3(src=MAC_A, dst=MAC_B) / LLC() / SNAP() /
                             Raw(bytes(20))),
                       reason="non-ip", eth_proto=28))
    # --- IPv6 -------------------------------------------------------------
    c.append(_case("ipv6_tcp", eth() / IPv6(src=V6_A, dst=V6_B, tc=0x28, hlim=33) /
                   TCP(sport=50000, dport=8080, flags="S")))
    c.append(_case("ipv6_udp", eth() / IPv6(src=V6_A, dst=V6_B) /
                   UDP(sport=546, dport=547) / Raw(bytes(10))))
    c.append(_case("ipv6_sctp", eth() / IPv6(src=V6_A, dst=V6_B) /
                   SCTP(sport=9, dport=10)))
    c.append(_case("ipv6_icmpv6_echo", eth() / IPv6(src=V6_A, dst=V6_B) /
                   ICMPv6EchoRequest(id=1, seq=2)))
    c.append(_case("ipv6_icmpv6_unreach", eth() / IPv6(src=V6_A, dst=V6_B) /
                   ICMPv6DestUnreach(code=4) / Raw(bytes(48))))
    c.append(_case("ipv6_icmp_number_in_v6", eth() / IPv6(src=V6_A, dst=V6_B, nh=1) /
                   Raw(bytes(8))))
    c.append(_case("ipv6_hbh_udp", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrHopByHop() / UDP(sport=1, dport=2)))
    c.append(_case("ipv6_routing_tcp", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrRouting(addresses=["2001:db8::1", "2001:db8::2"]) /
                   TCP(sport=3, dport=4)))
    c.append(_case("ipv6_dstopts_udp", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrDestOpt() / UDP(sport=5, dport=6)))
    c.append(_case("ipv6_frag_first_udp", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrFragment(m=1, offset=0, id=7) /
                   UDP(sport=7, dport=8) / Raw(bytes(32))))
    c.append(_case("ipv6_frag_later", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrFragment(m=0, offset=100, id=7, nh=17) /
                   Raw(bytes(32))))
    c.append(_case("ipv6_frag_later_offset1", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrFragment(m=1, offset=1, id=7, nh=17) /
                   Raw(b"\x00\x35\x00\x35" + bytes(20))))
    c.append(_case("ipv6_atomic_frag", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrFragment(m=0, offset=0, id=9) /
                   TCP(sport=11, dport=12)))
    c.append(_case("ipv6_ah_tcp", eth() / IPv6(src=V6_A, dst=V6_B) /
                   AH(spi=1, seq=1, icv=bytes(12), nh=6, payloadlen=4) / TCP(sport=13, dport=14)))
    c.append(_raw_case(
        "ipv6_mobility_header",
        bytes(eth() / IPv6(src=V6_A, dst=V6_B, nh=135, plen=16)) +
        bytes([59, 1, 0, 0, 0, 0, 0, 0]) + bytes(8),
        l3=6, l3_off=14, eth_proto=0x86dd, ttl=64, saddr=_v6(V6_A),
        daddr=_v6(V6_B), l4_proto=59, ip6_ext=1, flags=F_IP6_EXT,
        l4_off=70, ip_end=14 + 40 + 16))
    c.append(_case("ipv6_chain_every_type", eth() / IPv6(src=V6_A, dst=V6_B) /
                   IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
                   IPv6ExtHdrRouting() /
                   IPv6ExtHdrFragment(m=1, offset=0) /
                   AH(spi=2, seq=2, icv=bytes(4), nh=6, payloadlen=2) /
                   TCP(sport=15, dport=16)))
    c.append(_case("ipv6_esp_stops", eth() / IPv6(src=V6_A, dst=V6_B, nh=50) /
                   Raw(bytes(24))))
    c.append(_case("ipv6_no_next_header", eth() / IPv6(src=V6_A, dst=V6_B, nh=59)))
    c.append(_case("ipv6_plen_zero", eth() / IPv6(src=V6_A, dst=V6_B, plen=0) /
                   UDP(sport=17, dport=18)))
    p = eth() / IPv6(src=V6_A, dst=V6_B) / TCP(sport=19, dport=20) / Raw(bytes(100))
    c.append(_case("ipv6_snaplen_cut", Ether(bytes(p)[:80])))
    c.append(_case("ipv6_ext_chain_at_limit_8", eth() / IPv6(src=V6_A, dst=V6_B) /
                   (IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() /
                    IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() /
                    IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() /
                    IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()) /
                   UDP(sport=21, dport=22)))
    # --- Unusable frames: every reason code -------------------------------
    c.append(_raw_case("eth_truncated", envelope(bytes(10)),
                       reason="eth-truncated"))
    c.append(_raw_case("vlan_truncated", bytes(eth(type=0x8100)) + b"\x00",
                       reason="vlan-truncated"))
    c.append(_raw_case("qinq_second_tag_truncated",
                       bytes(eth() / Dot1AD(vlan=5, type=0x8100)) + b"\x00\x06",
                       reason="vlan-truncated", vlan_outer=5, vlan_inner=5))
    c.append(_raw_case("vlan_too_deep_3_tags",
                       bytes(eth() / Dot1AD(vlan=1) / Dot1Q(vlan=2) /
                             Dot1Q(vlan=3) / IP(src=V4_A, dst=V4_B)),
                       reason="vlan-too-deep", vlan_depth=2, vlan_outer=1,
                       vlan_inner=2, eth_proto=0x8100))
    c.append(_raw_case("ipv4_truncated", _ip4_frame(_ip4_hdr()[:12]),
                       reason="ipv4-truncated", eth_proto=0x0800))
    c.append(_raw_case("ipv4_bad_version", _ip4_frame(_ip4_hdr(version=6)),
                       reason="ipv4-bad-version", eth_proto=0x0800))
    c.append(_raw_case("ipv4_bad_ihl", _ip4_frame(_ip4_hdr(ihl=4)),
                       reason="ipv4-bad-ihl", eth_proto=0x0800))
    c.append(_raw_case("ipv4_options_truncated",
                       _ip4_frame(_ip4_hdr(ihl=15, opts=b"\x01" * 8)),
                       reason="ipv4-options-truncated", eth_proto=0x0800))
    c.append(_raw_case("ipv4_bad_total_length",
                       _ip4_frame(_ip4_hdr(tot=19, payload=bytes(20))),
                       reason="ipv4-bad-total-length",
                       **_v4base(l4_proto=6)))
    c.append(_raw_case("ipv6_truncated", bytes(eth(type=0x86dd)) + bytes([0x60]) + bytes(30),
                       reason="ipv6-truncated", eth_proto=0x86dd))
    c.append(_raw_case("ipv6_bad_version",
                       bytes(eth(type=0x86dd)) + bytes(IPv6(src=V6_A, dst=V6_B, version=4)),
                       reason="ipv6-bad-version", eth_proto=0x86dd))
    p = eth() / IPv6(src=V6_A, dst=V6_B) / IPv6ExtHdrHopByHop(options=[]) / UDP()
    ext_cut = bytes(p)[:14 + 40 + 5]
    c.append(_raw_case("ipv6_ext_truncated_frame", ext_cut,
                       reason="ipv6-ext-truncated", l3=6, l3_off=14,
                       eth_proto=0x86dd, ttl=64, saddr=_v6(V6_A),
                       daddr=_v6(V6_B), l4_proto=0, flags=F_SHORT,
                       ip_end=len(ext_cut)))
    p = eth() / IPv6(src=V6_A, dst=V6_B, plen=4) / IPv6ExtHdrDestOpt() / UDP()
    c.append(_raw_case("ipv6_ext_truncated_by_plen", bytes(p),
                       reason="ipv6-ext-truncated", l3=6, l3_off=14,
                       eth_proto=0x86dd, ttl=64, saddr=_v6(V6_A),
                       daddr=_v6(V6_B), l4_proto=60, ip_end=14 + 40 + 4))
    deep = IPv6ExtHdrDestOpt()
    for _ in range(8):
        deep = deep / IPv6ExtHdrDestOpt()
    p = eth() / IPv6(src=V6_A, dst=V6_B) / deep / UDP(sport=1, dport=2)
    c.append(_raw_case("ipv6_ext_too_deep_9", bytes(p),
                       reason="ipv6-ext-too-deep", l3=6, l3_off=14,
                       eth_proto=0x86dd, ttl=64, saddr=_v6(V6_A),
                       daddr=_v6(V6_B), l4_proto=60, ip6_ext=8,
                       flags=F_IP6_EXT, ip_end=len(bytes(p))))
    c.append(_raw_case("tcp_truncated",
                       _ip4_frame(_ip4_hdr(proto=6, payload=bytes(10))),
                       reason="tcp-truncated", l4_off=34,
                       **_v4base(l4_proto=6, ip_end=14 + 30)))
    tcp4 = struct.pack("!HHIIBBHHH", 1, 2, 0, 0, 4 << 4, 2, 0, 0, 0)
    c.append(_raw_case("tcp_bad_doff", _ip4_frame(_ip4_hdr(proto=6, payload=tcp4)),
                       reason="tcp-bad-doff", l4_off=34, sport=1, dport=2,
                       tcp_flags=2, flags=F_PORTS | F_TCP,
                       **_v4base(l4_proto=6, ip_end=14 + 40)))
    tcp15 = struct.pack("!HHIIBBHHH", 3, 4, 0, 0, 15 << 4, 0x18, 0, 0, 0) + bytes(8)
    c.append(_raw_case("tcp_options_truncated",
                       _ip4_frame(_ip4_hdr(proto=6, payload=tcp15)),
                       reason="tcp-options-truncated", l4_off=34, sport=3,
                       dport=4, tcp_flags=0x18, flags=F_PORTS | F_TCP,
                       **_v4base(l4_proto=6, ip_end=14 + 48)))
    c.append(_raw_case("udp_truncated",
                       _ip4_frame(_ip4_hdr(proto=17, payload=bytes(6))),
                       reason="udp-truncated", l4_off=34,
                       **_v4base(l4_proto=17, ip_end=14 + 26)))
    c.append(_raw_case("udp_truncated_by_total_length",
                       _ip4_frame(_ip4_hdr(proto=17, tot=24, payload=bytes(16))),
                       reason="udp-truncated", l4_off=34,
                       **_v4base(l4_proto=17, ip_end=14 + 24)))
    c.append(_raw_case("sctp_truncated",
                       _ip4_frame(_ip4_hdr(proto=132, payload=bytes(8))),
                       reason="sctp-truncated", l4_off=34,
                       **_v4base(l4_proto=132, ip_end=14 + 28)))
    c.append(_raw_case("icmp_truncated",
                       _ip4_frame(_ip4_hdr(proto=1, payload=bytes([8, 0, 0]))),
                       reason="icmp-truncated", l4_off=34,
                       **_v4base(l4_proto=1, ip_end=14 + 23)))
    p = bytes(eth() / IPv6(src=V6_A, dst=V6_B, nh=58, plen=4)) + bytes([128, 0, 0, 0])
    c.append(_raw_case("icmpv6_truncated", p, reason="icmpv6-truncated",
                       l3=6, l3_off=14, eth_proto=0x86dd, ttl=64,
                       saddr=_v6(V6_A), daddr=_v6(V6_B), l4_proto=58,
                       l4_off=54, ip_end=58))
    return c


# ---------------------------------------------------------------------------
# Other captures.
# ---------------------------------------------------------------------------

def seed_packets():
    """The seed example's table (tests/test_seed.py holds the verdicts)."""
    return [
        eth() / IP(src=V4_A, dst=V4_B) / TCP(sport=40000, dport=80, flags="S"),
        eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=5353, dport=53) / Raw(b"q"),
        eth() / IP(src=V4_A, dst=V4_B) / TCP(sport=40001, dport=9090, flags="S"),
        eth() / IP(src=V4_A, dst=V4_B) / ICMP() / Raw(b"ping"),
        eth() / ARP(psrc=V4_A, pdst=V4_B),
        eth() / IPv6(src=V6_A, dst=V6_B) / TCP(sport=40002, dport=22),
        eth() / IPv6(src=V6_A, dst=V6_B) / IPv6ExtHdrHopByHop() /
        TCP(sport=40003, dport=9090),
        eth() / Dot1Q(vlan=10) / IP(src=V4_A, dst=V4_B) / TCP(sport=40004, dport=9090),
        eth() / IP(src=V4_A, dst=V4_B, options=[IPOption_NOP()] * 4) /
        UDP(sport=1, dport=9090),
        eth() / IP(src=V4_A, dst=V4_B, frag=100, proto=6) / Raw(bytes(16)),
        eth() / IPv6(src=V6_A, dst=V6_B) / UDP(sport=2, dport=53),
        Ether(_ip4_frame(_ip4_hdr(ihl=4))),
    ]


def demo_packets():
    """A small mixed capture for the quick start's replay."""
    pk = []
    for i in range(4):
        pk.append(eth() / IP(src=V4_A, dst=V4_B) / TCP(sport=41000 + i, dport=443, flags="S"))
    for i in range(3):
        pk.append(eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=42000 + i, dport=53) / Raw(b"dns"))
    pk.append(eth() / IP(src=V4_A, dst=V4_B) / TCP(sport=43000, dport=9090, flags="S"))
    pk.append(eth() / IPv6(src=V6_A, dst=V6_B) / TCP(sport=43001, dport=9090, flags="S"))
    pk.append(eth() / IP(src=V4_A, dst=V4_B) / ICMP() / Raw(b"ping"))
    pk.append(eth() / ARP(psrc=V4_A, pdst=V4_B))
    return pk


def odd_size_frames():
    """Frames test-run refuses: a runt and a jumbo, around normal ones."""
    ok = bytes(eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=1, dport=2))
    jumbo = bytes(eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=3, dport=4) /
                  Raw(bytes(9000 - 42)))
    return [ok, bytes(10), jumbo, ok]


def _write(path, frames, linktype=1):
    """Classic little-endian pcap, microsecond timestamps T0 + i."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, linktype))
        for i, fr in enumerate(frames):
            data = bytes(fr)
            f.write(struct.pack("<IIII", T0 + i, i * 1000, len(data), len(data)))
            f.write(data)


def _write_pcapng(path, frames):
    """Minimal pcapng: section header, one Ethernet interface, packets."""
    def block(btype, body):
        body += bytes(-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(0x00000001, struct.pack("<HHI", 1, 0, 262144))
    for i, fr in enumerate(frames):
        data = bytes(fr)
        ts = (T0 + i) * 1000000 + i * 1000
        out += block(0x00000006, struct.pack("<IIIII", 0, ts >> 32, ts & 0xffffffff,
                                             len(data), len(data)) + data)
    with open(path, "wb") as f:
        f.write(out)


def write_all(out):
    os.makedirs(out, exist_ok=True)
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)
    _write(os.path.join(out, "parser_cases.pcap"),
           [f for _, f, _ in parser_cases()])
    _write(os.path.join(out, "seed.pcap"), seed_packets())
    _write(os.path.join(out, "demo.pcap"), demo_packets())
    _write_pcapng(os.path.join(out, "seed.pcapng"), seed_packets())
    _write(os.path.join(out, "bad", "odd_sizes.pcap"), odd_size_frames())
    # IPv4 without a link layer: DLT_RAW (linktype 101 in the file header).
    _write(os.path.join(out, "bad", "raw_ip_linktype.pcap"),
           [bytes(IP(src=V4_A, dst=V4_B) / UDP(sport=1, dport=2))], linktype=101)
    # A capture cut in the middle of its second packet record.
    full = os.path.join(out, "bad", "odd_sizes.pcap")
    with open(full, "rb") as f:
        data = f.read()
    first_len = struct.unpack("<I", data[24 + 8:24 + 12])[0]
    cut = 24 + 16 + first_len + 16 + 3
    with open(os.path.join(out, "bad", "truncated.pcap"), "wb") as f:
        f.write(data[:cut])
    with open(os.path.join(out, "bad", "not_a_capture.pcap"), "wb") as f:
        f.write(b"this is not a capture file\n" * 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=HERE, help="directory (default: pcap/)")
    args = ap.parse_args()
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
