"""The exceptions of eventcast: every one is an :class:`Error` with a ``code``."""

from __future__ import annotations

import re
from typing import Callable, TypeVar

T = TypeVar("T")


class Error(Exception):
    """Something eventcast could not do; ``code`` says what (``EC_NOT_RUNNING``, ...)."""

    code: str = "EC_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidOption(Error, ValueError):
    """An option has a value that is not allowed (the message names it)."""

    code = "EC_INVALID_OPTION"


class InvalidName(Error, ValueError):
    """An event name or pattern that cannot be used."""

    code = "EC_INVALID_NAME"


class EventTooLarge(Error, ValueError):
    """The encoded event is larger than ``max_event_size``."""

    code = "EC_EVENT_TOO_LARGE"


class NotRunning(Error, RuntimeError):
    """The instance is not running: call ``start()`` first."""

    code = "EC_NOT_RUNNING"


class Backpressure(Error, RuntimeError):
    """The instance cannot take more now."""

    code = "EC_BACKPRESSURE"


class ArgumentsTooDeep(Error, ValueError):
    """Arguments nest more than 64 levels deep."""

    code = "EC_ARGUMENTS_TOO_DEEP"


class Undecodable(Error, ValueError):
    """A received event whose arguments cannot become Python values (reported to
    ``on_error`` or logged, counted, never delivered half-read)."""

    code = "EC_UNDECODABLE"


class Ended(Error, LookupError):
    """The subscription ended: the instance stopped, or it was closed."""

    code = "EC_ENDED"


class NetworkError(Error, OSError):
    """A socket operation failed."""

    code = "EC_IO"


_CLASSES = {
    "EC_INVALID_OPTION": InvalidOption,
    "EC_INVALID_NAME": InvalidName,
    "EC_INVALID_PATTERN": InvalidName,
    "EC_EVENT_TOO_LARGE": EventTooLarge,
    "EC_ARGUMENTS_TOO_DEEP": ArgumentsTooDeep,
    "EC_UNDECODABLE": Undecodable,
    "EC_NOT_RUNNING": NotRunning,
    "EC_BACKPRESSURE": Backpressure,
    "EC_IO": NetworkError,
}
_CODED = re.compile(r"^\[(EC_[A-Z_]+)\] (.*)$", re.S)


def translate(err: BaseException) -> BaseException:
    """The addon's ``[CODE] message`` errors as eventcast exceptions; others unchanged."""
    m = _CODED.match(str(err)) if isinstance(err, (ValueError, RuntimeError, TypeError)) else None
    if not m:
        return err
    code, message = m.group(1), m.group(2)
    return _CLASSES.get(code, Error)(message, code)


def call(fn: Callable[..., T], *args: object) -> T:
    """Calls into the addon, raising its errors as eventcast exceptions."""
    try:
        return fn(*args)
    except (ValueError, RuntimeError, TypeError) as err:
        translated = translate(err)
        if translated is err:
            raise
        raise translated from None
