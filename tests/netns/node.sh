#!/usr/bin/env bash
# Node processes on hosts of their own: the Node package over veth and a bridge, Node to
# Node (plain, encrypted, and under 10% loss) and Node with the Rust CLI. Three hosts in
# network namespaces of our own; nothing leaves them. Needs root (ip netns), node and the
# addon built (npm install in bindings/node). Prints "N passed, N failed" last.
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "node netns suite"
PEER=$PWD/bindings/node/test/netns-peer.js
if ! command -v node >/dev/null || [ ! -f bindings/node/eventcast.node ]; then
    echo "SKIPPED node netns suite: node or the addon (npm install in bindings/node) is missing"
    echo "node netns suite: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
make_hosts 3
PORT=9800

node_on() { local host=$1; shift; ip netns exec "$P-$host" node "$PEER" "$@"; }

# node_listen HOST NAME ARGS…: a Node listener in the background, once it listens
node_listen() { local host=$1 name=$2; shift 2; background "$host" "$name" node "$PEER" listen "$@"; }

# check_lines FILE N: N numbered events in order with their arguments, then big and done
check_lines() {
    python3 - "$1" "$2" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
assert [l["event"] for l in lines] == ["n"] * n + ["big", "done"], [l["event"] for l in lines][-5:]
for i, l in enumerate(lines[:n]):
    assert l["args"] == [i, str(i * 1000000000000), "%02x" % (i & 255)], l
assert lines[n]["args"] == ["x" * 150000]
assert lines[0]["from"].startswith("10.77.0.1:"), lines[0]["from"]
PY
}

# node_to_node N [PASSPHRASE]: h1 sends to Node listeners on h2 and h3
node_to_node() {
    local n=$1 key=${2:-}
    node_listen h2 "nn-h2$key" eth0 $PORT $((n + 2)) $key || return 1
    node_listen h3 "nn-h3$key" eth0 $PORT $((n + 2)) $key || return 1
    node_on h1 emit eth0 $PORT "$n" $key || return 1
    for h in h2 h3; do
        wait "$(cat "$WORK/nn-$h$key.pid")" || { cat "$WORK/nn-$h$key.err"; return 1; }
        check_lines "$WORK/nn-$h$key.out" "$n" || return 1
    done
}

# node_to_cli: a Node sender on h1, the Rust CLI listening on h2
node_to_cli() {
    listen h2 n2c --group 239.255.77.77 --port $PORT --interface eth0 --count 102 --timeout 30 || return 1
    node_on h1 emit eth0 $PORT 100 || return 1
    finish n2c || { cat "$WORK/n2c.err"; return 1; }
    python3 - "$WORK/n2c.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["event"] for l in lines] == ["n"] * 100 + ["big", "done"]
assert lines[7]["args"] == [7, 7000000000000, {"$binary": {"base64": "Bw==", "subType": "00"}}], lines[7]["args"]
PY
}

# cli_to_node: the Rust CLI on h3 sends, a Node listener on h2 hears
cli_to_node() {
    node_listen h2 c2n eth0 $PORT 2 || return 1
    on h3 emit --group 239.255.77.77 --port $PORT --interface eth0 --linger 0.5 hello world '{"$numberLong": "5"}' || return 1
    on h3 emit --group 239.255.77.77 --port $PORT --interface eth0 --linger 0.5 done || return 1
    wait "$(cat "$WORK/c2n.pid")" || { cat "$WORK/c2n.err"; return 1; }
    python3 - "$WORK/c2n.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[0]["event"] == "hello" and lines[0]["args"] == ["world", "5"], lines[0]
assert lines[0]["from"].startswith("10.77.0.3:"), lines[0]
PY
}

# lossy: 10% of the datagrams arriving at h2 and h3 dropped; every event still arrives
lossy() {
    PORT=$PORT drop_udp_input 10 h2 h3
    node_to_node 2000
    local r=$?
    PORT=$PORT drop_udp_input 0 h2 h3
    return $r
}

check "node to node on namespaced hosts (1000 events and 150 KB)" node_to_node 1000
check "node to node, encrypted" node_to_node 200 "netns passphrase"
check "node to the Rust CLI" node_to_cli
check "the Rust CLI to node" cli_to_node
if command -v nft >/dev/null; then
    check "node to node under 10% loss (2000 events and 150 KB)" lossy
else
    echo "SKIPPED node to node under loss: nft (nftables) is not installed"
fi

echo "node netns suite: $passed passed, $failed failed"
[ "$failed" = 0 ]
