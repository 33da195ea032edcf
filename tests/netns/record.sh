#!/usr/bin/env bash
# `eventcast record`, `cat` and `replay`: every BSON argument type recorded and read back by
# the `mcap` package from PyPI; SIGINT and SIGTERM close the file cleanly; compression,
# splitting and SIGHUP rotation; record → replay → record gives the same events; filter,
# rate and start offset; a hostile file. Loopback of a namespace of its own:
#   unshare --net bash tests/netns/record.sh   (PYTHON: a python with mcap and pymongo)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${EVENTCAST_BIN:-$PWD/target/debug/eventcast}
PY=${PYTHON:-$PWD/target/pyenv/bin/python}
if [ "$(id -u)" != 0 ]; then echo "SKIPPED record suite: needs root (unshare --net)"; exit 0; fi
if ip -o link show | grep -qvE ': (lo|sit0|tunl0|ip6tnl0|gre0|gretap0|erspan0|ip_vti0|ip6_vti0|ip6gre0)[:@]'; then
    echo "refusing to run: this looks like the host's network namespace (use: unshare --net bash $0)"; exit 2
fi
ip link set lo up
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
N=(--interface 127.0.0.1 --port 9720 --group 239.255.7.20)
passed=0; failed=0
check() { local name=$1; shift; if "$@"; then echo "ok   $name"; passed=$((passed+1)); else echo "FAIL $name"; failed=$((failed+1)); fi; }
have_mcap=""; if "$PY" -c 'import mcap, bson' 2>/dev/null; then have_mcap=1; else echo "SKIPPED the mcap-package checks: $PY has no mcap/bson (pip install mcap pymongo)"; fi

# record FILE ARGS…: starts a recorder, waits until it records
record() {
    local file=$1; shift
    "$BIN" record "$file" "${N[@]}" "$@" 2>"$file.err" &
    echo $! >"$file.pid"
    for _ in $(seq 200); do grep -q recording "$file.err" && return 0; sleep 0.05; done
    cat "$file.err"; return 1
}
stop() { kill "-$2" "$(cat "$1.pid")"; wait "$(cat "$1.pid")"; }
events() { "$BIN" cat "$@" | python3 -c 'import sys,json; [print(json.dumps([d["event"], d["args"]])) for d in map(json.loads, sys.stdin)]'; }

KINDS='{"event": "kinds", "args": [null, true, 7, {"$numberLong": "1099511627776"}, 1.5, "héllo", [1, [2, "x"]], {"a": 1, "b": {"c": null}}, {"$date": "2024-01-02T03:04:05Z"}, {"$binary": {"base64": "AAH/", "subType": "00"}}, {"$oid": "0123456789abcdef01234567"}, {"$numberDecimal": "1.10"}, {"$regularExpression": {"pattern": "^a.b$", "options": "i"}}, {"$timestamp": {"t": 1, "i": 2}}, {"$minKey": 1}, {"$maxKey": 1}, {"$code": "f()"}, {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAABQ==", "subType": "04"}}]}'

# 1. every type, SIGINT closes cleanly (a process group of its own: SIGINT not ignored)
setsid "$BIN" record "$W/a.mcap" "${N[@]}" 2>"$W/a.err" & APID=$!
for _ in $(seq 200); do grep -q recording "$W/a.err" && break; sleep 0.05; done
printf '%s\n{"event": "x.one", "args": [1]}\n{"event": "x.two", "args": ["b"]}\n' "$KINDS" | "$BIN" emit "${N[@]}" --stdin
sleep 0.5; kill -INT $APID; wait $APID
check "SIGINT ends the recording with exit 0 and a summary" grep -q '"recorded":3' "$W/a.err"
check "cat prints the listen lines with time and seq" bash -c "'$BIN' cat '$W/a.mcap' | python3 -c 'import sys,json; l=[json.loads(x) for x in sys.stdin]; assert [d[\"event\"] for d in l]==[\"kinds\",\"x.one\",\"x.two\"] and all(\"time\" in d and \"seq\" in d and \"sender\" in d for d in l), l'"
if [ -n "$have_mcap" ]; then
    check "the mcap package reads every argument type intact" "$PY" tests/netns/mcap_check.py types "$W/a.mcap"
fi

# 2. SIGTERM, compression (zstd, lz4), --count and --duration
for comp in zstd lz4; do
    record "$W/c-$comp.mcap" --compression "$comp" --count 200
    "$BIN" emit "${N[@]}" --repeat 200 s.tick '{"pad": "'"$(printf 'x%.0s' $(seq 300))"'"}'
    wait "$(cat "$W/c-$comp.mcap.pid")"
    check "$comp: --count 200 records 200 and exits" test "$(events "$W/c-$comp.mcap" | wc -l)" = 200
    if [ -n "$have_mcap" ]; then check "$comp: the mcap package reads it" "$PY" tests/netns/mcap_check.py count "$W/c-$comp.mcap" 200; fi
done
record "$W/t.mcap"
"$BIN" emit "${N[@]}" t 1
sleep 0.3; stop "$W/t.mcap" TERM
check "SIGTERM closes the file cleanly" grep -q '"reason":"signal"' "$W/t.mcap.err"
if [ -n "$have_mcap" ]; then check "SIGTERM: the mcap package reads a complete file" "$PY" tests/netns/mcap_check.py count "$W/t.mcap" 1; fi
"$BIN" record "$W/d.mcap" "${N[@]}" --duration 300ms 2>"$W/d.err"
check "--duration ends the recording" grep -q '"reason":"duration"' "$W/d.err"

# 3. splitting by size, rotation on SIGHUP, patterns
record "$W/s.mcap" --split-size 20k 's.*'
"$BIN" emit "${N[@]}" --repeat 300 s.big '"'"$(printf 'y%.0s' $(seq 200))"'"'
"$BIN" emit "${N[@]}" other 1
sleep 0.3; kill -HUP "$(cat "$W/s.mcap.pid")"; sleep 0.3
"$BIN" emit "${N[@]}" s.after 1
sleep 0.3; stop "$W/s.mcap" TERM
nfiles=$(ls "$W"/s*.mcap | wc -l)
check "split by size and SIGHUP make several files ($nfiles)" test "$nfiles" -ge 3
check "the split files hold every event once, only those matching s.*" test "$(events "$W"/s.mcap "$W"/s.0*.mcap | grep -c '"s\.')" = 301
check "no event outside the pattern was recorded" bash -c "! '$BIN' cat '$W'/s*.mcap | grep -q '\"other\"'"

# 4. record → replay → record gives the same events; --filter; --json; --rate
record "$W/r2.mcap" --count 3
"$BIN" replay "$W/a.mcap" "${N[@]}" --linger 300ms 2>"$W/replay.err"
wait "$(cat "$W/r2.mcap.pid")"
check "record → replay → record: the same events, every type" diff <(events "$W/a.mcap") <(events "$W/r2.mcap")
check "replay reports how late it sent" grep -q '"late_us"' "$W/replay.err"
check "replay --json --filter prints only matching events" test "$("$BIN" replay "$W/a.mcap" --json --filter 'x.*' --rate 0 2>/dev/null | wc -l)" = 2
start=$(date +%s%N); "$BIN" replay "$W/c-zstd.mcap" --json --rate 0 >/dev/null 2>&1; fast=$(( ($(date +%s%N) - start) / 1000000 ))
check "--rate 0 replays as fast as it can (${fast} ms for 200)" test "$fast" -lt 5000
check "--start-offset past the end replays nothing" test "$("$BIN" replay "$W/a.mcap" --json --start-offset 1h 2>/dev/null | wc -l)" = 0
check "--paused steps one event per Enter" test "$(printf '\n\nq\n' | "$BIN" replay "$W/a.mcap" --json --paused 2>/dev/null | wc -l)" = 2

# 5. hostile and broken files: an error naming the file, never a panic
head -c 3000 "$W/c-zstd.mcap" >"$W/cut.mcap"
head -c 100000 /dev/urandom >"$W/noise.mcap"
for f in cut noise; do
    set +e; "$BIN" cat "$W/$f.mcap" >/dev/null 2>"$W/$f.err"; rc=$?; set -e
    check "a $f file is an error, not a panic (exit $rc)" bash -c "[ $rc = 2 ] && grep -q '$f.mcap' '$W/$f.err' && ! grep -q panicked '$W/$f.err'"
done
if [ -n "$have_mcap" ]; then
    "$PY" tests/netns/mcap_check.py hostile "$W/hostile.mcap"
    set +e; "$BIN" cat "$W/hostile.mcap" >"$W/h.out" 2>"$W/h.err"; rc=$?; set -e
    check "hostile values: cat exits 0, no panic, every readable event printed" bash -c "[ $rc = 0 ] && ! grep -q panicked '$W/h.err' && [ \$(wc -l <'$W/h.out') = 5 ]"
    check "hostile values: an event named like the loss channel stays an event" grep -q '"eventcast:loss","args":\["named like' "$W/h.out"
    check "hostile values: a full-range loss is printed, one ending before it starts is skipped" bash -c "grep -q '\"lost\":null' '$W/h.err' && grep -q 'first is after last' '$W/h.err'"
    set +e; "$BIN" replay "$W/hostile.mcap" "${N[@]}" --rate 0 --linger 0s >/dev/null 2>"$W/hr.err"; rc=$?; set -e
    check "hostile values: replay skips what the library refuses and sends the rest (time going back included)" bash -c "[ $rc = 0 ] && grep -q '\"replayed\":4' '$W/hr.err' && ! grep -q panicked '$W/hr.err'"
    check "replay --json into a closed pipe ends quietly" bash -c "'$BIN' replay '$W/c-zstd.mcap' --json --rate 0 2>'$W/pipe.err' | head -1 >/dev/null; ! grep -q panicked '$W/pipe.err'"
fi
check "a missing file is named" bash -c "! '$BIN' cat '$W/none.mcap' 2>&1 | grep -q panicked && '$BIN' cat '$W/none.mcap' 2>&1 | grep -q none.mcap"

echo "record: $passed passed, $failed failed"
[ "$failed" = 0 ]
