# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""netsieve replay: every option and every bad input."""
import json
import os
import subprocess

import pytest

import pcaputil
from conftest import PCAP, ns, ns_json, obj, one_line_error

SEED = f"{PCAP}/seed.pcap"
SEED_O = obj("seed_xdp.o")
SUBJ_O = obj("replay_subject.o")


def packets(objs):
    return [o for o in objs if "index" in o]


# --- command line ----------------------------------------------------------

def test_help():
    r = ns("replay", "--help")
    assert r.returncode == 0
    assert "usage: netsieve [--pin-dir DIR] replay [options] OBJ PCAP" in r.stdout
    for opt in ("--prog", "--json", "--out", "--out-all", "--expect",
                "--private", "--ctx", "--bench"):
        assert opt in r.stdout


def test_global_help_and_version():
    r = ns("--help")
    assert r.returncode == 0 and "replay" in r.stdout and "exit codes" in r.stdout
    r = ns("--version")
    assert r.returncode == 0 and r.stdout.startswith("netsieve ")


def test_no_command_is_usage_error():
    r = ns()
    assert r.returncode == 2 and "usage:" in r.stderr


def test_unknown_command():
    one_line_error(ns("frobnicate"), 2, "unknown command 'frobnicate'")


def test_unknown_option():
    one_line_error(ns("replay", "--frob", SEED_O, SEED), 2, "unknown option", "--frob")


def test_option_missing_value():
    one_line_error(ns("replay", SEED_O, "--prog"), 2, "options go before OBJ and PCAP")
    one_line_error(ns("replay", "--prog"), 2, "missing value", "--prog")


def test_missing_operands():
    one_line_error(ns("replay", SEED_O), 2, "needs OBJ and PCAP")


def test_options_after_operands_refused():
    one_line_error(ns("replay", SEED_O, SEED, "--json"), 2, "'--json' after the operands")


def test_out_all_needs_out():
    one_line_error(ns("replay", "--out-all", SEED_O, SEED), 2, "--out-all needs --out")


@pytest.mark.parametrize("n", ["0", "-3", "abc", "100000001", "1e3"])
def test_bad_bench_count(n):
    one_line_error(ns("replay", "--bench", n, SEED_O, SEED), 2, "--bench")


# --- text and JSON output ---------------------------------------------------

def test_text_output_lines_and_summary():
    r = ns("replay", SEED_O, SEED)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["#", "verdict", "ret", "len_in", "len_out", "modified"]
    first = lines[1].split()
    assert first[:2] == ["1", "XDP_DROP"] and first[2] == "1"
    assert first[5] == "no"
    third = lines[3].split()
    assert third[:3] == ["3", "XDP_TX", "3"] and third[5] == "yes"
    assert "summary: 12 packets through seed_xdp (xdp): 12 run, 0 not runnable" in r.stdout
    assert "XDP_TX" in r.stdout and "maps: private" in r.stdout


def test_json_keys():
    r, objs = ns_json("replay", "--json", SEED_O, SEED)
    assert r.returncode == 0
    pk = packets(objs)
    assert len(pk) == 12
    for o in pk:
        for k in ("index", "verdict", "retval", "len_in", "len_out", "modified"):
            assert k in o
        assert "mark" not in o  # XDP: no skb context
    assert pk[0] == {"index": 1, "verdict": "XDP_DROP", "retval": 1,
                     "len_in": pk[0]["len_in"], "len_wire": pk[0]["len_in"],
                     "len_out": pk[0]["len_in"], "modified": False, "runnable": True}
    s = objs[-1]
    assert s["summary"] is True and s["packets"] == 12 and s["type"] == "xdp"
    assert s["program"] == "seed_xdp"
    assert s["verified_insns"] > 0


# Every shipped program, with what the kernel's verifier walked to accept it
# (the summary's verified_insns).  The limit is 1,000,000; an engine change
# that takes a program past VERIFIER_HEADROOM leaves too little room for the
# next one (and for other kernels' verifiers), so it fails here first.
VERIFIER_HEADROOM = 500_000
SHIPPED = [("xdp_firewall.o", None), ("cls_firewall.o", "cls_fw_ingress"),
           ("cls_firewall.o", "cls_fw_egress"), ("cls_classify.o", "cls_classify_ingress"),
           ("cls_classify.o", "cls_classify_egress"), ("cls_classify.o", "cls_classify_classic"),
           ("cls_http.o", "cls_http_ingress"), ("cls_http.o", "cls_http_egress")]


@pytest.mark.parametrize("name,prog", SHIPPED, ids=[p or n for n, p in SHIPPED])
def test_verifier_headroom(name, prog):
    args = ["replay", "--private", "--json", "--quiet"] + (["--prog", prog] if prog else [])
    r, objs = ns_json(*args, obj(name), SEED)
    assert r.returncode == 0, r.stderr
    assert 0 < objs[-1]["verified_insns"] < VERIFIER_HEADROOM


def test_quiet_prints_only_summary():
    r = ns("replay", "--quiet", SEED_O, SEED)
    assert r.returncode == 0
    assert r.stdout.startswith("summary: 12 packets")


def test_pcapng_input():
    a, oa = ns_json("replay", "--json", SEED_O, SEED)
    b, ob = ns_json("replay", "--json", SEED_O, f"{PCAP}/seed.pcapng")
    assert b.returncode == 0, b.stderr
    assert packets(oa) == packets(ob)


# --- --prog and program selection -----------------------------------------

def test_several_programs_need_prog():
    line = one_line_error(ns("replay", obj("parser_probe.o"), SEED), 2,
                          "2 programs", "probe_xdp", "probe_tc", "--prog")
    assert "choose one" in line


def test_prog_selects_tc_program():
    r, objs = ns_json("replay", "--json", "--prog", "probe_tc",
                      obj("parser_probe.o"), SEED)
    assert r.returncode == 0
    assert {o["verdict"] for o in packets(objs)} == {"TC_ACT_OK"}
    assert objs[-1]["type"] == "tc"


def test_unknown_prog():
    one_line_error(ns("replay", "--prog", "nope", obj("parser_probe.o"), SEED), 4,
                   "no program named 'nope'", "probe_xdp")


def test_wrong_program_type():
    one_line_error(ns("replay", obj("wrong_type.o"), SEED), 4,
                   "sock_filter_prog", "netsieve runs xdp and tc programs")


# --- --out / --out-all ------------------------------------------------------

def test_out_omits_dropped_and_keeps_timestamps(tmp):
    out = tmp / "o.pcap"
    r, objs = ns_json("replay", "--json", "--out", out, SEED_O, SEED)
    assert r.returncode == 0
    inp, _ = pcaputil.read(SEED)
    got, linktype = pcaputil.read(out)
    assert linktype == 1
    kept = [i for i, o in enumerate(packets(objs)) if o["verdict"] != "XDP_DROP"]
    assert len(got) == len(kept) == objs[-1]["written"]
    for rec, i in zip(got, kept):
        assert rec[0] == inp[i][0] and rec[1] == inp[i][1], "timestamp kept"


def test_out_all_writes_everything(tmp):
    out = tmp / "o.pcap"
    r = ns("replay", "--out-all", "--out", out, SEED_O, SEED)
    assert r.returncode == 0
    assert len(pcaputil.read(out)[0]) == 12


def test_out_grown_packets_keep_wire_length(tmp):
    out = tmp / "o.pcap"
    r = ns("replay", "--prog", "probe_xdp", "--out", out, obj("parser_probe.o"), SEED)
    assert r.returncode == 0
    inp, _ = pcaputil.read(SEED)
    got, _ = pcaputil.read(out)
    from flowdesc import HDR_SIZE  # the probe's record in front of each frame
    for a, b in zip(inp, got):
        assert b[2] == a[2] + HDR_SIZE and b[3] == a[3] + HDR_SIZE


def test_out_unwritable(tmp):
    r = ns("replay", "--out", "/nonexistent-dir/o.pcap", SEED_O, SEED)
    one_line_error(r, 3, "/nonexistent-dir/o.pcap")


def test_out_not_left_behind_on_damaged_capture(tmp):
    out = tmp / "o.pcap"
    r = ns("replay", "--out", out, SEED_O, f"{PCAP}/bad/truncated.pcap")
    assert r.returncode == 3
    assert not out.exists()
    assert os.listdir(tmp) == []


# --- --expect ----------------------------------------------------------------

def write(tmp, name, text):
    p = tmp / name
    p.write_text(text)
    return p


def test_expect_ranges_and_star(tmp):
    exp = write(tmp, "e", "* XDP_PASS\n1 XDP_DROP\n3 xdp_tx\n6 XDP_DROP\n"
                          "7-8 XDP_TX  # bounced\n10 XDP_DROP\n")
    r = ns("replay", "--expect", exp, SEED_O, SEED)
    assert r.returncode == 0, r.stdout
    assert "expect: 0 mismatches" in r.stdout


def test_expect_mismatch_exit_1(tmp):
    exp = write(tmp, "e", "1 XDP_PASS\n2-3 XDP_PASS\n")
    r = ns("replay", "--expect", exp, SEED_O, SEED)
    assert r.returncode == 1
    mism = [l for l in r.stdout.splitlines() if l.startswith("MISMATCH")]
    assert mism == [
        f"MISMATCH packet 1: expected XDP_PASS ({exp} line 1), got XDP_DROP",
        f"MISMATCH packet 3: expected XDP_PASS ({exp} line 2), got XDP_TX",
    ]


def test_expect_mismatch_json(tmp):
    exp = write(tmp, "e", "1 XDP_PASS\n")
    r, objs = ns_json("replay", "--json", "--expect", exp, SEED_O, SEED)
    assert r.returncode == 1
    assert {"mismatch": True, "index": 1, "expected": "XDP_PASS",
            "got": "XDP_DROP"} in objs


def test_expect_beyond_capture(tmp):
    exp = write(tmp, "e", "10-20 XDP_PASS\n")
    r = ns("replay", "--expect", exp, SEED_O, SEED)
    assert r.returncode == 1
    assert "expects packets up to 20, capture has 12" in r.stdout


def test_expect_one_past_the_end(tmp):
    exp = write(tmp, "e", "12 XDP_PASS\n13 XDP_PASS\n")
    r = ns("replay", "--expect", exp, SEED_O, SEED)
    assert r.returncode == 1
    assert [l for l in r.stdout.splitlines() if l.startswith("MISMATCH")] == [
        f"MISMATCH {exp} line 2: expects packets up to 13, capture has 12"]


def test_expect_not_runnable(tmp):
    exp = write(tmp, "e", "1 XDP_PASS\n2-3 NOT_RUNNABLE\n4 XDP_PASS\n")
    r = ns("replay", "--expect", exp, SEED_O, f"{PCAP}/bad/odd_sizes.pcap")
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("text,needle", [
    ("1\n", "expected 'N VERDICT'"),
    ("1 XDP_DROP extra\n", "expected 'N VERDICT'"),
    ("0 XDP_DROP\n", "not a packet number"),
    ("x XDP_DROP\n", "not a packet number"),
    ("5-2 XDP_DROP\n", "backwards"),
    ("1 TC_ACT_SHOT\n", "unknown XDP verdict 'TC_ACT_SHOT'"),
    ("1 DROP\n", "unknown XDP verdict 'DROP'"),
])
def test_expect_bad_file(tmp, text, needle):
    exp = write(tmp, "e", "# ok line\n" + text)
    line = one_line_error(ns("replay", "--expect", exp, SEED_O, SEED), 3, needle)
    assert ":2:" in line


def test_expect_missing_file():
    one_line_error(ns("replay", "--expect", "/nonexistent.expect", SEED_O, SEED),
                   3, "/nonexistent.expect")


# --- not runnable frames -----------------------------------------------------

def test_runt_and_jumbo_not_runnable_tc():
    """tc test runs refuse frames over about a page; nobody refuses silently."""
    r, objs = ns_json("replay", "--json", "--prog", "probe_tc",
                      obj("parser_probe.o"), f"{PCAP}/bad/odd_sizes.pcap")
    assert r.returncode == 0
    pk = packets(objs)
    assert [o["verdict"] for o in pk] == ["TC_ACT_OK", "NOT_RUNNABLE",
                                         "NOT_RUNNABLE", "TC_ACT_OK"]
    assert pk[1]["why"] == "runt" and pk[1]["len_in"] == 10
    assert pk[2]["why"] == "too_big" and pk[2]["len_in"] == 9000
    s = objs[-1]
    assert s["not_runnable"] == 2 and s["run"] == 2
    assert s["not_runnable_why"] == {"runt": 1, "too_big": 1}
    r = ns("replay", "--prog", "probe_tc", obj("parser_probe.o"),
           f"{PCAP}/bad/odd_sizes.pcap")
    assert "NOT_RUNNABLE         1 (shorter than 14 bytes)" in r.stdout
    assert "NOT_RUNNABLE         1 (longer than test-run accepts)" in r.stdout


def test_jumbo_needs_a_frags_aware_xdp_program(tmp):
    """An XDP test run puts what does not fit one buffer in fragments.  A
    program without frags support would see only the first buffer, which
    never happens live: such frames are NOT_RUNNABLE for it.  A frags-aware
    program (section xdp.frags) runs them whole."""
    r, objs = ns_json("replay", "--json", SEED_O, f"{PCAP}/bad/odd_sizes.pcap")
    pk = packets(objs)
    assert [o["verdict"] for o in pk] == ["XDP_PASS", "NOT_RUNNABLE",
                                         "NOT_RUNNABLE", "XDP_PASS"]
    assert pk[2]["why"] == "needs_frags" and pk[2]["len_in"] == 9000
    assert objs[-1]["not_runnable_why"] == {"runt": 1, "needs_frags": 1}
    r, objs = ns_json("replay", "--json", obj("frags_xdp.o"), f"{PCAP}/bad/odd_sizes.pcap")
    pk = packets(objs)
    assert [o["verdict"] for o in pk] == ["XDP_PASS", "NOT_RUNNABLE",
                                         "XDP_PASS", "XDP_PASS"]
    assert pk[2]["len_in"] == pk[2]["len_out"] == 9000
    # odd whole length, past one buffer: the program saw every byte
    from scapy.all import Ether, IP, Raw
    p = tmp / "odd.pcap"
    pcaputil.write(p, [bytes(Ether() / IP() / Raw(b"x" * (9001 - 34)))])
    r, objs = ns_json("replay", "--json", obj("frags_xdp.o"), p)
    assert packets(objs)[0]["verdict"] == "XDP_DROP"


def test_firewall_counts_whole_frames_up_to_one_buffer(pin_dir, tmp):
    """The firewall is not frags-aware: up to one buffer (3520 bytes with 4
    KiB pages) it runs and counts every byte; one byte more is NOT_RUNNABLE."""
    from fw import Firewall, FW_O, rule_hits
    from scapy.all import Ether, IP, TCP, Raw
    fw = Firewall(pin_dir)
    fw.ok("rule", "add", "proto", "tcp", "dport", "80", "action", "drop")
    limit = os.sysconf("SC_PAGESIZE") - 256 - 320
    hdr = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=80)
    frames = [bytes(hdr / Raw(b"x" * (n - len(hdr)))) for n in (limit, limit + 1)]
    verdicts, summary = fw.replay(frames)
    assert verdicts == ["XDP_DROP", "NOT_RUNNABLE"]
    st = [t for t in summary["netsieve"]["tables"] if t["table"] == "xdp"][0]
    assert st["rules"][0]["bytes"] == limit


# --- bad captures and objects -------------------------------------------------

def test_non_ethernet_linktype():
    r = ns("replay", SEED_O, f"{PCAP}/bad/raw_ip_linktype.pcap")
    one_line_error(r, 3, "link type RAW", "not Ethernet")
    assert r.stdout == ""


def test_truncated_capture():
    r = ns("replay", SEED_O, f"{PCAP}/bad/truncated.pcap")
    one_line_error(r, 3, "truncated.pcap", "damaged after packet 1")
    assert r.stdout == "", "nothing printed for a damaged capture"


def test_not_a_capture():
    one_line_error(ns("replay", SEED_O, f"{PCAP}/bad/not_a_capture.pcap"), 3,
                   "cannot read capture")


def test_missing_capture():
    one_line_error(ns("replay", SEED_O, "/nonexistent.pcap"), 3, "/nonexistent.pcap")


def test_missing_object():
    one_line_error(ns("replay", "/nonexistent.o", SEED), 4,
                   "/nonexistent.o", "No such file")


def test_not_an_object(tmp):
    p = write(tmp, "x.o", "not elf\n")
    one_line_error(ns("replay", p, SEED), 4, "not a BPF object file")


def test_verifier_rejection_shows_log():
    r = ns("replay", obj("bad_verifier.o"), SEED)
    assert r.returncode == 4
    first, *log = r.stderr.splitlines()
    assert first.startswith("netsieve: ") and "rejected by the kernel verifier" in first
    assert "bad_unchecked_read" in first
    assert any("invalid access to packet" in l for l in log), r.stderr


# --- maps: --pin-dir, --private ---------------------------------------------------

def pin_maps(pin_dir, verdict, count_start=0):
    """Create the subject's maps in pin_dir like an earlier load would."""
    vm = os.path.join(pin_dir, "nstest_verdict")
    cm = os.path.join(pin_dir, "nstest_cnt")
    subprocess.run(["bpftool", "map", "create", vm, "type", "array", "key", "4",
                    "value", "4", "entries", "1", "name", "nstest_verdict"], check=True)
    subprocess.run(["bpftool", "map", "create", cm, "type", "array", "key", "4",
                    "value", "8", "entries", "1", "name", "nstest_cnt"], check=True)
    subprocess.run(["bpftool", "map", "update", "pinned", vm, "key", "0", "0", "0", "0",
                    "value", str(verdict), "0", "0", "0"], check=True)
    return vm, cm


def read_u64(path):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", path],
                         capture_output=True, text=True, check=True).stdout
    return int.from_bytes(bytes(int(b, 16) for b in json.loads(out)[0]["value"]), "little")


def test_pinned_maps_are_reused(pin_dir):
    pin_maps(pin_dir, 1)  # XDP_DROP
    r, objs = ns_json("replay", "--json", "--prog", "subj_xdp", SUBJ_O, SEED,
                      pin_dir=pin_dir)
    assert r.returncode == 0, r.stderr
    assert {o["verdict"] for o in packets(objs)} == {"XDP_DROP"}
    assert objs[-1]["maps"]["pinned"] == 1  # verdict map shared, counter not


def test_counters_stay_private(pin_dir):
    _, cm = pin_maps(pin_dir, 1)
    r = ns("replay", "--prog", "subj_xdp", SUBJ_O, SEED, pin_dir=pin_dir)
    assert r.returncode == 0
    assert read_u64(cm) == 0, "replay must not add to pinned counters"


def test_private_ignores_pins(pin_dir):
    pin_maps(pin_dir, 1)
    r, objs = ns_json("replay", "--json", "--private", "--prog", "subj_xdp",
                      SUBJ_O, SEED, pin_dir=pin_dir)
    assert {o["verdict"] for o in packets(objs)} == {"XDP_PASS"}
    assert objs[-1]["maps"]["pinned"] == 0


def test_nothing_pinned_means_private_and_no_pins_created(pin_dir):
    r, objs = ns_json("replay", "--json", "--prog", "subj_xdp", SUBJ_O, SEED,
                      pin_dir=pin_dir)
    assert r.returncode == 0
    assert {o["verdict"] for o in packets(objs)} == {"XDP_PASS"}
    assert os.listdir(pin_dir) == []


def test_pin_dir_is_a_global_option(pin_dir):
    pin_maps(pin_dir, 1)
    r = ns("replay", "--pin-dir", pin_dir, "--prog", "subj_xdp", SUBJ_O, SEED)
    assert r.returncode == 2, "--pin-dir belongs before the subcommand"


def test_pin_dir_not_bpffs(tmp):
    one_line_error(ns("replay", SEED_O, SEED, pin_dir=str(tmp)), 5,
                   "not a directory on a bpf filesystem")


def test_pin_dir_missing():
    one_line_error(ns("replay", SEED_O, SEED, pin_dir="/nonexistent/pins"), 5,
                   "/nonexistent/pins")


def test_pinned_map_layout_mismatch(pin_dir):
    vm = os.path.join(pin_dir, "nstest_verdict")
    subprocess.run(["bpftool", "map", "create", vm, "type", "array", "key", "4",
                    "value", "8", "entries", "1", "name", "nstest_verdict"], check=True)
    one_line_error(ns("replay", "--prog", "subj_xdp", SUBJ_O, SEED, pin_dir=pin_dir),
                   4, "nstest_verdict", "another layout")


# --- tc context ------------------------------------------------------------------

def test_tc_ctx_mark_priority():
    r, objs = ns_json("replay", "--json", "--prog", "subj_tc", "--private",
                      "--ctx", "mark=41,priority=0x5", SUBJ_O, SEED)
    assert r.returncode == 0, r.stderr
    for o in packets(objs):
        assert o["verdict"] == "TC_ACT_OK"
        assert o["mark"] == 42 and o["priority"] == 0x10005


def test_tc_ctx_default_zero():
    r, objs = ns_json("replay", "--json", "--prog", "subj_tc", "--private", SUBJ_O, SEED)
    assert packets(objs)[0]["mark"] == 1 and packets(objs)[0]["priority"] == 0x10000


def test_tc_ctx_ifindex_lo():
    r, objs = ns_json("replay", "--json", "--prog", "subj_tc", "--private",
                      "--ctx", "ifindex=1", SUBJ_O, SEED)
    assert r.returncode == 0, r.stderr


def test_tc_ctx_ifindex_missing_device():
    one_line_error(ns("replay", "--prog", "subj_tc", "--private", "--ctx",
                      "ifindex=987654", SUBJ_O, SEED), 5, "ifindex=987654", "no such device")


@pytest.mark.parametrize("ctx,needle", [
    ("mark", "not KEY=VALUE"),
    ("mark=x", "needs a number"),
    ("mark=4294967296", "needs a number"),
    ("tos=1", "unknown key 'tos'"),
])
def test_tc_ctx_bad(ctx, needle):
    one_line_error(ns("replay", "--prog", "subj_tc", "--ctx", ctx, SUBJ_O, SEED), 2, needle)


def test_ctx_on_xdp_refused():
    one_line_error(ns("replay", "--ctx", "mark=1", SEED_O, SEED), 2,
                   "--ctx applies to tc programs")


# --- --bench ------------------------------------------------------------------

def test_bench_times_unmodified_packets_only():
    r, objs = ns_json("replay", "--json", "--bench", "1000", SEED_O, SEED)
    assert r.returncode == 0
    for o in packets(objs):
        if o["modified"]:
            assert o["ns"] is None
        else:
            assert isinstance(o["ns"], int) and o["ns"] >= 0
    b = objs[-1]["bench"]
    assert b["repeat"] == 1000 and b["timed"] == 9 and b["not_timed"] == 3
    r = ns("replay", "--bench", "1000", SEED_O, SEED)
    assert "rewrites" in r.stdout
    assert "bench: median" in r.stdout and "3 not timed (rewritten by the program)" in r.stdout


# --- what a capture cannot show, pipes, output errors -------------------------

def _syn_with_options():
    from scapy.all import Ether, IP, TCP
    return bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") /
                 TCP(dport=22, options=[("MSS", 1460), ("SAckOK", b""),
                                        ("Timestamp", (1, 2)), ("NOP", None),
                                        ("WScale", 7)]))


def test_cut_records_are_flagged(pin_dir, tmp):
    """A record cut by the snaplen is judged on what was captured (here the
    TCP options are missing: unusable, policy pass), and replay says so per
    packet and in the summary, because a live program sees the whole frame."""
    from fw import Firewall, FW_O
    fw = Firewall(pin_dir)
    fw.ok("rule", "add", "proto", "tcp", "dport", "22", "action", "drop")
    frame = _syn_with_options()
    assert len(frame) == 74
    whole, cut = tmp / "whole.pcap", tmp / "cut.pcap"
    pcaputil.write_records(whole, [(1, 0, 74, 74, frame)])
    pcaputil.write_records(cut, [(1, 0, 64, 74, frame[:64])])
    r, objs = ns_json("replay", "--json", FW_O, whole, pin_dir=pin_dir)
    assert packets(objs)[0]["verdict"] == "XDP_DROP"
    assert packets(objs)[0]["len_wire"] == 74 and objs[-1]["cut"] == 0
    r, objs = ns_json("replay", "--json", FW_O, cut, pin_dir=pin_dir)
    p = packets(objs)[0]
    assert (p["verdict"], p["len_in"], p["len_wire"]) == ("XDP_PASS", 64, 74)
    assert objs[-1]["cut"] == 1
    r = ns("replay", FW_O, cut, pin_dir=pin_dir)
    assert r.returncode == 0
    assert "(cut: 74 bytes on the wire)" in r.stdout.splitlines()[1]
    assert "cut by the capture's snaplen: 1" in r.stdout


def test_capture_from_pipe_and_stdin(tmp):
    """A capture that can be read only once (stdin, a FIFO) is read into
    memory: both passes see it, and a damaged one is still refused whole."""
    data = open(SEED, "rb").read()
    p = subprocess.run([obj("netsieve"), "replay", "--json", SEED_O, "-"],
                       input=data, capture_output=True)
    assert p.returncode == 0, p.stderr
    objs = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert objs[-1]["packets"] == 12
    fifo = tmp / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([obj("netsieve"), "replay", "--quiet", SEED_O, str(fifo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(fifo, "wb") as f:
        f.write(data)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"summary: 12 packets" in out
    bad = open(f"{PCAP}/bad/truncated.pcap", "rb").read()
    p = subprocess.run([obj("netsieve"), "replay", SEED_O, "-"], input=bad,
                       capture_output=True)
    assert p.returncode == 3 and p.stdout == b"", "no output before the error"
    assert b"capture is damaged" in p.stderr
    p = subprocess.run([obj("netsieve"), "replay", SEED_O, "-"], input=b"",
                       capture_output=True)
    assert p.returncode == 3 and b"-: cannot read capture: it is empty" in p.stderr


def test_many_verdicts_all_counted(pin_dir, tmp):
    """Every distinct verdict is counted (classic mode: one per class)."""
    from fw import Firewall
    from scapy.all import Ether, IP, UDP
    fw = Firewall(pin_dir)
    fw.load("".join(f"rule add table egress proto udp dport {2000 + i} action classify 1:{i + 1:x}\n"
                    for i in range(80)))
    frames = [bytes(Ether() / IP() / UDP(dport=2000 + i)) for i in range(80)]
    path = tmp / "p.pcap"
    pcaputil.write(path, frames)
    r, objs = ns_json("replay", "--json", "--classic", "--prog", "cls_classify_classic",
                      obj("cls_classify.o"), path, pin_dir=pin_dir)
    assert r.returncode == 0, r.stderr
    v = objs[-1]["verdicts"]
    assert len(v) == 80 and sum(v.values()) == 80


def test_out_full_disk_fails_and_leaves_nothing(tmp):
    d = tmp / "small"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(d)], check=True)
    try:
        from scapy.all import Ether, IP, UDP, Raw
        big = tmp / "big.pcap"
        pcaputil.write(big, [bytes(Ether() / IP() / UDP() / Raw(b"x" * 1000))] * 100)
        (d / "o.pcap").write_bytes(b"old")
        r = ns("replay", "--quiet", "--out", d / "o.pcap", SEED_O, big)
        one_line_error(r, 3, "o.pcap: cannot write: No space left on device")
        assert sorted(os.listdir(d)) == ["o.pcap"]
        assert (d / "o.pcap").read_bytes() == b"old", "the old file is untouched"
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_stdout_write_error_fails():
    with open("/dev/full", "w") as full:
        r = subprocess.run([obj("netsieve"), "replay", SEED_O, SEED], stdout=full,
                           stderr=subprocess.PIPE, text=True)
    assert r.returncode == 5 and "cannot write the output" in r.stderr


def test_out_through_symlink_keeps_link_and_mode(tmp):
    real = tmp / "real.pcap"
    real.write_bytes(b"")
    os.chmod(real, 0o600)
    link = tmp / "link.pcap"
    os.symlink("real.pcap", link)
    r = ns("replay", "--out-all", "--out", link, SEED_O, SEED)
    assert r.returncode == 0, r.stderr
    assert os.path.islink(link)
    assert len(pcaputil.read(real)[0]) == 12
    assert os.stat(real).st_mode & 0o777 == 0o600


def test_out_removed_on_sigint(tmp):
    import signal
    import time
    from scapy.all import Ether, IP, UDP
    big = tmp / "big.pcap"
    pcaputil.write(big, [bytes(Ether() / IP() / UDP())] * 300000)
    out = tmp / "o.pcap"
    proc = subprocess.Popen([obj("netsieve"), "replay", "--out", str(out), SEED_O, str(big)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not any(n.startswith("o.pcap.tmp") for n in os.listdir(tmp)):
        assert time.time() < deadline and proc.poll() is None, "replay ended too soon"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGINT
    assert sorted(os.listdir(tmp)) == ["big.pcap"]


@pytest.mark.parametrize("args,needle", [
    (["--prog", ""], "--prog needs a program name"),
    (["--out", "-"], "--out '-': give a file name"),
])
def test_bad_prog_and_out_names(args, needle):
    one_line_error(ns("replay", *args, SEED_O, SEED), 2, needle)


def test_not_an_object_names_libbpf_error(tmp):
    one_line_error(ns("replay", "/bin/true", SEED), 4, "/bin/true",
                   "not a BPF object file", "BPF object format invalid")


def test_missing_capture_names_path_once():
    line = one_line_error(ns("replay", SEED_O, "/nonexistent.pcap"), 3)
    assert line.count("/nonexistent.pcap") == 1, line


def test_loaded_program_says_its_counters_are_live():
    """pinned:PATH runs the program as loaded, with its own maps: replay
    cannot keep its counters private and says so instead of 'private'.
    (bpftool pins the subject's by-name maps under /sys/fs/bpf: all of it
    runs in a private mount namespace with its own bpffs there.)"""
    nsv = obj("netsieve")
    script = f"""set -e
mount -t bpf bpf /sys/fs/bpf
bpftool prog loadall {SUBJ_O} /sys/fs/bpf/progs
{nsv} replay --json pinned:/sys/fs/bpf/progs/subj_xdp {SEED} | tail -n 1
{nsv} replay --stats pinned:/sys/fs/bpf/progs/subj_xdp {SEED}
"""
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[0])
    assert summary["maps"]["loaded"] is True
    assert "maps: the loaded program's own (live" in r.stdout
    assert "is a loaded program: its counters are the live ones" in r.stdout


def _pcapng_two_interfaces(path, second_linktype):
    import struct

    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    frame = bytes.fromhex("ffffffffffff0200000000010806") + b"\0" * 28  # ARP-ish
    data = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    data += block(1, struct.pack("<HHI", 1, 0, 262144))
    data += block(6, struct.pack("<IIIII", 0, 0, 0, len(frame), len(frame)) + frame)
    data += block(1, struct.pack("<HHI", second_linktype, 0, 262144))
    data += block(6, struct.pack("<IIIII", 1, 0, 0, len(frame), len(frame)) + frame)
    path.write_bytes(data)


def test_pcapng_later_interface_not_ethernet(tmp):
    p = tmp / "mixed.pcapng"
    _pcapng_two_interfaces(p, 113)
    one_line_error(ns("replay", SEED_O, p), 3, "link type LINUX_SLL", "not Ethernet")
    _pcapng_two_interfaces(p, 1)
    r = ns("replay", "--quiet", SEED_O, p)
    assert r.returncode == 0 and "summary: 2 packets" in r.stdout, r.stderr


def test_out_omits_not_runnable_packets(tmp):
    """--out without --out-all: dropped and not runnable packets are
    omitted (M19 wrote the runt)."""
    from scapy.all import Ether, IP, UDP
    good = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                 IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2))
    cap, out = tmp / "in.pcap", tmp / "o.pcap"
    pcaputil.write(cap, [b"\x00" * 10, good])
    r, objs = ns_json("replay", "--json", "--private", "--out", out, obj("xdp_firewall.o"), cap)
    assert r.returncode == 0, r.stderr
    assert objs[-1]["not_runnable"] == 1 and objs[-1]["written"] == 1
    got, _ = pcaputil.read(out)
    assert [g[4] for g in got] == [good]
