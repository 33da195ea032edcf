#!/usr/bin/env bash
# The delivery runtime across hosts: groups that share a port stay apart (whatever the
# kernel's reuseport hash would pick), and a consumer that never reads costs the others
# nothing. Three hosts in network namespaces of our own on one bridge; nothing leaves them.
# Needs root (ip netns) and nft. Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "runtime netns suite"
if ! command -v nft >/dev/null; then
    echo "SKIPPED runtime netns suite: nft (nftables) is not installed"
    echo "runtime netns suite: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
make_hosts 3
ROUNDS=${ROUNDS:-20}

# groups_apart PORT GROUP…: h2 listens on every group on one port; h1 sends ROUNDS events
# to each group, each from a new process (a new source port, so a new hash each time);
# every listener gets exactly its own group's events.
groups_apart() {
    local port=$1; shift
    local groups=("$@") i r
    for i in "${!groups[@]}"; do
        listen h2 "g$port-$i" --group "${groups[$i]}" --port "$port" --interface eth0 \
            --count "$ROUNDS" --timeout 60 || return 1
    done
    for r in $(seq "$ROUNDS"); do
        for i in "${!groups[@]}"; do
            on h1 emit --group "${groups[$i]}" --port "$port" --interface eth0 "to$i" "$r" || return 1
        done
    done
    for i in "${!groups[@]}"; do
        finish "g$port-$i" || { echo "group ${groups[$i]}: missed events"; cat "$WORK/g$port-$i.err"; return 1; }
        python3 - "$WORK/g$port-$i.out" "to$i" "$ROUNDS" <<'EOF' || return 1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
names = {l["event"] for l in lines}
rounds = sorted(l["args"][0] for l in lines)
assert names == {sys.argv[2]}, f"{sys.argv[2]} heard another group: {names}"
assert rounds == list(range(1, int(sys.argv[3]) + 1)), rounds
EOF
    done
}

# slow_consumer: h1 runs a listener whose stdout nobody reads, with a console; h3 floods it
# with 50,000 events; then h1's console emits 200 probes to h2, which drops 10% of what
# arrives. h2 gets all 200 (repaired), and h1's console answers stats at once.
slow_consumer() {
    local net=(--group 239.255.78.1 --port 9810 --interface eth0)
    ip netns exec "$P-h2" nft -f - <<EOF
table inet lossy {
    chain input {
        type filter hook input priority 0;
        udp dport 9810 numgen random mod 100 < 10 counter drop
    }
}
EOF
    listen h2 probes "${net[@]}" probe --count 200 --timeout 60 --stats || return 1
    ip netns exec "$P-h1" "$BIN" listen "${net[@]}" --repl-port 7073 2>"$WORK/slow.err" | sleep 120 &
    for _ in $(seq 100); do grep -q listening "$WORK/slow.err" 2>/dev/null && break; sleep 0.05; done
    on h3 emit "${net[@]}" --repeat 50000 fill x --linger 2s || { echo "the flood did not go out"; return 1; }
    local cmds=() i
    for i in $(seq 0 199); do cmds+=(-c "emit probe $i"); done
    timeout 60 ip netns exec "$P-h1" "$BIN" console 127.0.0.1:7073 "${cmds[@]}" >/dev/null \
        || { echo "h1's console did not take the probes"; return 1; }
    local t0=$(date +%s%N)
    timeout 5 ip netns exec "$P-h1" "$BIN" stats 127.0.0.1:7073 >"$WORK/h1-stats" \
        || { echo "h1's console did not answer stats"; return 1; }
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$ms" -lt 2000 ] || { echo "stats took $ms ms"; return 1; }
    finish probes || { echo "h2 missed probes:"; cat "$WORK/probes.err"; return 1; }
    python3 - "$WORK/probes.out" "$WORK/probes.err" <<'EOF' || return 1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["args"][0] for l in lines] == list(range(200)), [l["args"] for l in lines][:10]
stats = json.loads([l for l in open(sys.argv[2]) if l.startswith("{")][-1])
assert stats["gaps_recovered"] > 0 and stats["events_lost"] == 0, stats
print(f"    h2: 200 of 200 probes, {stats['gaps_recovered']} gaps repaired")
EOF
    echo "    h1 answered stats in $ms ms with its stdout unread"
    ip netns exec "$P-h2" nft flush ruleset
}

check "IPv4: two groups on one port stay apart ($ROUNDS rounds)" groups_apart 9801 239.255.77.1 239.255.77.2
check "IPv4: three groups on one port stay apart ($ROUNDS rounds)" groups_apart 9802 239.255.77.1 239.255.77.2 239.255.77.3
check "IPv6: two groups on one port stay apart ($ROUNDS rounds)" groups_apart 9803 ff12::ec:81 ff12::ec:82
check "IPv6: three groups on one port stay apart ($ROUNDS rounds)" groups_apart 9804 ff12::ec:81 ff12::ec:82 ff12::ec:83
check "a consumer that never reads stalls nothing: probes repaired, console answers" slow_consumer

echo "runtime netns suite: $passed passed, $failed failed"
[ "$failed" = 0 ]
