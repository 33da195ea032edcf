#!/usr/bin/env bash
# Security across hosts, through the CLI: h1 sends, h2 listens, h3 attacks (captures,
# replays, tampers, injects plaintext, floods). Nothing leaves the namespaces.
# Prints "N passed, N failed" last.
set -uo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "security netns suite"
make_hosts 3
TOOL="python3 $PWD/tests/netns/udp_tool.py"
KEY="hex:00112233445566778899aabbccddeeff"
NET=(--group 239.255.9.1 --port 9900 --interface eth0)

attack() { local host=$1; shift; ip netns exec "$P-$host" $TOOL "$1" 239.255.9.1 9900 "10.77.0.${host#h}" "${@:2}"; }

# stat NAME FIELD: a drop counter from a listener's --stats line
stat() {
    python3 -c 'import json,sys
for line in reversed(open(sys.argv[1]).read().splitlines()):
    if line.startswith("{") and "events_in" in line:
        print(json.loads(line)["dropped"][sys.argv[2]]); break' "$WORK/$1.err" "$2"
}

wrong_key() {
    EVENTCAST_KEY="$KEY" listen h2 wrong "${NET[@]}" --count 1 --timeout 2 --stats || return 1
    EVENTCAST_KEY="another passphrase" on h1 emit "${NET[@]}" secret 1 || return 1
    ! finish wrong && [ ! -s "$WORK/wrong.out" ] && [ "$(stat wrong forged)" -gt 0 ]
}

no_key() {
    listen h2 nokey "${NET[@]}" --count 1 --timeout 2 --stats || return 1
    EVENTCAST_KEY="$KEY" on h1 emit "${NET[@]}" secret 1 || return 1
    ! finish nokey && [ ! -s "$WORK/nokey.out" ] && [ "$(stat nokey sealed_without_key)" -gt 0 ]
}

# h3 captures h1's sealed traffic; replayed and tampered copies and injected plaintext never
# deliver anything to h2
replay_tamper_inject() {
    EVENTCAST_KEY="$KEY" listen h2 rti "${NET[@]}" --count 4 --timeout 6 --stats || return 1
    attack h3 capture 3 "$WORK/captured" 2 >"$WORK/capture.log" &
    local cap=$!
    sleep 0.5
    EVENTCAST_KEY="$KEY" on h1 emit "${NET[@]}" --repeat 3 secret '"payload"' || return 1
    wait $cap
    # small events emitted together may share one datagram: anything captured will do
    grep -q "captured [1-9]" "$WORK/capture.log" || { cat "$WORK/capture.log"; return 1; }
    attack h3 replay "$WORK/captured"
    attack h3 tamper "$WORK/captured"
    attack h3 inject-plain
    # the listener wanted a 4th event: none may come from the attack
    ! finish rti || return 1
    [ "$(wc -l <"$WORK/rti.out")" = 3 ] || { echo "delivered: $(wc -l <"$WORK/rti.out")"; return 1; }
    [ "$(stat rti replayed)" -ge 1 ] && [ "$(stat rti forged)" -ge 1 ] && [ "$(stat rti plaintext_refused)" -ge 1 ]
}

# 300,000 random and mutated datagrams against a plaintext listener while 1,000 events flow
flood() {
    local net=(--group 239.255.9.1 --port 9900 --interface eth0)
    attack h3 capture 20 "$WORK/samples" 3 >/dev/null &
    local cap=$!
    sleep 0.3
    on h1 emit "${net[@]}" --repeat 20 sample '"x"' || return 1
    wait $cap
    # plaintext: mutated captures can still carry readable events of their own; count ours
    listen h2 flood legit "${net[@]}" --count 1000 --timeout 120 --stats || return 1
    local pid peak=0 hwm
    pid=$(pgrep -n -f "listen legit --group 239.255.9.1") || { echo "no listener process"; return 1; }
    attack h3 flood 300000 "$WORK/samples" &
    local fl=$!
    on h1 emit "${net[@]}" --repeat 1000 --interval 2ms legit '"event"' --linger 5 >/dev/null 2>&1 &
    local em=$!
    while kill -0 "$pid" 2>/dev/null; do
        hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
        sleep 0.2
    done
    wait $fl; wait $em
    finish flood || { tail -n 3 "$WORK/flood.err"; return 1; }
    local n
    n=$(grep -c '"event":"legit"' "$WORK/flood.out")
    echo "     flood: $n of 1000 legitimate events, listener peak RSS $((peak / 1024)) MiB, dropped: malformed $(stat flood malformed), bad_magic $(stat flood bad_magic), oversize $(stat flood oversize), evicted $(stat flood reassembly_evicted)"
    [ "$n" = 1000 ] && [ "$peak" -lt $((256 * 1024)) ]
}

# the attacks of issue 10 against a plaintext listener that prints every event: it survives,
# counts them, and still delivers what comes next
hostile_sample() {
    listen h2 hostile "${NET[@]}" --count 2 --timeout 20 --stats || return 1
    on h1 emit "${NET[@]}" before '"x"' || return 1
    attack h3 hostile || return 1
    sleep 0.5
    on h1 emit "${NET[@]}" after '"x"' || return 1
    finish hostile || { tail -n 3 "$WORK/hostile.err"; return 1; }
    grep -q '"event":"after"' "$WORK/hostile.out" || return 1
    ! grep -q '"event":"deep"' "$WORK/hostile.out" || return 1
    echo "     hostile: out_of_range $(stat hostile out_of_range), too_deep $(stat hostile too_deep), implausible $(stat hostile implausible)"
    [ "$(stat hostile out_of_range)" -ge 1 ] && [ "$(stat hostile too_deep)" -ge 1 ]
}

check "issue 10's attacks (end of sequence space, deep BSON, sparse partial, heartbeat storm): survived, counted" hostile_sample
check "wrong key: nothing delivered, counted as forged" wrong_key
check "no key: nothing delivered, counted as sealed_without_key" no_key
check "captured packets replayed or tampered, plaintext injected: nothing delivered, all counted" replay_tamper_inject
check "flood of 300,000 mutated and random datagrams: all 1,000 events arrive, memory bounded" flood

echo "security: $passed passed, $failed failed"
[ "$failed" = 0 ]
