"""How the board shows a time: one format everywhere (``2026-12-04 04:22 UTC``), for the
templates (the ``when`` and ``left`` filters) and for text the board composes itself (the
timeline's details). A message's own text is quoted as sent, never rewritten."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["left", "when"]


def when(value: datetime | str | None) -> str:
    """``value`` (a datetime or an ISO 8601 string) as the board shows a time; "—" for none.
    A string that is no ISO time is shown as it is."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def left(due: datetime | None, now: datetime) -> str:
    """How long until ``due`` ("3h 20m left"), or how long past it ("1d 2h over")."""
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    span = abs(seconds)
    text = f"{span // 86400}d {span % 86400 // 3600}h" if span >= 86400 else f"{span // 3600}h {span % 3600 // 60}m"
    return f"{text} left" if seconds >= 0 else f"{text} over"
