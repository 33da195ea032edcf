"""A Python receiver of `eventcast bench` events with a no-op callback: prints one JSON line
(events/s from first to last, delivered, CPU per event), as `eventcast bench --role recv`.

    python bench/recv.py EVENTS [PORT] [GROUP]
"""
import json
import resource
import sys
import threading
import time

import eventcast

events = int(sys.argv[1])
port = int(sys.argv[2]) if len(sys.argv) > 2 else 9300
group = sys.argv[3] if len(sys.argv) > 3 else "239.255.0.100"
done = threading.Event()
count = 0
first = last = 0.0


def on_event(ev):
    global count, first, last
    count += 1
    if count == 1:
        first = time.perf_counter()
    if count == events:
        last = time.perf_counter()
        done.set()


ec = eventcast.Eventcast(port=port, group=group, interface="127.0.0.1")
ec.on("bench", on_event)
cpu0 = resource.getrusage(resource.RUSAGE_SELF)
with ec:
    print("python bench: receiving", file=sys.stderr, flush=True)
    done.wait(60)
    stats = ec.stats()
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
seconds = (last or time.perf_counter()) - first
print(json.dumps({
    "mode": "python", "role": "recv", "events": events, "delivered": count, "lost": events - count,
    "seconds": seconds, "events_per_sec": (count - 1) / seconds if seconds > 0 else 0,
    "cpu_us_per_event": cpu * 1e6 / max(count, 1), "queue_full_waits": stats.get("queue_full_waits"),
}))
