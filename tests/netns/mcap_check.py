"""Reads eventcast recordings with the `mcap` package from PyPI (a reader nobody here wrote)
and checks them against what was sent.

    python mcap_check.py types FILE       every argument type intact, channels as documented
    python mcap_check.py count FILE N     the file is complete (summary readable) with N events
    python mcap_check.py hostile FILE     writes a well-formed MCAP file with hostile values
"""
import datetime
import decimal
import re
import sys
import uuid

import bson
from mcap.reader import make_reader

mode, path = sys.argv[1], sys.argv[2]

if mode == "hostile":
    # Well-formed MCAP, hostile values: a loss range that ends before it starts and one of
    # every sequence number, receive times that go backwards, a 2,000-byte event name (the
    # library allows 1,024), an event channel named like the loss channel, a body that is
    # not BSON, and arguments that are not a document.
    from mcap.writer import Writer
    with open(path, "wb") as f:
        w = Writer(f)
        w.start(profile="", library="hostile")
        ev = {"eventcast.kind": "event"}
        a = w.register_channel(topic="ok", message_encoding="bson", schema_id=0, metadata=ev)
        loss = w.register_channel(topic="eventcast:loss", message_encoding="bson", schema_id=0, metadata={"eventcast.kind": "loss"})
        fake = w.register_channel(topic="eventcast:loss", message_encoding="bson", schema_id=0, metadata=ev)
        long = w.register_channel(topic="n" * 2000, message_encoding="bson", schema_id=0, metadata=ev)
        t = 1_800_000_000 * 10**9
        body = lambda seq, args: bson.encode({"sender": "00000000000000aa", "seq": bson.int64.Int64(seq), "args": args})
        w.add_message(a, log_time=t, publish_time=t, data=body(1, [1]))
        w.add_message(a, log_time=t - 10**9, publish_time=t, data=body(2, [2]))  # time went back
        w.add_message(loss, log_time=t, publish_time=t, data=bson.encode({"sender": "aa", "first": bson.int64.Int64(9), "last": bson.int64.Int64(3)}))
        w.add_message(loss, log_time=t, publish_time=t, data=bson.encode({"sender": "aa", "first": bson.int64.Int64(0), "last": bson.int64.Int64(-1)}))
        w.add_message(fake, log_time=t, publish_time=t, data=body(3, ["named like the loss channel"]))
        w.add_message(long, log_time=t, publish_time=t, data=body(4, [4]))
        w.add_message(a, log_time=t, publish_time=t, data=b"not bson at all")
        w.add_message(a, log_time=t, publish_time=t, data=bson.encode({"sender": "aa", "seq": 5, "args": "a string"}))
        w.add_message(a, log_time=t + 10**6, publish_time=t, data=body(6, [6]))
        w.finish()
    sys.exit(0)


def messages(path):
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()  # None when the file was not closed cleanly
        assert summary is not None, f"{path}: no summary: the file was not closed cleanly"
        out = []
        for schema, channel, message in reader.iter_messages():
            out.append((channel, message))
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        return summary, out, meta


summary, msgs, meta = messages(path)
assert meta["eventcast"]["layout"] == "1", meta
assert "eventcast.end" in meta, meta
for channel, message in msgs:
    assert channel.message_encoding == "bson", channel
    assert channel.metadata["eventcast.kind"] in ("event", "loss"), channel.metadata
    assert message.log_time > 1_600_000_000 * 10**9, message.log_time

if mode == "count":
    n = sum(1 for c, _ in msgs if c.metadata["eventcast.kind"] == "event")
    assert n == int(sys.argv[3]), f"{n} events in {path}, expected {sys.argv[3]}"
    print(f"ok: {n} events, summary present")
    sys.exit(0)

(channel, message), = [m for m in msgs if m[0].topic == "kinds"]
doc = bson.decode(message.data, codec_options=bson.CodecOptions(tz_aware=True, uuid_representation=bson.binary.UuidRepresentation.STANDARD))
assert set(doc) == {"sender", "seq", "source", "args"}, doc.keys()
assert re.fullmatch("[0-9a-f]{16}", doc["sender"]), doc["sender"]
args = doc["args"]
utc = datetime.timezone.utc
expected = [
    (None, type(None)),
    (True, bool),
    (7, int),
    (2**40, bson.int64.Int64),
    (1.5, float),
    ("héllo", str),
    ([1, [2, "x"]], list),
    ({"a": 1, "b": {"c": None}}, dict),
    (datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc), datetime.datetime),
    (b"\x00\x01\xff", bytes),
    (bson.ObjectId("0123456789abcdef01234567"), bson.ObjectId),
    (bson.Decimal128("1.10"), bson.Decimal128),
    (bson.Regex("^a.b$", "i"), bson.Regex),
    (bson.Timestamp(1, 2), bson.Timestamp),
    (bson.MinKey(), bson.MinKey),
    (bson.MaxKey(), bson.MaxKey),
    (bson.Code("f()"), bson.Code),
    (uuid.UUID(int=5), uuid.UUID),
]
assert len(args) == len(expected), (len(args), args)
for i, (got, (want, kind)) in enumerate(zip(args, expected)):
    assert isinstance(got, kind), f"argument {i}: {got!r} is {type(got)}, expected {kind}"
    if kind is bson.Regex:
        assert (got.pattern, got.flags) == (want.pattern, re.I), got
    else:
        assert got == want, f"argument {i}: {got!r} != {want!r}"
print(f"ok: {len(args)} argument types intact in {path}")
