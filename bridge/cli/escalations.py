"""The escalation process: escalate, link error-tracker issues, sync, status and SLA clocks."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from bridge.cli import (BridgeGroup, State, _emit, json_value, _out_of_range, _parse_iso, main,
                        pass_state)
from bridge.errors import UsageError, shown
from bridge.stop_signal import StopSignal


# --------------------------------------------------------------------- escalate --
@main.command()
@click.argument("ticket")
@click.option("--severity", help="Severity name from the policy profile (e.g. high, p2, severity-1).")
@click.option("--urgency", help="Urgency for the profile's urgency x impact matrix.")
@click.option("--impact", help="Impact for the profile's urgency x impact matrix.")
@click.option("--emergency", is_flag=True, help="The highest severity.")
@click.option("--into", "into", metavar="KEY", help="Attach the ticket to this existing JIRA issue.")
@click.option("--force", is_flag=True, help="Escalate a solved or closed ticket too.")
@click.option("--refile", is_flag=True,
              help="The recorded Bug is gone from JIRA (404): file a new Bug for the escalation and move its "
                   "tickets onto it. Refused while JIRA shows the recorded Bug.")
@click.option("--sentry", "sentry_refs", multiple=True, metavar="REF",
              help="A Sentry issue (URL, short id or numeric id) to file as a Task related to the Bug; "
                   "repeatable. References in the conversation are linked too.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing anywhere.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def escalate(state: State, ticket: str, severity, urgency, impact, emergency, into, force, refile, sentry_refs,
             dry_run, as_json) -> None:
    """Escalate TICKET into a JIRA Bug (or --into an existing one, or --refile a deleted one)."""
    from bridge.escalation import EscalationRequest
    from bridge.escalation.request import check_refile_options

    if severity and (urgency or impact or emergency):
        raise UsageError("give either --severity, or --urgency with --impact, or --emergency")
    if bool(urgency) != bool(impact):
        raise UsageError("--urgency and --impact go together")
    request = EscalationRequest(
        ticket=ticket, actor="", severity=severity, urgency=urgency, impact=impact, emergency=emergency,
        into=into, force=force, dry_run=dry_run, sentry=tuple(sentry_refs), refile=refile)
    check_refile_options(request)  # before the configuration is read or a service asked
    state.read_only = dry_run  # a dry run opens the store read-only: it cannot write
    services = state.services
    request.actor = services.actor
    result = services.escalator().escalate(request)
    gone = (result.refile or {}).get("replaced_key")
    if dry_run:
        human = [f"dry run: ticket {result.ticket} would be escalated ({result.severity} → {result.priority}, tier {result.tier})"
                 if gone is None else
                 f"dry run: {gone} is gone from JIRA; ticket {result.ticket}'s escalation would be refiled as a new "
                 f"Bug ({result.severity} → {result.priority}, tier {result.tier})"]
        human += [f"  - {step}" for step in result.plan.get("writes", [])]
        human.append(f"  label: {result.plan.get('label')}" if result.plan.get("label") else "")
    else:
        verb = "created" if result.created else "linked to"
        if gone is not None:
            verb = f"refiled {gone} (gone from JIRA) as"
        human = [f"ticket {result.ticket}: {verb} {result.jira_key} {result.jira_url}"]
        human += [f"  - {step}" for step in result.steps]
    _emit(result.as_json(), as_json, "\n".join(line for line in human if line))
    if result.failures:
        # The escalation stands; what failed (e.g. the page) is retried by the next run.
        for failure in result.failures:
            click.echo(f"error: {failure}", err=True)
        sys.exit(1)

# ------------------------------------------------------------------------- sync --
@main.command()
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing anywhere.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", "every", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Run again every SECONDS until interrupted (waiting longer after failures).")
@pass_state
def sync(state: State, dry_run: bool, as_json: bool, every: float | None) -> None:
    """Mirror JIRA progress onto every linked ticket, and customer messages back to JIRA."""
    from bridge.sync.watch import watch

    state.read_only = dry_run  # a dry run opens the store read-only: it cannot write
    engine = state.services.sync_engine()

    def progress(items):
        if as_json or not sys.stdout.isatty() or len(items) < 20:
            return items
        return _ProgressIterable(items)

    def show(report) -> None:
        if as_json:
            click.echo(json.dumps(report.as_json(), sort_keys=True, default=json_value))
            return
        if report.skipped:
            click.echo(f"skipped: {report.skipped}")
            return
        verb = "would" if report.dry_run else "did"
        done = [o for o in report.outcomes if o.result in ("done", "planned")]
        again = f" ({report.unchanged} listed again as last seen)" if report.unchanged else ""
        click.echo(f"sync: {report.examined} escalation(s) changed{again}; {verb} {len(done)} action(s), "
                   f"{len(report.failures)} failure(s)")
        for outcome in report.outcomes:
            click.echo(f"  [{outcome.result}] {outcome.action.describe()}")
        if report.busy:
            click.echo(f"  left for the next run (another pass is working them): escalation(s) "
                       f"{', '.join(map(str, report.busy))}")
        for target, reason in report.failures:
            click.echo(f"  FAILED {target}: {reason}", err=True)

    if every is None:
        report = engine.run(dry_run=dry_run, progress=progress)
        show(report)
        sys.exit(report.exit_code)
    stop = StopSignal().install()
    watch(lambda: engine.run(dry_run=dry_run, progress=progress), every=every, sleep=stop.wait,
          on_report=show, stop=stop.is_set)


class _ProgressIterable:
    """A click progress bar over a list, shown only on a terminal."""

    def __init__(self, items) -> None:
        self.items = items

    def __iter__(self):
        with click.progressbar(self.items, label="syncing", file=sys.stderr) as bar:
            yield from bar

# ------------------------------------------------------------------ link-sentry --
@main.command("link-sentry")
@click.argument("ref", metavar="REF")
@click.option("--issue", "issue_key", metavar="KEY", help="The JIRA Bug to relate the Sentry issue to.")
@click.option("--ticket", metavar="TICKET", help="An escalated ticket: relate to its Bug.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing anywhere.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def link_sentry(state: State, ref: str, issue_key: str | None, ticket: str | None, dry_run: bool,
                as_json: bool) -> None:
    """File Sentry issue REF as a JIRA Task related to a Bug (never on the customer's ticket).

    REF is an issue URL (sentry.io, an org subdomain, a region host or the self-hosted
    Sentry), a short id such as BACKEND-1A2 or a numeric id. The Task is created once;
    linking it to another Bug adds a "Relates" link.
    """
    if (issue_key is None) == (ticket is None):
        raise UsageError("give exactly one of --issue KEY or --ticket TICKET")
    from bridge.escalation.link_error import link, plan_link

    if dry_run:
        state.read_only = True
    services = state.services
    linker = services.sentry_linker
    the_plan = plan_link(linker, ref, issue_key=issue_key, ticket=ticket, actor=services.actor, store=services.store)
    if dry_run:
        _emit(the_plan.as_json(), as_json, f"dry run: {the_plan.action.describe()}")
        return
    result = link(services.escalator().executor(services.actor), the_plan, services.store, linker)
    verb = "created" if result.task_created else "reused"
    human = [f"Sentry {result.sentry_short_id or result.sentry_issue_id}: {verb} {result.task_key} "
             f"{result.task_url}, related to {result.bug_key}"]
    human += [f"  - {step}" for step in result.steps]
    _emit(result.as_json(), as_json, "\n".join(human))

# ----------------------------------------------------------------------- status --
@main.command()
@click.argument("target", required=False, metavar="[TICKET | KEY]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def status(state: State, target: str | None, as_json: bool) -> None:
    """Show escalations: tickets, JIRA key and state, last customer update."""
    state.read_only = True  # reading only: no store file is created, nothing is written
    rows = state.services.status_rows(target)
    if not rows and target:
        raise UsageError(f"no escalation for {shown(target)}", hint="give a ticket id or a JIRA key the bridge escalated")
    lines: list[str] = []
    for r in rows:
        jira_state = r["jira_status"] or "not synced yet"
        if r["jira_resolution"]:
            jira_state += f" ({r['jira_resolution']})"
        lines.append(f"{r['jira_key'] or '(pending)'}  {r['state']}  {r['severity']}/{r['priority']}  JIRA: {jira_state}")
        for t in r["tickets"]:
            told = t["last_announced_state"] or "acknowledged"
            when = t["last_public_update_at"].isoformat(timespec="minutes") if t["last_public_update_at"] else "-"
            lines.append(f"    {t['helpdesk']} #{t['ticket']} ({t['role']}): last told '{told}' at {when}")
        if r["next_update_due"]:
            lines.append(f"    next customer update due {r['next_update_due']}")
        for task in r["sentry_tasks"]:
            lines.append(f"    related task {task['jira_key']} (Sentry {task['sentry_short_id']})")
        for short_id in r.get("sentry_regressions", []):
            lines.append(f"    REGRESSION: Sentry {short_id} is unresolved again while the Bug is resolved")
        for failure in r["failures"]:
            lines.append(f"    FAILED {failure['kind']} on {failure['target']} ({failure['attempts']} tries): {failure['error']}")
    lines = lines or ["no escalations yet"]
    if target is None:
        from datetime import timezone

        from bridge.service.backlog import backlog_lines

        lines += backlog_lines(state.services.store.inbox, datetime.now(timezone.utc))
        from bridge.jobs.report import status_line

        lines += status_line(state.services.config.store.url, state.services.store.engine, datetime.now(timezone.utc))
    _emit(rows, as_json, "\n".join(lines))

# -------------------------------------------------------------------------- sla --
@main.group(cls=BridgeGroup, invoke_without_command=True)
@click.option("--at", "at", help="Evaluate the clocks at this ISO 8601 time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def sla(ctx: click.Context, at: str | None, as_json: bool) -> None:
    """SLA clocks of open escalations (at-risk and breached first)."""
    if ctx.invoked_subcommand is not None:
        return
    state: State = ctx.obj
    when = _parse_iso(at, "--at") if at else None
    from bridge.sla_report import sla_table

    try:
        rows = state.services.sla_rows(when)
    except OverflowError:
        raise _out_of_range("--at", at or "") from None
    _emit(rows, as_json, sla_table(rows))


@sla.command("due")
@click.option("--profile", required=True, help="Policy profile name.")
@click.option("--severity", required=True, help="Severity name of that profile.")
@click.option("--tier", default=None, help="Support tier (default: the profile's default tier).")
@click.option("--opened", required=True, help="When the ticket was opened, ISO 8601 with an offset.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def sla_due(state: State, profile: str, severity: str, tier: str | None, opened: str, as_json: bool) -> None:
    """When the first response and the next status update are due for a ticket."""
    from bridge.mapping import load_profile
    from bridge.sla_report import due_report

    # A team's own profiles (<mappings dir>/profiles/) are found before the packaged ones.
    try:
        report = due_report(load_profile(profile, search_dirs=state.services.profile_dirs), severity, tier, opened)
    except OverflowError:
        raise _out_of_range("--opened", opened) from None
    human = "\n".join(f"{k}: {v}" for k, v in report.items())
    _emit(report, as_json, human)
