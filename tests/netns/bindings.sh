#!/usr/bin/env bash
# The language packages on hosts of their own: Node (bindings/node) or Python
# (bindings/python) processes over veth and a bridge, to each other (plain, encrypted,
# under 10% loss) and with the Rust CLI both ways. Three hosts in network namespaces of our
# own; nothing leaves them. Needs root (ip netns).
#   bash tests/netns/bindings.sh node      # needs node and the addon (npm install)
#   bash tests/netns/bindings.sh python    # needs the package in $EVENTCAST_PYTHON
#                                          # (default target/pyenv/bin/python)
# Each peer (test/netns-peer.js, tests/netns_peer.py) takes `listen|emit IFACE PORT N
# [PASSPHRASE]` and prints {"event", "args", "from"} lines. Prints "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
LANG_NAME=${1:?usage: bindings.sh node|python}
require_root "$LANG_NAME netns suite"
case "$LANG_NAME" in
    node)
        PEER=(node "$PWD/bindings/node/test/netns-peer.js")
        GROUP=239.255.77.77 PORT=9800
        ready() { command -v node >/dev/null && [ -f bindings/node/eventcast.node ]; }
        ;;
    python)
        PEER=("${EVENTCAST_PYTHON:-$PWD/target/pyenv/bin/python}" "$PWD/bindings/python/tests/netns_peer.py")
        GROUP=239.255.78.78 PORT=9810
        ready() { "${PEER[0]}" -c 'import eventcast' 2>/dev/null; }
        ;;
    *) echo "usage: bindings.sh node|python"; exit 2 ;;
esac
if ! ready; then
    echo "SKIPPED $LANG_NAME netns suite: the $LANG_NAME package is not built or installed"
    echo "$LANG_NAME netns suite: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
make_hosts 3

peer_on() { local host=$1; shift; ip netns exec "$P-$host" "${PEER[@]}" "$@"; }
peer_listen() { local host=$1 name=$2; shift 2; background "$host" "$name" "${PEER[@]}" listen "$@"; }

# check_lines FILE N: N numbered events in order with their arguments, then big and done
check_lines() {
    python3 - "$1" "$2" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
assert [l["event"] for l in lines] == ["n"] * n + ["big", "done"], [l["event"] for l in lines][-5:]
for i, l in enumerate(lines[:n]):
    assert l["args"] == [i, i * 10**12, "%02x" % (i & 255)], l
assert lines[n]["args"] == ["x" * 150000]
assert lines[0]["from"].startswith("10.77.0.1:"), lines[0]["from"]
PY
}

# to_each_other N [PASSPHRASE]: h1 sends to listeners on h2 and h3
to_each_other() {
    local n=$1 key=${2:-}
    peer_listen h2 "pp-h2$key" eth0 $PORT $((n + 2)) $key || return 1
    peer_listen h3 "pp-h3$key" eth0 $PORT $((n + 2)) $key || return 1
    peer_on h1 emit eth0 $PORT "$n" $key || return 1
    for h in h2 h3; do
        wait "$(cat "$WORK/pp-$h$key.pid")" || { cat "$WORK/pp-$h$key.err"; return 1; }
        check_lines "$WORK/pp-$h$key.out" "$n" || return 1
    done
}

to_cli() {
    listen h2 to-cli --group $GROUP --port $PORT --interface eth0 --count 102 --timeout 30 || return 1
    peer_on h1 emit eth0 $PORT 100 || return 1
    finish to-cli || { cat "$WORK/to-cli.err"; return 1; }
    python3 - "$WORK/to-cli.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["event"] for l in lines] == ["n"] * 100 + ["big", "done"]
assert lines[7]["args"] == [7, 7000000000000, {"$binary": {"base64": "Bw==", "subType": "00"}}], lines[7]["args"]
PY
}

from_cli() {
    peer_listen h2 from-cli eth0 $PORT 1 || return 1
    on h3 emit --group $GROUP --port $PORT --interface eth0 --linger 0.5 hello world '{"$numberLong": "5"}' || return 1
    wait "$(cat "$WORK/from-cli.pid")" || { cat "$WORK/from-cli.err"; return 1; }
    python3 -c 'import json,sys; l=json.loads(open(sys.argv[1]).readline()); assert l["event"]=="hello" and l["args"]==["world",5] and l["from"].startswith("10.77.0.3:"), l' "$WORK/from-cli.out"
}

lossy() {
    PORT=$PORT drop_udp_input 10 h2 h3
    to_each_other 2000
    local r=$?
    PORT=$PORT drop_udp_input 0 h2 h3
    return $r
}

check "$LANG_NAME to $LANG_NAME on namespaced hosts (1000 events and 150 KB)" to_each_other 1000
check "$LANG_NAME to $LANG_NAME, encrypted" to_each_other 200 "netns passphrase"
check "$LANG_NAME to the Rust CLI" to_cli
check "the Rust CLI to $LANG_NAME" from_cli
if command -v nft >/dev/null; then
    check "$LANG_NAME to $LANG_NAME under 10% loss (2000 events and 150 KB)" lossy
else
    echo "SKIPPED $LANG_NAME under loss: nft (nftables) is not installed"
fi

echo "$LANG_NAME netns suite: $passed passed, $failed failed"
[ "$failed" = 0 ]
