"""Shared by the tests: instances on 127.0.0.1 (set explicitly: nothing leaves loopback)
on a random port and group, so that tests never hear each other."""

import os
import pathlib
import random

import pytest

import eventcast

ROOT = pathlib.Path(__file__).resolve().parents[3]


def random_net():
    return {
        "port": random.randint(20000, 50000),
        "group": f"239.255.{random.randint(1, 250)}.{random.randint(1, 250)}",
        "interface": "127.0.0.1",
    }


@pytest.fixture
def net():
    return random_net()


@pytest.fixture
def pair(net):
    a = eventcast.Eventcast(**net)
    b = eventcast.Eventcast(**net)
    a.start()
    b.start()
    yield a, b
    a.stop()
    b.stop()


def cli_binary():
    for c in [os.environ.get("EVENTCAST_BIN"), *(ROOT / "target" / p / "eventcast" for p in ("checked", "release", "debug"))]:
        if c and pathlib.Path(c).exists():
            return str(c)
    return None


def relay_binary():
    for c in [os.environ.get("EVENTCAST_RELAY"), *(ROOT / "target" / p / "examples" / "relay" for p in ("release", "checked", "debug"))]:
        if c and pathlib.Path(c).exists():
            return str(c)
    return None
