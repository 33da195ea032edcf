"""Shared by the benchmark scripts: one receiver process and one sender process, measured
as deployed, with the CPU time (user + system, from wait4) of each per delivered event."""
import json
import os
import subprocess
import time


def cpu_of(proc):
    """Waits for `proc`; its CPU seconds."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def run_pair(recv_cmd, send_cmd, settle=0.6):
    """Starts the receiver, then the sender; the receiver's last JSON line, with
    send_cpu_us and recv_cpu_us (per delivered event) added."""
    r = subprocess.Popen(recv_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    s = subprocess.Popen(send_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    send_cpu = cpu_of(s)
    out = r.stdout.read()
    recv_cpu = cpu_of(r)
    report = json.loads(out.decode().strip().splitlines()[-1])
    delivered = max(report["delivered"], 1)
    report["send_cpu_us"] = send_cpu * 1e6 / delivered
    report["recv_cpu_us"] = recv_cpu * 1e6 / delivered
    return report
