#!/usr/bin/env bash
# `eventcast spy`: the --json snapshot (rows, patterns, keys, hostile names, not-a-terminal),
# then the full-screen view in a real terminal (tmux): rows and columns drawn, live filter,
# a row opened, resize, and the terminal restored after q, Ctrl-C and SIGTERM.
# Runs in a network namespace of its own, on loopback only; nothing leaves it:
#   unshare --net bash tests/netns/spy.sh
# Prints "spy: N passed, N failed" last; exits non-zero on failure.
set -euo pipefail

cd "$(dirname "$0")/../.."
BIN=${EVENTCAST_BIN:-$PWD/target/debug/eventcast}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "SKIPPED spy suite: needs root and iproute2 (run as: unshare --net bash $0)"
    echo "spy: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
[ -x "$BIN" ] || { echo "no binary at $BIN: run cargo build first"; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to check JSON"; exit 2; }
# never in the host's namespace: a namespace of our own has only lo (and maybe sit0 & co.)
if ip -o link show | grep -qvE ': (lo|sit0|tunl0|ip6tnl0|gre0|gretap0|erspan0|ip_vti0|ip6_vti0|ip6gre0)[:@]'; then
    echo "refusing to run: this looks like the host's network namespace (use: unshare --net bash $0)"
    exit 2
fi
ip link set lo up

WORK=$(mktemp -d)
SOCK="$WORK/tmux.sock"
PIDS=""
passed=0
failed=0
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    [ -S "$SOCK" ] && tmux -S "$SOCK" kill-server 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

NET=(--interface 127.0.0.1)
ok() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
emit() { local port=$1; shift; "$BIN" emit "$@" "${NET[@]}" --port "$port" >/dev/null 2>>"$WORK/emit.err"; }

# spy_json NAME PORT ARGS…: spy --json in the background, its output in $WORK/NAME.json
spy_json() {
    local name=$1 port=$2; shift 2
    "$BIN" spy --json "$@" "${NET[@]}" --port "$port" >"$WORK/$name.json" 2>"$WORK/$name.err" &
    PIDS="$PIDS $!"
    echo $! >"$WORK/$name.pid"
    for _ in $(seq 100); do
        grep -q listening "$WORK/$name.err" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
finish() { wait "$(cat "$WORK/$1.pid")"; }

# --- JSON mode -------------------------------------------------------------------------
json_rows() {
    spy_json rows 9731 --duration 3 --window 10s || return 1
    emit 9731 sensor.temp '"kitchen"' 21.5 --repeat 10 --interval 0.05
    emit 9731 door.open '{"id": 7}'
    finish rows || return 1
    python3 - "$WORK/rows.json" <<'EOF'
import json, sys
snap = json.load(open(sys.argv[1]))
rows = {r["event"]: r for r in snap["events"]}
assert set(rows) == {"sensor.temp", "door.open"}, rows
t = rows["sensor.temp"]
for key in ("event", "count", "rate_hz", "bytes", "senders", "lost", "last_args", "interval_ms", "jitter_ms", "bytes_per_sec"):
    assert key in t, key
assert (t["count"], t["senders"], t["lost"]) == (10, 1, 0), t
assert t["last_args"] == ["kitchen", 21.5], t
assert t["bytes"] > 0 and t["rate_hz"] > 0 and 30 < t["interval_ms"] < 200, t
assert rows["door.open"]["last_args"] == [{"id": 7}]
assert snap["totals"]["events"] == 11 and snap["totals"]["peers"] == 2, snap["totals"]
assert snap["stats"]["events_in"] == 11 and snap["stats"]["lost"] == 0, snap["stats"]
EOF
}
check "--json --duration: a row per name with count, rate, bytes, senders, lost, last args" json_rows

json_patterns_once() {
    spy_json once 9732 --once 'sensor.*' || return 1
    emit 9732 sensor.a 1
    emit 9732 other.b 2
    local start=$SECONDS
    finish once || return 1
    [ $((SECONDS - start)) -le 3 ] || return 1
    python3 -c '
import json, sys
snap = json.load(open(sys.argv[1]))
assert [r["event"] for r in snap["events"]] == ["sensor.a"], snap' "$WORK/once.json"
}
check "--once: a 1-second snapshot; patterns choose the names tracked" json_patterns_once

json_hostile() {
    spy_json hostile 9733 --duration 2 || return 1
    python3 -c '
import json
print(json.dumps({"event": "evil\u001b[2J\u0007" + "x" * 900, "args": ["\u001b]0;pwned\u0007" + "y" * 20000]}))
print(json.dumps({"event": "evil2", "args": [{"deep": [[[[[1]]]]]}, "\t\r\n"]}))' \
        | "$BIN" emit --stdin "${NET[@]}" --port 9733 >/dev/null
    finish hostile || return 1
    python3 - "$WORK/hostile.json" <<'EOF'
import json, sys
snap = json.load(open(sys.argv[1]))
rows = {r["event"]: r for r in snap["events"]}
evil = next(r for n, r in rows.items() if n.startswith("evil\u001b"))
assert evil["last_args_cut"] and isinstance(evil["last_args"], str), evil["last_args_cut"]
assert len(evil["last_args"].encode()) <= 4096, len(evil["last_args"].encode())
assert rows["evil2"]["last_args"] == [{"deep": [[[[[1]]]]]}, "\t\r\n"]
EOF
}
check "hostile names and 20 KB arguments: counted, last args cut to 4 KB" json_hostile

json_keys() {
    spy_json keyed 9734 --duration 2 --key 'spy test passphrase' || return 1
    spy_json keyless 9734 --duration 2 || return 1
    emit 9734 secret.thing 42 --key 'spy test passphrase'
    finish keyed && finish keyless || return 1
    python3 - "$WORK/keyed.json" "$WORK/keyless.json" <<'EOF'
import json, sys
keyed, keyless = (json.load(open(p)) for p in sys.argv[1:3])
assert [(r["event"], r["last_args"]) for r in keyed["events"]] == [("secret.thing", [42])], keyed
assert keyless["events"] == [] and keyless["stats"]["undecodable"] >= 1, keyless
EOF
}
check "keys: the keyed spy reads the event; a keyless one counts it undecodable" json_keys

not_a_terminal() {
    local rc=0
    "$BIN" spy "${NET[@]}" --port 9735 >"$WORK/nt.out" 2>"$WORK/nt.err" </dev/null || rc=$?
    [ "$rc" = 2 ] && [ ! -s "$WORK/nt.out" ] && grep -q -- --json "$WORK/nt.err"
}
check "stdout not a terminal without --json: exit 2, nothing on stdout, a hint on stderr" not_a_terminal

# --- the full-screen view, in tmux -----------------------------------------------------
if ! command -v tmux >/dev/null; then
    echo "SKIPPED full-screen tests: tmux is not installed"
    echo "spy: $passed passed, $failed failed, 1 skipped"
    [ "$failed" = 0 ]
    exit
fi

T() { tmux -S "$SOCK" "$@"; }
screen() { T capture-pane -p -t spy; }
# wait_for TEXT [absent]: up to 5 s for TEXT to be on (or gone from) the screen
wait_for() {
    for _ in $(seq 100); do
        if screen | grep -qF -- "$1"; then [ "${2:-}" != absent ] && return 0
        else [ "${2:-}" = absent ] && return 0; fi
        sleep 0.05
    done
    echo "--- screen (waiting for ${2:-} $1):"; screen; return 1
}
alternate_off() { [ "$(T display -p -t spy '#{alternate_on}')" = 0 ]; }
# restored N: the shell prints normally after spy (echo works, line discipline sane)
restored() {
    T send-keys -t spy "stty -a > $WORK/stty$1; echo restored-\$((40 + $1))" Enter
    wait_for "restored-$((40 + $1))" || return 1
    alternate_off || { echo "alternate screen still on"; return 1; }
    local modes; modes=$(tr ' ;' '\n\n' <"$WORK/stty$1")
    grep -qx icanon <<<"$modes" && grep -qx echo <<<"$modes" && grep -qx isig <<<"$modes" \
        || { echo "terminal modes not restored:"; cat "$WORK/stty$1"; return 1; }
}
start_view() {
    T send-keys -t spy "clear; $BIN spy ${NET[*]} --port 9740" Enter
    wait_for "eventcast spy"
}

T new-session -d -s spy -x 120 -y 30 "env PS1='$ ' bash --norc --noprofile"
T set-option -t spy remain-on-exit on >/dev/null

view_rows() {
    start_view || return 1
    wait_for "waiting for events" || return 1
    emit 9740 sensor.temp '"kitchen"' 21.5 --repeat 5 --interval 0.05
    emit 9740 door.open '{"id": 7}'
    printf '{"event": "evil\\u001b[2J\\u0007name", "args": ["\\u001b]0;x\\u0007"]}\n' \
        | "$BIN" emit --stdin "${NET[@]}" --port 9740 >/dev/null
    wait_for "door.open" || return 1
    local s; s=$(screen)
    for text in NAME COUNT RATE/s INTERVAL JITTER BYTES/s SENDERS LOST "LAST ARGS" sensor.temp \
        '["kitchen",21.5]' "events 7" "peers 3" "evil␛[2J␇name"; do
        grep -qF -- "$text" <<<"$s" || { echo "missing $text on screen:"; echo "$s"; return 1; }
    done
    grep -E '^ *sensor\.temp +5 ' <<<"$s" >/dev/null || { echo "no count 5 for sensor.temp:"; echo "$s"; return 1; }
}
check "view: one row per name with every column, hostile name drawn sanitized" view_rows

view_sort() {
    T send-keys -t spy 2
    wait_for "2COUNT↓" || return 1
    screen | grep -A1 -F "2COUNT↓" | tail -1 | grep -qF sensor.temp || { screen; return 1; }
    T send-keys -t spy 2
    wait_for "2COUNT↑" || return 1
    T send-keys -t spy Tab
    wait_for "3RATE/s↓" || return 1
    T send-keys -t spy 1
    wait_for "1NAME↓"
}
check "view: keys 1-8 sort by a column, again reverses, Tab goes to the next" view_sort

view_filter() {
    T send-keys -t spy / t e m p
    wait_for "filter: temp" || return 1
    T send-keys -t spy Enter
    wait_for "door.open" absent || return 1
    screen | grep -qF sensor.temp
}
check "view: '/' filter typed live keeps only the matching rows" view_filter

view_detail() {
    T send-keys -t spy Enter
    wait_for "last event" || return 1
    local s; s=$(screen)
    grep -qF '"args": [' <<<"$s" && grep -qE '^│ +"kitchen", +│$' <<<"$s" && grep -qF "senders: 1" <<<"$s" \
        && grep -qF "127.0.0.1:" <<<"$s" || { echo "$s"; return 1; }
    T send-keys -t spy Escape
    wait_for "last event" absent
}
check "view: Enter opens a row (pretty JSON, senders), Esc goes back" view_detail

view_resize() {
    T resize-window -t spy -x 70 -y 15
    sleep 0.5
    local s; s=$(screen)
    grep -qF "eventcast spy" <<<"$s" && grep -qF sensor.temp <<<"$s" || { echo "$s"; return 1; }
    [ "$(wc -L <<<"$s")" -le 70 ] || { echo "lines wider than the window:"; echo "$s"; return 1; }
    T resize-window -t spy -x 120 -y 30
    sleep 0.5
    screen | grep -qF "LAST ARGS"
}
check "view: redrawn on resize, smaller and back" view_resize

view_quit() {
    T send-keys -t spy q
    wait_for "eventcast spy" absent && restored 1
}
check "view: q quits and the terminal is restored" view_quit

view_ctrl_c() {
    start_view || return 1
    T send-keys -t spy C-c
    wait_for "eventcast spy" absent && restored 2
}
check "view: Ctrl-C quits and the terminal is restored" view_ctrl_c

view_sigterm() {
    start_view || return 1
    local shell pid
    shell=$(T display -p -t spy '#{pane_pid}')
    pid=$(pgrep -P "$shell" -f "spy" | head -1)
    [ -n "$pid" ] || return 1
    kill -TERM "$pid"
    wait_for "eventcast spy" absent && restored 3 && screen | grep -qF "SIGTERM: stopping"
}
check "view: SIGTERM ends it, terminal restored, held-back stderr printed after" view_sigterm

view_duration() {
    T send-keys -t spy "clear; $BIN spy ${NET[*]} --port 9740 --duration 1; echo rc=\$?" Enter
    wait_for "rc=0" && restored 4
}
check "view: --duration ends it with status 0" view_duration

echo "spy: $passed passed, $failed failed"
[ "$failed" = 0 ]
