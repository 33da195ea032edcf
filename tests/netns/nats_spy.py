#!/usr/bin/env python3
"""A plain NATS subscriber (the text protocol over TCP, written here): subscribes to SUBJECT
on HOST:PORT for SECONDS and writes every message payload it sees to OUT, then prints how
many. Used to check what the NATS server sees of eventcast traffic."""
import socket, sys, time

host, port, subject, seconds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
s = socket.create_connection((host, port), timeout=5)
s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB %s 1\r\nPING\r\n' % subject.encode())
buf, payloads, end = b"", [], time.time() + seconds
s.settimeout(0.2)
while time.time() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        break
    buf += chunk
    while True:
        line_end = buf.find(b"\r\n")
        if line_end < 0:
            break
        line = buf[:line_end].split()
        if line and line[0] == b"MSG":
            size = int(line[-1])
            if len(buf) < line_end + 2 + size + 2:
                break
            payloads.append(buf[line_end + 2:line_end + 2 + size])
            buf = buf[line_end + 2 + size + 2:]
        else:
            if line and line[0] == b"PING":
                s.sendall(b"PONG\r\n")
            buf = buf[line_end + 2:]
open(out, "wb").write(b"\n---\n".join(payloads))
print(len(payloads))
