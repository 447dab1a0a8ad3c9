"""The fault matrix's counts: each trial appends one line to a file named in the environment.

Trials may run in several pytest-xdist workers; the controller names the file (in the
environment the workers inherit, see conftest.py) and prints :func:`table` at the end.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

TALLY_ENV = "BRIDGE_FAULTS_TALLY"
COLUMNS = ("trials", "duplicates", "lost_links", "dup_messages", "lost_messages", "leaks", "tracebacks",
           "unfinished")


def record(row: str, counts: dict[str, int]) -> None:
    """Add one trial's counts under ``row`` (e.g. "escalate | 5xx | jira")."""
    path = os.environ.get(TALLY_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as tally:
            tally.write(json.dumps({"row": row, **counts}) + "\n")


def table(lines: list[str]) -> list[str]:
    """The trials' counts summed per row, with a total."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    for line in lines:
        trial = json.loads(line)
        for target in (rows[trial["row"]], rows["TOTAL"]):
            target["trials"] += 1
            for column in COLUMNS[1:]:
                target[column] += trial.get(column, 0)
    width = max([len(name) for name in rows] + [10])
    out = [f"{'fault matrix':<{width}} " + " ".join(f"{c:>13}" for c in COLUMNS)]
    for name in sorted(rows, key=lambda n: (n == "TOTAL", n)):
        out.append(f"{name:<{width}} " + " ".join(f"{rows[name][c]:>13}" for c in COLUMNS))
    return out
