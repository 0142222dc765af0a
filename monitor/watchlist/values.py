"""Converters from the text a watchlist holds to typed values. Each raises ValueError with the message the
reader reports as `file:line: field: message`."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: object) -> float:
    """'90s', '10m', '1h', '1h30m', '90d' -> seconds. Raises ValueError with a readable message."""
    raw = str(text).strip()
    m = _DURATION.match(raw)
    if isinstance(text, bool) or not raw or not m or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration (use a number with a unit: 90s, 10m, 1h)")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


def show_duration(seconds: float) -> str:
    """The inverse of parse_duration for the docs: 600 -> '10m', 86400 -> '24h', 90 days -> '90d'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and (unit != "d" or seconds > size):
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def positive_duration(value: Any) -> float:
    """A duration with units ('90s', '10m', '1h30m', '90d'; see parse_duration) -> seconds (float), more than 0.
    Raises ValueError otherwise."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than 0s")
    return seconds


def whole(value: Any) -> int | None:
    """A whole number written as an int or a string of digits -> int; None for anything else (bools included)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def count(value: Any) -> int:
    """A whole number of 1 or more (int or digits) -> int. Raises ValueError otherwise."""
    number = whole(value)
    if number is None or number < 1:
        raise ValueError(f"{value!r} is not a whole number (1 or more)")
    return number


def confirmations(value: Any) -> int:
    """How many agreeing observations confirm a change: a whole number of 1 or more -> int. Raises ValueError
    otherwise."""
    number = whole(value)
    if number is None or number < 1:
        raise ValueError(f"{number if number is not None else value!r} is not a whole number of observations "
                         "(1 or more)")
    return number


def tags(value: Any) -> tuple[str, ...]:
    """A list of non-empty strings -> tuple of them. Raises ValueError for anything else."""
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise ValueError(f"{value!r} is not a list of tags, e.g. [crypto, media]")
    return tuple(value)


def add_tags(inherited: tuple[str, ...], own: tuple[str, ...]) -> tuple[str, ...]:
    """Tags add up (defaults, then the entity or entry), each once, in the order first written."""
    return tuple(dict.fromkeys([*inherited, *own]))


def boolean(value: Any) -> bool:
    """`true` or `false` (any case; the reader keeps scalars as written) -> bool. Raises ValueError for anything else
    (`yes`, `no`, `0`, `off`: only the two words are read)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{value!r} is not true or false")


def opt_str(value: Any) -> str | None:
    """None stays None; anything else -> str(value)."""
    return None if value is None else str(value)


def one_of(choices: tuple[str, ...]) -> Any:
    """A converter accepting exactly one of `choices`."""
    def convert(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)
    convert.choices = choices  # type: ignore[attr-defined]
    return convert


def some_of(choices: tuple[str, ...], what: str) -> Any:
    """A converter accepting a list of some of `choices` (a frozenset); `what` names one in messages."""
    def convert(value: Any) -> frozenset[str]:
        bad = [k for k in value if k not in choices] if isinstance(value, list) else [value]
        if bad:
            raise ValueError(f"unknown {what}(s) {bad} (known: {', '.join(choices)})")
        return frozenset(value)
    return convert
