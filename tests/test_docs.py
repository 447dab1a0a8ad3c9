"""The documentation is part of the contract (the sqlite-utils way): every command has help
and a section of docs/cli.md naming each of its options, every test docs/invariants.md cites
exists, the docs stand on their own, and CI runs the README's test command verbatim."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bridge.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
CLI_DOC = (DOCS / "cli.md").read_text()


def _fenced_after(heading: str) -> str:
    section = README.split(heading, 1)[1]
    return re.search(r"```sh\n(.+?)\n```", section, re.S).group(1).strip()


def _commands(group: click.Group, prefix: str = ""):
    """(``"sla due"``, command) for every command and sub-command, depth first."""
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def _cli_sections() -> dict[str, str]:
    """docs/cli.md's ``### `bridge NAME` `` sections by command name."""
    parts = re.split(r"^### `bridge ([a-z -]+)`\s*$", CLI_DOC, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_ci_runs_the_readme_test_command_verbatim():
    command = _fenced_after("## Run the tests")
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


@pytest.mark.parametrize("name", [name for name, _ in _commands(main)])
def test_every_command_has_help_and_a_section_naming_its_options(name: str):
    command = dict(_commands(main))[name]
    assert command.help, f"`bridge {name}` has no help text"
    section = _cli_sections().get(name)
    assert section is not None, f"`bridge {name}` has no '### `bridge {name}`' section in docs/cli.md"
    for param in command.params:
        for option in param.opts:
            if option.startswith("--") and option != "--help":
                assert option in section, f"docs/cli.md's `bridge {name}` section does not mention {option}"
    result = CliRunner().invoke(main, name.split() + ["--help"])
    assert result.exit_code == 0, result.output


def test_docs_describe_no_command_that_does_not_exist():
    existing = {name for name, _ in _commands(main)}
    assert set(_cli_sections()) <= existing, set(_cli_sections()) - existing


def test_every_test_an_invariant_cites_exists():
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", (DOCS / "invariants.md").read_text())
    assert len(cited) > 20
    for path, name in cited:
        file = ROOT / path
        assert file.exists(), f"docs/invariants.md cites {path}, which does not exist"
        defined = {node.name for node in ast.walk(ast.parse(file.read_text()))
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert name in defined, f"docs/invariants.md cites {path}::{name}, which does not exist"


def test_docs_links_point_at_files_of_the_repository():
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_repository_needs_nothing_beside_it():
    """A fresh clone has everything its tests and docs use: nothing reaches outside it."""
    outside = re.compile(r"\.\./shared|parents\[3\]|/work/")
    for path in [*ROOT.glob("*.md"), *DOCS.glob("*.md"), ROOT / "pyproject.toml", ROOT / ".ci" / "run",
                 *(ROOT / "bridge").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]:
        if path.resolve() == Path(__file__).resolve():
            continue
        found = outside.search(path.read_text(errors="replace"))
        assert not found, f"{path.relative_to(ROOT)} refers to {found.group()!r} outside the repository"
