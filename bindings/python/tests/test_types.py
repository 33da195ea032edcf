"""Every type crosses exactly, Python → Python, and Python → Rust → Python through a Rust
program that decodes them to typed BSON values and encodes them again (examples/relay.rs)."""

import datetime
import decimal
import json
import re
import subprocess
import time
import uuid

import pytest

import eventcast
from conftest import random_net, relay_binary

bson = pytest.importorskip("bson", reason="the bson package (pymongo) is not installed")


def kinds():
    """(value sent, canonical Extended JSON Rust reads, value received if not the same)."""
    return [
        (None, None, None),
        (True, True, None),
        (5, {"$numberInt": "5"}, None),
        (-(2**40), {"$numberLong": str(-(2**40))}, None),
        (2**63 - 1, {"$numberLong": str(2**63 - 1)}, None),
        (1.5, {"$numberDouble": "1.5"}, None),
        ("héllo", "héllo", None),
        (b"\x00\x01\xff", {"$binary": {"base64": "AAH/", "subType": "00"}}, None),
        (bytearray(b"ab"), {"$binary": {"base64": "YWI=", "subType": "00"}}, b"ab"),
        (memoryview(b"cd"), {"$binary": {"base64": "Y2Q=", "subType": "00"}}, b"cd"),
        ([1, [2, "x"]], [{"$numberInt": "1"}, [{"$numberInt": "2"}, "x"]], None),
        ((1, 2), [{"$numberInt": "1"}, {"$numberInt": "2"}], [1, 2]),
        ({"a": 1, "b": {"c": None}}, {"a": {"$numberInt": "1"}, "b": {"c": None}}, None),
        (datetime.datetime(2024, 5, 6, 7, 8, 9, 10000, tzinfo=datetime.timezone.utc), {"$date": {"$numberLong": "1714979289010"}}, None),
        (re.compile("^a.b$", re.I | re.M), {"$regularExpression": {"pattern": "^a.b$", "options": "imu"}}, None),  # str patterns are re.UNICODE
        (decimal.Decimal("1.10"), {"$numberDecimal": "1.10"}, None),
        (uuid.UUID(int=5), {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAABQ==", "subType": "04"}}, None),
        (bson.ObjectId("0123456789abcdef01234567"), {"$oid": "0123456789abcdef01234567"}, None),
        (bson.Int64(7), {"$numberLong": "7"}, 7),
        (bson.Timestamp(1, 2), {"$timestamp": {"t": 1, "i": 2}}, None),
        (bson.MinKey(), {"$minKey": 1}, None),
        (bson.MaxKey(), {"$maxKey": 1}, None),
        (bson.Code("f()"), {"$code": "f()"}, None),
        (bson.Code("g(x)", {"x": 1}), {"$code": "g(x)", "$scope": {"x": {"$numberInt": "1"}}}, None),
        (bson.Binary(b"\x09", 0x80), {"$binary": {"base64": "CQ==", "subType": "80"}}, None),
    ]


def same(a, b):
    return a == b and type(a) is type(b)


def check(got, label):
    for i, (sent, _, arrives) in enumerate(kinds()):
        want = sent if arrives is None else arrives
        assert same(got[i], want), f"{label}: argument {i} sent {sent!r} arrived {got[i]!r}"


def test_every_type_python_to_python(pair):
    a, b = pair
    sub = b.subscribe("kinds")
    a.emit("kinds", *[k[0] for k in kinds()])
    check(sub.get(timeout=10).args, "python → python")


def test_naive_datetimes_are_utc_and_longs_can_be_int64(net):
    a = eventcast.Eventcast(**net).start()
    b = eventcast.Eventcast(**net, longs="Int64").start()
    try:
        sub = b.subscribe("t")
        a.emit("t", datetime.datetime(2024, 1, 2, 3, 4, 5, 678999), 7)
        got = sub.get(timeout=10).args
        assert got[0] == datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
        assert type(got[1]) is int, "int32 stays int"
        a.emit("t", 2**40)
        assert type(sub.get(timeout=10).args[0]) is bson.Int64
    finally:
        a.stop()
        b.stop()


def test_python_to_rust_to_python():
    relay = relay_binary()
    if relay is None:
        pytest.skip("the relay example is not built (cargo build --release --example relay)")
    net = random_net()
    back = net["port"] + 1
    child = subprocess.Popen([relay, "127.0.0.1", str(net["port"]), str(back), "1", net["group"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "ready" in child.stderr.readline()
        with eventcast.Eventcast(**net) as a, eventcast.Eventcast(**{**net, "port": back}) as b:
            sub = b.subscribe("kinds")
            a.emit("kinds", *[k[0] for k in kinds()])
            seen = json.loads(child.stdout.readline())
            for i, (_, rust_view, _) in enumerate(kinds()):
                assert seen["args"][i] == rust_view, f"Rust's view of argument {i}"
            check(sub.get(timeout=10).args, "python → rust → python")
    finally:
        child.kill()
        child.wait()


def test_150_kb_event_and_order(pair):
    a, b = pair
    sub = b.subscribe("**")
    big = "x" * 150_000
    a.emit("big", big, b"\x07" * 50_000)
    for i in range(2000):
        a.emit("n", i)
    first = sub.get(timeout=10)
    assert first.name == "big" and first.args == [big, b"\x07" * 50_000]
    assert [sub.get(timeout=10).args[0] for _ in range(2000)] == list(range(2000))


def test_decimals_at_the_edges_of_decimal128(pair):
    a, b = pair
    sub = b.subscribe("dec")
    edge = ["sNaN", "-sNaN", "NaN", "-NaN", "Infinity", "-Infinity", "-0", "0E-6176", "1E+6111",
            "9999999999999999999999999999999999E+6111", "1234567890123456789012345678901234", "-1E-6176"]
    a.emit("dec", *[decimal.Decimal(t) for t in edge])
    got = sub.get(timeout=10).args
    # compared as text: NaNs are never equal, and the text keeps sign, signalling and exponent
    assert [str(d) for d in got] == [str(decimal.Decimal(t)) for t in edge]
    for bad, why in (("1." + "1" * 40, "34 significant digits"), ("1E-6177", "exponent"), ("NaN12", "payload")):
        with pytest.raises(ValueError, match=why):
            a.emit("dec", decimal.Decimal(bad))
