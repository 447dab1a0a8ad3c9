"""Running as a service: `bridge serve`, `bridge worker` and webhook registration."""

from __future__ import annotations

import sys

import click

from bridge.cli import (BridgeGroup, State, main,
                        pass_state)
from bridge.errors import UsageError


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
