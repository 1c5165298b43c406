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
FLOW_VERSION = 3
FLOW_FMT = "=HHHBBBBBBBBBBHHHHHHHHB7s16s16s"
FLOW_FIELDS = ("reason eth_proto flags l3 l4_proto frag vlan_depth ip6_ext "
               "tcp_flags icmp_type icmp_code tos ttl vlan_outer vlan_inner "
               "sport dport l3_off l4_off payload_off ip_end http _pad saddr "
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


def decode(frame: bytes):
    """(flow dict, original frame) from one probe output frame."""
    magic, version, size = struct.unpack("=IHH", frame[:8])
    assert magic == PROBE_MAGIC, "not a probe record"
    assert version == FLOW_VERSION, f"flow version {version}"
    assert size == FLOW_SIZE, f"ns_flow is {size} bytes, tests expect {FLOW_SIZE}"
    vals = struct.unpack(FLOW_FMT, frame[8:HDR_SIZE])
    flow = dict(zip(FLOW_FIELDS, vals))
    flow.pop("_pad")
    assert flow.pop("http") == 0, "the parser never sets http"
    flow["reason"] = REASONS[flow["reason"]][1]
    return flow, frame[HDR_SIZE:]
