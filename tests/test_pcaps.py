# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The committed captures are exactly what pcap/gen_pcaps.py writes."""
import filecmp
import os
import subprocess

from conftest import PCAP, PYTHON


def committed():
    out = []
    for d, _, files in os.walk(PCAP):
        for f in files:
            if f.endswith((".pcap", ".pcapng")):
                out.append(os.path.relpath(os.path.join(d, f), PCAP))
    return sorted(out)


def test_regeneration_is_byte_identical(tmp_path):
    subprocess.run([PYTHON, os.path.join(PCAP, "gen_pcaps.py"), "--out", tmp_path],
                   check=True)
    made = sorted(os.path.relpath(os.path.join(d, f), tmp_path)
                  for d, _, files in os.walk(tmp_path) for f in files)
    assert made == committed()
    for rel in made:
        assert filecmp.cmp(tmp_path / rel, os.path.join(PCAP, rel), shallow=False), rel
