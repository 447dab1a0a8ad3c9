"""Commands for one machine: a starter configuration, the checks, the sandbox and the demo."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
from pathlib import Path

import click

from bridge.cli import (_Failure, SANDBOX_PORTS, State, main,
                        pass_state)
from bridge.errors import EXIT_USAGE, UsageError
from bridge.stop_signal import StopSignal


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
    stop = StopSignal().install()
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
