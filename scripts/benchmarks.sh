#!/usr/bin/env bash
# Runs every benchmark of docs/BENCHMARKS.md and rewrites it (and docs/benchmarks.svg):
# eventcast against our raw-UDP baseline (sendmmsg/recvmmsg) measured in the same run, and
# against LCM (Debian liblcm-dev) and NATS (Debian nats-server + async-nats). Everything runs
# in a private network namespace on lo: no packet leaves the machine.
#
#   sudo bash scripts/benchmarks.sh          # RUNS=5 by default; each figure is a median
#
# Needs root (unshare -n), gcc, python3, and the Debian packages liblcm-dev and nats-server
# (installed when missing and apt-get is there).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}

if [ "${EVENTCAST_BENCH_NETNS:-}" != 1 ]; then
    if ! [ -e /usr/include/lcm/lcm.h ] || ! command -v nats-server >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liblcm-dev nats-server
    fi
    cargo build --release --quiet
    gcc -O2 -o target/release/lcm_bench bench/peers/lcm_bench.c -llcm
    (cd bench/peers/nats && CARGO_TARGET_DIR=../../../target/peers cargo build --release --quiet)
    exec unshare -n env EVENTCAST_BENCH_NETNS=1 RUNS="$RUNS" bash "$0" "$@"
fi

ip link set lo up
ip route add 224.0.0.0/4 dev lo 2>/dev/null || true # LCM joins on the default route
B=target/release/eventcast
LCM=target/release/lcm_bench
NATS=target/peers/release/nats-bench
OUT=docs/bench-results.jsonl
: >"$OUT"

# b ARGS: one eventcast bench process; a run that lost something still reports (and exits 1)
b() { "$B" bench "$@" 2>/dev/null || true; }

# record CASE: appends stdin's JSON line, tagged with CASE
record() { python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); d["case"]=sys.argv[1]; print(json.dumps(d))' "$1" >>"$OUT"; }

# split CASE ARGS: one eventcast receiver process and one sender process
split() {
    local case=$1; shift
    $B bench --role recv --idle-timeout 3s "$@" 2>/dev/null >target/recv.json &
    local pid=$!
    sleep 0.4
    $B bench --role send "$@" 2>/dev/null >target/send.json || true
    wait "$pid" || true
    record "$case" <target/recv.json
    record "$case-send" <target/send.json
}

# senders CASE K EVENTS ARGS: one receiver process and K sender processes at once, EVENTS in all
senders() {
    local case=$1 k=$2 events=$3; shift 3
    $B bench --role recv --idle-timeout 3s --events "$events" "$@" 2>/dev/null >target/recv.json &
    local pid=$!
    sleep 0.4
    local each=$((events / k)) i
    for i in $(seq "$k"); do $B bench --role send --events "$each" "$@" >/dev/null 2>&1 & done
    wait "$pid" || true
    wait
    record "$case" <target/recv.json
}

# peer CASE TOOL EVENTS SIZE [RATE]: LCM or NATS, receiver and sender processes
peer() {
    local case=$1 tool=$2 events=$3 size=$4 rate=${5:-}
    "$tool" recv "$events" 3 2>/dev/null >target/recv.json &
    local pid=$!
    sleep 0.4
    "$tool" send "$events" "$size" $rate 2>/dev/null
    wait "$pid" || true
    record "$case" <target/recv.json
}

nats-server -a 127.0.0.1 -p 4222 >/dev/null 2>&1 &
NATS_PID=$!
trap 'kill $NATS_PID 2>/dev/null || true' EXIT
sleep 0.5

for run in $(seq "$RUNS"); do
    echo "run $run of $RUNS" >&2
    b --raw --events 1000000 --size 128 | record raw-128
    b --events 1000000 --size 100 | record ec-100-inproc
    split ec-100-split --events 1000000 --size 100
    b --events 1000000 --size 100 --encrypt | record ec-100-enc-inproc
    split ec-100-enc-split --events 1000000 --size 100 --encrypt
    b --events 300000 --size 100 --receivers 3 | record ec-100-fanout3-inproc
    b --events 300000 --size 100 --receivers 1 | record ec-100-fanout1-inproc
    b --raw --events 30000 --size 128 --rate 10000 | record lat-raw
    b --events 30000 --size 100 --rate 10000 | record lat-ec
    b --raw --events 300000 --size 1024 | record raw-1024
    split ec-64k-split --events 3000 --size 65536
    b --events 3000 --size 65536 | record ec-64k-inproc
    # issue 17: datagrams as large as the interface allows (--max-payload-size auto), and
    # the raw baseline at that datagram size
    b --events 1000000 --size 100 --max-payload-size auto | record ec-100-inproc-auto
    split ec-100-split-auto --events 1000000 --size 100 --max-payload-size auto
    split ec-100-enc-split-auto --events 1000000 --size 100 --max-payload-size auto --encrypt
    split ec-64k-split-auto --events 20000 --size 65536 --max-payload-size auto
    b --raw --events 20000 --size 65507 | record raw-65507
    # how the cost per event grows with the event's size (growth with the number of sender
    # processes: `senders`, not run here; see docs/BENCHMARKS-analysis.md)
    for size in 42 1024 65536 1048576 8388608; do
        n=$((200000000 / (size + 1000)))
        [ "$n" -gt 300000 ] && n=300000
        [ "$n" -lt 100 ] && n=100
        split "size-$size" --events "$n" --size "$size" --max-payload-size auto
    done
    peer lcm-100 "$LCM" 1000000 100
    peer lat-lcm "$LCM" 30000 100 10000
    peer nats-100 "$NATS" 1000000 100
    peer lat-nats "$NATS" 30000 100 10000
done

# An idle instance: resident memory and CPU over 5 s.
$B listen --interface 127.0.0.1 --port 9333 >/dev/null 2>&1 &
IDLE=$!
sleep 2
t0=$(awk '{print $14 + $15}' /proc/$IDLE/stat)
sleep 5
t1=$(awk '{print $14 + $15}' /proc/$IDLE/stat)
rss=$(awk '/VmRSS/ {print $2}' /proc/$IDLE/status)
kill $IDLE
echo "{\"idle_rss_kib\": $rss, \"idle_cpu_ticks_5s\": $((t1 - t0)), \"clk_tck\": $(getconf CLK_TCK)}" | record idle

python3 scripts/bench_report.py "$OUT" docs/BENCHMARKS.md docs/benchmarks.svg
echo "wrote docs/BENCHMARKS.md and docs/benchmarks.svg" >&2
