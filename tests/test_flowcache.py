# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The engine's flow cache (include/netsieve/engine.h, docs/DESIGN.md).

A packet whose flow was judged since the last configuration change takes the
cached first match instead of searching.  That must never change a verdict:
the key must hold every field a rule can read, and every change must make
older entries misses, also when the tables' generation flips back to the one
an entry was made under.  build/xdp_firewall_fcmiss.o is the same program
with a cache that never hits: the reference; build/xdp_firewall_fc1.o has
a one-entry cache, so keys that differ meet in the same entry.

Replays run under `taskset -c 0`: the cache is per CPU, so a capture's
packets must all see the same one for later packets to hit.
"""
import glob
import json
import os
import subprocess
import tempfile

import pytest
from scapy.all import ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, Raw

import pcaputil
from conftest import NETSIEVE, PCAP, obj, one_line_error
from fw import Firewall, rule_hits, table_stats

FW_O = obj("xdp_firewall.o")
MISS_O = obj("xdp_firewall_fcmiss.o")
ONE_O = obj("xdp_firewall_fc1.o")     # one entry: every flow meets every other
MACS = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def replay_cpu0(fw, frames, prog_obj):
    """Verdicts and summary of one replay pinned to CPU 0."""
    return fw.replay(frames, prog_obj=prog_obj, cpu=0)


def E():
    return Ether(**MACS)


def u4(src="10.0.0.1", dst="10.0.0.2", sport=1000, dport=9, **ip):
    return E() / IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport) / Raw(b"x" * 8)


def u6(src="2001:db8::1", dst="2001:db8::2", sport=1000, dport=9):
    return E() / IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(b"x" * 8)


# Every variant differs from its base packet in one field a rule reads, and a
# rule drops exactly the variant; the bases end at the policy (pass).  A key
# without that field would give the variant its base's cached pass.
KEY_RULES = """\
rule add proto udp dport 10 action drop
rule add proto udp sport 1001 action drop
rule add src 10.0.0.3 action drop
rule add dst 10.0.0.4 action drop
rule add proto tcp dport 9 action drop
rule add vlan 5 action drop
rule add vlan 0 action drop
rule add frag first action drop
rule add frag later action drop
rule add proto icmp icmp-type 8/1 action drop
rule add proto icmp icmp-type 0 action drop
rule add src 2001:db9::/32 action drop
rule add src 2001:db8::ff:0/112 action drop
rule add dst 2001:db8::ff:0/112 action drop
rule add src a00::/16 action drop
rule add proto 253 action drop
"""
BASE4 = u4()
BASE6 = u6()
ICMP_BASE = E() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, code=0)
VARIANTS = [
    ("dport", BASE4, u4(dport=10)),
    ("sport", BASE4, u4(sport=1001)),
    ("source v4", BASE4, u4(src="10.0.0.3")),
    ("destination v4", BASE4, u4(dst="10.0.0.4")),
    ("protocol, same ports", BASE4,
     E() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000, dport=9, flags="S")),
    ("protocol without ports", BASE4,
     E() / IP(src="10.0.0.1", dst="10.0.0.2", proto=253) / Raw(b"\x03\xe8\x00\x09" + b"x" * 8)),
    ("vlan present", BASE4, E() / Dot1Q(vlan=5) / IP(src="10.0.0.1", dst="10.0.0.2") /
     UDP(sport=1000, dport=9)),
    ("vlan id", E() / Dot1Q(vlan=6) / IP(src="10.0.0.1", dst="10.0.0.2") /
     UDP(sport=1000, dport=9),
     E() / Dot1Q(vlan=5) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000, dport=9)),
    ("vlan 0 (priority tag) vs untagged", BASE4,
     E() / Dot1Q(vlan=0) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000, dport=9)),
    ("first fragment", BASE4, u4(flags="MF")),
    ("later fragment", BASE4, E() / IP(src="10.0.0.1", dst="10.0.0.2", proto=17, frag=100) /
     Raw(b"\x03\xe8\x00\x09" + b"x" * 12)),
    ("icmp code", ICMP_BASE, E() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, code=1)),
    ("icmp type", ICMP_BASE, E() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=0, code=0)),
    ("v6 source, upper half", BASE6, u6(src="2001:db9::1")),
    ("v6 source, lower half", BASE6, u6(src="2001:db8::ff:1")),
    ("v6 destination, lower half", BASE6, u6(dst="2001:db8::ff:2")),
    ("v4 vs v6 with the same address bytes", BASE4,
     u6(src="a00:1::", dst="a00:2::")),
]


@pytest.mark.parametrize("name,base,variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_key_holds_every_field_a_rule_reads(pin_dir, name, base, variant):
    fw = Firewall(pin_dir)
    fw.load("policy pass\n" + KEY_RULES)
    frames = [base, base, variant, base, variant, variant, base]
    want = ["XDP_PASS", "XDP_PASS", "XDP_DROP", "XDP_PASS", "XDP_DROP", "XDP_DROP", "XDP_PASS"]
    for o in (FW_O, ONE_O, MISS_O):
        got, _ = replay_cpu0(fw, frames, o)
        assert got == want, (name, o)


def test_cache_changes_no_verdict_or_counter(pin_dir, corpus_merged):
    """Every test capture, and the whole corpus merged into one capture
    when present, through the cached and the never-hitting program: the
    same verdict for every packet and the same counters.  Captures repeat
    flows, so the cached run hits."""
    fw = Firewall(pin_dir)
    fw.load("policy pass\n" + KEY_RULES +
            "rule add proto tcp dport 80 action pass\n"
            "rule add src 192.168.0.0/16 proto tcp action drop\n"
            "rule add proto udp dport 53 action drop\n"
            "rule add dst 10.0.0.0/8 action drop\n"
            "rule add proto icmp icmp-type 3 action drop\n")
    caps = sorted(glob.glob(os.path.join(PCAP, "*.pcap")))
    corpus = corpus_merged is not None
    if corpus:
        caps.append(str(corpus_merged[0]))
    packets = drops = 0
    for cap in caps:
        res = {}
        for o in (FW_O, MISS_O):
            r = fw.cli("replay", "--json", "--stats", o, cap, cpu=0)
            assert r.returncode == 0, (cap, r.stderr)
            objs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
            pk = [(p["index"], p["verdict"]) for p in objs if "index" in p]
            res[o] = (pk, rule_hits(objs[-1]), table_stats(objs[-1])["verdicts"])
        assert res[FW_O] == res[MISS_O], cap
        packets += len(res[FW_O][0])
        drops += sum(v == "XDP_DROP" for _, v in res[FW_O][0])
    assert packets > (10000 if corpus else 50) and drops > (100 if corpus else 5), (packets, drops)


def test_change_after_change_back_to_the_same_generation():
    """One loaded program (its cache lives as long as it does) across
    configuration changes: a flow cached under generation g must not hit
    again when a later change makes generation g live again with other
    rules.  The tables' epoch, bumped at every flip, tells them apart."""
    frames = [u4(), u4()]
    nsv = NETSIEVE
    script = f"""set -e
mount -t bpf bpf /sys/fs/bpf
N="{nsv} --pin-dir /sys/fs/bpf"
$N init {FW_O} >/dev/null
$N rule add proto udp dport 1 action drop >/dev/null
bpftool prog loadall {FW_O} /sys/fs/bpf/progs
P=pinned:/sys/fs/bpf/progs/xdp_firewall
echo "A $(taskset -c 0 $N replay --json $P $CAP | tail -n 1)"
R() {{ taskset -c 0 $N replay --json $P $CAP | grep '"index"'; }}
R | grep -c XDP_PASS || true
$N rule add proto udp dport 2 action drop >/dev/null
R | grep -c XDP_PASS || true
$N rule add proto udp dport 9 action drop >/dev/null
R | grep -c XDP_DROP || true
$N rule del 3 >/dev/null
R | grep -c XDP_PASS || true
$N rule add proto udp dport 2 action pass >/dev/null
$N rule add proto udp dport 9 action drop >/dev/null
R | grep -c XDP_DROP || true
$N policy drop >/dev/null
$N rule del 5 >/dev/null
R | grep -c XDP_DROP || true
$N load - >/dev/null <<EOF
policy drop
rule add proto udp dport 9 action pass
EOF
R | grep -c XDP_PASS || true
"""
    with tempfile.TemporaryDirectory() as d:
        cap = os.path.join(d, "f.pcap")
        pcaputil.write(cap, frames)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, CAP=cap))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("A ") and json.loads(out[0][2:])["maps"]["loaded"] is True
    # both packets, every time: pass; pass; drop (rule 3, same gen as the
    # first pass); pass; drop; drop (policy); pass (load)
    assert out[1:] == ["2", "2", "2", "2", "2", "2", "2"], r.stdout


# Run inside `unshare -m` with a private bpffs on /sys/fs/bpf: argv is the
# netsieve binary, the object, a capture.  Prepended to each script below.
CACHE_LIB = r"""
import json, subprocess, sys
nsv, obj_path, cap = sys.argv[1:4]
def sh(*a):
    return subprocess.run(a, check=True, capture_output=True, text=True).stdout
def ns(*a):
    return sh(nsv, "--pin-dir", "/sys/fs/bpf", *a)
def setup(*changes):
    # maps, the configuration changes, then the object's programs pinned
    sh("mount", "-t", "bpf", "bpf", "/sys/fs/bpf")
    ns("init", obj_path)
    for c in changes:
        ns(*c)
    sh("bpftool", "prog", "loadall", obj_path, "/sys/fs/bpf/progs")
def verdicts():
    out = sh("taskset", "-c", "0", nsv, "--pin-dir", "/sys/fs/bpf", "replay", "--json",
             "pinned:/sys/fs/bpf/progs/xdp_firewall", cap)
    return [json.loads(l)["verdict"] for l in out.splitlines() if '"index"' in l]
def cache_id():
    ids = json.loads(sh("bpftool", "-j", "prog", "show", "pinned",
                        "/sys/fs/bpf/progs/xdp_firewall"))["map_ids"]
    return [m["id"] for m in json.loads(sh("bpftool", "-j", "map", "show"))
            if m["id"] in ids and m["name"] == "ns_fcache"][0]
def filled():
    # [(key, cpu, value bytes)] of the entries with a stamp (filled)
    out = []
    for e in json.loads(sh("bpftool", "-j", "map", "dump", "id", str(cache_id()))):
        for v in e["values"]:
            raw = bytes(int(b, 16) for b in v["value"])
            if raw[56:64] != bytes(8):
                out.append((e["key"], v["cpu"], raw))
    return out
def write_entry(key, raw):
    sh("bpftool", "map", "update", "id", str(cache_id()), "key", "hex",
       *[k[2:] for k in key], "value", "hex", *["%02x" % b for b in raw])
"""


def run_cache_script(script, prog_obj, frames, tmp):
    """CACHE_LIB + script in a private mount namespace; the finished run."""
    cap = tmp / "f.pcap"
    pcaputil.write(cap, frames)
    return subprocess.run(["unshare", "-m", "--propagation", "private", "/usr/bin/python3",
                           "-c", CACHE_LIB + script, NETSIEVE, prog_obj, str(cap)],
                          capture_output=True, text=True, timeout=300)


FORGE = r"""
setup(("rule", "add", "proto", "udp", "dport", "1", "action", "drop"))
print(verdicts())
entries = filled()
key, cpu, raw = entries[0]
res = int.from_bytes(raw[64:68], "little")
ckey = int.from_bytes(raw[68:72], "little")
print(len(entries), cpu, res & 0xf, (res >> 8) & 3, hex(ckey >> 31))
write_entry(key, raw[:64] + (res | 1).to_bytes(4, "little") + raw[68:])   # action: drop
print(verdicts())
ns("policy", "pass")
print(verdicts())
def stamps():
    return sorted({raw[56:64].hex() for _, _, raw in filled()})
before = stamps()
ns("cache", "off")
print(verdicts(), stamps() == before)     # off: not read, not filled
ns("cache", "on")
print(verdicts(), stamps() != before)
"""


def test_a_cached_flow_skips_the_search(tmp):
    """The cache is really used: after one packet of a flow, its entry holds
    the flow's result (action pass, source policy, counted as a verdict).
    Rewritten by hand to say drop, the next packet of the flow is dropped,
    which no search would do; after any change the flow is searched again.
    `cache off` leaves the cache alone (no entry read or written), `cache
    on` fills it again."""
    r = run_cache_script(FORGE, FW_O, [u4()], tmp)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["['XDP_PASS']", "1 0 0 1 0x1", "['XDP_DROP']",
                                      "['XDP_PASS']", "['XDP_PASS'] True",
                                      "['XDP_PASS'] True"]


def test_cache_command(pin_dir):
    fw = Firewall(pin_dir)
    fw.load("rule add proto udp dport 9 action drop\n")
    assert fw.ok("cache") == "flow cache: on\n"
    serial = json.loads(fw.ok("status", "--json"))["serial"]
    for word in ("off", "off", "on"):
        assert fw.ok("cache", word) == f"flow cache: {word}\n"
        st = json.loads(fw.ok("status", "--json"))
        assert st["flow_cache"] is (word == "on") and st["serial"] == serial + 1
        serial = st["serial"]
        assert f"flow cache {word}" in fw.ok("status")
        assert fw.ok("cache") == f"flow cache: {word}\n"
        # the rules are untouched, and the verdicts too
        assert [r["id"] for r in fw.rules()] == [1]
        assert replay_cpu0(fw, [u4(), u4(), u4(dport=10)], FW_O)[0] == \
            ["XDP_DROP", "XDP_DROP", "XDP_PASS"]
    assert "usage: netsieve [--pin-dir DIR] cache [on|off]" in fw.ok("cache", "--help")


@pytest.mark.parametrize("args,needle", [
    (["maybe"], "cache: expected on or off, not 'maybe'"),
    (["off", "now"], "cache: unexpected 'now'"),
])
def test_cache_command_bad_input_changes_nothing(pin_dir, args, needle):
    fw = Firewall(pin_dir)
    serial = json.loads(fw.ok("status", "--json"))["serial"]
    one_line_error(fw.cli("cache", *args), 2, needle)
    st = json.loads(fw.ok("status", "--json"))
    assert st["serial"] == serial and st["flow_cache"] is True


def test_every_change_gives_each_table_a_new_stamp(pin_dir):
    """The (gen, epoch) pair of every table is new after every change, and
    consecutive epochs differ in one bit (a Gray count: a reader racing the
    update sees the old or the new value, never a mix).  Bit 31 is the
    cache's on switch."""
    fw = Firewall(pin_dir)
    seen = {t: set() for t in ("xdp", "ingress", "egress")}
    last = {}

    def words():
        return {t: (v["gen"], v["epoch"])
                for t, v in json.loads(fw.ok("status", "--json"))["tables"].items()}

    for i in range(40):
        if i == 20:
            fw.ok("cache", "off")
        elif i == 25:
            fw.ok("cache", "on")
        else:
            fw.ok("rule", "add", "proto", "udp", "dport", str(i + 1), "action", "drop")
        for t, (gen, epoch) in words().items():
            assert (gen, epoch) not in seen[t], (i, t)
            seen[t].add((gen, epoch))
            assert bool(epoch & 0x80000000) == (not 20 <= i < 25), (i, t)
            if t in last:
                assert gen == last[t][0] ^ 1
                assert bin((epoch ^ last[t][1]) & 0x7fffffff).count("1") == 1, (i, t)
            last[t] = (gen, epoch)


@pytest.mark.parametrize("name", ["cls_firewall.o", "cls_firewall_fc1.o"])
def test_tables_sharing_one_cache_do_not_share_entries(tmp, name):
    """Programs loaded from one object share its cache (bpftool loadall does
    that with cls_firewall.o's ingress and egress programs): the table is
    part of the key, so egress never takes ingress's result.  With 4096
    slots the table also moves the flow to another slot; the one-entry
    build makes both tables' entries meet, so only the key tells them
    apart."""
    cap = tmp / "f.pcap"
    pcaputil.write(cap, [u4()])
    fw_o = obj(name)
    script = f"""set -e
mount -t bpf bpf /sys/fs/bpf
N="{NETSIEVE} --pin-dir /sys/fs/bpf"
$N init {fw_o} >/dev/null
printf 'rule add table ingress proto udp dport 9 action drop\\n%s\\n' \\
  'rule add table egress proto udp dport 1 action drop' | $N load - >/dev/null
bpftool prog loadall {fw_o} /sys/fs/bpf/progs
for p in cls_fw_ingress cls_fw_egress cls_fw_ingress cls_fw_egress; do
  taskset -c 0 $N replay --json pinned:/sys/fs/bpf/progs/$p {cap} | grep '"index"'
done
"""
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = [json.loads(l)["verdict"] for l in r.stdout.splitlines()]
    assert got == ["TC_ACT_SHOT", "TC_ACT_OK", "TC_ACT_SHOT", "TC_ACT_OK"], got


def test_save_and_load_carry_the_cache_setting(pin_dir, bpffs):
    fw = Firewall(pin_dir)
    fw.load("rule add proto udp dport 9 action drop\n")
    assert "cache" not in fw.ok("save")                   # on: the default, not written
    fw.ok("cache", "off")
    saved = fw.ok("save")
    assert "\ncache off\n" in saved
    # into a fresh store: the setting comes back with the rules
    other = os.path.join(bpffs, os.path.basename(pin_dir) + "_b")
    os.mkdir(other)
    try:
        fw2 = Firewall(other)
        assert fw2.ok("cache") == "flow cache: on\n"
        fw2.load(saved)
        assert fw2.ok("cache") == "flow cache: off\n"
        assert fw2.ok("save").splitlines()[1:] == saved.splitlines()[1:]
        # a file without a cache line keeps the setting; one with it sets it
        fw2.load("rule add proto udp dport 10 action drop\n")
        assert fw2.ok("cache") == "flow cache: off\n"
        fw2.load("cache on\nrule add proto udp dport 10 action drop\n")
        assert fw2.ok("cache") == "flow cache: on\n"
        assert json.loads(fw2.ok("status", "--json"))["flow_cache"] is True
    finally:
        subprocess.run(["rm", "-rf", other])
    one_line_error(fw.cli("load", "-", input="cache maybe\n"), 3,
                   "-:1: cache: expected on or off", "nothing was changed")
    assert fw.ok("cache") == "flow cache: off\n"



NO_RULES = r"""
setup(("policy", "drop"))
print(verdicts(), len(filled()))
ns("policy", "pass")
print(verdicts())
ns("policy", "drop")
print(verdicts())
print(ns("stats", "--json").strip())
"""


def test_a_table_without_rules_is_cached_and_a_policy_change_misses(tmp):
    """The cache is checked before the table's header is read, so a table
    without rules is cached too: its entries hold the policy's verdict,
    counted in the policy's counter.  A policy change is a change like any
    other: the next packet is judged by the new policy, counters add up."""
    r = run_cache_script(NO_RULES, FW_O, [u4(), u4(), u4()], tmp)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    # one entry (CPU 0) filled by the first packet, hit by the next two
    assert out[:3] == ["['XDP_DROP', 'XDP_DROP', 'XDP_DROP'] 1",
                       "['XDP_PASS', 'XDP_PASS', 'XDP_PASS']",
                       "['XDP_DROP', 'XDP_DROP', 'XDP_DROP']"], r.stdout
    verd = table_stats({"netsieve": json.loads(out[3])})["verdicts"]
    assert verd["policy_drop"]["packets"] == 6 and verd["policy_pass"]["packets"] == 3, verd


MISS_FORGE = r"""
setup(("rule", "add", "proto", "udp", "dport", "1", "action", "drop"))
print(verdicts())
key, _, entry = filled()[-1]
stamp = int.from_bytes(entry[56:64], "little")
res = int.from_bytes(entry[64:68], "little")
for flip in (0, 1, 1 << 32, 1 << 63):
    write_entry(key, entry[:56] + (stamp ^ flip).to_bytes(8, "little") +
                (res | 1).to_bytes(4, "little") + entry[68:])
    print(hex(flip), verdicts())
"""


def test_the_never_hitting_build_never_hits(tmp):
    """build/xdp_firewall_fcmiss.o, the benchmark's miss rows and the
    differential tests' reference, must search every packet, whatever an
    entry's stamp: also one that differs from the table's in the generation
    bit only, as an entry filled between a change's two passes does after
    the flip.  The filled entry is forged to say drop, with its own stamp
    and with that stamp off in the generation, an epoch or the live bit
    (bits a real stamp can differ by); every replay must still pass (no
    rule matches)."""
    r = run_cache_script(MISS_FORGE, MISS_O, [u4()], tmp)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["['XDP_PASS']"] + [
        "%s ['XDP_PASS']" % f for f in ("0x0", "0x1", "0x100000000", "0x8000000000000000")
    ], r.stdout
