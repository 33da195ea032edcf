# Two LANs and a core network in namespaces of our own, for the gateway suite and the
# gateway benchmark: bridges bra (LAN A, 10.81.1.0/24), brb (LAN B, 10.81.2.0/24) and brc
# (the core, 10.81.0.0/24), with no route between them, so no multicast path. Hosts a1 a2
# on A, b1 b2 on B, gateways ga ga2 (A + core) and gb (B + core), NATS hosts n1 n2 n3 and
# clients c1 c2 on the core. Source it after lib.sh; set PORT and LAN first.

ip netns add "$P-sw"
ip -n "$P-sw" link set lo up
for br in bra brb brc; do
    ip -n "$P-sw" link add $br type bridge mcast_snooping 0
    ip -n "$P-sw" link set $br up
done
# host NAME BRIDGE ADDR [BRIDGE2 ADDR2]: a namespace with eth0 (and eth1) on those bridges
host() {
    local name=$1 h="$P-$1"
    HOSTS="$HOSTS $name"
    ip netns add "$h"
    ip -n "$h" link set lo up
    local i=0
    shift
    while [ $# -ge 2 ]; do
        ip -n "$h" link add eth$i type veth peer name "v-$name$i" netns "$P-sw"
        ip -n "$h" addr add "$2/24" dev eth$i
        ip -n "$h" link set eth$i up
        ip -n "$P-sw" link set "v-$name$i" master "$1"
        ip -n "$P-sw" link set "v-$name$i" up
        i=$((i + 1))
        shift 2
    done
}
host a1 bra 10.81.1.1
host a2 bra 10.81.1.2
host b1 brb 10.81.2.1
host b2 brb 10.81.2.2
host ga bra 10.81.1.10 brc 10.81.0.10
host ga2 bra 10.81.1.11 brc 10.81.0.11
host gb brb 10.81.2.10 brc 10.81.0.12
host n1 brc 10.81.0.1
host n2 brc 10.81.0.2
host n3 brc 10.81.0.3
host c1 brc 10.81.0.21
host c2 brc 10.81.0.22

# nats NAME: a nats-server on that host (clustered with the others when CLUSTER=1)
nats() {
    local name=$1 ip
    ip=$(ip -n "$P-$name" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
    local args=(-a "$ip" -p 4222)
    if [ "${CLUSTER:-0}" = 1 ]; then
        args+=(--cluster_name ectest --cluster "nats://$ip:6222" --routes nats://10.81.0.1:6222,nats://10.81.0.2:6222,nats://10.81.0.3:6222)
    fi
    ip netns exec "$P-$name" nats-server "${args[@]}" >"$WORK/nats-$name.log" 2>&1 &
    echo $! >"$WORK/nats-$name.pid"
    for _ in $(seq 100); do
        grep -q "Server is ready" "$WORK/nats-$name.log" && return 0
        sleep 0.05
    done
    echo "nats-server on $name did not start:"; cat "$WORK/nats-$name.log"; return 1
}
stop_nats() { kill "$(cat "$WORK/nats-$1.pid")" 2>/dev/null; wait "$(cat "$WORK/nats-$1.pid")" 2>/dev/null; }

# gateway HOST NAME ARGS…: starts a gateway, waits for "gateway ready"
gateway() {
    local host=$1 name=$2; shift 2
    # ip netns exec becomes the gateway (same pid), so that kill reaches it
    ip netns exec "$P-$host" "$BIN" gateway "${LAN[@]}" --stats "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
    for _ in $(seq 100); do
        grep -q "gateway ready" "$WORK/$name.err" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "gateway $name did not start:"; cat "$WORK/$name.err"; return 1
}
stop_gateway() { kill "$(cat "$WORK/$1.pid")"; wait "$(cat "$WORK/$1.pid")"; }


