"""The Pythonic surface: options, lifecycle, callbacks, subscriptions, errors."""

import asyncio
import logging
import threading
import time

import pytest

import eventcast
from eventcast import _native

from conftest import random_net


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_bad_options_name_the_option_and_what_is_allowed():
    with pytest.raises(eventcast.InvalidOption, match=r"invalid delivery 'sometimes'.*'reliable'"):
        eventcast.Eventcast(delivery="sometimes", interface="127.0.0.1")
    with pytest.raises(eventcast.InvalidOption, match="unknown option 'prot'"):
        eventcast.Eventcast(prot=9000)
    with pytest.raises(eventcast.InvalidOption, match="10.0.0.1"):
        eventcast.Eventcast(group="10.0.0.1", interface="127.0.0.1")
    with pytest.raises(eventcast.InvalidOption, match="port"):
        eventcast.Eventcast(port=70000, interface="127.0.0.1")
    err = pytest.raises(eventcast.Error, eventcast.Eventcast, ttl="x", interface="127.0.0.1").value
    assert err.code == "EC_INVALID_OPTION"


def test_callbacks_decorator_once_off_in_order(pair):
    a, b = pair
    seen = []

    @b.on("sensor.*")
    def temp(ev):
        seen.append((ev.name, ev.args))

    b.once("sensor.temp", lambda ev: seen.append(("once", ev.args)))
    b.on("**.alert", lambda ev: seen.append(("alert", ev.args)))
    assert b.listener_count("sensor.temp") == 2
    for i in range(3):
        a.emit("sensor.temp", i)
    a.emit("door.front.alert", "open")
    wait_for(lambda: len(seen) == 5)
    assert seen == [("sensor.temp", [0]), ("once", [0]), ("sensor.temp", [1]), ("sensor.temp", [2]), ("alert", ["open"])]
    assert b.off("sensor.*", temp) == 1
    assert b.listener_count("sensor.temp") == 0


def test_event_fields_and_local_delivery(pair):
    a, b = pair
    mine, theirs = [], []
    a.on("x", mine.append)
    b.on("x", theirs.append)
    a.emit("x", "y")
    wait_for(lambda: mine and theirs)
    ev = theirs[0]
    assert ev.name == "x" and ev.args == ["y"]
    assert len(ev.sender) == 16 and ev.source.startswith("127.0.0.1:")
    own = mine[0]
    assert own.name == "x" and own.args == ["y"], "an instance's own callbacks get its events too"
    assert own.sender == "0" * 16 and own.source is None, "marked as this instance's own"


def test_blocking_subscription_ends_at_stop(net):
    a = eventcast.Eventcast(**net).start()
    b = eventcast.Eventcast(**net).start()
    sub = b.subscribe("n")
    for i in range(100):
        a.emit("n", i)
    got = [sub.get(timeout=10).args[0] for _ in range(100)]
    assert got == list(range(100))
    with pytest.raises(TimeoutError):
        sub.get(timeout=0.2)
    threading.Timer(0.2, b.stop).start()
    assert list(sub) == [], "iteration ends when the instance stops"
    a.stop()


def test_asyncio_subscription_and_emit_async(pair):
    a, b = pair

    async def main():
        sub = b.subscribe("sensor.*")
        for i in range(50):
            await a.emit_async("sensor.t", i)
        out = []
        async for ev in sub:
            out.append(ev.args[0])
            if len(out) == 50:
                break
        sub.close()
        return out

    assert asyncio.run(main()) == list(range(50))


def test_a_callback_that_raises_is_reported_and_delivery_goes_on(pair, caplog):
    a, b = pair
    got = []

    @b.on("e")
    def bad(ev):
        if ev.args[0] == 1:
            raise ValueError("boom on 1")
        got.append(ev.args[0])

    with caplog.at_level(logging.ERROR, logger="eventcast"):
        for i in range(3):
            a.emit("e", i)
        wait_for(lambda: got == [0, 2])
    assert "boom on 1" in caplog.text
    assert b.stats()["python"]["callback_errors"] == 1

    errors = []
    c = eventcast.Eventcast(**{**random_net()}, on_error=lambda err, ev: errors.append((str(err), ev.name)))
    c.on("e", bad)
    with c:
        c.emit("e", 1)
        wait_for(lambda: errors == [("boom on 1", "e")])


def test_start_stop_restart_and_not_running(net):
    ec = eventcast.Eventcast(**net)
    with pytest.raises(eventcast.NotRunning):
        ec.emit("x")
    for _ in range(5):
        with ec:
            assert ec.running
            ec.emit("x", 1)
        assert not ec.running
    ec.stop()


def test_values_that_cannot_cross_are_named():
    with eventcast.Eventcast(**random_net()) as ec:
        with pytest.raises(TypeError, match="object"):
            ec.emit("x", object())
        with pytest.raises(TypeError, match="set"):
            ec.emit("x", {1, 2})
        with pytest.raises(TypeError, match="dict keys must be str"):
            ec.emit("x", {1: "a"})
        with pytest.raises(OverflowError, match="64-bit"):
            ec.emit("x", 2**64)
        with pytest.raises(eventcast.InvalidName):
            ec.emit("", 1)
        with pytest.raises(eventcast.InvalidName):
            ec.on("a**b", print)


def test_stats_is_a_dict_of_counters(pair):
    a, b = pair
    b.on("n", lambda ev: None)
    for i in range(10):
        a.emit("n", i)
    wait_for(lambda: b.stats()["events_in"] == 10)
    s = a.stats()
    assert s["events_out"] == 10 and isinstance(s["dropped"], dict)


def test_patterns_match_as_the_core_does():
    from eventcast._instance import Eventcast  # noqa: F401
    cases = [("a.*", "a.b", True), ("a.*", "a.b.c", False), ("**.err", "err", True), ("node-*.up", "node-7.up", True)]
    for p, n, want in cases:
        assert _native.pattern_matches(p, n) is want


def test_stop_from_a_callback_does_not_wait_for_itself(net):
    a = eventcast.Eventcast(**net).start()
    b = eventcast.Eventcast(**net).start()
    b.on("quit", lambda ev: b.stop())
    a.emit("quit")
    wait_for(lambda: not b.running)
    a.stop()
    b.stop()


def test_stop_does_not_wait_for_a_full_subscription_nobody_reads(net):
    a = eventcast.Eventcast(**net).start()
    b = eventcast.Eventcast(**net).start()
    sub = b.subscribe("x", maxsize=2)
    for i in range(10):
        a.emit("x", i)
    wait_for(lambda: b.stats()["events_in"] == 10)
    b.stop()  # returns: what the full subscription could not take is counted
    assert b.stats()["python"]["subscription_dropped"] >= 1
    assert [ev.args[0] for ev in sub][:2] == [0, 1]
    a.stop()


def test_a_closed_event_loop_does_not_kill_delivery(pair):
    a, b = pair
    sub = b.subscribe("x")

    async def give_up():
        try:
            await asyncio.wait_for(sub.__anext__(), 0.2)
        except asyncio.TimeoutError:
            pass

    asyncio.run(give_up())
    got = []
    b.on("x", got.append)
    a.emit("x", 1)
    a.emit("x", 2)
    wait_for(lambda: len(got) == 2)


def test_once_may_register_itself_again(pair):
    a, b = pair
    got = []

    def again(ev):
        got.append(ev.args[0])
        if len(got) < 3:
            b.once("o", again)

    b.once("o", again)
    for i in range(5):
        a.emit("o", i)
    wait_for(lambda: len(got) == 3)
    time.sleep(0.2)
    assert got == [0, 1, 2] and b.listener_count("o") == 0


def test_datetimes_are_exact_to_the_millisecond_far_from_1970(pair):
    import datetime

    a, b = pair
    sub = b.subscribe("d")
    utc = datetime.timezone.utc
    sent = [datetime.datetime(5000, 6, 1, 12, 0, 0, 999999, tzinfo=utc), datetime.datetime.max, datetime.datetime(1, 1, 1, tzinfo=utc), datetime.datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=utc)]
    a.emit("d", *sent)
    got = sub.get(timeout=10).args
    want = [d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=utc) for d in sent]
    assert got == want


def test_a_self_referential_code_scope_is_refused_not_a_crash():
    bson = pytest.importorskip("bson")
    code = bson.Code("f()", {})
    code.scope["me"] = code
    with eventcast.Eventcast(**random_net()) as ec:
        with pytest.raises(ValueError, match="64 levels"):
            ec.emit("c", code)


def test_a_subscription_is_bounded_in_bytes_and_loses_nothing(pair):
    a, b = pair
    sub = b.subscribe("big", max_bytes=4000)  # about ten of these events
    for i in range(40):
        a.emit("big", i, b"\x01" * 300)
    wait_for(lambda: b.stats()["python"]["subscription_full_waits"] >= 1)
    assert sub._bytes <= 4000
    got = [sub.get(timeout=5).args[0] for _ in range(40)]
    assert got == list(range(40))
    with pytest.raises(ValueError, match="max_bytes"):
        b.subscribe("x", max_bytes=0)


def test_more_event_names_than_the_name_cache_holds(pair):
    # a peer inventing names cannot grow the cache of Python strings: it starts over
    a, b = pair
    names = []
    b.on("n.*", lambda ev: names.append(ev.name))
    for i in range(5000):
        a.emit(f"n.{i}", i)
    wait_for(lambda: len(names) == 5000, timeout=20)
    assert names == [f"n.{i}" for i in range(5000)]
    assert b.stats()["string_cache_resets"] >= 1
