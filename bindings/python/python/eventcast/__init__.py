"""eventcast: one event emitter across a LAN, with the Rust core doing the work.

>>> import eventcast
>>> with eventcast.Eventcast(interface="127.0.0.1") as ec:   # doctest: +SKIP
...     @ec.on("sensor.*")
...     def show(ev):
...         print(ev.name, ev.args, ev.sender)
...     ec.emit("sensor.temp", "kitchen", 21.5)

Arguments keep their type between Python, Rust, Node and the CLI: None, bool, int (64-bit),
float, str, bytes (bytearray and memoryview arrive as bytes), list (tuples arrive as
lists), dict, datetime (UTC, millisecond precision; naive ones are taken as UTC),
re.Pattern, decimal.Decimal (Decimal128), uuid.UUID, and the ``bson`` package's types when
it is installed (ObjectId, Int64, Timestamp, MinKey, MaxKey, Code, Binary).
"""

from ._instance import Eventcast
from ._subscription import Event, Loss, Subscription
from .errors import ArgumentsTooDeep, Backpressure, Ended, Error, EventTooLarge, InvalidName, InvalidOption, NetworkError, NotRunning, Undecodable

__all__ = [
    "Eventcast",
    "Event",
    "Loss",
    "Subscription",
    "Error",
    "InvalidOption",
    "InvalidName",
    "EventTooLarge",
    "NotRunning",
    "Backpressure",
    "NetworkError",
    "ArgumentsTooDeep",
    "Undecodable",
    "Ended",
]
__version__ = "0.1.0"
