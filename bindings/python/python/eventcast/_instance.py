"""The Eventcast class: the Pythonic surface over the Rust instance (``eventcast._native``).

One delivery thread per running instance takes received events from the addon in batches
(the GIL released while it waits) and calls the callbacks, in order, and feeds the
subscriptions. A callback that raises is reported (``on_error``, else the ``eventcast``
logger) and counted; delivery goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import _native
from .errors import Error, NotRunning, call, translate
from ._subscription import Event, Loss, Subscription

log = logging.getLogger("eventcast")

Callback = Callable[[Event], Any]
_NAME_CACHE_MAX = 4096
_BATCH = 1024
_live: "weakref.WeakSet[Eventcast]" = weakref.WeakSet()
_new_tuple = tuple.__new__  # an Event or Loss from the tuple the addon built, in C


class Eventcast:
    """One instance of the LAN-wide event emitter.

    Keyword options are those of the Rust builder: ``port`` (default 9000), ``group``,
    ``interface`` (name or address, e.g. ``"127.0.0.1"``), ``address``, ``loopback``,
    ``ttl``, ``passphrase`` or ``key`` (bytes) and ``key_id``, ``delivery``
    (``"reliable"``, ``"unordered"``, ``"best-effort"``), ``start_at`` (``"live"``,
    ``"oldest"``), ``peers`` (``["host:port", ...]``), ``multicast``, ``nats`` (URL),
    ``nats_subject``, ``nats_token``, ``nats_creds``, ``console`` (serve the TCP
    console), ``console_port``, ``console_host``, ``console_token``, ``max_event_size``,
    ``max_payload_size``, ``message_ttl`` (seconds), ``recv_buffer_size``, ``log``,
    ``queue_bytes`` (received events held for Python, default 8 MiB).

    >>> with Eventcast(interface="127.0.0.1") as ec:     # doctest: +SKIP
    ...     ec.emit("sensor.temp", "kitchen", 21.5)
    """

    def __init__(self, port: int = 9000, *, on_error: Optional[Callable[[BaseException, Event], Any]] = None, **options: Any) -> None:
        self._native = call(lambda: _native.Native(port=port, **options))
        self._options = dict(options, port=port)
        self._lock = threading.RLock()
        # (pattern, callback, once, token): the token tells registrations apart
        self._listeners: List[Tuple[str, Callback, bool, object]] = []
        self._generation = 0
        self._loss_listeners: List[Callable[[Loss], Any]] = []
        # held weakly: a subscription dropped without close() stops receiving
        self._subscriptions: "weakref.WeakSet[Subscription]" = weakref.WeakSet()
        self._kept: List[Subscription] = []  # across_restarts ones the caller may not hold
        self._sub_refs: Tuple["weakref.ref[Subscription]", ...] = ()  # what delivery walks
        self._by_name: Dict[str, List[Tuple[str, Callback, bool, object]]] = {}
        self.closing = False  # set once stop() stopped the core: full subscriptions no longer wait
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._on_error = on_error
        self._counters = {"callback_errors": 0, "undecodable": 0}
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self.address: Optional[str] = None

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> "Eventcast":
        """Binds, joins the group and starts delivering; returns self."""
        with self._lock:
            if self._native.is_running():
                return self
            self.address = call(self._native.start)
            self._stopping.clear()
            self.closing = False
            self._thread = threading.Thread(target=self._deliver, name="eventcast-delivery", daemon=True)
            self._thread.start()
            _live.add(self)
        return self

    def stop(self) -> None:
        """Stops; what was received before is delivered first. Subscriptions then end
        (one that is full and not read gets no more: what it could not take is counted,
        ``stats()["python"]["subscription_dropped"]``). Called from a callback (on the
        delivery thread), it stops in the background and returns at once: waiting there
        would wait for itself."""
        if self._thread is not None and threading.current_thread() is self._thread:
            threading.Thread(target=self.stop, name="eventcast-stop", daemon=True).start()
            return
        self._stop(timeout=None)

    def _stop(self, timeout: Optional[float]) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            call(self._native.stop)
        finally:
            self.closing = True
            self._stopping.set()
            thread.join(timeout)
            for sub in list(self._subscriptions):
                sub._end()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None

    @property
    def running(self) -> bool:
        """Whether the instance runs."""
        return bool(self._native.is_running())

    @property
    def console_address(self) -> Optional[str]:
        """The TCP console's address, when started with ``console=True``."""
        return self._native.console_address()

    def __enter__(self) -> "Eventcast":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- sending -----------------------------------------------------------------------

    def emit(self, name: str, *args: Any) -> None:
        """Sends ``name`` with ``args`` to every instance in the group, then to this
        instance's own callbacks. Waits only when the instance cannot take more (the GIL
        is released while it waits). Raises :class:`NotRunning` when stopped, ``TypeError``
        naming a value that cannot be sent."""
        entries = self._by_name.get(name)  # the cached answer of _wants, when it is one
        local = bool(entries) if entries is not None and not self._sub_refs else self._wants(name)
        try:
            self._native.emit(name, args, local)
        except (ValueError, RuntimeError, TypeError) as err:
            translated = translate(err)
            if translated is err:
                raise
            raise translated from None

    async def emit_async(self, name: str, *args: Any) -> None:
        """:meth:`emit` for asyncio: waits for room without blocking the event loop; events
        of one instance keep their order."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventcast-emit")
        loop = asyncio.get_running_loop()
        local = self._wants(name)
        await loop.run_in_executor(self._executor, lambda: call(self._native.emit, name, args, local))

    # ---- listening ---------------------------------------------------------------------

    def on(self, pattern: str, fn: Optional[Callback] = None) -> Any:
        """Calls ``fn(event)`` for every event matching ``pattern`` (``"sensor.*"``: one
        segment; ``"**.alert"``: any number). Usable as a decorator: ``@ec.on("x")``."""
        return self._add(pattern, fn, once=False)

    def once(self, pattern: str, fn: Optional[Callback] = None) -> Any:
        """As :meth:`on`, for the next matching event only."""
        return self._add(pattern, fn, once=True)

    def _add(self, pattern: str, fn: Optional[Callback], once: bool) -> Any:
        call(_native.check_pattern, pattern)

        def add(f: Callback) -> Callback:
            with self._lock:
                self._listeners = self._listeners + [(pattern, f, once, object())]
                self._changed()
            return f

        return add if fn is None else add(fn)

    def off(self, pattern: str, fn: Optional[Callback] = None) -> int:
        """Removes ``fn`` from ``pattern`` (every callback of ``pattern`` without ``fn``);
        returns how many were removed."""
        with self._lock:
            before = len(self._listeners)
            self._listeners = [e for e in self._listeners if not (e[0] == pattern and (fn is None or e[1] == fn))]
            self._changed()
            return before - len(self._listeners)

    def _changed(self) -> None:
        # under self._lock: the name cache starts over, and a lookup that began before
        # this change does not store its (stale) answer
        self._generation += 1
        self._by_name = {}

    def _wants(self, name: str) -> bool:
        # whether this instance's own callbacks or subscriptions would take `name`
        if self._matching(name):
            return True
        return any(r() is not None and r()._pattern is not None and _native.pattern_matches(r()._pattern, name) for r in self._sub_refs)

    def listener_count(self, name: str) -> int:
        """How many callbacks an event called ``name`` would reach."""
        return len(self._matching(name))

    def on_loss(self, fn: Optional[Callable[[Loss], Any]] = None) -> Any:
        """Calls ``fn(loss)`` when events of a sender could not be repaired (never silent)."""

        def add(f: Callable[[Loss], Any]) -> Callable[[Loss], Any]:
            with self._lock:
                self._loss_listeners.append(f)
            return f

        return add if fn is None else add(fn)

    def subscribe(self, pattern: str = "**", maxsize: int = 10_000, across_restarts: bool = False, max_bytes: int = 8 << 20) -> Subscription:
        """The events matching ``pattern`` as an iterator (``for ev in sub``) and an async
        iterator (``async for ev in sub``). It holds at most ``maxsize`` events and
        ``max_bytes`` of them encoded (one larger event goes in alone): when full, delivery waits for the reader (and the senders are slowed), nothing is dropped.
        It ends when the instance stops, after what was received before."""
        call(_native.check_pattern, pattern)
        sub = Subscription(self, pattern, maxsize, across_restarts, max_bytes)
        with self._lock:
            self._subscriptions.add(sub)
            if across_restarts:
                self._kept.append(sub)
            self._refresh_subs()
        return sub

    def losses(self, maxsize: int = 1000) -> Subscription:
        """Loss reports as an iterator, as :meth:`subscribe` gives events."""
        sub = Subscription(self, None, maxsize, False)
        with self._lock:
            self._subscriptions.add(sub)
            self._refresh_subs()
        return sub

    def _remove_subscription(self, sub: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(sub)
            self._kept = [s for s in self._kept if s is not sub]
            self._refresh_subs()

    def _refresh_subs(self) -> None:
        # a snapshot of weak references, replaced (never mutated) when subscriptions come
        # and go, so that delivery walks it without a lock or a copy per event
        me = weakref.ref(self)

        def gone(_: object) -> None:
            ec = me()
            if ec is not None:
                with ec._lock:
                    ec._sub_refs = tuple(r for r in ec._sub_refs if r() is not None)

        self._sub_refs = tuple(weakref.ref(sub, gone) for sub in self._subscriptions)

    # ---- delivery ----------------------------------------------------------------------

    def _matching(self, name: str) -> List[Tuple[str, Callback, bool, object]]:
        found = self._by_name.get(name)
        if found is None:
            generation, listeners, cache = self._generation, self._listeners, self._by_name
            found = [entry for entry in listeners if _native.pattern_matches(entry[0], name)]
            with self._lock:
                if generation == self._generation:
                    if len(cache) >= _NAME_CACHE_MAX:
                        cache.clear()
                    cache[name] = found
        return found

    def _deliver(self) -> None:
        native = self._native
        new_event = _new_tuple
        while True:
            try:
                batch = native.next_batch(_BATCH, 0.05)
            except Exception as err:  # never let the delivery thread die
                self._report(err, None)
                continue
            if not batch:
                if self._stopping.is_set() and not native.pending():
                    return
                continue
            for item in batch:
                try:
                    if len(item) == 6:
                        ev = new_event(Event, item[:5])
                        if ev.args.__class__ is not list:  # arguments Python cannot hold
                            self._counters["undecodable"] += 1
                            self._report(translate(ev.args), ev)
                            continue
                        entries = self._by_name.get(ev.name)
                        if entries is None:
                            entries = self._matching(ev.name)
                        for entry in entries:
                            if entry[2] and not self._take_once(entry):
                                continue
                            try:
                                entry[1](ev)
                            except BaseException as err:  # reported, counted; delivery goes on
                                self._counters["callback_errors"] += 1
                                self._report(err, ev)
                        if self._sub_refs:
                            self._feed_subscriptions(ev, item[5])
                    else:
                        loss = _new_tuple(Loss, item)
                        for f in list(self._loss_listeners):
                            self._call(f, loss, None)
                        for ref in self._sub_refs:
                            sub = ref()
                            if sub is not None and sub._pattern is None:
                                sub._put(loss)
                except BaseException as err:  # never let the delivery thread die
                    self._report(err, None)

    def _take_once(self, entry: Tuple[str, Callback, bool, object]) -> bool:
        # a once-callback is removed before it is called (it may register again); False
        # when it is already gone
        with self._lock:
            if not any(e[3] is entry[3] for e in self._listeners):
                return False
            self._listeners = [e for e in self._listeners if e[3] is not entry[3]]
            self._changed()
            return True

    def _feed_subscriptions(self, ev: Event, size: int) -> None:
        for ref in self._sub_refs:
            sub = ref()
            if sub is not None and sub._pattern is not None and _native.pattern_matches(sub._pattern, ev.name):
                sub._put(ev, size)

    def _call(self, f: Callable[[Any], Any], arg: Any, ev: Optional[Event]) -> None:
        try:
            f(arg)
        except BaseException as err:  # reported, counted; delivery goes on (even SystemExit)
            self._counters["callback_errors"] += 1
            self._report(err, ev)

    def _report(self, err: BaseException, ev: Optional[Event]) -> None:
        if isinstance(ev.args if ev else None, BaseException) and ev is not None:
            err = translate(ev.args)
        if self._on_error is not None:
            try:
                self._on_error(err, ev)  # type: ignore[arg-type]
                return
            except BaseException:
                log.exception("eventcast: the on_error callback raised")
        what = "an event that cannot be decoded" if isinstance(err, Error) and err.code == "EC_UNDECODABLE" else "a callback raised"
        log.error("eventcast: %s on %r", what, ev.name if ev else "a loss report", exc_info=err)

    # ---- counters ----------------------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        """Every counter: the core's, and this package's under ``"python"``."""
        s: Dict[str, Any] = json.loads(call(self._native.stats_json))
        subs = list(self._subscriptions)
        s["python"] = dict(
            self._counters,
            subscription_dropped=sum(sub.dropped for sub in subs),
            subscription_full_waits=sum(sub.full_waits for sub in subs),
        )
        return s

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Eventcast port={self._options.get('port')} {state}>"


def _stop_all_at_exit() -> None:
    # bounded: an exiting interpreter never waits on a reader that is gone
    for ec in list(_live):
        try:
            ec._stop(timeout=5.0)
        except Exception:
            pass


import atexit  # noqa: E402

atexit.register(_stop_all_at_exit)
