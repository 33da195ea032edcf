"""The Python peers eventcast is compared with, measured the way `bench/recv.py` and
`bench/send.py` measure eventcast: ~100 B messages, a sender as fast as it can go, a receiver
process with a no-op callback that prints one JSON line.

    python bench/peers.py zenoh-recv|zenoh-send|lcm-recv|lcm-send EVENTS PORT

zenoh-python: the receiver listens on tcp/127.0.0.1:PORT, the sender connects to it (no
scouting, so nothing depends on multicast); the publisher uses CongestionControl.BLOCK, so
zenoh slows the sender instead of dropping. LCM: udpm://239.255.76.67:PORT?ttl=0 (needs a
224.0.0.0/4 route on lo, which the harness adds in its namespace); LCM has no flow control
and no repair, so what it drops in a burst is reported as lost.
"""
import json
import resource
import sys
import threading
import time

role, events, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
PAYLOAD = b"\xab" * 100
count = 0
first = last = 0.0
done = threading.Event()


def on_message(*_):
    global count, first, last
    count += 1
    if count == 1:
        first = time.perf_counter()
    last = time.perf_counter()
    if count == events:
        done.set()


def report(stop_idle):
    # Wait until every message arrived or none arrived for `stop_idle` seconds.
    seen, quiet_since = -1, time.monotonic()
    deadline = time.monotonic() + 120
    while not done.is_set() and time.monotonic() < deadline:
        done.wait(0.1)
        if count != seen:
            seen, quiet_since = count, time.monotonic()
        elif count > 0 and time.monotonic() - quiet_since > stop_idle:
            break
    usage = resource.getrusage(resource.RUSAGE_SELF)
    seconds = last - first
    print(json.dumps({
        "mode": role, "events": events, "delivered": count, "lost": events - count,
        "seconds": seconds, "events_per_sec": (count - 1) / seconds if seconds > 0 else 0,
        "cpu_us_per_event": (usage.ru_utime + usage.ru_stime) * 1e6 / max(count, 1),
    }), flush=True)


def zenoh_session(listen):
    import zenoh
    conf = zenoh.Config()
    conf.insert_json5("scouting/multicast/enabled", "false")
    key = "listen/endpoints" if listen else "connect/endpoints"
    conf.insert_json5(key, json.dumps([f"tcp/127.0.0.1:{port}"]))
    return zenoh, zenoh.open(conf)


if role == "zenoh-recv":
    zenoh, session = zenoh_session(listen=True)
    sub = session.declare_subscriber("bench", on_message)
    print("zenoh bench: receiving", file=sys.stderr, flush=True)
    report(3)
    session.close()
elif role == "zenoh-send":
    zenoh, session = zenoh_session(listen=False)
    time.sleep(1)  # let the subscription reach the publisher
    pub = session.declare_publisher("bench", congestion_control=zenoh.CongestionControl.BLOCK)
    for _ in range(events):
        pub.put(PAYLOAD)
    time.sleep(1)
    session.close()
elif role in ("lcm-recv", "lcm-send"):
    import lcm
    lc = lcm.LCM(f"udpm://239.255.76.67:{port}?ttl=0&recv_buf_size=8388608")
    if role == "lcm-recv":
        lc.subscribe("bench", on_message)
        print("lcm bench: receiving", file=sys.stderr, flush=True)
        pump = threading.Thread(target=lambda: [lc.handle_timeout(100) for _ in iter(done.is_set, True)], daemon=True)
        pump.start()
        report(3)
    else:
        for _ in range(events):
            lc.publish("bench", PAYLOAD)
else:
    sys.exit(f"unknown role {role!r}: expected zenoh-recv, zenoh-send, lcm-recv or lcm-send")
