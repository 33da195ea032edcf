#!/usr/bin/env python3
"""Python beside Rust and beside the Python peers, in one run: ~100 B events between two
processes (a receiver and a sender, as deployed): Rust→Rust, Rust→Python (what a Python
receiver with a no-op callback keeps up with), Python→Python, zenoh-python→zenoh-python
and LCM's Python module→LCM's Python module; medians of RUNS runs, with the CPU time per
delivered event of each process (user + system, from wait4). Runs inside a fresh network
namespace on its loopback: nothing leaves the machine.

Usage: python3 scripts/bench_python.py   (root, for unshare). Needs target/release/eventcast
and a Python with eventcast installed (PYTHON, default target/pyenv/bin/python); zenoh and
LCM are measured when `eclipse-zenoh` and `lcm` import in that Python (pip install
eclipse-zenoh lcm), and reported as not installed otherwise. Prints a Markdown table.
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
PYTHON = os.environ.get("PYTHON", os.path.join(ROOT, "target", "pyenv", "bin", "python"))
BENCH = os.path.join(ROOT, "bindings", "python", "bench")
RUNS = int(os.environ.get("RUNS", "3"))
EVENTS = int(os.environ.get("EVENTS", "300000"))
GROUP = "239.255.0.100"


def recv_cmd(kind, port, events):
    return {
        "rust": [RUST, "bench", "--role", "recv", "--idle-timeout", "3s", "--port", str(port), "--events", str(events)],
        "python": [PYTHON, os.path.join(BENCH, "recv.py"), str(events), str(port), GROUP],
        "zenoh": [PYTHON, os.path.join(BENCH, "peers.py"), "zenoh-recv", str(events), str(port)],
        "lcm": [PYTHON, os.path.join(BENCH, "peers.py"), "lcm-recv", str(events), str(port)],
    }[kind]


def send_cmd(kind, port, events):
    return {
        "rust": [RUST, "bench", "--role", "send", "--port", str(port), "--events", str(events)],
        "python": [PYTHON, os.path.join(BENCH, "send.py"), str(events), str(port), GROUP],
        "zenoh": [PYTHON, os.path.join(BENCH, "peers.py"), "zenoh-send", str(events), str(port)],
        "lcm": [PYTHON, os.path.join(BENCH, "peers.py"), "lcm-send", str(events), str(port)],
    }[kind]


def one(sender, receiver, port, events):
    return run_pair(recv_cmd(receiver, port, events), send_cmd(sender, port, events), settle=1.0)


def importable(module):
    return subprocess.run([PYTHON, "-c", f"import {module}"], capture_output=True).returncode == 0


def main():
    if os.environ.get("IN_NETNS") != "1":
        os.execvp("unshare", ["unshare", "--net", "env", "IN_NETNS=1", sys.executable] + sys.argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"], check=True)  # for LCM's default
    cases = [
        ("Rust → Rust", "rust", "rust"),
        ("Rust → Python (the Python receiver, no-op callback)", "rust", "python"),
        ("Python → Python", "python", "python"),
    ]
    missing = []
    for label, module, kind in (("zenoh-python → zenoh-python (TCP, CongestionControl.BLOCK)", "zenoh", "zenoh"),
                                ("LCM Python → LCM Python (UDP multicast)", "lcm", "lcm")):
        (cases.append((label, kind, kind)) if importable(module) else missing.append(module))
    results = {name: [] for name, *_ in cases}
    port = 9500
    for run in range(RUNS):
        print(f"run {run + 1} of {RUNS}", file=sys.stderr)
        for name, sender, receiver in cases:
            port += 1
            results[name].append(one(sender, receiver, port, EVENTS))
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    print(f"| ~100 B events, two processes, {EVENTS:,} per run (medians of {RUNS}) | delivered events/s | runs | lost (all runs) | CPU µs/event sender / receiver |")
    print("|---|---:|---|---:|---:|")
    for name, *_ in cases:
        rs = results[name]
        runs = " / ".join(f"{r['events_per_sec'] / 1000:,.0f} k" for r in rs)
        lost = sum(r["lost"] for r in rs)
        print(f"| {name} | {med(rs, 'events_per_sec'):,.0f} | {runs} | {lost:,} | {med(rs, 'send_cpu_us'):.2f} / {med(rs, 'recv_cpu_us'):.2f} |")
    for module in missing:
        print(f"\n({module} does not import in {PYTHON}: not measured)")


main()
