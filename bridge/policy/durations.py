"""Target durations as written in profiles: ``15m``, ``1h``, ``4bh``, ``1bd``.

One syntax everywhere: a number and a unit. The unit says which clock the target is counted
on (see :mod:`bridge.policy.calendar`):

=========  ===========================================================================
unit       meaning
=========  ===========================================================================
``m``      wall-clock minutes (around the clock, whatever the support hours)
``h``      wall-clock hours
``d``      wall-clock days of 24 hours
``bm``     business minutes: counted only inside the tier's support hours
``bh``     business hours
``bd``     business days: by the close of the n-th business day after the day the clock
           starts; whole numbers only
=========  ===========================================================================

The long forms ``15 minutes``, ``4 hours``, ``4 business hours``, ``1 business day`` are
accepted as spellings of the same units. Pure: parsing only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import PlainValidator

__all__ = ["Duration", "DurationField", "DurationKind", "parse_duration", "short_age"]

DurationKind = Literal["wall", "business", "business_days"]

_UNITS: dict[str, tuple[DurationKind, timedelta | None]] = {}
for _names, _kind, _unit in (
    (("m", "min", "mins", "minute", "minutes"), "wall", timedelta(minutes=1)),
    (("h", "hr", "hrs", "hour", "hours"), "wall", timedelta(hours=1)),
    (("d", "day", "days"), "wall", timedelta(days=1)),
    (("bm", "business minute", "business minutes"), "business", timedelta(minutes=1)),
    (("bh", "business hour", "business hours"), "business", timedelta(hours=1)),
    (("bd", "business day", "business days"), "business_days", None),
):
    for _name in _names:
        _UNITS[_name] = (_kind, _unit)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z][a-z ]*?)\s*$")
_DURATION_FORM = "a number and a unit, e.g. 15m, 1h, 2d, 4bh, 1bd (or '4 business hours')"


@dataclass(frozen=True)
class Duration:
    """A parsed target duration. ``kind`` says which clock it is counted on.

    * ``wall``: ``length`` of real elapsed time;
    * ``business``: ``length`` of business time on the tier's calendar;
    * ``business_days``: ``days`` business days (by the close of the n-th one).
    """

    kind: DurationKind
    length: timedelta = timedelta(0)
    days: int = 0
    text: str = ""

    def __str__(self) -> str:
        return self.text or self.describe()

    def describe(self) -> str:
        """A phrase for people and for JSON: ``1 hour``, ``4 business hours``, ``1 business day``."""
        if self.kind == "business_days":
            return f"{self.days} business day{'s' if self.days != 1 else ''}"
        prefix = "business " if self.kind == "business" else ""
        return _phrase(self.length, prefix)

    def iso8601(self) -> str | None:
        """The ISO 8601 duration (``PT1H``) of a wall-clock duration; ``None`` for business time."""
        if self.kind != "wall":
            return None
        seconds = int(self.length.total_seconds())
        days, seconds = divmod(seconds, 86400)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        time_part = "".join(
            f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if value
        )
        return "P" + (f"{days}D" if days else "") + (f"T{time_part}" if time_part else "")


def short_age(seconds: float) -> str:
    """An age at a glance, in its largest whole unit: ``45s``, ``12m``, ``3h``, ``2d``
    (what `bridge status` says of a backlog, a last delivery, a waiting job)."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _phrase(length: timedelta, prefix: str) -> str:
    minutes = int(length.total_seconds() // 60)
    if minutes % 60 == 0:
        count, unit = minutes // 60, "hour"
    else:
        count, unit = minutes, "minute"
    return f"{count} {prefix}{unit}{'s' if count != 1 else ''}"


def parse_duration(value: object) -> Duration:
    """Parse a duration as written in a profile (see the module docstring).

    Raises :class:`ValueError` naming the expected form; zero and negative amounts are
    refused (a target of no time cannot be met).
    """
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; expected {_DURATION_FORM}")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"{value!r}: a target must be positive; expected {_DURATION_FORM}")
    match = _DURATION.match(text.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"{value!r} is not a duration; expected {_DURATION_FORM}")
    try:
        amount = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{value!r} is not a duration; expected {_DURATION_FORM}") from None
    if amount <= 0:
        raise ValueError(f"{value!r}: a target must be positive; expected {_DURATION_FORM}")
    kind, unit = _UNITS[match.group(2)]
    if unit is None:
        if amount != amount.to_integral_value():
            raise ValueError(f"{value!r}: business days must be a whole number, e.g. 1bd")
        return Duration(kind=kind, days=int(amount), text=text)
    length = timedelta(seconds=float(amount * Decimal(unit.total_seconds())))
    if length < timedelta(minutes=1):
        raise ValueError(f"{value!r}: a target must be at least one minute")
    return Duration(kind=kind, length=length, text=text)


DurationField = Annotated[Duration, PlainValidator(parse_duration)]
