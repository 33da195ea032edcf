#!/usr/bin/env python3
"""The figures of `eventcast record` and `replay`, in one run, in a network namespace of its
own on loopback (root; nothing leaves the machine), sender and recorder in separate
processes:

- record: `eventcast bench --role send` as fast as it goes (100 B events) into `eventcast
  record --count N` (no compression, then zstd), beside `eventcast bench --role recv` (the
  plain receiver) as the baseline; events/s from the file's first to last receive time,
  events missing, CPU per event of the recorder.
- replay timing: a recording made at 1,000 events/s, replayed while another recorder
  records the replay; how late replay sent each event (its own measure) and the error of
  each received event's offset from the first against the original's.

Usage: python3 scripts/bench_record.py   (RUNS=3, EVENTS=500000; needs target/release/eventcast
and `pip install mcap` in PYTHON (default target/pyenv/bin/python) to read the files)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "eventcast")
PYTHON = os.environ.get("PYTHON", os.path.join(ROOT, "target", "pyenv", "bin", "python"))
RUNS = int(os.environ.get("RUNS", "3"))
EVENTS = int(os.environ.get("EVENTS", "500000"))
NET = ["--interface", "127.0.0.1", "--group", "239.255.0.100"]

READ_TIMES = r"""
import json, sys
from mcap.reader import make_reader
with open(sys.argv[1], "rb") as f:
    r = make_reader(f)
    assert r.get_summary() is not None, "not closed cleanly"
    t = [m.log_time for _, c, m in r.iter_messages() if c.metadata.get("eventcast.kind") == "event"]
print(json.dumps(t))
"""


def times(path):
    out = subprocess.run([PYTHON, "-c", READ_TIMES, path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def cpu_wait(proc):
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def waiting_for(proc, word):
    for _ in range(400):
        line = proc.stderr.readline()
        if word in line:
            return
    raise RuntimeError(f"{proc.args} did not say {word!r}")


def record_once(port, path, compression):
    rec = subprocess.Popen([BIN, "record", path, "--count", str(EVENTS), "--compression", compression, "--port", str(port)] + NET,
                           stderr=subprocess.PIPE, text=True)
    waiting_for(rec, "recording")
    send = subprocess.Popen([BIN, "bench", "--role", "send", "--events", str(EVENTS), "--port", str(port)] + NET,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu_wait(send)
    cpu = cpu_wait(rec)
    t = times(path)
    rate = (len(t) - 1) / ((t[-1] - t[0]) / 1e9) if len(t) > 1 else 0
    os.unlink(path)
    return {"rate": rate, "missing": EVENTS - len(t), "cpu_us": cpu * 1e6 / max(len(t), 1)}


def recv_once(port):
    r = subprocess.Popen([BIN, "bench", "--role", "recv", "--idle-timeout", "3s", "--events", str(EVENTS), "--port", str(port)] + NET,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.6)
    s = subprocess.Popen([BIN, "bench", "--role", "send", "--events", str(EVENTS), "--port", str(port)] + NET,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu_wait(s)
    out = r.stdout.read()
    cpu = cpu_wait(r)
    rep = json.loads(out.strip().splitlines()[-1])
    return {"rate": rep["events_per_sec"], "missing": rep["lost"], "cpu_us": cpu * 1e6 / max(rep["delivered"], 1)}


def replay_timing(port, work):
    orig = os.path.join(work, "orig.mcap")
    again = os.path.join(work, "again.mcap")
    n = 5000
    rec = subprocess.Popen([BIN, "record", orig, "--count", str(n), "--port", str(port)] + NET, stderr=subprocess.PIPE, text=True)
    waiting_for(rec, "recording")
    subprocess.run([BIN, "bench", "--role", "send", "--events", str(n), "--rate", "1000", "--port", str(port)] + NET,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec.wait()
    rec2 = subprocess.Popen([BIN, "record", again, "--count", str(n), "--port", str(port + 1)] + NET, stderr=subprocess.PIPE, text=True)
    waiting_for(rec2, "recording")
    play = subprocess.run([BIN, "replay", orig, "--linger", "500ms", "--port", str(port + 1)] + NET,
                          check=True, capture_output=True, text=True)
    rec2.wait()
    late = json.loads(play.stderr.strip().splitlines()[-1])["late_us"]
    a, b = times(orig), times(again)
    errs = sorted(abs((b[i] - b[0]) - (a[i] - a[0])) / 1000 for i in range(min(len(a), len(b))))
    q = lambda p: errs[min(len(errs) - 1, int(len(errs) * p))]
    return {"late_p50": late["p50"], "late_p99": late["p99"], "late_max": late["max"],
            "err_p50": q(0.5), "err_p99": q(0.99), "err_max": errs[-1], "events": len(b), "of": n}


def main():
    if os.environ.get("IN_NETNS") != "1":
        os.execvp("unshare", ["unshare", "--net", "env", "IN_NETNS=1", sys.executable] + sys.argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = tempfile.mkdtemp()
    cases = {"bench recv (baseline)": [], "record": [], "record --compression zstd": []}
    timing = []
    port = 9800
    for run in range(RUNS):
        print(f"run {run + 1} of {RUNS}", file=sys.stderr)
        port += 10
        cases["bench recv (baseline)"].append(recv_once(port))
        cases["record"].append(record_once(port + 1, os.path.join(work, "r.mcap"), "none"))
        cases["record --compression zstd"].append(record_once(port + 2, os.path.join(work, "z.mcap"), "zstd"))
        timing.append(replay_timing(port + 3, work))
    print(f"| {EVENTS:,} events of 100 B, two processes (medians of {RUNS}) | events/s | runs | missing (all runs) | CPU µs/event (receiver) |")
    print("|---|---:|---|---:|---:|")
    for name, rs in cases.items():
        runs = " / ".join(f"{r['rate'] / 1000:,.0f} k" for r in rs)
        print(f"| {name} | {statistics.median(r['rate'] for r in rs):,.0f} | {runs} | {sum(r['missing'] for r in rs)} | {statistics.median(r['cpu_us'] for r in rs):.2f} |")
    print()
    print(f"| replay of 5,000 events recorded at 1,000/s (medians of {RUNS}) | p50 | p99 | max |")
    print("|---|---:|---:|---:|")
    med = lambda k: statistics.median(t[k] for t in timing)
    print(f"| how late replay sent each event (µs) | {med('late_p50'):,.0f} | {med('late_p99'):,.0f} | {med('late_max'):,.0f} |")
    print(f"| error of each received event's offset against the original's (µs) | {med('err_p50'):,.0f} | {med('err_p99'):,.0f} | {med('err_max'):,.0f} |")
    print(f"\n(replayed events recorded again: {[t['events'] for t in timing]} of {timing[0]['of']})")


main()
