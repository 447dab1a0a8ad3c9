"""The command line: parse, load the configuration once, call the library, render.

Every command is a thin wrapper. Library errors (:mod:`bridge.errors`) become one line on
stderr — the message and what to do — and the exit code they carry:
0 ok · 1 finished, some items failed · 2 usage/config/mapping error · 3 a service
unreachable or refused our credentials.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from bridge import __version__
from bridge.errors import EXIT_ITEMS_FAILED, BridgeError, UsageError, shown


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
        except BrokenPipeError:
            _reader_gone()
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


def _reader_gone() -> None:
    """Whoever read the output went away (`bridge sandbox | head -3`, a closed terminal):
    nothing more can be said, and it is no bug to report. Exit 1 (the output did not reach
    its reader) without a word; stdout is pointed at /dev/null first, or Python's own
    flush at exit would fail on the pipe again and print its complaint."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is no file (a test's capture): nothing will flush into the pipe
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
    package = str(Path(__file__).resolve().parents[1])
    ours = [f for f in frames[1:] if str(Path(f.filename).resolve()).startswith(package)]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
    if ours and ours[-1] is not frames[-1]:
        where += f" (from {Path(ours[-1].filename).name}:{ours[-1].lineno})"
    return where


def json_value(value: object) -> str:
    """How ``--json`` writes what JSON has no type for: times in ISO 8601 (``T``, offset),
    as every other time in the output is written; anything else as its text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _emit(data: dict | list, as_json: bool, human: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=json_value))
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


def _out_of_range(option: str, value: str) -> UsageError:
    return UsageError(f"{option} {shown(value)}: the due times it leads to fall outside the years 1-9999",
                      hint="give a time in this millennium, e.g. 2026-11-23T09:00:00+01:00")


def _parse_iso(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not an ISO 8601 time", hint="e.g. 2026-11-23T09:00:00+01:00") from None
    if parsed.tzinfo is None:
        # Worded as `sla due --opened` words it (bridge.policy.sla): one message for one mistake.
        raise UsageError(f"{option} {value!r} has no UTC offset",
                         hint="add one, e.g. 2026-11-23T09:00:00+01:00 or 2026-11-23T08:00:00Z")
    return parsed


if __name__ == "__main__":  # pragma: no cover
    main()


# The commands register themselves on `main` when their modules load.
from bridge.cli import admin, escalations, local, service  # noqa: E402,F401
