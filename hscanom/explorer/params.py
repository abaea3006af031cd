"""Parsing and checking what a request sends: ids, integers, numbers, choices.

Every check raises :class:`ApiError` with an HTTP status and a message naming the field,
which the app turns into a JSON ``{"error": ...}`` response (never a stack trace).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Largest value of a signed 64-bit integer (HSC object ids are int64).
INT64_MAX = 2**63 - 1

_INT_RE = re.compile(r"^[+-]?\d{1,40}$")


class ApiError(Exception):
    """A request the app refuses: ``status`` (4xx) and a message for the user."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def object_id(value: Any, field: str = "object_id") -> int:
    """An HSC object id (int64) from a path segment, query value, JSON string or integer.

    Strings are parsed exactly (no float on the way), so ids above 2**53 survive.
    """
    if isinstance(value, bool):
        raise ApiError(400, f"{field}: expected an integer object id, got {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and _INT_RE.match(value.strip()):
        n = int(value.strip())
    else:
        raise ApiError(400, f"{field}: expected an integer object id, got {str(value)[:40]!r}")
    if not -INT64_MAX - 1 <= n <= INT64_MAX:
        raise ApiError(400, f"{field}: {n} is outside the int64 range of object ids")
    return n


def integer(value: Any, field: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer within ``[lo, hi]`` from a string or a JSON integer."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INT_RE.match(value.strip()))):
        raise ApiError(400, f"{field}: expected an integer, got {str(value)[:40]!r}")
    n = int(value)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise ApiError(400, f"{field}: {n} is outside {lo}..{hi}")
    return n


def number(value: Any, field: str) -> float:
    """A finite number from a string or a JSON number."""
    if isinstance(value, bool):
        raise ApiError(400, f"{field}: expected a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{field}: expected a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(x):
        raise ApiError(400, f"{field}: expected a finite number, got {value!r}")
    return x


def choice(value: Any, field: str, allowed: Iterable[str]) -> str:
    """One of ``allowed`` (exact string)."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ApiError(400, f"{field}: {str(value)[:40]!r} is not one of {', '.join(allowed)}")
    return value


def text(value: Any, field: str, *, max_len: int, required: bool = False) -> str | None:
    """A string of at most ``max_len`` characters (stripped); ``None`` when empty and optional."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError(400, f"{field}: required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{field}: expected a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > max_len:
        raise ApiError(400, f"{field}: longer than {max_len} characters")
    if "\x00" in value:
        raise ApiError(400, f"{field}: contains a NUL character")
    return value


def only_keys(body: Mapping[str, Any], allowed: Iterable[str], where: str = "body") -> None:
    """Refuse unknown keys (a typo in a filter should not be silently ignored)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
