# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""tc classifiers through `netsieve replay`: cls_firewall, cls_classify and
cls_http on pinned configuration.

What a packet got is read from the test run: the return value (verdict or,
classic mode, class id), skb->mark and skb->priority as the kernel reports
them back, the class id from cb[0] (the kernel does not report tc_classid),
and the packet bytes (--out).  DSCP rewrites are checked byte for byte and
their checksums by scapy."""
import json
import os

import pytest
from scapy.all import (Dot1AD, Dot1Q, Ether, ICMP, IP, IPOption_NOP,
                       IPOption_RR, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                       Raw, TCP, UDP)

import pcaputil
from conftest import ns, obj
from fw import Firewall, rule_hits, table_stats

CLS_FW, CLS_CL, CLS_HTTP = obj("cls_firewall.o"), obj("cls_classify.o"), obj("cls_http.o")
A4, B4 = "192.0.2.10", "198.51.100.20"
A6, B6 = "2001:db8::a", "2001:db8:1::b"
OK, SHOT = "TC_ACT_OK", "TC_ACT_SHOT"
NC = "TC_ACT_UNSPEC"  # direct action, not classified: the next filter decides

PROGRAMS = {  # name: (object, table)
    "cls_fw_ingress": (CLS_FW, "ingress"), "cls_fw_egress": (CLS_FW, "egress"),
    "cls_classify_ingress": (CLS_CL, "ingress"), "cls_classify_egress": (CLS_CL, "egress"),
    "cls_classify_classic": (CLS_CL, "egress"),
    "cls_http_ingress": (CLS_HTTP, "ingress"), "cls_http_egress": (CLS_HTTP, "egress"),
}
DSCP = {"ef": 46, "cs6": 48, "af41": 34, "le": 1, "be": 0, "cs1": 8, "va": 44}


def E(type=None):
    e = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    if type is not None:
        e.type = type
    return e


def tcp(dport=80, sport=40000, src=A4, dst=B4, payload=b"", **ip):
    p = E() / IP(src=src, dst=dst, **ip) / TCP(sport=sport, dport=dport, flags="PA")
    return p / Raw(payload) if payload else p


def udp(dport=53, sport=40000, src=A4, dst=B4, **ip):
    return E() / IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport) / Raw(b"q" * 8)


def tcp6(dport=80, sport=40000, payload=b""):
    p = E() / IPv6(src=A6, dst=B6) / TCP(sport=sport, dport=dport, flags="PA")
    return p / Raw(payload) if payload else p


def udp6(dport=53, sport=40000):
    return E() / IPv6(src=A6, dst=B6) / UDP(sport=sport, dport=dport) / Raw(b"q" * 8)


class Tc(Firewall):
    """A pin directory with the tc classifiers' configuration."""

    def run(self, frames, prog, extra=(), out=None):
        """Per-packet JSON results of one replay, and the summary."""
        o = PROGRAMS[prog][0]
        d = self.tmpdir
        path = os.path.join(d, "in.pcap")
        pcaputil.write(path, frames)
        args = ["replay", "--json", "--prog", prog] + list(extra)
        if prog.endswith("classic"):
            args.append("--classic")
        if out:
            args += ["--out-all", "--out", out]
        r = self.cli(*args, o, path)
        assert r.returncode == 0, r.stderr
        objs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        return [x for x in objs if "index" in x], objs[-1]

    def got(self, frames, prog, **kw):
        """(verdict, class 'M:m' or None, mark, priority) per packet."""
        pk, _ = self.run(frames, prog, **kw)
        return [(p["verdict"], p.get("class"), p["mark"], p["priority"]) for p in pk]


@pytest.fixture
def tc(pin_dir, tmp):
    t = Tc(pin_dir)
    t.tmpdir = str(tmp)
    return t


# --- actions, tables, modes ---------------------------------------------------

def test_classify_ingress_and_egress_direct_action(tc):
    tc.load("rule add table ingress proto udp dport 53 action classify 1:10\n"
            "rule add table egress proto udp dport 53 action classify 2:20\n")
    # ingress: tc_classid (minor) only; priority is egress-only
    assert tc.got([udp()], "cls_classify_ingress") == [(OK, "1:10", 0, 0)]
    # egress: skb->priority = the full class id steers HTB/PRIO
    assert tc.got([udp()], "cls_classify_egress") == [(OK, "2:20", 0, 0x20020)]
    assert tc.got([udp(dport=54)], "cls_classify_egress") == [(NC, None, 0, 0)]


def test_mark_and_dscp_and_combined(tc):
    tc.load("rule add table ingress proto udp dport 53 action mark 0x22\n"
            "rule add table ingress proto udp dport 54 action mark 4294967295 classify fffe:ffff dscp ef\n"
            "rule add table ingress proto udp dport 55 action dscp cs1\n")
    pk, _ = tc.run([udp(53), udp(54), udp(55)], "cls_classify_ingress")
    assert [(p["mark"], p.get("class"), p["modified"]) for p in pk] == [
        (0x22, None, False), (0xffffffff, "fffe:ffff", True), (0, None, True)]


def test_rule_without_effects_leaves_the_packet_as_it_was(tc):
    tc.load("rule add table egress proto udp dport 53 action pass\n"
            "rule add table egress proto udp dport 54 action classify 1:5\n")
    ctx = ["--ctx", "mark=7,priority=0x30003"]
    pk, _ = tc.run([udp(53), udp(99), udp(54)], "cls_classify_egress", extra=ctx)
    assert [(p["verdict"], p["mark"], p["priority"], p.get("class"), p["modified"])
            for p in pk] == [
        (NC, 7, 0x30003, None, False),     # pass rule: untouched
        (NC, 7, 0x30003, None, False),     # no rule: untouched
        (OK, 7, 0x10005, "1:5", False)]    # classify replaces the priority only


def test_drop_pass_and_policy_per_table(tc):
    tc.load("rule add table ingress proto tcp dport 22 action pass\n"
            "rule add table ingress proto tcp action drop\n"
            "policy table egress drop\n"
            "rule add table egress proto udp dport 53 action pass\n"
            "rule add proto udp action drop\n")   # xdp table: no tc program reads it
    frames = [tcp(22), tcp(80), udp(53), udp(99)]
    # cls_firewall's pass is TC_ACT_OK; the classifiers' unclassified pass
    # is TC_ACT_UNSPEC
    for prog, ok in (("cls_fw_ingress", OK), ("cls_classify_ingress", NC),
                     ("cls_http_ingress", NC)):
        assert [g[0] for g in tc.got(frames, prog)] == [ok, SHOT, ok, ok], prog
    for prog, ok in (("cls_fw_egress", OK), ("cls_classify_egress", NC),
                     ("cls_http_egress", NC)):
        assert [g[0] for g in tc.got(frames, prog)] == [SHOT, SHOT, ok, SHOT], prog


def test_first_match_wins(tc):
    tc.load("rule add table egress proto tcp action classify 1:10\n"
            "rule add table egress proto tcp dport 80 action classify 1:20 mark 1\n"
            "rule add table egress dst 198.51.100.0/24 action pass\n"
            "rule add table egress proto udp action classify 1:30\n"
            "rule add table egress proto udp dport 53 action drop\n")
    got = tc.got([tcp(80), udp(53), udp(53, dst="203.0.113.1")], "cls_classify_egress")
    assert got == [(OK, "1:10", 0, 0x10010),   # rule 1, not the more specific rule 2
                   (NC, None, 0, 0),           # rule 3 (pass, no effects) before 4 and 5
                   (OK, "1:30", 0, 0x10030)]   # rule 4 before the drop of rule 5
    # insert before rule 1: the insertion takes effect
    tc.ok("rule", "add", "table", "egress", "pos", "1", "proto", "tcp", "dport", "80",
          "action", "drop")
    assert tc.got([tcp(80)], "cls_classify_egress")[0][0] == SHOT


def test_cls_firewall_ignores_effects(tc):
    tc.load("rule add table ingress proto udp action classify 1:10 mark 5 dscp ef\n"
            "rule add table ingress proto tcp action drop\n")
    pk, _ = tc.run([udp(), tcp()], "cls_fw_ingress")
    assert [(p["verdict"], p["mark"], p.get("class"), p["modified"]) for p in pk] == [
        (OK, 0, None, False), (SHOT, 0, None, False)]


def test_classic_mode_returns_class_ids_and_cannot_drop(tc):
    tc.load("rule add table egress proto udp dport 53 action classify 1:10 mark 3\n"
            "rule add table egress proto udp dport 54 action classify 2:1\n"
            "rule add table egress proto tcp action drop\n"
            "rule add table egress proto udp dport 55 action mark 9\n"
            "rule add table ingress proto udp action classify 7:7\n")
    pk, summary = tc.run([udp(53), udp(54), tcp(), udp(55), udp(56)], "cls_classify_classic")
    got = [(p["verdict"], p["mark"], p["priority"]) for p in pk]
    assert got == [("CLASS_1:10", 3, 0),       # class id returned, mark acts
                   ("CLASS_2:1", 0, 0),
                   ("UNCLASSIFIED", 0, 0),     # drop rule: a classic filter cannot drop
                   ("UNCLASSIFIED", 9, 0),     # mark without class
                   ("UNCLASSIFIED", 0, 0)]     # no rule (the ingress table is not read)
    assert summary["verdicts"] == {"CLASS_1:10": 1, "CLASS_2:1": 1, "UNCLASSIFIED": 3}


def test_counters_per_rule_verdict_and_reason(tc):
    tc.load("rule add table ingress proto udp dport 53 action classify 1:10\n"
            "rule add table ingress proto tcp dport 23 action drop\n"
            "policy table ingress drop\n")
    bad = Ether(bytes(tcp())[:14 + 20 + 10])  # truncated TCP header
    frames = [udp(), udp(), tcp(23), tcp(80), bad, E(0x88cc) / Raw(b"x" * 40)]
    pk, summary = tc.run(frames, "cls_classify_ingress", extra=["--stats"])
    assert [p["verdict"] for p in pk] == [OK, OK, SHOT, SHOT, NC, NC]
    assert rule_hits(summary, "ingress") == {1: 2, 2: 1}
    st = table_stats(summary, "ingress")
    v = {k: c["packets"] for k, c in st["verdicts"].items() if c["packets"]}
    assert v == {"rule_pass": 2, "rule_drop": 1, "policy_drop": 1, "unusable_pass": 1,
                 "nonip_pass": 1}
    assert {k: c["packets"] for k, c in st["reasons"].items()} == {
        "tcp-truncated": 1, "non-ip": 1}
    assert table_stats(summary, "egress")["verdicts"]["policy_pass"]["packets"] == 0


def test_tables_are_independent_of_xdp(tc):
    tc.load("rule add proto udp action drop\n")
    assert tc.got([udp()], "cls_fw_ingress") == [(OK, None, 0, 0)]
    assert tc.verdicts([udp()]) == ["XDP_DROP"]   # the XDP firewall reads it


# --- parser edge cases through the classifiers ----------------------------------

EDGE = [
    ("vlan", E() / Dot1Q(vlan=100) / IP(src=A4, dst=B4) / UDP(sport=1, dport=53)),
    ("qinq", E() / Dot1AD(vlan=10) / Dot1Q(vlan=100) / IP(src=A4, dst=B4) / UDP(dport=53)),
    ("ipv4 options", E() / IP(src=A4, dst=B4, options=[IPOption_RR(routers=["1.2.3.4"] * 3),
                                                       IPOption_NOP()]) / UDP(dport=53)),
    ("ipv6 hbh+dest+routing", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() /
     IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() / UDP(dport=53)),
    ("ipv6 first fragment", E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(m=1, id=7) /
     UDP(dport=53, len=100) / Raw(b"x" * 16)),
    ("ipv4 first fragment", E() / IP(src=A4, dst=B4, flags="MF", id=9) /
     UDP(dport=53, len=100) / Raw(b"x" * 16)),
]


@pytest.mark.parametrize("label,frame", EDGE, ids=[e[0] for e in EDGE])
def test_classify_through_parser_edge_cases(tc, label, frame):
    tc.load("rule add table ingress proto udp dport 53 action classify 1:53 mark 53\n"
            "rule add table ingress frag later action classify 1:99\n")
    assert tc.got([frame], "cls_classify_ingress") == [(OK, "1:53", 53, 0)], label
    # the later fragment of the same datagram has no ports: it takes rule 2
    if "fragment" in label:
        later = frame.copy()
        if later.haslayer(IPv6ExtHdrFragment):
            later[IPv6ExtHdrFragment].offset, later[IPv6ExtHdrFragment].m = 3, 0
        else:
            later[IP].frag, later[IP].flags = 3, 0
        assert tc.got([Ether(bytes(later))], "cls_classify_ingress")[0][1] == "1:99"


def test_vlan_rule_on_tagged_frames(tc):
    tc.load("rule add table ingress vlan 100 action classify 1:64\n"
            "rule add table ingress vlan none action classify 1:1\n")
    frames = [EDGE[0][1], E() / Dot1Q(vlan=101) / IP(src=A4, dst=B4) / UDP(), udp()]
    assert [g[1] for g in tc.got(frames, "cls_classify_ingress")] == ["1:64", None, "1:1"]


# --- DSCP rewrite: bytes and checksums -------------------------------------------

def _l3(p):
    return p[IP] if p.haslayer(IP) else p[IPv6]


def _dscp(p):
    return (p[IP].tos if p.haslayer(IP) else p[IPv6].tc) >> 2


def _ecn(p):
    return (p[IP].tos if p.haslayer(IP) else p[IPv6].tc) & 3


def _dscp_frames():
    out = []
    for vlan in (False, True):
        for fam in (4, 6):
            for proto in ("tcp", "udp"):
                for ecn in (0, 3):
                    l2 = E() / Dot1Q(vlan=42) if vlan else E()
                    if fam == 4:
                        l3 = IP(src=A4, dst=B4, tos=(10 << 2) | ecn, id=77, ttl=9)
                    else:
                        l3 = IPv6(src=A6, dst=B6, tc=(10 << 2) | ecn, fl=0xabcde)
                    l4 = (TCP(sport=1234, dport=8080, flags="S", options=[("MSS", 1400)])
                          if proto == "tcp" else UDP(sport=1234, dport=8080))
                    out.append((f"v{fam} {proto} vlan={vlan} ecn={ecn}",
                                Ether(bytes(l2 / l3 / l4 / Raw(b"payload!")))))
    return out


@pytest.mark.parametrize("name,value", sorted(DSCP.items()) + [("63", 63), ("0", 0)])
def test_dscp_rewrite_bytes_and_checksums(tc, tmp, name, value):
    tc.load(f"rule add table egress dport 8080 action dscp {name}\n")
    frames = _dscp_frames()
    out = str(tmp / "out.pcap")
    pk, _ = tc.run([f for _, f in frames], "cls_classify_egress", out=out)
    recs, _ = pcaputil.read(out)
    assert len(recs) == len(frames)
    for (label, before), p, rec in zip(frames, pk, recs):
        after = Ether(rec[4])
        assert p["verdict"] == NC
        assert p["modified"] == (value != 10), label
        assert _dscp(after) == value and _ecn(after) == _ecn(before), label
        # only the DSCP bits (and the IPv4 header checksum) changed
        b, a = bytes(before), bytes(after)
        assert len(a) == len(b)
        off = len(before) - len(_l3(before))
        diff = [i - off for i in range(len(b)) if a[i] != b[i]]
        allowed = {0, 1} | ({10, 11} if before.haslayer(IP) else set())
        assert set(diff) <= allowed, (label, diff)
        # scapy recomputes every checksum: it must find them already right
        again = after.copy()
        if again.haslayer(IP):
            del again[IP].chksum
        l4 = again[TCP] if again.haslayer(TCP) else again[UDP]
        del l4.chksum
        assert bytes(Ether(bytes(again))) == a, f"{label}: checksum wrong"


def test_dscp_only_where_the_rule_matched_and_never_on_drops(tc, tmp):
    tc.load("rule add table ingress proto udp dport 53 action dscp ef\n"
            "rule add table ingress proto tcp action drop\n")
    out = str(tmp / "o.pcap")
    pk, _ = tc.run([udp(53), udp(54), tcp()], "cls_classify_ingress", out=out)
    assert [(p["verdict"], p["modified"]) for p in pk] == [(NC, True), (NC, False), (SHOT, False)]


# --- cls_http ----------------------------------------------------------------------

REQUESTS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"]
STATUS = {"1xx": 101, "2xx": 200, "3xx": 304, "4xx": 404, "5xx": 503}
TCP_OPTS = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b""),
            ("Timestamp", (1, 2))]


def req(method, carrier="plain"):
    payload = f"{method} /index.html HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    return http_frame(payload, carrier)


def resp(code, carrier="plain", version="1.1"):
    return http_frame(f"HTTP/{version} {code} Whatever\r\n\r\n".encode(), carrier, sport=80,
                      dport=40000)


def http_frame(payload, carrier="plain", sport=40000, dport=80):
    t = TCP(sport=sport, dport=dport, flags="PA")
    if carrier == "tcp options":
        t = TCP(sport=sport, dport=dport, flags="PA", options=TCP_OPTS)
    if carrier in ("plain", "tcp options"):
        return E() / IP(src=A4, dst=B4) / t / Raw(payload)
    if carrier == "ipv4 options+vlan":
        return (E() / Dot1Q(vlan=7) / IP(src=A4, dst=B4, options=[IPOption_RR(routers=["9.9.9.9"])])
                / TCP(sport=sport, dport=dport, options=TCP_OPTS) / Raw(payload))
    if carrier == "ipv6 chain":
        return (E() / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
                / TCP(sport=sport, dport=dport, options=TCP_OPTS) / Raw(payload))
    raise ValueError(carrier)


CARRIERS = ["plain", "tcp options", "ipv4 options+vlan", "ipv6 chain"]

# One rule per kind, mark = the kind's number (enum ns_http), so the mark
# of every packet says what cls_http recognised.
KINDS = REQUESTS + list(STATUS)
MARK_RULES = "".join(f"rule add table ingress http {k} action mark {i}\n"
                     for i, k in enumerate(KINDS, 1))


@pytest.mark.parametrize("carrier", CARRIERS)
def test_http_kinds_and_counters(tc, carrier):
    tc.load(MARK_RULES)
    frames = [req(m, carrier) for m in REQUESTS] + [resp(c, carrier) for c in STATUS.values()]
    frames += [resp(200, carrier, "1.0")]
    pk, summary = tc.run(frames, "cls_http_ingress", extra=["--stats"])
    assert [p["mark"] for p in pk] == list(range(1, len(KINDS) + 1)) + [KINDS.index("2xx") + 1]
    http = {k: v["packets"] for k, v in table_stats(summary, "ingress")["http"].items()}
    want = {k: 1 for k in KINDS}
    want["2xx"] = 2
    assert http == want
    assert table_stats(summary, "egress")["http"] == {}
    # the same packets through cls_classify: http rules never match there
    pk, summary = tc.run(frames, "cls_classify_ingress", extra=["--stats"])
    assert all(p["mark"] == 0 for p in pk)
    assert table_stats(summary, "ingress")["http"] == {}


NOT_HTTP = [
    ("lowercase method", b"get / HTTP/1.1\r\n\r\n"),
    ("no space", b"GETX / HTTP/1.1\r\n\r\n"),
    ("method too late", b" GET / HTTP/1.1\r\n\r\n"),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("status 600", b"HTTP/1.1 600 Nope\r\n\r\n"),
    ("status 099", b"HTTP/1.1 099 Nope\r\n\r\n"),
    ("HTTP/1.2", b"HTTP/1.2 200 OK\r\n\r\n"),
    ("two-digit status", b"HTTP/1.1 20 OK\r\n\r\n"),
    ("method without its space", b"GET"),
    ("TLS", bytes.fromhex("160301020001") + b"\x00" * 30),
]


def test_http_rejects_lookalikes(tc):
    tc.load(MARK_RULES + "rule add table ingress action mark 99\n")
    pk, summary = tc.run([http_frame(p) for _, p in NOT_HTTP], "cls_http_ingress",
                         extra=["--stats"])
    assert {label: p["mark"] for (label, _), p in zip(NOT_HTTP, pk)} == {
        label: 99 for label, _ in NOT_HTTP}
    assert table_stats(summary, "ingress")["http"] == {}


def test_http_not_in_udp_fragments_or_truncated(tc):
    tc.load(MARK_RULES)
    get = b"GET / HTTP/1.1\r\n\r\n"
    frames = [E() / IP(src=A4, dst=B4) / UDP(sport=1, dport=80) / Raw(get),
              # later fragment whose data happens to read "GET "
              E() / IP(src=A4, dst=B4, proto=6, frag=10) / Raw(get),
              # IP total length ends the payload at "GET": the space after
              # it is not the datagram's
              Ether(bytes(E() / IP(src=A4, dst=B4, len=20 + 20 + 3) / TCP(dport=80) / Raw(get)))]
    pk, _ = tc.run(frames, "cls_http_ingress")
    assert [p["mark"] for p in pk] == [0, 0, 0]


def test_http_method_in_a_short_first_segment(tc):
    """A request line split after its method: the first segment is shorter
    than 12 bytes but shows the method (it used to be ignored, so a POST
    sent that way got around `http POST action drop`)."""
    tc.load("rule add table ingress http POST action drop\n")
    frames = [http_frame(b"POST /x HT"), http_frame(b"TP/1.1\r\nHost: a\r\n\r\n"),
              http_frame(b"PUT "), http_frame(b"HTTP/1.1 2")]
    pk, summary = tc.run(frames, "cls_http_ingress", extra=["--stats"])
    assert [p["verdict"] for p in pk] == [SHOT, NC, NC, NC]
    assert {k: v["packets"] for k, v in table_stats(summary, "ingress")["http"].items()} == {
        "POST": 1, "PUT": 1}


def test_http_rule_actions(tc):
    tc.load("rule add table ingress http POST,PUT action drop\n"
            "rule add table ingress http GET dst 198.51.100.0/24 action classify 1:10 mark 1\n"
            "rule add table ingress http request action classify 1:20\n"
            "rule add table egress http 4xx,5xx action classify 1:99 dscp cs1\n"
            "rule add table egress http response action classify 1:2\n")
    got = tc.got([req("POST"), req("PUT"), req("GET"), req("HEAD"), tcp(80)], "cls_http_ingress")
    assert got == [(SHOT, None, 0, 0), (SHOT, None, 0, 0), (OK, "1:10", 1, 0),
                   (OK, "1:20", 0, 0), (NC, None, 0, 0)]
    pk, _ = tc.run([resp(404), resp(503), resp(200), req("GET")], "cls_http_egress")
    assert [(p.get("class"), p["priority"], p["modified"]) for p in pk] == [
        ("1:99", 0x10099, True), ("1:99", 0x10099, True), ("1:2", 0x10002, False),
        (None, 0, False)]


# --- robustness over the shared corpus --------------------------------------------

CORPUS_RULES = """\
rule add table ingress proto tcp dport 80 action classify 1:80 mark 80
rule add table ingress src 10.0.0.0/8 action drop
rule add table ingress proto udp action dscp ef classify 1:17
rule add table ingress frag later action classify 1:3
rule add table ingress action dscp cs1
rule add table egress proto tcp action drop
"""


@pytest.fixture
def corpus(corpus_merged):
    if corpus_merged is None:
        pytest.skip("corpus not present")
    return corpus_merged


def xdp_equivalent(conf, table):
    """The rules of `table` as XDP-table rules: effects become plain pass."""
    out = []
    for line in conf.splitlines():
        if f"table {table} " not in line:
            continue
        head, act = line.replace(f"table {table} ", "").split(" action ")
        out.append(f"{head} action {'drop' if act == 'drop' else 'pass'}\n")
    return "".join(out)


@pytest.mark.parametrize("prog", sorted(PROGRAMS))
def test_corpus_every_classifier(tc, tmp, corpus, prog):
    """Each program over the whole corpus: no test-run error; the verdicts
    equal the XDP firewall's on the same rules (effects become pass);
    classic mode returns only the rules' classes; packets change only where
    a dscp rule matched, and only in the DSCP bits and IPv4 checksum."""
    path, recs, origin = corpus
    table = PROGRAMS[prog][1]
    tc.load(CORPUS_RULES + xdp_equivalent(CORPUS_RULES, table))
    out = str(tmp / "out.pcap")
    pk, summary = tc_run_path(tc, path, prog, out)
    assert summary["packets"] == len(recs)
    xdp = xdp_verdicts(tc, path)
    outs, _ = pcaputil.read(out)
    classic = prog.endswith("classic")
    rewrites = table == "ingress" and not prog.startswith("cls_fw")
    changed = 0
    for p, x, rec, o, src in zip(pk, xdp, recs, outs, origin):
        where = f"{src} (packet {p['index']})"
        if not p["runnable"]:
            continue
        assert x is not None, where
        if classic:
            # the egress table classifies nothing: it only drops TCP
            assert p["verdict"] == "UNCLASSIFIED", where
        elif prog.startswith("cls_fw"):
            assert p["verdict"] == {"XDP_DROP": SHOT, "XDP_PASS": OK}[x], where
        else:
            want = SHOT if x == "XDP_DROP" else OK if p.get("class") else NC
            assert p["verdict"] == want, where
        a, b = o[4], rec[4]
        assert len(a) == len(b), where
        if a != b:
            changed += 1
            assert rewrites and p["verdict"] in (OK, NC), where
            d = [i for i in range(len(a)) if a[i] != b[i]]
            assert d[-1] - d[0] <= 11, where   # DSCP bits and IPv4 checksum
    if rewrites:
        assert changed > 1000   # the match-all dscp cs1 rule rewrote most IP packets
    else:
        assert changed == 0


def tc_run_path(tc, path, prog, out):
    o = PROGRAMS[prog][0]
    args = ["replay", "--json", "--prog", prog, "--out-all", "--out", out]
    if prog.endswith("classic"):
        args.append("--classic")
    r = tc.cli(*args, o, path)
    assert r.returncode == 0, r.stderr
    objs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return [x for x in objs if "index" in x], objs[-1]


def xdp_verdicts(tc, path):
    r = tc.cli("replay", "--json", obj("xdp_firewall.o"), path)
    assert r.returncode == 0, r.stderr
    return [o["verdict"] if o["runnable"] else None
            for o in (json.loads(l) for l in r.stdout.splitlines()) if "index" in o]


def test_corpus_http_counts_equal_a_python_oracle(tc, corpus, tmp):
    """cls_http's per-packet kind (via one mark rule per kind) against the
    kind computed in Python from where the parser says the TCP payload
    starts (parser probe, tc hook)."""
    from flowdesc import decode
    path, recs, origin = corpus
    tc.load(MARK_RULES)
    pk, summary = tc_run_path(tc, path, "cls_http_ingress", str(tmp / "h.pcap"))
    probe_out = str(tmp / "probe.pcap")
    r = ns("replay", "--json", "--prog", "probe_tc", "--out-all", "--out", probe_out,
           obj("parser_probe.o"), path)
    assert r.returncode == 0, r.stderr
    flows, _ = pcaputil.read(probe_out)
    pr = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    pr = [p for p in pr if "index" in p]
    assert len(flows) == len(pr) == len(pk)
    want = {}
    n_http = 0
    for p, q, rec in zip(pk, pr, flows):
        if not q["runnable"]:
            continue
        flow, frame = decode(rec[4])
        kind = 0
        if (flow["reason"] == "ok" and flow["l4_proto"] == 6 and flow["flags"] & 0x400
                and flow["payload_off"] + 4 <= flow["ip_end"]):
            # up to 12 bytes of the datagram, zero-filled
            b = frame[flow["payload_off"]:min(flow["ip_end"], flow["payload_off"] + 12)]
            kind = py_http_kind(b + bytes(12 - len(b)))
        assert p["mark"] == kind, f"{origin[p['index'] - 1]} packet {p['index']}"
        if kind:
            n_http += 1
            want[KINDS[kind - 1]] = want.get(KINDS[kind - 1], 0) + 1
    got = {k: v["packets"] for k, v in table_stats(summary, "ingress")["http"].items()}
    assert got == want
    assert n_http > 50, "the corpus has HTTP captures; none recognised?"


def py_http_kind(b):
    for i, m in enumerate(REQUESTS, 1):
        if b.startswith(m.encode() + b" "):
            return i
    if (b[:7] in (b"HTTP/1.", ) and b[7:8] in (b"0", b"1") and b[8:9] == b" "
            and b"1"[0] <= b[9] <= b"5"[0] and all(48 <= c <= 57 for c in b[10:12])):
        return len(REQUESTS) + 1 + (b[9] - 49)
    return 0
