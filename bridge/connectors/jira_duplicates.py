"""Two creators, one label: settling which issue stands.

JIRA has no idempotency key and its search lags behind writes, so two processes that do
not share a store (two operators, or two `link-sentry` runs racing) can each search for a
label, see nothing, and each create an issue. Right after creating, the creator looks
again: once its own issue shows in the search, any issue created before it shows too. The
oldest stands; a younger one is closed as its duplicate before anything refers to it. Every
creator reaches the same verdict, so they converge on one issue.
"""

from __future__ import annotations

from typing import Callable

from bridge.models import Issue

#: Pauses while waiting for a just-created issue to show in JIRA's (lagging) search.
RECHECK_PAUSES_S = (0.5, 1.0, 2.0)


def oldest_with_label(tracker, label: str, created: Issue, sleep: Callable[[float], None]) -> Issue:
    """The issue that stands for ``label`` after ``created`` was made: ``created`` itself,
    or an older one (``created`` is then closed as its duplicate)."""
    for pause in (0.0, *RECHECK_PAUSES_S):
        if pause:
            sleep(pause)
        found = tracker.find_by_label(label)
        if any(issue.id == created.id for issue in found):
            oldest = min(found, key=lambda issue: int(issue.id) if str(issue.id).isdigit() else 0)
            if oldest.id != created.id:
                tracker.close_as_duplicate(created.key, oldest.key)
            return oldest
    return created  # search still lags: the next run's label search settles it
