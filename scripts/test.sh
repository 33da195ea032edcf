#!/usr/bin/env bash
# The test command: every suite, on loopback inside a fresh network namespace when we are
# root (so no packet can leave the machine), then the multi-host namespace suites, which run
# the release build of the CLI with overflow checks (profile `checked`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --all-targets --locked          # fetches crates while the network is still there
# The crate boundaries: the protocol core compiles no async runtime and no socket crate; the
# library compiles none of the CLI's crates.
if cargo tree --locked -p eventcast-proto -e normal --prefix none | grep -E '^(tokio|socket2|mio) '; then
    echo "eventcast-proto must not depend on an async runtime or sockets"; exit 1
fi
if cargo tree --locked -p eventcast -e normal --prefix none | grep -E '^(clap|rustyline|tracing-subscriber) '; then
    echo "the eventcast library must not depend on the CLI's crates"; exit 1
fi
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then
    cargo build --profile checked --locked --bin eventcast     # release, overflow checked
    unshare --net bash -c 'ip link set lo up && cargo test --offline --locked --all-targets && cargo test --offline --locked --doc'
    export EVENTCAST_BIN=$PWD/target/checked/eventcast
    unshare --net bash tests/netns/run.sh
    unshare --net bash tests/netns/lossy.sh
    unshare --net bash tests/netns/security.sh
    unshare --net bash tests/netns/runtime.sh
    unshare --net bash tests/netns/gateway.sh
else
    echo "not root: running the loopback suites on this host's lo (every test sets 127.0.0.1 explicitly);"
    echo "SKIPPED the namespace suites: they need root for ip netns"
    cargo test --locked --all-targets && cargo test --locked --doc
fi
