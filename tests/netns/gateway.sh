#!/usr/bin/env bash
# Beyond one LAN: two LANs on bridges of their own (no multicast path between them) joined by
# `eventcast gateway` through real nats-servers on a third network; unicast peers; an
# instance on NATS alone; encryption end to end through NATS. Needs root, nats-server, nft.
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "gateway netns suite"
for tool in nats-server nft; do
    if ! command -v $tool >/dev/null; then
        echo "SKIPPED gateway netns suite: $tool is not installed (apt-get install nats-server nftables)"
        echo "gateway: 0 passed, 0 failed, 1 skipped"
        exit 0
    fi
done
PORT=9900
LAN=(--group 239.255.9.1 --port $PORT --interface eth0)
N=${N:-600}

. tests/netns/lans.sh

# stream HOST LABEL COUNT ARGS…: emits COUNT events LABEL.i (i = 0…) with a 2 KB argument
stream() {
    local host=$1 label=$2 count=$3; shift 3
    python3 -c "
import json
for i in range($count):
    print(json.dumps({'event': '$label.w', 'args': ['$label', i, 'x' * 2000]}))" \
        | on "$host" emit "$@" --stdin --linger 6 2>"$WORK/emit-$label-$host.err"
}

# exact FILE LABEL COUNT: LABEL's events exactly once, in order
exact() {
    python3 - "$@" <<'PY'
import json, sys
path, label, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = [json.loads(l)["args"][1] for l in open(path) if json.loads(l)["args"][0] == label]
if got != list(range(count)):
    bad = next((i for i, (a, b) in enumerate(zip(got, range(count))) if a != b), len(got))
    print("%s in %s: %d events, first wrong at %d" % (label, path, len(got), bad))
    sys.exit(1)
PY
}

two_lans_through_nats() {
    nats n1 || return 1
    drop_udp_input 10 a1 a2 b1 b2 ga gb
    gateway ga gwa --nats nats://10.81.0.1:4222 || return 1
    gateway gb gwb --nats nats://10.81.0.1:4222 || return 1
    listen a2 two-a2 "${LAN[@]}" --count $((2 * N)) --timeout 90 || return 1
    listen b2 two-b2 "${LAN[@]}" --count $((2 * N)) --timeout 90 || return 1
    stream a1 fromA "$N" "${LAN[@]}" &
    local sa=$!
    stream b1 fromB "$N" "${LAN[@]}" &
    local sb=$!
    wait $sa $sb
    local ok=0
    finish two-a2 || { echo "a2:"; tail -3 "$WORK/two-a2.err"; ok=1; }
    finish two-b2 || { echo "b2:"; tail -3 "$WORK/two-b2.err"; ok=1; }
    drop_udp_input 0 a1 a2 b1 b2 ga gb
    stop_gateway gwa; stop_gateway gwb; stop_nats n1
    [ $ok = 0 ] || return 1
    for h in a2 b2; do
        exact "$WORK/two-$h.out" fromA "$N" && exact "$WORK/two-$h.out" fromB "$N" || return 1
    done
}

cluster_survives_a_server() {
    CLUSTER=1 nats n1 && CLUSTER=1 nats n2 && CLUSTER=1 nats n3 || return 1
    sleep 1   # routes form
    gateway ga gwa --nats nats://10.81.0.1:4222 || return 1
    gateway gb gwb --nats nats://10.81.0.2:4222 || return 1
    listen b2 cl-b2 "${LAN[@]}" --count "$N" --timeout 90 || return 1
    python3 -c "
import json
for i in range($N):
    print(json.dumps({'event': 'c.w', 'args': ['fromA', i, 'x' * 200]}))" >"$WORK/cl.in"
    # ~3 s of events; the server gateway A uses dies one second in
    on a1 emit "${LAN[@]}" --stdin --interval 5ms --linger 8 <"$WORK/cl.in" 2>"$WORK/cl-emit.err" &
    local sender=$!
    sleep 1
    stop_nats n1
    wait $sender
    local ok=0
    finish cl-b2 || { echo "b2:"; tail -3 "$WORK/cl-b2.err"; ok=1; }
    stop_gateway gwa; stop_gateway gwb
    grep -q '"nats_reconnects":[1-9]' "$WORK/gwa.err" || { echo "gateway A did not reconnect:"; tail -2 "$WORK/gwa.err"; ok=1; }
    stop_nats n2; stop_nats n3
    [ $ok = 0 ] && exact "$WORK/cl-b2.out" fromA "$N"
}

two_gateways_on_one_lan() {
    nats n1 || return 1
    gateway ga gwa --nats nats://10.81.0.1:4222 || return 1
    gateway ga2 gwa2 --nats nats://10.81.0.1:4222 || return 1
    gateway gb gwb --nats nats://10.81.0.1:4222 || return 1
    listen a2 dup-a2 "${LAN[@]}" --count "$N" --timeout 60 || return 1
    listen b2 dup-b2 "${LAN[@]}" --count "$N" --timeout 60 --stats || return 1
    stream a1 fromA "$N" "${LAN[@]}"
    local ok=0
    finish dup-a2 && finish dup-b2 || ok=1
    sleep 3   # anything still circling would show in the counters now
    stop_gateway gwa; stop_gateway gwa2; stop_gateway gwb; stop_nats n1
    [ $ok = 0 ] || return 1
    exact "$WORK/dup-a2.out" fromA "$N" && exact "$WORK/dup-b2.out" fromA "$N" || return 1
    # bounded: each gateway relayed each datagram at most once per direction
    python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
def stats(name):
    for line in reversed(open("%s/%s.err" % (work, name)).read().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
a, a2, b = stats("gwa"), stats("gwa2"), stats("gwb")
lan = max(a["lan_in"], a2["lan_in"])
assert a["suppressed"] + a2["suppressed"] > 0, "the second gateway's copies were never recognised"
assert a["lan_to_wan"] <= lan and a2["lan_to_wan"] <= lan, (a, a2)
assert b["wan_to_lan"] <= b["wan_in"] and b["wan_in"] <= a["lan_to_wan"] + a2["lan_to_wan"], b
print("two gateways: A %d + A' %d datagrams to NATS, B %d to its LAN, %d suppressed" % (
    a["lan_to_wan"], a2["lan_to_wan"], b["wan_to_lan"], a["suppressed"] + a2["suppressed"] + b["suppressed"]))
PY
}

nats_only_and_peers_only() {
    nats n1 || return 1
    gateway ga gwa --nats nats://10.81.0.1:4222 || return 1
    local onats=(--group 239.255.9.1 --port $PORT --no-multicast --nats nats://10.81.0.1:4222)
    listen c1 no-c1 "${onats[@]}" --count 1 --timeout 20 || return 1
    listen a2 no-a2 "${LAN[@]}" --count 1 --timeout 20 || return 1
    on a1 emit "${LAN[@]}" lan.to.nats 1 --linger 1 || { echo "emit on a1 failed"; return 1; }
    on c2 emit "${onats[@]}" nats.to.lan 2 --linger 1 || { echo "emit on c2 failed"; return 1; }
    local ok=0
    finish no-c1 || { echo "c1 (NATS only):"; tail -3 "$WORK/no-c1.err"; ok=1; }
    finish no-a2 || { echo "a2 (LAN):"; tail -3 "$WORK/no-a2.err"; ok=1; }
    stop_gateway gwa; stop_nats n1
    [ $ok = 0 ] || { tail -2 "$WORK/gwa.err"; return 1; }
    # peers only: c1 and c2 list each other, no multicast, no server
    listen c1 pe-c1 --port 9950 --no-multicast --peer 10.81.0.22:9950 --count 1 --timeout 20 || return 1
    listen c2 pe-c2 --port 9950 --no-multicast --peer 10.81.0.21:9950 --count 1 --timeout 20 || return 1
    on c2 emit --port 9951 --no-multicast --peer 10.81.0.21:9950 to.c1 || { echo "emit on c2 failed"; return 1; }
    on c1 emit --port 9951 --no-multicast --peer 10.81.0.22:9950 to.c2 || { echo "emit on c1 failed"; return 1; }
    finish pe-c1 || { echo "c1 (peers):"; tail -3 "$WORK/pe-c1.err"; return 1; }
    finish pe-c2 || { echo "c2 (peers):"; tail -3 "$WORK/pe-c2.err"; return 1; }
}

sealed_through_nats() {
    nats n1 || return 1
    export EVENTCAST_KEY="gateway suite passphrase"
    gateway ga gwa --nats nats://10.81.0.1:4222 || return 1
    gateway gb gwb --nats nats://10.81.0.1:4222 || return 1
    ip netns exec "$P-c1" python3 tests/netns/nats_spy.py 10.81.0.1 4222 'eventcast.>' 4 "$WORK/spy.bin" >"$WORK/spy.count" &
    local spy=$!
    listen b2 key-b2 "${LAN[@]}" --count 1 --timeout 20 || return 1
    sleep 0.5
    on a1 emit "${LAN[@]}" secret.launch.codes topsecretvalue --linger 1 || return 1
    finish key-b2 || return 1
    wait $spy
    unset EVENTCAST_KEY
    stop_gateway gwa; stop_gateway gwb; stop_nats n1
    grep -q topsecretvalue "$WORK/key-b2.out" || { echo "b2 did not get the sealed event"; return 1; }
    [ "$(cat "$WORK/spy.count")" -gt 0 ] || { echo "the spy saw nothing on NATS"; return 1; }
    ! grep -aq -e secret.launch -e topsecretvalue "$WORK/spy.bin" || { echo "NATS saw the event in the clear"; return 1; }
}

# ONLY=function runs one scenario
if [ -n "${ONLY:-}" ]; then check "$ONLY" "$ONLY"; echo "gateway netns suite: $passed passed, $failed failed"; [ "$failed" = 0 ]; exit; fi
check "two LANs through NATS, 10% loss on each: $N events each way, exactly once, in order" two_lans_through_nats
check "a three-server NATS cluster loses the gateway's server mid-stream: reconnected, all $N repaired" cluster_survives_a_server
check "two gateways on one LAN: no duplicates, no loops, relays bounded" two_gateways_on_one_lan
check "an instance on NATS alone and one on the LAN meet through a gateway; peers-only hosts meet" nats_only_and_peers_only
check "with a key: sealed end to end through gateways, and NATS never sees names or arguments" sealed_through_nats
echo "gateway netns suite: $passed passed, $failed failed"
[ "$failed" = 0 ]
