"""The README is part of the contract: its commands exist and CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _fenced_after(heading: str) -> str:
    section = README.split(heading, 1)[1]
    return re.search(r"```sh\n(.+?)\n```", section, re.S).group(1).strip()


def test_ci_runs_the_readme_test_command_verbatim():
    command = _fenced_after("## Run the tests")
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_every_command_has_help_and_is_in_the_readme():
    def walk(group, prefix=""):
        for name, command in group.commands.items():
            yield f"{prefix}{name}", command
            if hasattr(command, "commands"):
                yield from walk(command, f"{prefix}{name} ")

    for name, command in walk(main):
        assert command.help, f"`bridge {name}` has no help text"
        assert re.search(rf"^\s+{re.escape(name)}\b", README, re.M), f"`bridge {name}` is not in the README"
        result = CliRunner().invoke(main, name.split() + ["--help"])
        assert result.exit_code == 0
