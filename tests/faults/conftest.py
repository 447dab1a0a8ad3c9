"""Prints the fault matrix's one table (tests/faults/tally.py) at the end of the session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.faults.tally import TALLY_ENV, table


def pytest_configure(config) -> None:
    if not hasattr(config, "workerinput") and TALLY_ENV not in os.environ:
        handle, path = tempfile.mkstemp(prefix="bridge-faults-", suffix=".jsonl")
        os.close(handle)
        os.environ[TALLY_ENV] = path
        config._bridge_faults_tally = path


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    path = getattr(config, "_bridge_faults_tally", None)
    if not path or not Path(path).exists():
        return
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    Path(path).unlink()
    if lines:
        terminalreporter.section("fault matrix: counts over all trials (all must be zero)")
        for line in table(lines):
            terminalreporter.write_line(line)
