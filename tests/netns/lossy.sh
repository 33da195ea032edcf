#!/usr/bin/env bash
# Reliability across hosts: three namespaced hosts drop a share of the eventcast datagrams
# arriving at each of them (nftables, numgen random), while two of them send 2,000 small and
# 100 x 64 KB events each at once. Every listener must get every event exactly once, in each
# sender's order. Also: a burst of 20,000 small events with no loss configured.
# Prints a table of figures, then "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "lossy netns suite"
if ! command -v nft >/dev/null; then
    echo "SKIPPED lossy netns suite: nft (nftables) is not installed"
    echo "lossy: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
make_hosts 3
PORT=9800
SMALL=${SMALL:-2000}
BIG=${BIG:-100}
FIGURES="$WORK/figures"

# drop_input PERCENT: every host drops that share of incoming eventcast datagrams
drop_input() { drop_udp_input "$1" $HOSTS; }

dropped_total() {
    local total=0 n
    for h in $HOSTS; do
        n=$(ip netns exec "$P-$h" nft list ruleset 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -1)
        total=$((total + ${n:-0}))
    done
    echo "$total"
}

# overflow_total: datagrams the hosts' kernels dropped because a socket buffer was full
overflow_total() {
    local total=0 n
    for h in $HOSTS; do
        n=$(ip netns exec "$P-$h" awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp)
        total=$((total + ${n:-0}))
    done
    echo "$total"
}

# workload HOST: JSON lines of SMALL small events with BIG 64 KB events spread among them
workload() {
    python3 - "$1" "$SMALL" "$BIG" <<'EOF'
import base64, json, sys
host, small, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blob = base64.b64encode(bytes(range(256)) * 250).decode()  # 64,000 bytes
total = small + big
every = total // big if big else total + 1
for i in range(total):
    if big and i % every == every - 1 and i // every < big:
        args = [i, {"$binary": {"base64": blob, "subType": "00"}}]
    else:
        args = [i, "small event %d from %s" % (i, host)]
    print(json.dumps({"event": "%s.e%d" % (host, i), "args": args}))
EOF
}

# verify FILE: each sender's events exactly once, in order, complete
verify() {
    python3 - "$1" "$((SMALL + BIG))" <<'EOF'
import json, sys
path, total = sys.argv[1], int(sys.argv[2])
per = {}
for line in open(path):
    ev = json.loads(line)
    host, n = ev["event"].split(".e")
    per.setdefault(host, []).append(int(n))
    assert ev["args"][0] == int(n), ev["event"]
    if not isinstance(ev["args"][1], str):
        assert len(ev["args"][1]["$binary"]["base64"]) == 85336, "64 KB event corrupted"
for host in ("h1", "h2"):
    got = per.get(host, [])
    assert got == list(range(total)), "%s: %d events, first problem at %s" % (
        host, len(got), next((i for i, (a, b) in enumerate(zip(got, range(total))) if a != b), len(got)))
EOF
}

# lossy_exchange PERCENT: h1 and h2 send at once; h1, h2, h3 all listen
lossy_exchange() {
    local loss=$1 t0 t1
    local net=(--group 239.255.8.1 --port $PORT --interface eth0)
    drop_input "$loss"
    for h in h1 h2 h3; do
        listen "$h" "l$loss-$h" "${net[@]}" --count $((2 * (SMALL + BIG))) --timeout 180 --stats || return 1
    done
    workload h1 >"$WORK/h1.in"
    workload h2 >"$WORK/h2.in"
    t0=$(date +%s.%N)
    for h in h1 h2; do
        on "$h" emit "${net[@]}" --stdin --linger 5 --stats <"$WORK/$h.in" 2>"$WORK/s$loss-$h.err" &
        echo $! >"$WORK/s$loss-$h.pid"
    done
    local ok=0
    for h in h1 h2 h3; do
        finish "l$loss-$h" || { echo "listener on $h failed:"; tail -3 "$WORK/l$loss-$h.err"; ok=1; }
    done
    t1=$(date +%s.%N)
    for h in h1 h2; do wait "$(cat "$WORK/s$loss-$h.pid")" || ok=1; done
    [ $ok = 0 ] || return 1
    for h in h1 h2 h3; do
        verify "$WORK/l$loss-$h.out" || { echo "listener on $h:"; return 1; }
    done
    python3 - "$WORK" "$loss" "$(dropped_total)" "$t0" "$t1" "$(overflow_total)" >>"$FIGURES" <<'EOF'
import json, sys
work, loss, filtered, t0, t1, overflow = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
dropped = filtered + overflow
def last_json(path):
    for line in reversed(open(path).read().splitlines()):
        if line.startswith("{") and "events_in" in line:
            return json.loads(line)
senders = [last_json("%s/s%s-%s.err" % (work, loss, h)) for h in ("h1", "h2")]
receivers = [last_json("%s/l%s-%s.err" % (work, loss, h)) for h in ("h1", "h2", "h3")]
repairs = sum(s["repairs_sent"] for s in senders)
nacks = sum(r["nacks_sent"] for r in receivers)
delivered = sum(r["events_in"] for r in receivers)
lost = sum(r["events_lost"] for r in receivers)
print("| %s%% | %d | %d | %d + %d | %d | %d | %.2f | %.2f | %.1f |" % (
    loss, delivered, lost, filtered, overflow, nacks, repairs, repairs / max(dropped, 1), nacks / max(dropped, 1), t1 - t0))
EOF
}

burst() {
    local net=(--group 239.255.8.2 --port $PORT --interface eth0)
    drop_input 0
    listen h2 burst2 "${net[@]}" --count 20000 --timeout 60 || return 1
    listen h3 burst3 "${net[@]}" --count 20000 --timeout 60 || return 1
    on h1 emit "${net[@]}" --repeat 20000 tick '"burst"' --linger 2 || return 1
    finish burst2 && finish burst3 || { tail -n 3 "$WORK/burst2.err" "$WORK/burst3.err"; return 1; }
    [ "$(wc -l <"$WORK/burst2.out")" = 20000 ] && [ "$(wc -l <"$WORK/burst3.out")" = 20000 ]
}

check "burst of 20,000 small events, no loss configured: all delivered to h2 and h3" burst
check "10% loss on every host: 2 senders x ($SMALL small + $BIG x 64 KB), exactly once, in order" lossy_exchange 10
check "20% loss on every host: 2 senders x ($SMALL small + $BIG x 64 KB), exactly once, in order" lossy_exchange 20

echo
echo "| loss per host | events delivered (3 receivers) | reported lost | datagrams dropped (filter + full socket buffer) | NACKs | repairs | repairs per drop | NACKs per drop | seconds |"
echo "|---|---|---|---|---|---|---|---|---|"
cat "$FIGURES" 2>/dev/null
echo
echo "lossy: $passed passed, $failed failed"
[ "$failed" = 0 ]
