# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Decode what tests/progs/parser_probe.c prepends to each packet.

Mirrors struct ns_flow (include/netsieve/flow.h) and the reason table
(include/netsieve/reasons.h), which is read from the header itself so the
tests and the C code cannot drift apart.
"""
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE_MAGIC = 0x4C46534E
FLOW_VERSION = 4
FLOW_FMT = "=HHHBBBBBBBBBBHHHHHHHHB3sI16s16s"
FLOW_FIELDS = ("reason eth_proto flags l3 l4_proto frag vlan_depth ip6_ext "
               "tcp_flags icmp_type icmp_code tos ttl vlan_outer vlan_inner "
               "sport dport l3_off l4_off payload_off ip_end http _pad hash saddr "
               "daddr").split()
FLOW_SIZE = struct.calcsize(FLOW_FMT)
HDR_SIZE = 8 + FLOW_SIZE


def reasons():
    """{number: (ID, name, class)} from include/netsieve/reasons.h."""
    with open(os.path.join(ROOT, "include/netsieve/reasons.h")) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r'X\((\d+),\s*(\w+),\s*"([^"]+)",\s*(\w+),', text):
        out[int(m.group(1))] = (m.group(2), m.group(3), m.group(4))
    return out


REASONS = reasons()
REASON_BY_NAME = {v[1]: k for k, v in REASONS.items()}


def decode(frame: bytes, keep_hash=False):
    """(flow dict, original frame) from one probe output frame.  The flow
    cache's slot hash (an implementation detail) is left out unless
    keep_hash."""
    magic, version, size = struct.unpack("=IHH", frame[:8])
    assert magic == PROBE_MAGIC, "not a probe record"
    assert version == FLOW_VERSION, f"flow version {version}"
    assert size == FLOW_SIZE, f"ns_flow is {size} bytes, tests expect {FLOW_SIZE}"
    vals = struct.unpack(FLOW_FMT, frame[8:HDR_SIZE])
    flow = dict(zip(FLOW_FIELDS, vals))
    flow.pop("_pad")
    if not keep_hash:
        flow.pop("hash")
    assert flow.pop("http") == 0, "the parser never sets http"
    flow["reason"] = REASONS[flow["reason"]][1]
    return flow, frame[HDR_SIZE:]


F_PORTS, F_ICMP = 0x1, 0x2


def slot_hash(flow):
    """What the parser folds into struct ns_flow.hash (parser.h): 0 for an
    unusable or non-IP frame; else the addresses (32-bit words as loaded on
    a little-endian machine, the destination's rotated by 16), the L4
    protocol << 8, the outer VID << 20, and the ports (both 16-bit fields as
    one word) or ICMP type << 16 and code << 24 when the flow has them."""
    if flow["reason"] != "ok":
        return 0

    def fold(addr):
        n = 4 if flow["l3"] == 4 else 16
        x = 0
        for i in range(0, n, 4):
            x ^= struct.unpack_from("<I", addr, i)[0]
        return x

    rol16 = lambda x: ((x << 16) | (x >> 16)) & 0xffffffff
    h = fold(flow["saddr"]) ^ rol16(fold(flow["daddr"])) ^ flow["l4_proto"] << 8
    if flow["vlan_depth"]:
        h ^= flow["vlan_outer"] << 20
    if flow["flags"] & F_PORTS:
        h ^= struct.unpack("<I", struct.pack(">HH", flow["sport"], flow["dport"]))[0]
    if flow["flags"] & F_ICMP:
        h ^= flow["icmp_type"] << 16 | flow["icmp_code"] << 24
    return h
