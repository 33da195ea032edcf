#!/usr/bin/env bash
# `eventcast doctor` on namespaced hosts: a healthy setup passes; each setup broken on
# purpose (multicast off, no route to the group, an nftables drop rule, a small socket
# buffer limit, the wrong interface) is named by the right check in the --json output; and
# `--probe` between two hosts reports both directions, with loss once nftables drops some.
# Run as root inside `unshare --net bash tests/netns/doctor.sh`. Prints "N passed, N failed".
set -euo pipefail

cd "$(dirname "$0")/../.."
. tests/netns/lib.sh
require_root "doctor netns suite"
make_hosts 2
PORT=9000
skipped=0
for h in h1 h2; do ip -n "$P-$h" route add 224.0.0.0/4 dev eth0; done

skip() { echo "SKIPPED $1"; skipped=$((skipped + 1)); }

# doctor HOST NAME ARGS…: runs `eventcast doctor --json ARGS…` on HOST; stdout in
# $WORK/NAME.json, stderr in .err, exit status in .rc
doctor() {
    local host=$1 name=$2; shift 2
    local rc=0
    on "$host" doctor --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
    echo "$rc" >"$WORK/$name.rc"
}

# rc NAME CODE: the doctor run NAME exited with CODE
rc() {
    [ "$(cat "$WORK/$1.rc")" = "$2" ] || { echo "  $1 exited $(cat "$WORK/$1.rc"), not $2:"; cat "$WORK/$1.json" "$WORK/$1.err"; return 1; }
}

# has NAME CHECK STATUS [TEXT…]: run NAME has a check CHECK with STATUS whose detail holds
# every TEXT
has() {
    python3 - "$WORK/$1.json" "${@:2}" <<'PY'
import json, sys
path, name, status, texts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
checks = json.load(open(path))["checks"]
if not any(c["name"] == name and c["status"] == status and all(t in c["detail"] for t in texts) for c in checks):
    print("  expected %s %s with %s; got:" % (name, status, texts))
    for c in checks:
        print("   ", c["name"], c["status"], c["detail"])
    sys.exit(1)
PY
}

# all_pass NAME: one JSON object, every check ok, warn or skipped, and the names expected
all_pass() {
    python3 - "$WORK/$1.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
doc = json.loads(text)  # exactly one object: json.loads refuses trailing data
assert set(doc) == {"checks"}, doc.keys()
names = [c["name"] for c in doc["checks"]]
want = ["interfaces", "interface", "route", "rp_filter", "firewall", "igmp", "buffers", "environment", "self-test"]
assert names[:len(want)] == want, names
for c in doc["checks"]:
    assert set(c) == {"name", "status", "detail", "fix"}, c
    assert c["status"] in ("ok", "warn", "skipped"), c
    assert c["status"] == "ok" or c["fix"] or c["status"] == "skipped", c
PY
}

healthy() {
    doctor h1 healthy
    rc healthy 0 && all_pass healthy && has healthy route ok "goes via eth0" && has healthy self-test ok \
        && has healthy interface ok "default (the OS's choice" "is eth0" && has healthy firewall ok
}

human() {
    local rc=0
    on h1 doctor --interface eth0 >"$WORK/human.out" 2>&1 || rc=$?
    echo "--- human output of a healthy host:"; cat "$WORK/human.out"; echo "---"
    [ "$rc" = 0 ] && grep -q '^ok   self-test' "$WORK/human.out" && grep -q 'events should flow$' "$WORK/human.out"
}

multicast_off() {
    ip -n "$P-h1" link set dev eth0 multicast off
    doctor h1 mcoff --interface eth0
    ip -n "$P-h1" link set dev eth0 multicast on
    rc mcoff 1 && has mcoff interface fail "eth0" "multicast off" \
        && grep -q 'ip link set dev eth0 multicast on' "$WORK/mcoff.json"
}

no_route() {
    ip -n "$P-h1" route del 224.0.0.0/4 dev eth0
    doctor h1 noroute
    ip -n "$P-h1" route add 224.0.0.0/4 dev eth0
    rc noroute 1 && has noroute route fail "no route covers 239.255.0.99" && grep -q 'ip route add 224.0.0.0/4' "$WORK/noroute.json"
}

nft_drop() {
    ip netns exec "$P-h1" nft -f - <<NFT
table inet blocker {
    chain input {
        type filter hook input priority 0;
        iifname "eth0" udp dport $PORT counter drop
    }
}
NFT
    doctor h1 nftdrop --interface eth0
    ip netns exec "$P-h1" nft flush ruleset
    rc nftdrop 1 && has nftdrop firewall fail "table inet blocker chain input" "udp dport == $PORT" \
        && grep -q 'nft delete rule inet blocker input handle' "$WORK/nftdrop.json"
}

# net.core.rmem_max belongs to the host (read-only in a namespace): ask for more than it allows
BIG_BUFFER=1073741824
small_buffer() {
    doctor h1 buffer --interface eth0 --recv-buffer "$BIG_BUFFER"
    rc buffer 0 && has buffer buffers warn "net.core.rmem_max is" "below the $BIG_BUFFER bytes of --recv-buffer"
}

wrong_interface() {
    ip -n "$P-h1" link add eth1 type veth peer name eth1p
    ip -n "$P-h1" link set dev eth1p up
    ip -n "$P-h1" link set dev eth1 up
    ip -n "$P-h1" addr add 10.78.0.1/24 dev eth1
    doctor h1 wrongif --interface eth1
    doctor h1 noif --interface nope0
    ip -n "$P-h1" link del eth1
    rc wrongif 0 && has wrongif route warn "wrong interface" "via eth0" "--interface names eth1" \
        && rc noif 1 && has noif interface fail "interface nope0 does not exist"
}

# probe NAME ARGS…: `doctor --probe` on h1 and h2 at once
probe() {
    local name=$1; shift
    doctor h1 "$name-h1" --interface eth0 --probe --no-self-test --probe-timeout 15 "$@" &
    local p1=$!
    doctor h2 "$name-h2" --interface eth0 --probe --no-self-test --probe-timeout 15 "$@"
    wait "$p1"
}

# loss NAME HOST DIRECTION: the percentage lost in DIRECTION (in, out) of HOST's probe check
loss() {
    python3 - "$WORK/$1-$2.json" "$3" <<'PY'
import json, re, sys
checks = [c for c in json.load(open(sys.argv[1]))["checks"] if c["name"] == "probe"]
m = re.search(r"\b%s (\d+)/(\d+) datagrams" % sys.argv[2], checks[0]["detail"])
got, total = int(m.group(1)), int(m.group(2))
print(round(100.0 * (total - got) / total, 1))
PY
}

probe_clean() {
    probe clean
    rc clean-h1 0 && rc clean-h2 0 \
        && has clean-h1 probe ok "peer 10.77.0.2" "out 1000/1000 datagrams" "in 1000/1000 datagrams" "largest 65000 B" "TTL 1 needed" \
        && has clean-h2 probe ok "peer 10.77.0.1" "out 1000/1000 datagrams" "in 1000/1000 datagrams"
}

probe_lossy() {
    PORT=9001 drop_udp_input 20 h2
    probe lossy
    drop_udp_input 0 h2
    local in2 out1
    in2=$(loss lossy h2 in) && out1=$(loss lossy h1 out) || return 1
    echo "  20% dropped on the way into h2: h2 reports $in2% lost in, h1 $out1% lost out"
    has lossy-h2 probe warn "in: loss" && has lossy-h1 probe warn "out: loss" \
        && python3 -c "import sys; sys.exit(0 if 5 < $in2 < 40 and 5 < $out1 < 40 else 1)"
}

probe_alone() {
    doctor h1 alone --interface eth0 --probe --no-self-test --probe-timeout 1
    rc alone 1 && has alone probe fail "no peer heard"
}

check "healthy host: exit 0, every check ok, warn or skipped" healthy
check "human output" human
check "multicast off on eth0: interface fails, naming it" multicast_off
check "no route to the group: route fails" no_route
if command -v nft >/dev/null; then
    check "nftables drop rule for the port: firewall fails, naming the rule" nft_drop
else
    skip "nftables drop rule: nft is not installed"
fi
if [ "$(cat /proc/sys/net/core/rmem_max)" -lt "$BIG_BUFFER" ]; then
    check "receive buffer above net.core.rmem_max: buffers warns" small_buffer
else
    skip "small buffer: net.core.rmem_max is 1 GiB or more here"
fi
check "route via eth0, --interface eth1 (wrong interface) or nope0 (none)" wrong_interface
check "probe between h1 and h2: both directions, no loss" probe_clean
if command -v nft >/dev/null; then
    check "probe with 20% dropped into h2: loss in on h2, out on h1" probe_lossy
else
    skip "probe with loss: nft is not installed"
fi
check "probe without a peer fails" probe_alone

echo "doctor: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
