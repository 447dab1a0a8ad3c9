"""The board's pages: the board, an escalation's timeline, failures, and the Escalate form.

Every view reads through the store; actions (escalate, retry) go through the same
escalator and sync engine as the CLI, under the signed-in account's name, and are audited.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from bridge.board import listing, timeline
from bridge.board.auth import audit, error_page, requires, services
from bridge.errors import BridgeError, NotAllowed, UsageError

bp = Blueprint("board", __name__, template_folder="templates")
bp.register_error_handler(HTTPException, error_page)

#: The largest id the store's INTEGER column holds: a larger one is no escalation, and
#: SQLite (or PostgreSQL) would refuse to even compare it (an OverflowError, a 500).
MAX_ID = 2**63 - 1


def _store():
    return services().store


@bp.get("/")
@requires("viewer")
def board():
    try:
        filters = listing.Filters.from_args(request.args)
    except listing.BadFilter as exc:
        abort(400, str(exc))
    found = listing.page(_store().engine, filters, helpdesk=services().config.helpdesk.kind)
    return render_template("board/board.html", page=found, filters=filters, now=_now(),
                           choices=listing.choices(_store().engine),
                           version=listing.version(_store().engine))


@bp.get("/board/version")
@requires("viewer")
def board_version():
    """What the page's script polls: the page reloads its table when this changes."""
    escalation_id = None
    if "escalation" in request.args:
        escalation_id = _escalation_id(request.args["escalation"])
        if escalation_id is None:
            abort(400, "escalation= names no escalation: give its number")
    return jsonify(version=listing.version(_store().engine, escalation_id))


@bp.get(f"/escalations/<int(min=1, max={MAX_ID}):escalation_id>")  # beyond: 404
@requires("viewer")
def escalation(escalation_id: int):
    store = _store()
    e = store.escalations.get(escalation_id)
    if e is None:
        abort(404, f"no escalation {escalation_id}")
    tickets = store.links.of(e.id)
    outbox = store.outbox.list(states=None, escalation_id=e.id)
    targets = [f"jira:{e.jira_key}"] + [f"{t.helpdesk}:{t.ticket_id}" for t in tickets]
    audit_rows = [a for target in targets for a in store.audit.entries(target=target, limit=200)]
    tasks = store.tasks.of(e.id)
    regressions = store.tasks.regressions_of(e.id)
    clock = escalation_clock(e)
    entries = timeline.build(e, tickets, outbox, store.outbox.payload, audit_rows, tasks, regressions, clock)
    return render_template("board/escalation.html", e=e, tickets=tickets, tasks=tasks, entries=entries,
                           clock=(clock or {}).get("sla") or {}, standing=(clock or {}).get("standing"),
                           failures=[o for o in outbox if o.state == "failed"],
                           version=listing.version(store.engine, e.id), now=_now())


def _escalation_id(text: str) -> int | None:
    """``text`` as an escalation id, or None if it is not a number the store can hold."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 1 <= value <= MAX_ID else None


def escalation_clock(e) -> dict | None:
    """The SLA clock of one open escalation, as ``bridge sla`` computes it (also before its
    Bug exists: the customer's clock runs from the ticket's opening all the same)."""
    from bridge.policy.sla import clock
    from bridge.sla_report import clock_inputs, standing

    if e.last_resolution is not None:
        return None
    svc = services()
    try:
        profile = svc.profile if e.profile == svc.profile.name else svc.profile_named(e.profile)
        inputs = clock_inputs(svc.store, e)
        state = clock(profile, e.severity, e.tier, e.opened_at, first_response_at=inputs.first_response_at,
                      public_updates=inputs.public_updates, waiting_on_customer=inputs.waiting_on_customer,
                      now=_now(), customer_zone=e.customer_zone)
    except BridgeError:
        return None
    return {"sla": state.to_dict(), "standing": standing(state)}


# -- failures and retries ------------------------------------------------------------------

@bp.get("/failures")
@requires("viewer")
def failures():
    store = _store()
    failed = store.outbox.list(states=("failed",))
    stuck = store.escalations.list(states=("intent", "created"))
    return render_template("board/failures.html", failed=failed, stuck=stuck,
                           escalations={e.id: e for e in store.escalations.list()} if failed else {})


@bp.post("/failures/retry")
@requires("manager")
def retry():
    store = _store()
    wanted = request.form.get("escalation", "")
    failed_ids = {o.escalation_id for o in store.outbox.list(states=("failed",)) if o.escalation_id}
    stuck = {e.id: e for e in store.escalations.list(states=("intent", "created"))}
    if wanted == "all":
        ids = failed_ids | set(stuck)
    else:
        one = _escalation_id(wanted)
        if one is None:
            abort(400, "name the escalation to retry, or all")
        ids = {one}
    messages, ok = [], True
    for escalation_id in sorted(i for i in ids if i in stuck):
        # An escalation that stopped half-way is finished by escalating its ticket again
        # (the escalator picks up its intent row: still one Bug).
        e = stuck[escalation_id]
        try:
            _escalate_request(e.origin_ticket_id, dry_run=False)
            messages.append(f"{e.origin_helpdesk}:{e.origin_ticket_id}: escalation finished")
        except BridgeError as exc:
            ok = False
            messages.append(f"{e.origin_helpdesk}:{e.origin_ticket_id}: {exc}")
    rest = sorted(i for i in ids if i not in stuck)
    if rest:
        try:
            report = services().sync_engine().run(only=set(rest))
            summary = getattr(report, "skipped", None) or f"{len(getattr(report, 'outcomes', []))} actions"
            messages.append(f"sync of {len(rest)} escalation(s): {summary}")
        except BridgeError as exc:
            ok = False
            messages.append(f"sync: {exc}")
    audit("retry", f"board:escalations:{wanted}", "ok" if ok else "failed", "; ".join(messages))
    _standings().poke()
    return render_template("board/done.html", title="Retry", messages=messages), (200 if ok else 502)


# -- escalate ------------------------------------------------------------------------------

def _form_request():
    f = request.form
    ticket = f.get("ticket", "").strip().lstrip("#")
    if not ticket:
        abort(400, "enter the ticket to escalate")
    return {
        "ticket": ticket[:64],
        "severity": f.get("severity") or None,
        "urgency": f.get("urgency") or None,
        "impact": f.get("impact") or None,
        "into": (f.get("into") or "").strip().upper() or None,
        "sentry": tuple(s.strip() for s in (f.get("sentry") or "").split() if s.strip())[:20],
    }


def _escalate_request(ticket: str, *, dry_run: bool, **fields):
    from bridge.escalation import EscalationRequest

    return services().escalator().escalate(EscalationRequest(ticket=ticket, actor=g.user.name, dry_run=dry_run,
                                                             **fields))


@bp.get("/escalations/new")
@requires("manager")
def escalate_form():
    return render_template("board/escalate.html", profile=services().profile, values=request.args)


@bp.post("/escalations/new")
@requires("manager")
def escalate_plan():
    fields = _form_request()
    ticket = fields.pop("ticket")
    try:
        result = _escalate_request(ticket, dry_run=True, **fields)
    except NotAllowed as exc:
        return _refused(exc, 403)
    except BridgeError as exc:
        return _refused(exc, 400)
    return render_template("board/plan.html", result=result, ticket=ticket, fields=fields)


@bp.post("/escalations/new/confirm")
@requires("manager")
def escalate_confirm():
    fields = _form_request()
    ticket = fields.pop("ticket")
    try:
        result = _escalate_request(ticket, dry_run=False, **fields)
    except NotAllowed as exc:
        return _refused(exc, 403)
    except BridgeError as exc:
        audit("escalate", f"ticket:{ticket}", "failed", str(exc))
        # The caller's mistake (unknown ticket, bad --into or severity) is a 400, as at the
        # plan step; only a service failing us is a 502.
        return _refused(exc, 400 if isinstance(exc, UsageError) else 502)
    audit("escalate", f"ticket:{ticket}", "ok", f"{result.jira_key}")
    _standings().poke()  # the new escalation gets its SLA standing on the board soon
    found = _store().escalations.by_key(result.jira_key) if result.jira_key else None
    if found is not None:
        return redirect(url_for("board.escalation", escalation_id=found.id), code=303)
    return render_template("board/done.html", title="Escalated", messages=result.steps)


def _refused(exc: BridgeError, status: int):
    hint = getattr(exc, "hint", None)
    return render_template("board/done.html", title="Not escalated",
                           messages=[exc.message] + ([hint] if hint else [])), status


def _standings():
    return current_app.extensions["bridge.board.standings"]


def _now() -> datetime:
    return datetime.now(timezone.utc)
