#!/usr/bin/env bash
# Multi-host tests: three hosts in network namespaces of our own, joined by a bridge in a
# fourth, exchange events through the eventcast CLI over IPv4 and IPv6. Nothing leaves the
# namespaces. Needs root (ip netns). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

cd "$(dirname "$0")/../.."
BIN=${EVENTCAST_BIN:-$PWD/target/debug/eventcast}
P=ec$$
WORK=$(mktemp -d)
passed=0
failed=0

cleanup() {
    for n in h1 h2 h3 sw; do ip netns pids "$P-$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
    for n in h1 h2 h3 sw; do ip netns del "$P-$n" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "SKIPPED netns suite: needs root and iproute2 (ip netns)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
[ -x "$BIN" ] || { echo "no binary at $BIN: run cargo build first"; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to compare JSON"; exit 2; }

# --- the network: h1, h2, h3 on bridge br0 in namespace sw -------------------------------
ip netns add "$P-sw"
ip -n "$P-sw" link set lo up
ip -n "$P-sw" link add br0 type bridge mcast_snooping 0
ip -n "$P-sw" link set br0 up
for i in 1 2 3; do
    h="$P-h$i"
    ip netns add "$h"
    ip netns exec "$h" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip -n "$h" link add eth0 type veth peer name "p$i" netns "$P-sw"
    ip -n "$h" link set lo up
    ip -n "$h" addr add "10.77.0.$i/24" dev eth0
    ip -n "$h" addr add "fd77::$i/64" dev eth0 nodad
    ip -n "$h" link set eth0 up
    ip -n "$P-sw" link set "p$i" master br0
    ip -n "$P-sw" link set "p$i" up
done

on() { local host=$1; shift; ip netns exec "$P-$host" "$BIN" "$@"; }

# listen HOST NAME ARGS…: starts a listener in the background, waits for its "listening" line
listen() {
    local host=$1 name=$2; shift 2
    on "$host" listen "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
    for _ in $(seq 100); do
        grep -q listening "$WORK/$name.err" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "listener $name did not start:"; cat "$WORK/$name.err"; return 1
}

# finish NAME: waits for a listener; succeeds if it exited 0
finish() { wait "$(cat "$WORK/$1.pid")"; }

check() {
    local name=$1; shift
    if "$@"; then
        echo "ok   $name"; passed=$((passed + 1))
    else
        echo "FAIL $name"; failed=$((failed + 1))
    fi
}

KINDS=(kinds "plain words" 42 -1.5 true null '{"nested": [1, {"a": "b"}]}' '[1,2]'
    '{"$date": "2024-05-06T07:08:09.010Z"}' '{"$oid": "0123456789abcdef01234567"}'
    '{"$binary": {"base64": "AAEC", "subType": "80"}}' '{"$regularExpression": {"pattern": "^a", "options": "i"}}'
    '{"$numberLong": "9007199254740993"}' '{"$numberDecimal": "1.10"}' '{"$timestamp": {"t": 1, "i": 2}}'
    '{"$minKey": 1}' '{"$maxKey": 1}' '{"$undefined": true}' '{"$code": "f()"}' '{"$symbol": "s"}'
    '{"$code": "g(x)", "$scope": {"x": 1}}' '{"$dbPointer": {"$ref": "c", "$id": {"$oid": "0123456789abcdef01234567"}}}')

# exchange FAMILY GROUP IFACE: h1 sends every kind of argument and a 150 KB event to h2, h3
exchange() {
    local fam=$1 group=$2 iface=$3
    local net=(--group "$group" --port 9700 --interface "$iface")
    listen h2 "$fam-h2" "${net[@]}" --count 3 --timeout 30 || return 1
    listen h3 "$fam-h3" "${net[@]}" --count 3 --timeout 30 || return 1
    on h1 emit "${net[@]}" "${KINDS[@]}" || return 1
    python3 -c 'import json; print(json.dumps({"event": "big", "args": ["x" * 150000, {"$binary": {"base64": "AAEC" * 10000, "subType": "00"}}]}))' \
        | on h1 emit "${net[@]}" --stdin || return 1
    on h1 emit "${net[@]}" done || return 1
    for h in h2 h3; do
        finish "$fam-$h" || { echo "$fam-$h exited badly:"; cat "$WORK/$fam-$h.err"; return 1; }
        python3 - "$WORK/$fam-$h.out" "$fam" <<'EOF' || return 1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
names = [l["event"] for l in lines]
assert names == ["kinds", "big", "done"], names
want = ["plain words", 42, -1.5, True, None, {"nested": [1, {"a": "b"}]}, [1, 2],
    {"$date": "2024-05-06T07:08:09.01Z"}, {"$oid": "0123456789abcdef01234567"},
    {"$binary": {"base64": "AAEC", "subType": "80"}}, {"$regularExpression": {"pattern": "^a", "options": "i"}},
    9007199254740993, {"$numberDecimal": "1.10"}, {"$timestamp": {"t": 1, "i": 2}},
    {"$minKey": 1}, {"$maxKey": 1}, {"$undefined": True}, {"$code": "f()"}, {"$symbol": "s"},
    {"$code": "g(x)", "$scope": {"x": 1}}, {"$dbPointer": {"$ref": "c", "$id": {"$oid": "0123456789abcdef01234567"}}}]
assert lines[0]["args"] == want, lines[0]["args"]
big = lines[1]["args"]
assert big[0] == "x" * 150000 and big[1]["$binary"]["base64"] == "AAEC" * 10000, "big event corrupted"
src = lines[0]["from"]
assert src.startswith("10.77.0.1:") if sys.argv[2] == "v4" else src.startswith("[fd77::1]") or src.startswith("[fe80::"), src
EOF
    done
}

# isolated: a listener on another group, same port, hears nothing from h1
isolated() {
    listen h2 iso --group 239.255.7.8 --port 9701 --interface eth0 --timeout 1.5 || return 1
    on h1 emit --group 239.255.7.9 --port 9701 --interface eth0 other || return 1
    finish iso && [ ! -s "$WORK/iso.out" ]
}

# by_address: the interface given by address and by name behave the same
by_address() {
    listen h3 addr --group 239.255.7.10 --port 9702 --interface 10.77.0.3 --count 1 --timeout 20 || return 1
    on h2 emit --group 239.255.7.10 --port 9702 --interface 10.77.0.2 hello '"world"' || return 1
    finish addr && grep -q '"args":\["world"\]' "$WORK/addr.out"
}

check "IPv4: every argument kind and a 150 KB event, h1 -> h2, h3" exchange v4 239.255.7.7 eth0
check "IPv6: every argument kind and a 150 KB event, h1 -> h2, h3" exchange v6 ff12::ec:7 eth0
check "groups on one port are isolated across hosts" isolated
check "interface by address" by_address

echo "netns: $passed passed, $failed failed"
[ "$failed" = 0 ]
