"""Events and loss reports, and subscriptions: bounded queues read by iteration, plain or
asyncio, fed by the instance's delivery thread."""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import TYPE_CHECKING, Any, Deque, List, NamedTuple, Optional, Tuple, Union

from .errors import Ended

if TYPE_CHECKING:
    from ._instance import Eventcast


class Event(NamedTuple):
    """A received event: its ``name``, ``args`` (a list), the ``sender``'s id (16 hex
    digits), the ``source`` address (``"IP:PORT"``) and the sender's ``seq``."""

    name: str
    args: List[Any]
    sender: str
    source: Optional[str]
    seq: int


class Loss(NamedTuple):
    """Events ``first`` to ``last`` of ``sender`` could not be repaired and were skipped."""

    sender: str
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


_END = object()


class Subscription:
    """What :meth:`Eventcast.subscribe` returns: iterate it (``for``, ``async for``);
    ``close()`` (or leaving a ``with`` block) unsubscribes."""

    def __init__(self, ec: "Eventcast", pattern: Optional[str], maxsize: int, across_restarts: bool, max_bytes: int = 8 << 20) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        self._ec = ec
        self._pattern = pattern
        self._across_restarts = across_restarts
        self._maxsize = maxsize
        self._max_bytes = max_bytes
        self._bytes = 0  # the encoded size of what it holds
        self._items: Deque[Tuple[Any, int]] = collections.deque()
        self._cv = threading.Condition()  # items to read
        self._room = threading.Condition(self._cv._lock)  # type: ignore[attr-defined]  # room to put
        self._ended = False
        self._closed = False
        self._waiters: List[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]] = []
        #: items not taken because the instance stopped while this was full and unread
        self.dropped = 0
        #: times the delivery thread waited because this was full (events or bytes)
        self.full_waits = 0

    # the delivery thread's side
    def _put(self, item: Any, cost: int = 64) -> None:
        # waits while full: at most maxsize items and max_bytes (one larger item goes in alone)
        with self._cv:
            counted = False
            while len(self._items) >= self._maxsize or (self._items and self._bytes + cost > self._max_bytes):
                if self._closed:
                    return
                if self._ec.closing:
                    # the instance stopped and nobody reads: counted, not waited for
                    self.dropped += 1
                    return
                if not counted:
                    self.full_waits += 1
                    counted = True
                self._room.wait(0.1)
            if self._closed:
                return
            self._items.append((item, cost))
            self._bytes += cost
            self._cv.notify()
            waiters, self._waiters = self._waiters, []
        _wake_all(waiters)

    def _end(self) -> None:
        if self._across_restarts and not self._closed:
            return
        with self._cv:
            self._ended = True
            self._cv.notify_all()
            self._room.notify_all()
            waiters, self._waiters = self._waiters, []
        _wake_all(waiters)

    def _pop(self) -> Any:
        with self._cv:
            if self._items:
                item, cost = self._items.popleft()
                self._bytes -= cost
                self._room.notify()
                return item
            if self._ended or self._closed:
                return _END
            return None

    # the reader's side
    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> Any:
        try:
            return self.get()
        except Ended:
            raise StopIteration from None

    def get(self, timeout: Optional[float] = None) -> Any:
        """The next item, waiting at most ``timeout`` seconds (``TimeoutError`` after;
        :class:`eventcast.Ended` once the subscription ended)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self._pop()
            if item is _END:
                raise Ended("the subscription ended (the instance stopped, or it was closed)")
            if item is not None:
                return item
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"nothing arrived in {timeout} s")
            with self._cv:
                if not self._items and not self._ended and not self._closed:
                    self._cv.wait(0.1 if left is None else min(0.1, left))

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Any:
        loop = asyncio.get_running_loop()
        while True:
            item = self._pop()
            if item is _END:
                raise StopAsyncIteration
            if item is not None:
                return item
            fut: "asyncio.Future[None]" = loop.create_future()
            with self._cv:
                if self._items or self._ended or self._closed:
                    continue
                self._waiters.append((loop, fut))
            try:
                await fut
            finally:
                with self._cv:
                    self._waiters = [w for w in self._waiters if w[1] is not fut]

    def close(self) -> None:
        """Unsubscribes; iteration ends."""
        self._closed = True
        self._ec._remove_subscription(self)
        self._end_now()

    def _end_now(self) -> None:
        with self._cv:
            self._ended = True
            self._cv.notify_all()
            self._room.notify_all()
            waiters, self._waiters = self._waiters, []
        _wake_all(waiters)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


def _wake_all(waiters: List[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]]) -> None:
    for loop, fut in waiters:
        try:
            loop.call_soon_threadsafe(_wake, fut)
        except RuntimeError:
            pass  # that event loop is closed: nobody waits there any more
