#!/usr/bin/env bash
# The test command: every suite, on loopback inside a fresh network namespace when we are
# root (so no packet can leave the machine), then the multi-host namespace suites, which run
# the release build of the CLI with overflow checks (profile `checked`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --all-targets --locked          # fetches crates while the network is still there
cargo fetch --locked                        # and those of the Node addon (bindings/node)
# The Node package: `npm ci` installs its npm dependencies and builds the addon (release).
node_ok=""
if command -v npm >/dev/null && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    (cd bindings/node && npm ci --no-audit --no-fund)
    node_ok=1
else
    echo "SKIPPED the Node package's tests: Node.js >= 20 with npm is not installed"
fi
cargo build --release --locked --example relay   # the Rust side of the bindings' round-trip tests
# The Python package: a virtual environment with it (pip builds it with maturin), pytest and
# pymongo's bson (its types are tested when installed).
py_ok=""
if python3 -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
    rm -rf target/pyenv
    python3 -m venv target/pyenv
    # mcap: the reader from PyPI that checks `eventcast record`'s files (tests/netns/record.sh)
    target/pyenv/bin/pip install -q --disable-pip-version-check ./bindings/python pytest pymongo mcap
    py_ok=1
else
    echo "SKIPPED the Python package's tests: Python >= 3.9 with venv is not installed"
fi
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
    unshare --net bash -c 'ip link set lo up && cargo test --offline --locked --all-targets && cargo test --offline --locked --doc && cargo test --offline --locked -p eventcast-node'
    export EVENTCAST_BIN=$PWD/target/checked/eventcast
    if [ -n "$node_ok" ]; then
        unshare --net bash -c 'ip link set lo up && cd bindings/node && CARGO_NET_OFFLINE=true npm test'
        unshare --net bash tests/netns/bindings.sh node
    fi
    if [ -n "$py_ok" ]; then
        unshare --net bash -c 'ip link set lo up && target/pyenv/bin/python -m pytest -q bindings/python/tests'
        unshare --net bash tests/netns/bindings.sh python
    fi
    unshare --net bash tests/netns/run.sh
    unshare --net bash tests/netns/lossy.sh
    unshare --net bash tests/netns/security.sh
    unshare --net bash tests/netns/runtime.sh
    unshare --net bash tests/netns/gateway.sh
    unshare --net bash tests/netns/record.sh     # record / cat / replay, read by PyPI's mcap
    unshare --net bash tests/netns/spy.sh        # spy --json, and the full-screen view in tmux
    unshare --net bash tests/netns/doctor.sh     # each broken setup named; --probe between hosts
else
    echo "not root: running the loopback suites on this host's lo (every test sets 127.0.0.1 explicitly);"
    echo "SKIPPED the namespace suites: they need root for ip netns"
    cargo test --locked --all-targets && cargo test --locked --doc && cargo test --locked -p eventcast-node
    if [ -n "$node_ok" ]; then (cd bindings/node && npm test); fi
    if [ -n "$py_ok" ]; then target/pyenv/bin/python -m pytest -q bindings/python/tests; fi
fi
