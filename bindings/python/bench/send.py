"""A Python sender of `eventcast bench`-shaped events (a sequence number, a send time in
ns, padding to about 100 bytes):

    python bench/send.py EVENTS [PORT] [GROUP]
"""
import sys
import time

import eventcast

events = int(sys.argv[1])
port = int(sys.argv[2]) if len(sys.argv) > 2 else 9300
group = sys.argv[3] if len(sys.argv) > 3 else "239.255.0.100"
pad = b"\xab" * 58
with eventcast.Eventcast(port=port, group=group, interface="127.0.0.1") as ec:
    for seq in range(events):
        ec.emit("bench", seq, time.time_ns(), pad)
    time.sleep(1)  # answer repair requests before leaving
