# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Tiny classic-pcap reader/writer for tests (exact bytes and timestamps)."""
import struct

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D


def read(path):
    """[(ts_sec, ts_frac_ns, caplen, wirelen, bytes)], linktype."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (MAGIC_US, MAGIC_NS):
        e = "<"
    else:
        e = ">"
        magic = struct.unpack(">I", data[:4])[0]
    assert magic in (MAGIC_US, MAGIC_NS), "not a classic pcap"
    # Low 16 bits: link type; the top bits may say an FCS is present.
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0xffff
    out, off = [], 24
    while off < len(data):
        sec, frac, cap, wire = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        ns = frac if magic == MAGIC_NS else frac * 1000
        out.append((sec, ns, cap, wire, data[off:off + cap]))
        off += cap
    return out, linktype


def write(path, frames, t0=1700000000, linktype=1):
    """Classic pcap with microsecond timestamps t0 + i."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", MAGIC_US, 2, 4, 0, 0, 262144, linktype))
        for i, fr in enumerate(frames):
            fr = bytes(fr)
            f.write(struct.pack("<IIII", t0 + i, 0, len(fr), len(fr)))
            f.write(fr)


def write_records(path, records, linktype=1):
    """Classic pcap with nanosecond timestamps from read()-style records."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", MAGIC_NS, 2, 4, 0, 0, 262144, linktype))
        for sec, ns, cap, wire, data in records:
            f.write(struct.pack("<IIII", sec, ns % 1000000000, len(data),
                                max(wire, len(data))))
            f.write(data)
