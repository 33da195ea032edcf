#!/usr/bin/env bash
# How the cost of an event grows: CPU time per event (user + system, per process) as the
# number of receivers (1, 3, 10 namespaced hosts), of sender processes (1, 10, 100) and the
# event's size (42 B to 8 MB) grow. Hosts are network namespaces of our own joined by a
# bridge over veth (tests/netns/lib.sh): no packet leaves the machine. Writes
# docs/bench-growth.jsonl and docs/BENCHMARKS-growth.md (which scripts/bench_report.py
# includes in docs/BENCHMARKS.md).
#
#   sudo bash scripts/bench_growth.sh          # RUNS=3 by default; each figure is a median
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
[ -x target/release/eventcast ] || cargo build --release --quiet
export EVENTCAST_BIN=$PWD/target/release/eventcast
source tests/netns/lib.sh
require_root bench_growth
make_hosts 12
OUT=docs/bench-growth.jsonl
: >"$OUT"
COMMON=(--port 9400 --group 239.255.0.140 --idle-timeout 4s --max-payload-size auto)

# tag CASE FIELD VALUE < json: appends the line with its case and one parameter
tag() { python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); d["case"]=sys.argv[1]; d[sys.argv[2]]=int(sys.argv[3]); print(json.dumps(d))' "$@" >>"$OUT"; }

# one CASE FIELD VALUE RECEIVERS SENDERS EVENTS ARGS…: receivers on h2.., senders on h1
one() {
    local case=$1 field=$2 value=$3 receivers=$4 senders=$5 events=$6; shift 6
    local i pids=()
    for i in $(seq 2 $((receivers + 1))); do
        ip netns exec "$P-h$i" "$BIN" bench --role recv --interface "10.77.0.$i" --events "$events" \
            "${COMMON[@]}" "$@" >"$WORK/recv$i.json" 2>/dev/null &
        pids+=($!)
    done
    sleep 0.5
    local each=$((events / senders))
    for i in $(seq "$senders"); do
        ip netns exec "$P-h1" "$BIN" bench --role send --interface 10.77.0.1 --events "$each" \
            "${COMMON[@]}" "$@" >/dev/null 2>&1 &
    done
    wait "${pids[@]}" || true
    wait || true
    for i in $(seq 2 $((receivers + 1))); do tag "$case" "$field" "$value" <"$WORK/recv$i.json" || true; done
}

for run in $(seq "$RUNS"); do
    echo "run $run of $RUNS" >&2
    for r in 1 3 10; do one receivers receivers "$r" "$r" 1 200000 --size 100; done
    for s in 1 10 100; do one senders senders "$s" 1 "$s" 200000 --size 100; done
    for size in 42 1024 65536 1048576 8388608; do
        n=$((100000000 / (size + 1000)))
        [ "$n" -gt 200000 ] && n=200000
        [ "$n" -lt 50 ] && n=50
        one size size "$size" 1 1 "$n" --size "$size"
    done
done

python3 - "$OUT" docs/BENCHMARKS-growth.md <<'EOF'
import json, statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows[(d["case"], d[d["case"]])].append(d)
def med(ds, f):
    v = [d[f] for d in ds if d.get(f) is not None]
    return statistics.median(v) if v else None
L = ["## How the cost per event grows (issue 17)", "",
     "`sudo bash scripts/bench_growth.sh`: hosts are network namespaces bridged over veth; one "
     "sender host, receivers on their own hosts; 100 B events unless the size is the variable; datagrams as large as the veth MTU allows (`--max-payload-size auto`: 1,472 B). "
     "CPU is user + system time of each receiver process per event it delivered (median over "
     "receivers and runs); lost counts every receiver of every run.", ""]
for case, title in [("receivers", "receiver hosts"), ("senders", "sender processes (one host)"), ("size", "event size, bytes")]:
    keys = sorted(k for k in rows if k[0] == case)
    if not keys:
        continue
    L += [f"| {title} | receiver µs/event | delivered/s per receiver | MB/s | receiver peak MiB | lost |", "|---:|---:|---:|---:|---:|---:|"]
    for k in keys:
        ds = rows[k]
        cpu, rate, mb, rss = med(ds, "cpu_us_per_event"), med(ds, "events_per_sec"), med(ds, "mb_per_sec"), med(ds, "peak_rss_mib")
        lost = sum(d.get("lost", 0) for d in ds)
        f = lambda v, p=2: "—" if v is None else f"{v:,.{p}f}"
        L.append(f"| {k[1]:,} | {f(cpu)} | {f(rate, 0)} | {f(mb, 1)} | {f(rss, 0)} | {lost:,} |")
    L.append("")
open(sys.argv[2], "w").write("\n".join(L) + "\n")
print("wrote", sys.argv[2], file=sys.stderr)
EOF
