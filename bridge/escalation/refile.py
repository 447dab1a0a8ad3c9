"""The names a refile goes by (``bridge escalate TICKET --refile``): pure, shared by the
planner, which files the new Bug under them, and the fetch step, which finds a refile under
way by them.

A refile files a new Bug for an escalation whose recorded Bug JIRA no longer has. The new
Bug carries the escalation's label (``bridge-zendesk-101``: what people search JIRA for)
and a label of its own, searched before it is created: the escalation's label plus the
immutable id of the Bug it replaces (``bridge-zendesk-101-replaces-10042``). Its own label,
not the escalation's, because JIRA's search lags behind writes, deletions included: a label
search for ``bridge-zendesk-101`` may still list the deleted Bug, which the run would take
for its new one. Deterministic, because a run that dies after JIRA made the Bug must find it
on the next run; per replaced Bug, because a refiled Bug may be deleted and refiled too.
Every outbox key of the refile (remote links, notes, Task relations) carries it, so no key
that was sent for the gone Bug makes the new one's look done.
"""

from __future__ import annotations

#: Outbox keys of refiles' records: ``refile:<escalation label>:<replaced issue id>``.
RECORD_PREFIX = "refile:"


def refile_label(label: str, replaced_issue_id: str) -> str:
    """The new Bug's own label: the escalation's ``label``, naming the Bug it replaces."""
    return f"{label}-replaces-{replaced_issue_id}"


def refile_record_key(label: str, replaced_issue_id: str) -> str:
    """The outbox key that records a refile's intent (one per replaced Bug)."""
    return f"{RECORD_PREFIX}{label}:{replaced_issue_id}"
