"""The Sentry emulator's issue search: the ``query`` terms (``is:``, ``key:value``, free
text), the time filters and the ``statsPeriod`` window, as Sentry reads them."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from flask import request

from bridge.sandbox.sentry_state import DEFAULT_STATS_PERIOD, SentryError, parse_period

_QUERY_TERM = re.compile(r'(!)?(?:([A-Za-z_][\w.]*):("[^"]*"|\S+)|("[^"]*"|\S+))')


def _query_terms(query: str) -> list[tuple[bool, str | None, str]]:
    """Sentry search syntax: ``is:unresolved !is:ignored level:error "free text"``."""
    terms = []
    for match in _QUERY_TERM.finditer(query or ""):
        negated = bool(match.group(1))
        if match.group(2):
            value = match.group(3)
            terms.append((negated, match.group(2).lower(), value.strip('"')))
        else:
            terms.append((negated, None, match.group(4).strip('"')))
    return terms


def _is_filter(issue: dict, value: str, substatus: str | None) -> bool:
    value = value.lower()
    if value in ("unresolved", "resolved", "ignored"):
        return issue["status"] == value
    if value == "archived":
        return issue["status"] == "ignored"
    if value in ("regressed", "new", "ongoing", "escalating"):
        return issue["status"] == "unresolved" and substatus == value
    if value == "assigned":
        return issue["assigned_to"] is not None
    if value == "unassigned":
        return issue["assigned_to"] is None
    if value == "bookmarked":
        return issue["is_bookmarked"]
    if value == "for_review":
        return issue["status"] == "unresolved" and substatus in ("new", "regressed")
    return value == "unlinked"  # no issue is linked to an external tracker here


def _parse_query_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SentryError(400, {"detail": "Error parsing start or end datetime"}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _period_start(now: datetime) -> datetime:
    """The earliest ``lastSeen`` the issue list shows (``statsPeriod`` / ``start``)."""
    if request.args.get("start"):
        return _parse_query_time(request.args["start"])
    period = request.args.get("statsPeriod") or DEFAULT_STATS_PERIOD
    try:
        return now - parse_period(period)
    except ValueError:
        raise SentryError(400, {"detail": f"Invalid statsPeriod: {period!r}"}) from None
