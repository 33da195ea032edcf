"""Python and the Rust CLI share one event space: both ways, encrypted, a 150 KB event."""

import json
import os
import subprocess

import pytest

import eventcast
from conftest import cli_binary

CLI = cli_binary()
pytestmark = pytest.mark.skipif(CLI is None, reason="the eventcast CLI is not built (cargo build --release, or set EVENTCAST_BIN)")


def net_args(net):
    return ["--interface", "127.0.0.1", "--port", str(net["port"]), "--group", net["group"]]


def listen(net, *args, env=None):
    child = subprocess.Popen([CLI, "listen", *net_args(net), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    while "listening" not in child.stderr.readline():
        pass
    return child


def lines_of(child):
    out, _ = child.communicate(timeout=30)
    return child.returncode, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_the_cli_hears_python(net):
    child = listen(net, "--count", "2", "--timeout", "20")
    with eventcast.Eventcast(**net) as ec:
        ec.emit("sensor.temp", "kitchen", 21.5, 7, 2**53 + 1, {"nested": [1, None]})
        ec.emit("big", "x" * 150_000)
        code, lines = lines_of(child)
    assert code == 0
    assert lines[0]["args"] == ["kitchen", 21.5, 7, 2**53 + 1, {"nested": [1, None]}]
    assert lines[1]["args"] == ["x" * 150_000]
    assert lines[0]["from"].startswith("127.0.0.1:")


def test_python_hears_the_cli(net):
    with eventcast.Eventcast(**net) as ec:
        sub = ec.subscribe("**")
        subprocess.run([CLI, "emit", *net_args(net), "--linger", "0.3", "sensor.temp", "kitchen", "21.5", '{"$numberLong": "9007199254740993"}', '{"$date": "2024-05-06T07:08:09Z"}'], check=True)
        ev = sub.get(timeout=10)
        assert ev.name == "sensor.temp"
        assert ev.args[:3] == ["kitchen", 21.5, 9007199254740993]
        assert ev.args[3].isoformat() == "2024-05-06T07:08:09+00:00"
        line = json.dumps({"event": "big", "args": ["y" * 150_000]}) + "\n"
        subprocess.run([CLI, "emit", *net_args(net), "--linger", "0.5", "--stdin"], input=line, text=True, check=True)
        assert sub.get(timeout=10).args == ["y" * 150_000]


def test_encrypted_both_ways_with_the_cli(net):
    env = {**os.environ, "EVENTCAST_KEY": "correct horse battery"}
    child = listen(net, "--count", "1", "--timeout", "20", env=env)
    with eventcast.Eventcast(**net, passphrase="correct horse battery") as ec:
        sub = ec.subscribe("from-cli")
        ec.emit("from-python", "sealed")
        code, lines = lines_of(child)
        assert code == 0 and lines[0]["args"] == ["sealed"]
        subprocess.run([CLI, "emit", *net_args(net), "--linger", "0.3", "from-cli", "also sealed"], env=env, check=True)
        assert sub.get(timeout=10).args == ["also sealed"]
        deaf = listen(net, "--timeout", "1")
        ec.emit("from-python", "unheard")
        _, none = lines_of(deaf)
        assert none == []


def test_values_beyond_python_types_arrive_as_bson_types_and_the_rest_arrives(net):
    bson = pytest.importorskip("bson", reason="the bson package (pymongo) is not installed")
    errors = []
    with eventcast.Eventcast(**net, on_error=lambda err, ev: errors.append(err)) as ec:
        sub = ec.subscribe("**")
        # another engine's regex syntax, a date past year 9999, then a plain value
        for arg in ['{"$regularExpression": {"pattern": "(?<y>\\\\d+)", "options": "i"}}', '{"$date": {"$numberLong": "999999999999999"}}', '"fine"']:
            subprocess.run([CLI, "emit", *net_args(net), "--linger", "0.2", "e", arg], check=True)
        regex, date, fine = (sub.get(timeout=10).args[0] for _ in range(3))
        assert isinstance(regex, bson.Regex) and regex.pattern == "(?<y>\\d+)", regex
        assert isinstance(date, bson.DatetimeMS) and int(date) == 999999999999999
        assert fine == "fine"
        assert errors == [] and ec.stats()["python"]["undecodable"] == 0
