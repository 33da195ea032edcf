"""One Python process of the namespace suite (tests/netns/bindings.sh python), on a host of its own:

    python netns_peer.py listen IFACE PORT COUNT [PASSPHRASE]   # JSON lines, "listening" on stderr
    python netns_peer.py emit IFACE PORT N [PASSPHRASE]         # N events, a 150 KB one, "done"
"""
import json
import sys
import time

import eventcast

mode, iface, port, count = sys.argv[1:5]
key = {"passphrase": sys.argv[5]} if len(sys.argv) > 5 else {}
ec = eventcast.Eventcast(port=int(port), group="239.255.78.78", interface=iface, **key)
with ec:
    if mode == "listen":
        sub = ec.subscribe("**")
        print("listening", file=sys.stderr, flush=True)
        for _ in range(int(count)):
            ev = sub.get(timeout=60)
            args = [a.hex() if isinstance(a, bytes) else a for a in ev.args]
            print(json.dumps({"event": ev.name, "args": args, "from": ev.source}), flush=True)
    else:
        for i in range(int(count)):
            ec.emit("n", i, i * 10**12, bytes([i & 255]))
        ec.emit("big", "x" * 150_000)
        ec.emit("done")
        time.sleep(1.5)  # answer repair requests before leaving
