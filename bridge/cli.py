"""The command line: parse, load the configuration once, call the library, render.

Every command is a thin wrapper. Library errors (:mod:`bridge.errors`) become one line on
stderr — the message and what to do — and the exit code they carry:
0 ok · 1 finished, some items failed · 2 usage/config/mapping error · 3 a service
unreachable or refused our credentials.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import sys
import threading
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from bridge import __version__
from bridge.errors import EXIT_ITEMS_FAILED, EXIT_USAGE, BridgeError, UsageError, shown


#: How many consecutive ports `bridge sandbox` listens on (JIRA, Zendesk, Sentry, pager, Freshdesk).
SANDBOX_PORTS = 5


class _Failure(click.ClickException):
    """A BridgeError rendered by click with the bridge's exit code."""

    def __init__(self, error: BridgeError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class BridgeGroup(click.Group):
    """Turns every BridgeError raised by a command into a clean message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BridgeError as error:
            raise _Failure(error) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            # A bug, not an outcome: self-monitoring hears of it (when on). The person gets
            # one line naming the error's type and where it happened — not its text, which
            # may quote a ticket or a credential — and BRIDGE_DEBUG=1 shows the traceback.
            from bridge.monitoring import report_unhandled

            report_unhandled(error)
            if os.environ.get("BRIDGE_DEBUG"):
                raise
            click.echo(f"error: internal error {type(error).__name__} at {_where(error)}: a bug in bridge "
                       "(please report it; BRIDGE_DEBUG=1 shows the traceback)", err=True)
            sys.exit(EXIT_ITEMS_FAILED)


class State:
    """Per-invocation state: the configuration path, loaded lazily and once."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        #: Set by commands that only read (status, dry runs) before they touch services.
        self.read_only = False
        self._services = None
        self._config = None

    @property
    def services(self):
        if self._services is None:
            from bridge.services import Services

            from bridge.config import load_config

            config = self._config if self._config is not None else load_config(self.config_path)
            self._services = Services(config, read_only=self.read_only)
        return self._services

    def start_monitoring(self) -> None:
        """Report the bridge's own failures to Sentry when BRIDGE_MONITOR_DSN is set.

        The configuration read here is the one the command uses. A configuration that
        cannot be read turns monitoring off; the command reports the problem if it needs it.
        """
        from bridge.config import load_config
        from bridge.monitoring import init_monitoring, stop_monitoring

        try:
            self._config = load_config(self.config_path)
        except BridgeError:
            stop_monitoring()
            return
        init_monitoring(self._config)


pass_state = click.make_pass_decorator(State)


def _where(error: BaseException) -> str:
    """Where ``error`` was raised (``file.py:line``), and when that is outside the bridge
    (a library), the innermost place in the bridge's own code that led there."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    package = str(Path(__file__).resolve().parent)
    ours = [f for f in frames[1:] if str(Path(f.filename).resolve()).startswith(package)]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
    if ours and ours[-1] is not frames[-1]:
        where += f" (from {Path(ours[-1].filename).name}:{ours[-1].lineno})"
    return where


def _emit(data: dict | list, as_json: bool, human: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(human)


@click.group(cls=BridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="bridge.toml to use (default: $BRIDGE_CONFIG, else ./bridge.toml, else embedded defaults).")
@click.version_option(__version__, prog_name="bridge")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Escalate helpdesk tickets into JIRA and keep customers informed until the fix ships."""
    ctx.obj = State(config_path)
    ctx.obj.start_monitoring()


# ------------------------------------------------------------------------- init --
@main.command()
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(force: bool) -> None:
    """Write a starter bridge.toml and mappings/ into the current directory."""
    from bridge.starter import write_starter

    # What init writes is the team's configuration: readable by its owner only (0600 files,
    # 0700 directories), whatever the shell's umask.
    previous = os.umask(0o077)
    try:
        written = write_starter(Path.cwd(), force=force)
    finally:
        os.umask(previous)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo("Next: set the secrets in the environment (see bridge.toml), then run `bridge doctor`.")


# ----------------------------------------------------------------------- doctor --
@main.command()
@pass_state
def doctor(state: State) -> None:
    """Check configuration, mappings and every service; exit 1 on problems."""
    from bridge.doctor import run_checks

    problems = 0
    usage = False
    for check in run_checks(state.services):
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"{mark} {check.name}: {check.detail}")
        problems += not check.ok
        usage = usage or check.exit_code == EXIT_USAGE
    if problems:
        click.echo(f"{problems} problem(s) found.", err=True)
        # A malformed configuration, mapping or profile is the caller's to fix: exit 2, as
        # every other command does for it; service problems exit 1.
        sys.exit(EXIT_USAGE if usage else 1)


# ---------------------------------------------------------------------- sandbox --
@main.command()
@click.option("--port", type=click.IntRange(0, 65535 - SANDBOX_PORTS + 1), default=None,
              help="JIRA's port; Zendesk, Sentry, the pager and Freshdesk take the next four "
                   "(default 8765; 0 = free ports).")
@click.option("--jira-mode", type=click.Choice(["cloud", "server"]), default="cloud", show_default=True,
              help="Emulate JIRA Cloud or Data Center.")
@click.option("--webhooks-to", "webhooks_to", metavar="URL", default=None,
              help="Register bridge serve at URL as every emulator's webhook receiver (fresh secrets, printed).")
def sandbox(port: int | None, jira_mode: str, webhooks_to: str | None) -> None:
    """Run emulated JIRA, Zendesk, Sentry and a pager on 127.0.0.1 until interrupted.

    When ready, prints one `export BRIDGE_...=...` line per setting.
    """
    from bridge.sandbox.world import DEFAULT_PORT, start_sandbox

    first = DEFAULT_PORT if port is None else port
    if first:
        _check_ports_free(first)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        # werkzeug prints its own advice and exits 1 on a busy port (a race with the check
        # above): keep its text and turn the exit into ours.
        with contextlib.redirect_stderr(io.StringIO()):
            world = start_sandbox(first, jira_mode=jira_mode)
    except (OSError, OverflowError, SystemExit):
        raise _Failure(UsageError(f"cannot listen on ports {first}-{first + SANDBOX_PORTS - 1} of 127.0.0.1",
                                  hint="one is in use: pick others with --port (0 = free ports)")) from None
    with world:
        for line in world.export_lines() + _sandbox_dsn_lines(world):
            click.echo(line)
        if webhooks_to:
            import shlex

            from bridge.service.registration import register_sandbox

            for name, value in register_sandbox(world, webhooks_to).items():
                click.echo(f"export {name}={shlex.quote(value)}")
        sys.stdout.flush()
        stop.wait()


def _sandbox_dsn_lines(world) -> list[str]:
    """``BRIDGE_MONITOR_DSN`` for the sandbox's Sentry (the bridge's own errors go to a
    project of their own, apart from the demo's), and, as a comment, a DSN an application
    can use to send its errors to the sandbox."""
    import shlex

    sentry = world.sentry_state
    own = "bridge-self"
    if own not in {p["slug"] for p in sentry.projects.values()}:
        sentry.add_project(str(max(int(i) for i in sentry.projects) + 1), own, "Bridge self-monitoring")
    return [f"export BRIDGE_MONITOR_DSN={shlex.quote(sentry.dsn(own))}",
            f"# an application sends its own errors to the sandbox with SENTRY_DSN={sentry.dsn('backend')}"]


def _check_ports_free(first: int) -> None:
    """Exit 2 naming the port when one the sandbox needs is taken."""
    for number in range(first, first + SANDBOX_PORTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", number))
            except OSError as exc:
                raise _Failure(UsageError(
                    f"cannot listen on port {number} of 127.0.0.1 ({exc.strerror or 'in use'}); the sandbox "
                    f"uses {first}-{first + SANDBOX_PORTS - 1}",
                    hint="stop what uses it, or pick other ports with --port (0 = free ports)")) from None


# ------------------------------------------------------------------------- demo --
@main.command()
def demo() -> None:
    """Tell the escalation story on a throw-away sandbox and store; print what happened."""
    from bridge.demo import run_demo

    # At a terminal the board stays up for a look; scripts and tests get the story and the exit.
    run_demo(click.echo, keep_serving=sys.stdin.isatty() and sys.stdout.isatty())


# --------------------------------------------------------------------- escalate --
@main.command()
@click.argument("ticket")
@click.option("--severity", help="Severity name from the policy profile (e.g. high, p2, severity-1).")
@click.option("--urgency", help="Urgency for the profile's urgency x impact matrix.")
@click.option("--impact", help="Impact for the profile's urgency x impact matrix.")
@click.option("--emergency", is_flag=True, help="The highest severity.")
@click.option("--into", "into", metavar="KEY", help="Attach the ticket to this existing JIRA issue.")
@click.option("--force", is_flag=True, help="Escalate a solved or closed ticket too.")
@click.option("--sentry", "sentry_refs", multiple=True, metavar="REF",
              help="A Sentry issue (URL, short id or numeric id) to file as a Task related to the Bug; "
                   "repeatable. References in the conversation are linked too.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing anywhere.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def escalate(state: State, ticket: str, severity, urgency, impact, emergency, into, force, sentry_refs,
             dry_run, as_json) -> None:
    """Escalate TICKET into a JIRA Bug (or --into an existing one)."""
    from bridge.escalation import EscalationRequest

    if severity and (urgency or impact or emergency):
        raise UsageError("give either --severity, or --urgency with --impact, or --emergency")
    if bool(urgency) != bool(impact):
        raise UsageError("--urgency and --impact go together")
    state.read_only = dry_run  # a dry run opens the store read-only: it cannot write
    services = state.services
    result = services.escalator().escalate(EscalationRequest(
        ticket=ticket, actor=services.actor, severity=severity, urgency=urgency, impact=impact,
        emergency=emergency, into=into, force=force, dry_run=dry_run, sentry=tuple(sentry_refs),
    ))
    if dry_run:
        human = [f"dry run: ticket {result.ticket} would be escalated ({result.severity} → {result.priority}, tier {result.tier})"]
        human += [f"  - {step}" for step in result.plan.get("writes", [])]
        human.append(f"  label: {result.plan.get('label')}" if result.plan.get("label") else "")
    else:
        verb = "created" if result.created else "linked to"
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
    from bridge.sync.engine import watch

    state.read_only = dry_run  # a dry run opens the store read-only: it cannot write
    engine = state.services.sync_engine()

    def progress(items):
        if as_json or not sys.stdout.isatty() or len(items) < 20:
            return items
        return _ProgressIterable(items)

    def show(report) -> None:
        if as_json:
            click.echo(json.dumps(report.as_json(), sort_keys=True, default=str))
            return
        if report.skipped:
            click.echo(f"skipped: {report.skipped}")
            return
        verb = "would" if report.dry_run else "did"
        done = [o for o in report.outcomes if o.result in ("done", "planned")]
        click.echo(f"sync: {report.examined} escalation(s) changed; {verb} {len(done)} action(s), "
                   f"{len(report.failures)} failure(s)")
        for outcome in report.outcomes:
            click.echo(f"  [{outcome.result}] {outcome.action.describe()}")
        for target, reason in report.failures:
            click.echo(f"  FAILED {target}: {reason}", err=True)

    if every is None:
        report = engine.run(dry_run=dry_run, progress=progress)
        show(report)
        sys.exit(report.exit_code)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
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
    from bridge.policy.sla import due_report

    # A team's own profiles (<mappings dir>/profiles/) are found before the packaged ones.
    try:
        report = due_report(load_profile(profile, search_dirs=state.services.profile_dirs), severity, tier, opened)
    except OverflowError:
        raise _out_of_range("--opened", opened) from None
    human = "\n".join(f"{k}: {v}" for k, v in report.items())
    _emit(report, as_json, human)


# ------------------------------------------------------------------------ serve --
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8780, show_default=True,
              help="Port to listen on (0 = a free port, printed when ready).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Inbox worker threads (default: [serve] workers, 2; 0: only accept).")
@pass_state
def serve(state: State, host: str, port: int, workers: int | None) -> None:
    """Receive webhooks under /hooks/..., the Escalate button, the board; until SIGTERM.

    Prints one line when it answers requests. SIGTERM or SIGINT stops accepting, finishes
    or releases the inbox items in hand, and exits 0.
    """
    from bridge.service.server import serve as run

    services = state.services
    services.store  # noqa: B018 - opens (and on SQLite migrates) the store before listening
    try:
        run(services, host=host, port=port, workers=workers,
            announce=lambda line: (click.echo(line), sys.stdout.flush()))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         hint="pick another with --port") from None


# ----------------------------------------------------------------------- worker --
@main.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Jobs run at once by this process (each in a thread with its own connectors).")
@click.option("--queues", default=None, metavar="Q[,Q…]",
              help="Only these queues (inbox, sync, periodic; comma-separated). Default: all.")
@click.option("--rate", "rates", multiple=True, metavar="SERVICE=N",
              help="Requests per second all workers together may send to SERVICE (jira, zendesk, "
                   "freshdesk, django-helpdesk; 0 = no limit). Repeatable.")
@click.option("--stalled-after", type=click.FloatRange(2, 3600), default=15.0, show_default=True, metavar="SECONDS",
              help="A worker without a heartbeat this long is taken as gone; its jobs are run again.")
@pass_state
def worker(state: State, concurrency: int, queues: str | None, rates: tuple[str, ...], stalled_after: float) -> None:
    """Run jobs from the PostgreSQL store's queues until SIGTERM (PostgreSQL store only).

    Inbox items, per-escalation syncs (never two at once on one escalation), the periodic
    reconciliation, the SLA cadence and webhook refresh. SIGTERM or SIGINT finishes or
    gives back the jobs in hand and exits 0. On a SQLite store it exits 2.
    """
    from bridge.jobs.app import QUEUES, require_postgres

    config = state.services.config
    require_postgres(config.store.url)
    chosen = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    unknown = sorted(set(chosen or ()) - set(QUEUES))
    if unknown:
        raise UsageError(f"--queues: unknown queue {', '.join(unknown)}", hint=f"choose from {', '.join(QUEUES)}")
    from bridge.jobs.limiter import parse_rates

    try:
        limits = parse_rates(list(rates))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from bridge.jobs.runtime import run_worker

    state.services.store  # noqa: B018 - refuses an unmigrated store before any job is taken
    run_worker(state.services, concurrency=concurrency, queues=chosen, rates=limits, stalled_after_s=stalled_after,
               announce=lambda line: (click.echo(line), sys.stdout.flush()))


# --------------------------------------------------------------------- webhooks --
@main.group(cls=BridgeGroup)
def webhooks() -> None:
    """Webhooks from JIRA, Zendesk, Sentry, Freshdesk and django-helpdesk to bridge serve."""


@webhooks.command("register")
@pass_state
def webhooks_register(state: State) -> None:
    """Register bridge serve's /hooks URLs at JIRA and Zendesk (idempotent).

    Uses BRIDGE_SERVE_PUBLIC_URL and the BRIDGE_WEBHOOKS_*_SECRET of each source; a source
    without a secret is skipped. Sentry, Freshdesk and django-helpdesk are set up in their
    own admin pages (see the README).
    """
    from bridge.service.registration import register_all

    services = state.services
    done = register_all(services.config, services.http_session)
    for registration in done:
        click.echo(registration.describe())
    if not done:
        click.echo("nothing to register: set BRIDGE_WEBHOOKS_JIRA_SECRET and/or BRIDGE_WEBHOOKS_ZENDESK_SECRET")


# --------------------------------------------------------------------------- db --
@main.group(cls=BridgeGroup)
def db() -> None:
    """The state store."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: State) -> None:
    """Create or migrate the store's tables to the current version."""
    from bridge.store.db import upgrade

    url = state.services.config.store.url
    upgrade(url, jobs=True)  # on PostgreSQL, procrastinate's schema too (bridge worker)
    from bridge.store.urls import mask_url

    click.echo(f"store {mask_url(url)} is at the current version")


@db.command("copy")
@click.argument("from_url", metavar="FROM_URL")
@click.argument("to_url", metavar="TO_URL")
@pass_state
def db_copy(state: State, from_url: str, to_url: str) -> None:
    """Copy every row of the store at FROM_URL (e.g. SQLite) into an empty store at TO_URL.

    TO_URL is migrated first (with the job engine's schema on PostgreSQL); the copy is one
    transaction, so a failure leaves TO_URL empty. A store that already holds escalations is
    refused (exit 2). Stop `bridge serve` and cron before copying.
    """
    from bridge.jobs.copy_store import copy_store
    from bridge.store.urls import mask_url

    counts = copy_store(from_url, to_url)
    total = sum(counts.values())
    click.echo(f"copied {total} row(s) in {len(counts)} table(s) from {mask_url(from_url)} to {mask_url(to_url)}")


@main.group(cls=BridgeGroup)
def users() -> None:
    """Accounts of the managers' board (viewers read; managers escalate and retry; admins manage users)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "manager", "admin"]), help="What the account may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_state
def users_add(state: State, name: str, role: str, password_stdin: bool) -> None:
    """Create a board account; prompts for its password unless --password-stdin."""
    from bridge.board.accounts import MIN_PASSWORD, hash_password
    from bridge.store.users import UserExists

    name = name.strip()
    if not name or len(name) > 80:
        raise UsageError("the account name must be 1 to 80 characters")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password has {len(password)} characters; it needs at least {MIN_PASSWORD}")
    store = state.services.store
    try:
        store.users.add(name, role, password_hash=hash_password(password))
    except UserExists:
        raise UsageError(f"a board account named {name!r} already exists",
                         hint=f"`bridge users remove {name}` first to replace it") from None
    store.audit.record(state.services.actor, "user_add", f"board:user:{name}", "ok", role)
    click.echo(f"added {name} ({role})")


@users.command("remove")
@click.argument("name")
@pass_state
def users_remove(state: State, name: str) -> None:
    """Delete a board account; its sessions stop working at once."""
    store = state.services.store
    if not store.users.remove(name.strip()):
        raise UsageError(f"no board account named {name!r}", hint="names are case-sensitive")
    store.audit.record(state.services.actor, "user_remove", f"board:user:{name.strip()}", "ok")
    click.echo(f"removed {name.strip()}")


def _out_of_range(option: str, value: str) -> UsageError:
    return UsageError(f"{option} {shown(value)}: the due times it leads to fall outside the years 1-9999",
                      hint="give a time in this millennium, e.g. 2026-11-23T09:00:00+01:00")


def _parse_iso(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not an ISO 8601 time", hint="e.g. 2026-11-23T09:00:00+01:00") from None
    if parsed.tzinfo is None:
        raise UsageError(f"{option} {value!r} has no offset", hint="add one, e.g. +00:00")
    return parsed


if __name__ == "__main__":  # pragma: no cover
    main()
