#!/usr/bin/env bash
# Multi-host tests: three hosts in network namespaces of our own, joined by a bridge in a
# fourth, exchange events through the eventcast CLI over IPv4 and IPv6. Nothing leaves the
# namespaces. Needs root (ip netns). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "netns suite"
make_hosts 3

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

# console_local: the console answers on h1's loopback only, unless asked to listen wider,
# and then a token keeps strangers out
console_local() {
    listen h1 con --group 239.255.7.11 --port 9703 --interface eth0 --repl-port 20001 --timeout 30 || return 1
    on h1 stats 127.0.0.1:20001 | grep -q '^events_in ' || { echo "console not reachable locally"; return 1; }
    if on h2 stats 10.77.0.1:20001 >/dev/null 2>&1; then echo "console reachable from h2"; return 1; fi
    EVENTCAST_REPL_TOKEN=s3cret listen h1 wide --group 239.255.7.11 --port 9703 --interface eth0 \
        --repl-port 20002 --repl-host 0.0.0.0 --timeout 30 || return 1
    if on h2 stats 10.77.0.1:20002 >/dev/null 2>&1; then echo "token not asked"; return 1; fi
    EVENTCAST_REPL_TOKEN=s3cret on h2 stats 10.77.0.1:20002 --json | grep -q '"console_auth_failed":1' || return 1
    kill "$(cat "$WORK/con.pid")" "$(cat "$WORK/wide.pid")"
}

check "IPv4: every argument kind and a 150 KB event, h1 -> h2, h3" exchange v4 239.255.7.7 eth0
check "IPv6: every argument kind and a 150 KB event, h1 -> h2, h3" exchange v6 ff12::ec:7 eth0
check "groups on one port are isolated across hosts" isolated
check "interface by address" by_address
check "the console is local by default; a wider one asks for its token" console_local

echo "netns: $passed passed, $failed failed"
[ "$failed" = 0 ]
