"""What `bridge status` says about `bridge serve`'s inbox: backlog and each source's last delivery.

A source that has gone quiet is the first sign of a webhook that stopped arriving (expired
registration, rotated secret); `bridge sync` still reconciles, but an operator should know.
"""

from __future__ import annotations

from datetime import datetime

from bridge.policy.durations import short_age
from bridge.service.webhooks import SOURCES

__all__ = ["backlog_lines"]


def backlog_lines(inbox, now: datetime) -> list[str]:
    """Two lines: the backlog (waiting, working, failed, oldest) and the last delivery per source."""
    backlog = inbox.backlog()
    oldest = (f", oldest {short_age((now - backlog.oldest_received_at).total_seconds())} old"
              if backlog.oldest_received_at else "")
    last = inbox.last_delivery_by_source()
    sources = [*SOURCES, *sorted(set(last) - set(SOURCES))]
    seen = ", ".join(f"{s} {short_age((now - last[s]).total_seconds())} ago" if s in last else f"{s} never"
                     for s in sources)
    return [f"inbox: {backlog.waiting} waiting, {backlog.working} in progress, {backlog.failed} failed{oldest}",
            f"last webhook delivery: {seen}"]
