# Shared set-up of the namespace suites: hosts h1..hN in network namespaces of our own,
# joined by a bridge in namespace sw. Nothing leaves them. Source it; needs root.

BIN=${EVENTCAST_BIN:-$PWD/target/debug/eventcast}
P=ec$$
WORK=$(mktemp -d)
passed=0
failed=0
HOSTS=""

cleanup() {
    for n in $HOSTS sw; do ip netns pids "$P-$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
    for n in $HOSTS sw; do ip netns del "$P-$n" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

require_root() {
    if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
        echo "SKIPPED $1: needs root and iproute2 (ip netns)"
        echo "$1: 0 passed, 0 failed, 1 skipped"
        exit 0
    fi
    [ -x "$BIN" ] || { echo "no binary at $BIN: run cargo build first"; exit 2; }
    command -v python3 >/dev/null || { echo "python3 is needed to check JSON"; exit 2; }
}

# make_hosts N: hosts h1..hN with 10.77.0.i/24 and fd77::i/64 on eth0, bridged
make_hosts() {
    ip netns add "$P-sw"
    ip -n "$P-sw" link set lo up
    ip -n "$P-sw" link add br0 type bridge mcast_snooping 0
    ip -n "$P-sw" link set br0 up
    for i in $(seq "$1"); do
        h="$P-h$i"
        HOSTS="$HOSTS h$i"
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
}

on() { local host=$1; shift; ip netns exec "$P-$host" "$BIN" "$@"; }

# background HOST NAME COMMAND…: runs COMMAND on HOST in the background (output in
# $WORK/NAME.out and .err, pid in .pid) and waits up to 10 s for "listening" on its stderr
background() {
    local host=$1 name=$2; shift 2
    ip netns exec "$P-$host" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
    for _ in $(seq 200); do
        grep -q listening "$WORK/$name.err" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "$name did not start:"; cat "$WORK/$name.err"; return 1
}

# listen HOST NAME ARGS…: an eventcast listener in the background, once it listens
listen() { local host=$1 name=$2; shift 2; background "$host" "$name" "$BIN" listen "$@"; }

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

# drop_udp_input PERCENT HOST…: those hosts drop that share of the UDP datagrams to $PORT
# arriving on eth0 (nftables, numgen random); 0 removes the rule
drop_udp_input() {
    local pct=$1; shift
    for h in "$@"; do
        ip netns exec "$P-$h" nft flush ruleset
        [ "$pct" = 0 ] && continue
        ip netns exec "$P-$h" nft -f - <<NFT
table inet lossy {
    chain input {
        type filter hook input priority 0;
        iifname "eth0" udp dport $PORT numgen random mod 100 < $pct counter drop
    }
}
NFT
    done
}
