# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The XDP firewall on live traffic, in throwaway namespaces (tests/lab.py).

Traffic goes from namespace a to namespace b over a veth pair; the firewall
sits on b's end.  What arrives is counted by real sockets in b."""
import json
import os
import shutil
import subprocess
import time

import pytest
from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw, rdpcap, wrpcap

from conftest import ROOT, obj
from lab import Lab, lines

ATTACH = os.path.join(ROOT, "scripts", "xdp-attach")
DETACH = os.path.join(ROOT, "scripts", "xdp-detach")
FW_O = obj("xdp_firewall.o")


@pytest.fixture
def lab(bpffs):
    lb = Lab(bpffs)
    yield lb
    lb.close()
    shutil.rmtree(lb.mnt, ignore_errors=True)


def rule_packets(lab):
    st = json.loads(lab.netsieve("stats", "--json").stdout)
    return {r["id"]: r["packets"] for r in st["tables"][0]["rules"]}


def test_attach_with_script_configure_and_count(lab, tmp):
    r = lab.sh(ATTACH, lab.vb, "-v", ns=lab.b)
    assert "xdp_firewall attached to" in r.stdout and "ip -force link set" in r.stderr
    lab.netsieve("load", "-", input=f"""
set add blocked {lab.extra4[0]} 192.0.2.0/24
rule add src @blocked action drop
rule add proto tcp dport 22 src {lab.net}.0/24 action pass
rule add proto tcp dport 22 action drop
rule add proto icmp action drop
""")
    log_tcp, log_udp = tmp / "tcp.log", tmp / "udp.log"
    lab.start(lab.b, "tcp-server", lab.b4, 22, log_tcp)
    lab.start(lab.b, "udp-server", lab.b4, 5353, log_udp)
    assert not lab.ping(lab.b4), "ICMP must be dropped"
    assert lab.peer(lab.a, "tcp-connect", lab.b4, 22).returncode == 0, "ssh from the lab prefix"
    assert lab.peer(lab.a, "tcp-connect", lab.b4, 22, lab.extra4[0]).returncode != 0, "blocked source"
    lab.peer(lab.a, "udp-send", lab.b4, 5353, 5, "", "ok")
    lab.peer(lab.a, "udp-send", lab.b4, 5353, 3, lab.extra4[0], "blocked")
    time.sleep(0.5)
    assert lines(log_udp) == ["ok"] * 5
    assert lines(log_tcp) == [lab.a4]
    hits = rule_packets(lab)
    assert hits[4] >= 1          # the ICMP echo
    assert hits[1] >= 3 + 1      # 3 UDP + at least one SYN from the blocked source
    assert hits[2] >= 1          # the SSH handshake
    # --zero prints what it zeroes, then every counter of the table is 0
    r = lab.netsieve("stats", "--zero", "table", "xdp", "--json")
    assert "counters zeroed (table xdp)" in r.stderr
    shown = {x["id"]: x["packets"] for x in json.loads(r.stdout)["tables"][0]["rules"]}
    assert shown[1] >= hits[1] and shown[4] >= hits[4]
    st = json.loads(lab.netsieve("stats", "--json").stdout)["tables"][0]
    assert [x["packets"] for x in st["rules"]] == [0, 0, 0, 0]
    # (policy counts may move again: the lab's own IPv6 ND goes on)
    assert st["verdicts"]["rule_drop"]["packets"] == 0 == st["verdicts"]["rule_pass"]["packets"]
    assert not lab.ping(lab.b4)
    assert rule_packets(lab)[4] >= 1, "counting goes on after --zero"
    # replace: same id, counters from zero, the new match works live
    lab.netsieve("rule", "replace", "4", "proto", "icmp", "icmp-type", "8", "action", "drop")
    assert rule_packets(lab)[4] == 0
    assert not lab.ping(lab.b4)
    assert rule_packets(lab)[4] >= 1
    st = json.loads(lab.netsieve("status", "--json").stdout)
    att = [a for p in st["programs"] for a in p["attached"]]
    assert {"dev": lab.vb, "hook": "xdp native"} in att


def test_raw_ip_link_attach_and_reattach_keep_rules(lab):
    """Plain ip, no script: the maps get pinned by ip and the CLI finds them."""
    lab.sh("ip", "link", "set", "dev", lab.vb, "xdp", "obj", FW_O, "sec", "xdp", ns=lab.b)
    lab.netsieve("rule", "add", "proto", "icmp", "action", "drop")
    assert not lab.ping(lab.b4)
    # Detach: traffic flows, the rule stays.
    lab.sh(DETACH, lab.vb, ns=lab.b)
    assert lab.ping(lab.b4)
    assert "proto icmp action drop" in lab.netsieve("rule", "list").stdout
    # Re-attach with the script, then replace in place with a fresh load.
    lab.sh(ATTACH, lab.vb, ns=lab.b)
    assert not lab.ping(lab.b4)
    lab.sh("ip", "-force", "link", "set", "dev", lab.vb, "xdp", "obj", FW_O, "sec", "xdp", ns=lab.b)
    assert not lab.ping(lab.b4)
    # Generic mode works the same.
    lab.sh(ATTACH, lab.vb, "--mode", "generic", ns=lab.b)
    assert not lab.ping(lab.b4)
    lab.sh(DETACH, lab.vb, ns=lab.b)
    assert lab.ping(lab.b4)


def test_scripts_refuse_foreign_programs_and_bad_devices(lab):
    seed = obj("seed_xdp.o")
    lab.sh("ip", "link", "set", "dev", lab.vb, "xdp", "obj", seed, "sec", "xdp", ns=lab.b)
    r = lab.sh(ATTACH, lab.vb, ns=lab.b, check=False)
    assert r.returncode == 1 and "seed_xdp" in r.stderr and "--force" in r.stderr
    r = lab.sh(DETACH, lab.vb, ns=lab.b, check=False)
    assert r.returncode == 1 and "not netsieve's" in r.stderr
    assert "seed_xdp" in lab.sh("ip", "-d", "link", "show", lab.vb, ns=lab.b).stdout
    r = lab.sh(ATTACH, lab.vb, "--force", ns=lab.b)
    assert "xdp_firewall attached" in r.stdout
    r = lab.sh(ATTACH, "nosuchdev", ns=lab.b, check=False)
    assert r.returncode == 1 and "no network device 'nosuchdev'" in r.stderr
    r = lab.sh(ATTACH, ns=lab.b, check=False)
    assert r.returncode == 2 and "usage" in r.stderr
    r = lab.sh(ATTACH, lab.vb, "--mode", "turbo", ns=lab.b, check=False)
    assert r.returncode == 1 and "--mode" in r.stderr
    assert "no XDP program" in lab.sh(DETACH, lab.va, ns=lab.a).stdout


def test_atomic_load_under_traffic(lab, tmp):
    """Two rulesets that both drop port 7000 but would pass it if a packet saw
    one's bitmaps and the other's actions.  Flip between them while a stream
    of packets to 7000 and 7001 runs: not one 7000 packet may arrive."""
    A = "rule add proto udp dport 7000 action drop\nrule add proto udp dport 7001 action pass\npolicy drop\n"
    B = "rule add proto udp dport 7001 action drop\nrule add proto udp dport 7000 action drop\npolicy pass\n"
    lab.sh(ATTACH, lab.vb, ns=lab.b)
    lab.netsieve("load", "-", input=A)
    log0, log1 = tmp / "p7000.log", tmp / "p7001.log"
    lab.start(lab.b, "udp-server", lab.b4, 7000, log0)
    lab.start(lab.b, "udp-server", lab.b4, 7001, log1)
    sender = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.a}", "/usr/bin/python3",
                               os.path.join(ROOT, "tools", "netpeer"), "udp-stream",
                               lab.b4, "7000", "4", "x", "y"], stdout=subprocess.PIPE, text=True)
    lab.procs.append(sender)
    loads = 0
    t_end = time.time() + 3.5
    while time.time() < t_end:
        lab.netsieve("load", "-", input=B if loads % 2 == 0 else A)
        loads += 1
    sent = int(sender.communicate(timeout=10)[0].strip())
    time.sleep(0.3)
    assert loads >= 6 and sent > 1000
    assert lines(log0) == [], "a packet both rulesets drop got through"
    assert len(lines(log1)) > 0, "the A phases must have passed port 7001"


def test_live_matches_replay(lab, tmp):
    """Packets sent on the wire and the same packets replayed with the live
    configuration get the same verdicts."""
    lab.sh(ATTACH, lab.vb, ns=lab.b)
    lab.netsieve("load", "-", input=f"""
set add bad 198.51.100.0/24
rule add src @bad action drop
rule add proto udp dport 9000-9100 action drop
rule add proto tcp dport 80 action pass
rule add proto tcp action drop
""")
    vb_mac = json.loads(lab.sh("ip", "-j", "link", "show", lab.vb, ns=lab.b).stdout)[0]["address"]
    va_mac = json.loads(lab.sh("ip", "-j", "link", "show", lab.va, ns=lab.a).stdout)[0]["address"]
    pkts = []
    for i, (src, l4) in enumerate([
        (lab.a4, UDP(sport=1000, dport=9050)), (lab.a4, UDP(sport=1000, dport=9200)),
        ("198.51.100.9", UDP(sport=1, dport=53)), (lab.a4, TCP(sport=2000, dport=80)),
        (lab.a4, TCP(sport=2000, dport=81)), (lab.a4, ICMP()), ("198.51.101.9", TCP(dport=80)),
    ]):
        pkts.append(Ether(src=va_mac, dst=vb_mac) / IP(src=src, dst=lab.b4) / l4 /
                    Raw(f"pkt{i}".encode()))
    pcap = tmp / "sent.pcap"
    wrpcap(str(pcap), pkts)
    cap = tmp / "seen.pcap"
    dump = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.b}", "tcpdump", "-i", lab.vb,
                             "-U", "-w", str(cap), "-n", "udp or tcp or icmp"],
                            stderr=subprocess.PIPE)
    lab.procs.append(dump)
    time.sleep(1.0)
    send = f"from scapy.all import *; sendp(rdpcap('{pcap}'), iface='{lab.va}', verbose=0)"
    lab.sh("/usr/bin/python3", "-c", send, ns=lab.a)
    time.sleep(1.0)
    dump.terminate()
    dump.wait(timeout=5)
    # Raw bytes, not scapy layers: port 80 payloads decode as HTTP.
    frames = [bytes(p) for p in rdpcap(str(cap))]
    seen = {f"pkt{i}".encode() for i in range(len(pkts))
            if any(f"pkt{i}".encode() in fr for fr in frames)}
    r = lab.netsieve("replay", "--json", FW_O, pcap)
    verdicts = [json.loads(l)["verdict"] for l in r.stdout.splitlines() if '"index"' in l]
    assert verdicts == ["XDP_DROP", "XDP_PASS", "XDP_DROP", "XDP_PASS", "XDP_DROP",
                        "XDP_PASS", "XDP_PASS"]
    live = ["XDP_PASS" if f"pkt{i}".encode() in seen else "XDP_DROP" for i in range(len(pkts))]
    assert live == verdicts


def _xdp(lab, dev):
    out = lab.sh("ip", "-d", "link", "show", dev, ns=lab.b).stdout
    first = out.splitlines()[0]
    mode = next((w for w in first.split() if w.startswith("xdp")), None)
    name = out.split(" name ")[1].split()[0] if "prog/xdp" in out else None
    return mode, name


def test_xdp_attach_keeps_mode_checks_object_first_and_rolls_back(lab):
    # Again without --mode: the mode it runs in is kept.
    lab.sh(ATTACH, "lo", "--mode", "generic", ns=lab.b)
    r = lab.sh(ATTACH, "lo", ns=lab.b)
    assert "(generic," in r.stdout and _xdp(lab, "lo") == ("xdpgeneric", "xdp_firewall")
    # A mode the driver lacks: one line with ip's reason, the old attachment back.
    r = lab.sh(ATTACH, "lo", "--mode", "native", ns=lab.b, check=False)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "native" in r.stderr and "runs in generic mode again" in r.stderr
    assert _xdp(lab, "lo") == ("xdpgeneric", "xdp_firewall")
    # Not the firewall's object: refused before anything changes.
    lab.sh(ATTACH, lab.vb, ns=lab.b)
    # status tells the two modes apart
    st = json.loads(lab.netsieve("status", "--json").stdout)
    att = [a for p in st["programs"] for a in p["attached"]]
    assert {"dev": "lo", "hook": "xdp generic"} in att and \
        {"dev": lab.vb, "hook": "xdp native"} in att, att
    for other in (obj("seed_xdp.o"), obj("cls_firewall.o")):
        r = lab.sh(ATTACH, lab.vb, "--obj", other, "--force", ns=lab.b, check=False)
        assert r.returncode == 1 and "has no program xdp_firewall" in r.stderr
        assert _xdp(lab, lab.vb) == ("xdp", "xdp_firewall")
    # -v: the exact, pasteable command with the pin location.
    r = lab.sh(DETACH, lab.vb, "-v", ns=lab.b)
    assert f"+ TC_BPF_MNT={lab.mnt} ip link set dev {lab.vb} xdpdrv off" in r.stderr


def test_xdp_state_is_not_fooled_by_a_bridge_named_xdp(lab):
    lab.sh("ip", "link", "add", "name", "xdp", "type", "bridge", ns=lab.b)
    lab.sh("ip", "link", "add", "brp0", "type", "veth", "peer", "name", "brp1", ns=lab.b)
    lab.sh("ip", "link", "set", "brp0", "master", "xdp", ns=lab.b)
    r = lab.sh(ATTACH, "brp0", ns=lab.b)
    assert "xdp_firewall attached to brp0 (native" in r.stdout
    assert "no XDP program" in lab.sh(DETACH, "brp1", ns=lab.b).stdout


def test_scripts_refuse_a_pin_location_that_is_not_bpffs(lab, tmp):
    for mnt, needle in ((str(tmp / "nope"), "does not exist"), (str(tmp), "not a bpf filesystem")):
        env = dict(lab.env, TC_BPF_MNT=mnt)
        r = lab.sh(ATTACH, lab.vb, ns=lab.b, env=env, check=False)
        assert r.returncode == 1 and needle in r.stderr and len(r.stderr.splitlines()) == 1
        assert _xdp(lab, lab.vb) == (None, None)
    assert not (tmp / "nope").exists()


def test_xdp_detach_force_removes_a_foreign_program(lab):
    """xdp-detach --force detaches a program that is not netsieve's (S1
    refused it even with --force)."""
    seed = obj("seed_xdp.o")
    lab.sh("ip", "link", "set", "dev", lab.vb, "xdp", "obj", seed, "sec", "xdp", ns=lab.b)
    r = lab.sh(DETACH, lab.vb, "--force", ns=lab.b, check=False)
    assert r.returncode == 0, r.stderr
    assert "seed_xdp" in r.stdout and "detached" in r.stdout
    assert "seed_xdp" not in lab.sh("ip", "-d", "link", "show", lab.vb, ns=lab.b).stdout
