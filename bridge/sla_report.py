"""`bridge sla`: the SLA clocks of open escalations, read from the store alone.

What each clock is fed, and why (the clock itself is :func:`bridge.policy.sla.clock`):

* **opened** -- when the customer opened the origin ticket (``escalation.opened_at``).
* **first response** -- the first public agent reply on the origin ticket: recorded when the
  ticket was escalated (the acknowledgement's outbox entry carries the time of the first
  public agent reply already on the ticket), else the moment the bridge's public
  acknowledgement was sent. None while neither exists.
* **public updates** -- the acknowledgement, and the latest public update of every linked
  ticket (``bridge sync`` records each). Sync writes to all linked tickets in one run, so
  they move together; the cadence restarts at the latest.
* **waiting on the customer** -- the clock pauses (where the profile says so) while *every*
  linked ticket waits on its customer: as long as one customer waits on us, the clock runs.
  The store keeps only the current pause, so earlier pauses no longer count once a ticket
  stops waiting -- the due times then are those of an unpaused clock, never later.

Times are given in the tier's support time zone (24x7 tiers: in the offset of ``--at``).

An open escalation is one whose Bug has no resolution yet. Each row is computed with the
profile the escalation was made under; a row whose severity or tier that profile does not
know carries an ``error`` instead of a clock, so one odd row does not hide the others. A
best-effort tier (community, free) has no clock and is listed as best effort.

Order: breached first, then at risk, then by the earliest due time; best effort and rows
with errors last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bridge.errors import MappingError, UsageError
from bridge.policy.profiles import Profile
from bridge.policy.sla import ClockState, clock, due, format_duration, format_iso, parse_iso

__all__ = ["ClockInputs", "ack_key", "clock_inputs", "clock_inputs_from", "due_report", "sla_rows", "sla_table",
           "standing"]


@dataclass(frozen=True)
class ClockInputs:
    """What the store knows about one escalation's customer communication."""

    first_response_at: datetime | None
    public_updates: tuple[datetime, ...]
    waiting_on_customer: tuple[tuple[datetime, datetime | None], ...]


def ack_key(escalation) -> str:
    """The outbox key of an escalation's acknowledgement (written by the escalate flow)."""
    return f"ack:{escalation.origin_helpdesk}:{escalation.origin_ticket_id}"


def clock_inputs(store, escalation) -> ClockInputs:
    """Read :class:`ClockInputs` for ``escalation`` from ``store`` (module docstring)."""
    ack = store.outbox.get(ack_key(escalation))
    return clock_inputs_from(store.links.of(escalation.id), ack,
                             store.outbox.payload(ack) if ack is not None else {})


def clock_inputs_from(tickets, ack, ack_payload: dict) -> ClockInputs:
    """:class:`ClockInputs` from an escalation's links and its acknowledgement's outbox
    entry, already loaded (sync loads them for every escalation in two queries)."""
    acknowledged = ack.sent_at if ack is not None and ack.state == "sent" else None
    recorded = ack_payload.get("first_response_at")
    earlier = datetime.fromisoformat(recorded) if recorded else None
    first = min((t for t in (earlier, acknowledged) if t is not None), default=None)
    updates = [t.last_public_update_at for t in tickets if t.last_public_update_at is not None]
    if acknowledged is not None:
        updates.append(acknowledged)
    waiting: tuple[tuple[datetime, datetime | None], ...] = ()
    since = [t.waiting_on_customer_since for t in tickets]
    if tickets and all(s is not None for s in since):
        waiting = ((max(s for s in since if s is not None), None),)
    return ClockInputs(first_response_at=first, public_updates=tuple(sorted(updates)),
                       waiting_on_customer=waiting)


def standing(state: ClockState) -> str:
    """One word for people: breached, at-risk, paused, on-track or best-effort."""
    if state.best_effort:
        return "best-effort"
    if state.breached:
        return "breached"
    if state.at_risk:
        return "at-risk"
    if state.paused:
        return "paused"
    return "on-track"


def sla_rows(store, profile_for: Callable[[str], Profile], now: datetime) -> list[dict[str, Any]]:
    """``bridge sla --json``: one row per open escalation with its clock (``sla``, as
    :meth:`ClockState.to_dict`), ``standing``, ``first_response_due`` and
    ``next_update_due``, ordered as the module docstring says. ``profile_for`` loads a
    profile by name (a profile that fails to load raises: the caller's configuration)."""
    result = []
    for escalation in store.escalations.list():
        if escalation.last_resolution is not None:
            continue
        inputs = clock_inputs(store, escalation)
        tickets = store.links.of(escalation.id)
        row: dict[str, Any] = {
            "escalation_id": escalation.id, "jira_key": escalation.jira_key, "jira_url": escalation.jira_url, "state": escalation.state,
            "severity": escalation.severity, "priority": escalation.priority, "tier": escalation.tier,
            "profile": escalation.profile, "organization": escalation.organization,
            "customer_zone": escalation.customer_zone, "opened_at": escalation.opened_at.isoformat(),
            "tickets": [{"helpdesk": t.helpdesk, "ticket": t.ticket_id,
                         "last_public_update_at": _iso(t.last_public_update_at),
                         "waiting_on_customer_since": _iso(t.waiting_on_customer_since)} for t in tickets],
        }
        try:
            profile = profile_for(escalation.profile)
            state = clock(profile, escalation.severity, escalation.tier, escalation.opened_at,
                          first_response_at=inputs.first_response_at, public_updates=inputs.public_updates,
                          waiting_on_customer=inputs.waiting_on_customer, now=now,
                          customer_zone=escalation.customer_zone)
        except MappingError:
            raise  # a malformed profile is the configuration's problem, not this row's
        except UsageError as exc:
            result.append({**row, "sla": None, "standing": "error", "error": str(exc),
                           "first_response_due": None, "next_update_due": None})
            continue
        clock_json = _local(state, profile, now, escalation.customer_zone).to_dict()
        result.append({**row, "sla": clock_json, "standing": standing(state),
                       "first_response_due": clock_json["first_response_due"],
                       "next_update_due": clock_json["next_update_due"]})
    result.sort(key=_order)
    return result


_TIMES = ("opened_at", "now", "first_response_due", "first_response_at", "last_public_update", "next_update_due")


def _local(state: ClockState, profile: Profile, now: datetime, customer_zone: str | None = None) -> ClockState:
    """``state`` with its times in the tier's support zone (where the team reads them, DST
    included; the customer's, for a tier whose hours are the customer's), or in ``now``'s
    offset for a tier open around the clock."""
    calendar = profile.calendar(state.tier, customer_zone)
    zone = now.tzinfo if calendar.always_open else calendar.zone
    return replace(state, **{name: getattr(state, name).astimezone(zone)
                             for name in _TIMES if getattr(state, name) is not None})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_RANK = {"breached": 0, "at-risk": 1, "paused": 2, "on-track": 2, "best-effort": 3, "error": 4}


def _order(row: dict[str, Any]) -> tuple:
    sla = row.get("sla") or {}
    if sla.get("first_response_at") is None and sla.get("first_response_due"):
        due = sla["first_response_due"]
    else:
        due = sla.get("next_update_due")
    when = datetime.fromisoformat(due).timestamp() if due else float("inf")
    return (_RANK[row["standing"]], when, row.get("jira_key") or "")


def sla_table(rows: list[dict[str, Any]]) -> str:
    """The human form of ``bridge sla``: one line per open escalation, in ``rows``' order."""
    if not rows:
        return "no open escalations"
    header = ("JIRA", "TICKETS", "SEVERITY", "TIER", "STANDING", "FIRST RESPONSE", "NEXT UPDATE DUE")
    lines = [header]
    for row in rows:
        sla = row.get("sla") or {}
        if row["standing"] == "error":
            first, update = "-", row.get("error", "")
        elif sla.get("best_effort"):
            first, update = "no SLA clock", "-"
        else:
            first = (f"met {_short(sla['first_response_at'])}" if sla.get("first_response_at")
                     else f"due {_short(sla.get('first_response_due'))}")
            update = _short(sla.get("next_update_due")) if sla.get("next_update_due") else "none stated"
            if sla.get("paused"):
                update += " (paused: waiting on the customer)"
        lines.append((
            row.get("jira_key") or "(pending)",
            ",".join(t["ticket"] for t in row.get("tickets", [])),
            row.get("severity") or "", row.get("tier") or "", row["standing"], first, update,
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) + "  " + str(line[-1])
        for line in lines
    ).rstrip()


def _short(iso: str | None) -> str:
    """``2025-03-07T17:30:00-08:00`` as ``2025-03-07 17:30 -08:00``: readable, zone kept."""
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}" if offset else f"{moment:%Y-%m-%d %H:%M}"


def due_report(
    profile: Profile,
    severity: str,
    tier: str | None,
    opened_iso: str,
    *,
    customer_zone: str | None = None,
) -> dict[str, Any]:
    """What ``bridge sla due`` prints with ``--json``, for a loaded ``profile``.

    Keys: ``profile``, ``severity``, ``tier``, ``opened``, ``first_response_due``,
    ``status_update_every`` (ISO 8601 duration such as ``PT1H`` for wall-clock cadences, a
    phrase such as ``1 business day`` for business time, ``null`` when the policy states
    none), ``next_update_due``, ``best_effort``, ``after_hours``. Due times are ISO 8601
    in the tier's support time zone (so "09:00-07:00" reads as 9 a.m. where the team works,
    DST included); on a 24x7 tier, in the offset of ``opened_iso``. Bad input raises
    :class:`UsageError` naming what to fix.
    """
    opened = parse_iso(opened_iso, "--opened")
    result = due(profile, severity, tier, opened, customer_zone=customer_zone)
    calendar = profile.calendar(result.tier, customer_zone)
    zone = opened.tzinfo if calendar.always_open else calendar.zone

    def local_iso(t: datetime | None) -> str | None:
        return None if t is None else format_iso(t.astimezone(zone))

    return {
        "profile": result.profile,
        "severity": result.severity,
        "tier": result.tier,
        "opened": format_iso(opened),
        "first_response_due": local_iso(result.first_response_due),
        "status_update_every": format_duration(result.status_update_every),
        "next_update_due": local_iso(result.next_update_due),
        "best_effort": result.best_effort,
        "after_hours": result.after_hours,
    }
