"""The interpreter's life: exit with an instance running, Ctrl-C in a blocking loop."""

import signal
import subprocess
import sys
import time

from conftest import random_net


def run(code, **kw):
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_interpreter_exit_with_an_instance_running():
    net = random_net()
    child = run(f"import eventcast\nec = eventcast.Eventcast(**{net!r}).start()\nec.emit('x', 1)\nprint('started', flush=True)\n")
    out, err = child.communicate(timeout=20)
    assert child.returncode == 0, err
    assert out.strip() == "started"


def test_ctrl_c_stops_a_blocking_loop_cleanly():
    net = random_net()
    code = f"""
import eventcast
with eventcast.Eventcast(**{net!r}) as ec:
    print("listening", flush=True)
    try:
        for ev in ec.subscribe("**"):
            pass
    except KeyboardInterrupt:
        print("interrupted", flush=True)
print("stopped", flush=True)
"""
    child = run(code)
    assert child.stdout.readline().strip() == "listening"
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=10)
    assert child.returncode == 0, err
    assert out.split() == ["interrupted", "stopped"]
