"""The layers of the package, read from its source (ast), not from a diagram:

* **policy and plans are pure** — ``bridge/policy/`` and every ``plan.py``, and every project
  module they import (parent packages included: Python runs their ``__init__``), import no
  I/O library (HTTP, sockets, processes, databases, JIRA, web frameworks, the file system),
  call no ``open()``, no file-reading or -writing path method and no clock, and import
  nothing from the connectors, the store, the sandbox or the web service;
* **click only in the CLI** — no module outside the ``bridge/cli/`` package imports click;
* **the product does not depend on its sandbox** — only ``bridge/sandbox/`` itself,
  ``bridge/demo.py`` and the ``sandbox`` and ``demo`` commands of ``bridge/cli/`` import
  ``bridge.sandbox`` (or ``bridge.demo``, which stands on it).

Each rule keeps a list of the violations known when it was written, with who owns them, so
the suite stays green while they are fixed; a new violation fails, and so does a listed one
that is gone (remove it from the list: the rule only ever tightens).
"""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bridge"

#: Libraries (and standard modules) whose import means I/O: network, processes, databases,
#: JIRA, web frameworks, the file system, error reporting.
IO_LIBRARIES = frozenset({
    "requests", "urllib3", "urllib.request", "http.client", "http.server", "socket", "socketserver", "ssl",
    "selectors", "subprocess", "multiprocessing", "sqlite3", "sqlalchemy", "sqlmodel", "alembic", "psycopg",
    "psycopg2", "jira", "flask", "werkzeug", "cheroot", "sentry_sdk", "smtplib", "shutil", "tempfile", "glob",
    "os", "procrastinate", "selenium", "authlib",
})
#: Project packages a pure module must not import.
IMPURE_PACKAGES = ("bridge.connectors", "bridge.store", "bridge.sandbox", "bridge.service", "bridge.board")
#: Path methods that touch the file system (not ``replace``/``resolve``: str and datetime share
#: the first name, and the second reads no file).
PATH_IO = frozenset({"read_text", "read_bytes", "write_text", "write_bytes", "open", "iterdir", "glob", "rglob",
                     "exists", "is_file", "is_dir", "mkdir", "unlink", "rmdir", "stat", "touch", "samefile"})
#: Reading the clock: plans and policy take "now" as an input.
CLOCK_CALLS = frozenset({("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                         ("time", "time"), ("time", "monotonic"), ("time", "sleep"), ("time", "perf_counter")})


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name as written (or resolved from a relative import)
    line: int
    function: str | None  # the outermost function it sits in; None at module level


@dataclass(frozen=True)
class Call:
    what: str
    line: int


class _Reader(ast.NodeVisitor):
    """Collects a module's imports (outside ``if TYPE_CHECKING:``) and its I/O and clock calls."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.is_package = module, is_package
        self.imports: list[Import] = []
        self.calls: list[Call] = []
        self._functions: list[str] = []

    def _function(self) -> str | None:
        return self._functions[0] if self._functions else None

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._functions.append(node.name)
        self.generic_visit(node)
        self._functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return  # imports for type checkers only never run
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.append(Import(alias.name, node.lineno, self._function()))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        self.imports.append(Import(base, node.lineno, self._function()))
        for alias in node.names:
            if f"{base}.{alias.name}" in MODULES:  # `from bridge.policy import sla` imports a module
                self.imports.append(Import(f"{base}.{alias.name}", node.lineno, self._function()))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            self.calls.append(Call("calls open()", node.lineno))
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if (owner, func.attr) in CLOCK_CALLS:
                self.calls.append(Call(f"reads the clock ({owner}.{func.attr}())", node.lineno))
            elif func.attr in PATH_IO and owner not in ("re", "self", "cls", "str", "dict"):
                self.calls.append(Call(f"touches the file system (.{func.attr}())", node.lineno))
        self.generic_visit(node)


@cache
def read(module: str) -> _Reader:
    path = MODULES[module]
    reader = _Reader(module, path.name == "__init__.py")
    reader.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return reader


def _project_modules(name: str) -> Iterator[str]:
    """The project modules Python runs to import ``name``: its parent packages, then itself."""
    parts = name.split(".")
    for n in range(1, len(parts) + 1):
        prefix = ".".join(parts[:n])
        if prefix in MODULES:
            yield prefix


def _is_io_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in IO_LIBRARIES)


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{line}"


def _key(module: str, what: str) -> str:
    return f"{MODULES[module].relative_to(ROOT)}: {what}"


# ---------------------------------------------------------------------------------------
# Rule 1: policy and plans are pure
# ---------------------------------------------------------------------------------------

PURE_ROOTS = sorted(m for m, p in MODULES.items() if m.startswith("bridge.policy") or p.name == "plan.py")

#: Known when the rule was written (issue 10). Owner in the comment; remove a line once fixed.
KNOWN_IMPURE: frozenset[str] = frozenset({
})


def impurities() -> dict[str, str]:
    """``{violation: how a pure root reaches it}``, walking imports breadth first from each root.

    The walk stops at a module that breaks the rule (it is reported, not descended into), so
    each report names the first place the rule breaks.
    """
    found: dict[str, str] = {}
    for root in PURE_ROOTS:
        chain: dict[str, str | None] = {}
        queue = deque()
        for start in _project_modules(root):
            chain.setdefault(start, None)
            queue.append(start)
        while queue:
            module = queue.popleft()
            reader = read(module)
            problems = [(c.what, c.line) for c in reader.calls]
            problems += [(f"imports {i.module}", i.line) for i in reader.imports
                         if _is_io_library(i.module) or i.module.startswith(IMPURE_PACKAGES)]
            if problems:
                path, step = [], module
                while step is not None:
                    path.append(step)
                    step = chain[step]
                for what, line in problems:
                    found.setdefault(_key(module, what),
                                     f"{_where(module, line)}, reached from {root} via {' <- '.join(path)}")
                continue
            for imported in reader.imports:
                for target in _project_modules(imported.module):
                    if target not in chain:
                        chain[target] = module
                        queue.append(target)
    return found


def _ratchet(found: dict[str, str], known: frozenset[str], rule: str) -> None:
    new = {k: v for k, v in found.items() if k not in known}
    gone = known - found.keys()
    message = []
    if new:
        message.append(f"{rule}; new violations:\n" + "\n".join(f"  {k}  ({v})" for k, v in sorted(new.items())))
    if gone:
        message.append("fixed, so remove from the known list:\n" + "\n".join(f"  {k}" for k in sorted(gone)))
    assert not message, "\n".join(message)


def test_policy_and_plans_do_no_io():
    assert "bridge.policy.sla" in PURE_ROOTS and "bridge.sync.plan" in PURE_ROOTS
    _ratchet(impurities(), KNOWN_IMPURE, "policy and plans must do no I/O")


# ---------------------------------------------------------------------------------------
# Rule 2: click only in the CLI
# ---------------------------------------------------------------------------------------

KNOWN_CLICK: frozenset[str] = frozenset({
})


def test_click_only_in_the_cli():
    found = {
        _key(module, f"imports {i.module}"): _where(module, i.line)
        for module in MODULES if module != "bridge.cli" and not module.startswith("bridge.cli.")
        for i in read(module).imports if i.module == "click" or i.module.startswith("click.")
    }
    _ratchet(found, KNOWN_CLICK, "only the bridge/cli/ package imports click")


# ---------------------------------------------------------------------------------------
# Rule 3: only the sandbox and demo commands reach the sandbox
# ---------------------------------------------------------------------------------------

#: The functions of the CLI package that may import the sandbox: the two commands built on it.
SANDBOX_COMMANDS = frozenset({"sandbox", "demo"})
KNOWN_SANDBOX: frozenset[str] = frozenset({
})


def test_only_the_sandbox_and_demo_commands_import_the_sandbox():
    found = {}
    for module in MODULES:
        if module.startswith("bridge.sandbox") or module == "bridge.demo":
            continue
        for i in read(module).imports:
            if not (i.module.startswith("bridge.sandbox") or i.module == "bridge.demo"):
                continue
            if module.startswith("bridge.cli") and i.function in SANDBOX_COMMANDS:
                continue
            where = f"in {i.function}()" if i.function else "at module level"
            found[_key(module, f"imports {i.module} {where}")] = _where(module, i.line)
    _ratchet(found, KNOWN_SANDBOX, "only the sandbox and demo commands import bridge.sandbox")


# ---------------------------------------------------------------------------------------
# The readers above must see what they claim to see
# ---------------------------------------------------------------------------------------


def test_the_reader_finds_imports_calls_and_skips_type_checking_blocks(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "import requests\n"
        "from . import sla\n"
        "if TYPE_CHECKING:\n"
        "    from bridge.store import Store\n"
        "def sandbox():\n"
        "    from bridge.sandbox.world import start_sandbox\n"
        "    open('x')\n"
        "    Path('y').read_text()\n"
        "    return datetime.now()\n"
    )
    reader = _Reader("bridge.policy.example", is_package=False)
    reader.visit(ast.parse(source))
    assert [(i.module, i.function) for i in reader.imports] == [
        ("typing", None), ("requests", None), ("bridge.policy", None), ("bridge.policy.sla", None),
        ("bridge.sandbox.world", "sandbox")]
    assert [c.what for c in reader.calls] == [
        "calls open()", "touches the file system (.read_text())", "reads the clock (datetime.now())"]
    assert _is_io_library("http.client") and _is_io_library("sqlalchemy.orm") and not _is_io_library("httpx_like")
    assert list(_project_modules("bridge.mapping.load")) == ["bridge", "bridge.mapping", "bridge.mapping.load"]


# ---------------------------------------------------------------------------------------
# The wheel ships the mappings folder
# ---------------------------------------------------------------------------------------


def test_the_wheel_ships_every_file_of_the_mappings_folder():
    """mappings/ is installed as bridge.mappings; its package-data globs must cover every file."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["bridge.mappings"]
    assert "bridge.mappings" in (ROOT / "setup.py").read_text()
    files = [p.relative_to(ROOT / "mappings") for p in (ROOT / "mappings").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"]
    assert len(files) > 10

    def shipped(relative: Path) -> bool:
        parts = PurePosixPath(relative.as_posix()).parts
        return any(len(g.split("/")) == len(parts) and all(map(fnmatch.fnmatchcase, parts, g.split("/")))
                   for g in globs)

    assert [f for f in files if not shipped(f)] == []
