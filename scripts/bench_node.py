#!/usr/bin/env python3
"""Node beside Rust, measured in one run: 100 B events between two processes (a receiver
and a sender, as deployed), Rust→Rust, Node→Node, Rust→Node (what a Node receiver keeps
up with) and Node→Rust, and latency at 10,000 events/s; medians of RUNS runs, with the CPU
time per event of each process (user + system, from wait4). Runs inside a fresh network
namespace on its loopback: nothing leaves the machine.

Usage: python3 scripts/bench_node.py   (root, for unshare; builds nothing: needs
target/release/eventcast and bindings/node built). Prints a Markdown table.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pair import run_pair  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUST = os.path.join(ROOT, "target", "release", "eventcast")
NODE = ["node", os.path.join(ROOT, "bindings", "node", "bench", "bench.js")]
RUNS = int(os.environ.get("RUNS", "3"))
EVENTS = int(os.environ.get("EVENTS", "300000"))


def recv_cmd(kind, port, events, rate):
    if kind == "rust":
        return [RUST, "bench", "--role", "recv", "--idle-timeout", "3s", "--port", str(port), "--events", str(events), "--rate", str(rate)]
    return NODE + ["recv", "--port", str(port), "--events", str(events), "--rate", str(rate)]


def send_cmd(kind, port, events, rate):
    if kind == "rust":
        return [RUST, "bench", "--role", "send", "--port", str(port), "--events", str(events), "--rate", str(rate)]
    return NODE + ["send", "--port", str(port), "--events", str(events), "--rate", str(rate)]


def one(sender, receiver, port, events, rate):
    return run_pair(recv_cmd(receiver, port, events, rate), send_cmd(sender, port, events, rate))


def main():
    if os.environ.get("IN_NETNS") != "1":
        os.execvp("unshare", ["unshare", "--net", "env", "IN_NETNS=1", sys.executable] + sys.argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    cases = [
        ("Rust → Rust", "rust", "rust", 0),
        ("Node → Node", "node", "node", 0),
        ("Rust → Node (the Node receiver)", "rust", "node", 0),
        ("Node → Rust (the Node sender)", "node", "rust", 0),
        ("Rust → Rust at 10,000/s", "rust", "rust", 10000),
        ("Node → Node at 10,000/s", "node", "node", 10000),
    ]
    results = {name: [] for name, *_ in cases}
    port = 9400
    for run in range(RUNS):
        print(f"run {run + 1} of {RUNS}", file=sys.stderr)
        for name, sender, receiver, rate in cases:
            port += 1
            events = EVENTS if rate == 0 else 30000
            results[name].append(one(sender, receiver, port, events, rate))
    med = lambda rs, k: statistics.median(r[k] for r in rs if r.get(k) is not None) if any(r.get(k) is not None for r in rs) else None
    print(f"| 100 B events, two processes (medians of {RUNS}) | events/s | lost | p50 / p99 / p99.9 µs | CPU µs/event sender / receiver |")
    print("|---|---:|---:|---:|---:|")
    for name, *_ in cases:
        rs = results[name]
        lost = sum(r["lost"] for r in rs)
        lat = " / ".join(f"{med(rs, k):,.0f}" for k in ("p50_us", "p99_us", "p999_us"))
        print(f"| {name} | {med(rs, 'events_per_sec'):,.0f} | {lost} | {lat} | {med(rs, 'send_cpu_us'):.2f} / {med(rs, 'recv_cpu_us'):.2f} |")
    print()
    print("(latency without a rate is queueing in a burst, not a latency figure)")


main()
