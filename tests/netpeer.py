#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Tiny traffic peer for the live tests, run inside a namespace with nsenter.

  netpeer.py tcp-server ADDR PORT LOG     count accepted connections in LOG
  netpeer.py udp-server ADDR PORT LOG     one line per datagram (its payload)
  netpeer.py tcp-connect ADDR PORT [SRC]  exit 0 if the connection succeeds
  netpeer.py udp-send ADDR PORT COUNT [SRC] [PAYLOAD]
  netpeer.py udp-stream ADDR PORT SECONDS TAG... [SRC]  send "TAG seq" datagrams
                                                        round-robin, one port per TAG
"""
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def main(argv):
    mode = argv[1]
    if mode == "tcp-server":
        addr, port, log = argv[2], int(argv[3]), argv[4]
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        while True:
            c, peer = s.accept()
            with open(log, "a") as f:
                f.write(f"{peer[0]}\n")
            c.close()
    if mode == "udp-server":
        addr, port, log = argv[2], int(argv[3]), argv[4]
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.bind((addr, port))
        with open(log, "a", buffering=1) as f:
            while True:
                data, peer = s.recvfrom(2048)
                f.write(data.decode(errors="replace") + "\n")
    if mode == "tcp-connect":
        addr, port = argv[2], int(argv[3])
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.settimeout(1.5)
        if len(argv) > 4:
            s.bind((argv[4], 0))
        try:
            s.connect((addr, port))
        except OSError:
            return 1
        return 0
    if mode == "udp-send":
        addr, port, count = argv[2], int(argv[3]), int(argv[4])
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        if len(argv) > 5 and argv[5]:
            s.bind((argv[5], 0))
        payload = (argv[6] if len(argv) > 6 else "x").encode()
        for _ in range(count):
            s.sendto(payload, (addr, port))
        return 0
    if mode == "udp-stream":
        addr, port, secs = argv[2], int(argv[3]), float(argv[4])
        tags = argv[5:]
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        end = time.time() + secs
        seq = 0
        while time.time() < end:
            for i, tag in enumerate(tags):
                s.sendto(f"{tag} {seq}".encode(), (addr, port + i))
            seq += 1
            if seq % 64 == 0:
                time.sleep(0.0005)
        print(seq)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
