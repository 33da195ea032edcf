#!/usr/bin/env bash
# Python processes on hosts of their own: the Python package over veth and a bridge, Python
# to Python (plain, encrypted, under 10% loss) and with the Rust CLI. Three hosts in
# network namespaces of our own; nothing leaves them. Needs root (ip netns) and the package
# installed in $EVENTCAST_PYTHON (default target/pyenv/bin/python). Prints "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "python netns suite"
PY=${EVENTCAST_PYTHON:-$PWD/target/pyenv/bin/python}
PEER=$PWD/bindings/python/tests/netns_peer.py
if ! "$PY" -c 'import eventcast' 2>/dev/null; then
    echo "SKIPPED python netns suite: the eventcast package is not installed for $PY"
    echo "python netns suite: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
make_hosts 3
PORT=9810

py_on() { local host=$1; shift; ip netns exec "$P-$host" "$PY" "$PEER" "$@"; }
py_listen() { local host=$1 name=$2; shift 2; background "$host" "$name" "$PY" "$PEER" listen "$@"; }

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

py_to_py() {
    local n=$1 key=${2:-}
    py_listen h2 "pp-h2$key" eth0 $PORT $((n + 2)) $key || return 1
    py_listen h3 "pp-h3$key" eth0 $PORT $((n + 2)) $key || return 1
    py_on h1 emit eth0 $PORT "$n" $key || return 1
    for h in h2 h3; do
        wait "$(cat "$WORK/pp-$h$key.pid")" || { cat "$WORK/pp-$h$key.err"; return 1; }
        check_lines "$WORK/pp-$h$key.out" "$n" || return 1
    done
}

py_to_cli() {
    listen h2 p2c --group 239.255.78.78 --port $PORT --interface eth0 --count 102 --timeout 30 || return 1
    py_on h1 emit eth0 $PORT 100 || return 1
    finish p2c || { cat "$WORK/p2c.err"; return 1; }
    python3 - "$WORK/p2c.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["event"] for l in lines] == ["n"] * 100 + ["big", "done"]
assert lines[7]["args"] == [7, 7000000000000, {"$binary": {"base64": "Bw==", "subType": "00"}}], lines[7]["args"]
PY
}

cli_to_py() {
    py_listen h2 c2p eth0 $PORT 1 || return 1
    on h3 emit --group 239.255.78.78 --port $PORT --interface eth0 --linger 0.5 hello world '{"$numberLong": "5"}' || return 1
    wait "$(cat "$WORK/c2p.pid")" || { cat "$WORK/c2p.err"; return 1; }
    python3 -c 'import json,sys; l=json.loads(open(sys.argv[1]).readline()); assert l["event"]=="hello" and l["args"]==["world",5] and l["from"].startswith("10.77.0.3:"), l' "$WORK/c2p.out"
}

lossy() {
    PORT=$PORT drop_udp_input 10 h2 h3
    py_to_py 2000
    local r=$?
    PORT=$PORT drop_udp_input 0 h2 h3
    return $r
}

check "python to python on namespaced hosts (1000 events and 150 KB)" py_to_py 1000
check "python to python, encrypted" py_to_py 200 "netns passphrase"
check "python to the Rust CLI" py_to_cli
check "the Rust CLI to python" cli_to_py
if command -v nft >/dev/null; then
    check "python to python under 10% loss (2000 events and 150 KB)" lossy
else
    echo "SKIPPED python to python under loss: nft (nftables) is not installed"
fi

echo "python netns suite: $passed passed, $failed failed"
[ "$failed" = 0 ]
