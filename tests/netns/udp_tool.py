#!/usr/bin/env python3
"""The attacker's tools for tests/netns/security.sh: capture eventcast datagrams, replay
them (optionally tampered), inject plaintext, and flood with random and mutated datagrams.
Used only inside the test's own network namespaces."""

import random
import socket
import struct
import sys


def sender(iface):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return s


def capture(group, port, iface, count, out, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(iface))
    s.settimeout(seconds)
    print("capturing", flush=True)
    got = []
    try:
        while len(got) < count:
            got.append(s.recv(65536))
    except socket.timeout:
        pass
    with open(out, "wb") as f:
        for d in got:
            f.write(struct.pack(">I", len(d)) + d)
    print("captured %d" % len(got), flush=True)


def load(path):
    data, out = open(path, "rb").read(), []
    while data:
        (n,) = struct.unpack(">I", data[:4])
        out.append(data[4:4 + n])
        data = data[4 + n:]
    return out


def replay(group, port, iface, path, tamper):
    s, rng = sender(iface), random.Random(1)
    for d in load(path):
        if tamper:
            d = bytearray(d)
            d[rng.randrange(4, len(d))] ^= 0x01
            d = bytes(d)
        s.sendto(d, (group, port))


def inject_plain(group, port, iface):
    """A well-formed plaintext eventcast datagram carrying one event."""
    bson_doc = b"\x05\x00\x00\x00\x00"
    name = b"injected"
    payload = struct.pack(">H", len(name)) + name + bson_doc
    frame = bytes([0x01, 0x00]) + struct.pack(">H", 8 + len(payload)) + struct.pack(">Q", 0) + payload
    datagram = b"EC\x01\x00" + struct.pack(">Q", 0x5EED) + frame
    sender(iface).sendto(datagram, (group, port))


def flood(group, port, iface, count, path):
    s, rng = sender(iface), random.Random(7)
    samples = load(path) if path else []
    for i in range(count):
        kind = rng.randrange(3) if samples else 0
        if kind == 0:
            d = rng.randbytes(rng.randrange(0, 1400))
        elif kind == 1:
            d = bytearray(rng.choice(samples))
            for _ in range(rng.randrange(1, 8)):
                d[rng.randrange(len(d))] = rng.randrange(256)
            d = bytes(d)
        else:
            # a fragment of an absurd event from a random sender
            count_ = rng.randrange(2, 1 << 20)
            body = struct.pack(">QII", rng.getrandbits(64), rng.randrange(count_), count_) + rng.randbytes(900)
            d = b"EC\x01\x00" + struct.pack(">Q", rng.getrandbits(64)) + bytes([0x02, 0]) + struct.pack(">H", len(body)) + body
        try:
            s.sendto(d, (group, port))
        except OSError:
            pass


def frame(kind, body, flags=0):
    return bytes([kind, flags]) + struct.pack(">H", len(body)) + body


def dgram(sender_id, *frames):
    return b"EC\x01\x00" + struct.pack(">Q", sender_id) + b"".join(frames)


def deep_args(levels):
    """A BSON document nesting `levels` documents: {"0": {"0": ... {} ...}}."""
    doc = b"\x05\x00\x00\x00\x00"
    for _ in range(levels):
        doc = struct.pack("<I", len(doc) + 8) + b"\x03" + b"0\x00" + doc + b"\x00"
    return doc


def hostile(group, port, iface):
    """A sample of the attacks of issue 10 (docs/SECURITY.md, "Findings fixed")."""
    s = sender(iface)
    send = lambda d: s.sendto(d, (group, port))
    # 1. an EVENT with sequence 2^64-1 from a new sender (the report's 32 bytes)
    send(bytes.fromhex("45430100" "1111111111111111" "01000010" "ffffffffffffffff" "0001" "78" "0500000000"))
    # 2. arguments nesting 6,000 levels, as 1,024-byte fragments
    name = b"deep"
    payload = struct.pack(">H", len(name)) + name + deep_args(6000)
    chunk = 1024 - 12 - 20
    parts = [payload[i:i + chunk] for i in range(0, len(payload), chunk)]
    for i, part in enumerate(parts):
        send(dgram(0xDEE9, frame(0x02, struct.pack(">QII", 0, i, len(parts)) + part)))
    # 3. a sparse partial event (even fragments of 2^20), then a heartbeat
    for base in range(0, 40_000, 6_000):
        frames = [frame(0x02, struct.pack(">QII", 1, i, 1 << 20) + b"z") for i in range(base, base + 6_000, 2)]
        send(dgram(0x5BA55, *frames))
    send(dgram(0x5BA55, frame(0x10, struct.pack(">QQ", 2, 0))))
    # 4. one 60 KB datagram of 3,000 heartbeats climbing by 4,095
    send(dgram(0xBEA7, *[frame(0x10, struct.pack(">QQ", 4095 * i, 0)) for i in range(1, 3001)]))


def main():
    cmd, group, port, iface = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    rest = sys.argv[5:]
    if cmd == "capture":
        capture(group, port, iface, int(rest[0]), rest[1], float(rest[2]))
    elif cmd == "replay":
        replay(group, port, iface, rest[0], tamper=False)
    elif cmd == "tamper":
        replay(group, port, iface, rest[0], tamper=True)
    elif cmd == "inject-plain":
        inject_plain(group, port, iface)
    elif cmd == "hostile":
        hostile(group, port, iface)
    elif cmd == "flood":
        flood(group, port, iface, int(rest[0]), rest[1] if len(rest) > 1 else None)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
