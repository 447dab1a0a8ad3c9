"""Re-record every connector cassette: ``python -m tests.cassettes_record [pytest args]``.

Deletes ``cassettes/*.yaml`` and runs ``tests/cassette`` with ``BRIDGE_RECORD=1``, so each
scenario runs against a live target and is written again, scrubbed. By default the targets
are the sandbox emulators and a local django-helpdesk (started by the test fixtures). To
record against a real service instead, set for that service (ZENDESK, FRESHDESK,
DJANGO_HELPDESK, JIRA, SENTRY) ``BRIDGE_RECORD_<SERVICE>_URL``, ``_USER``, ``_TOKEN`` and
the scenario's ids (``_TICKET`` for a helpdesk — a test ticket: the scenario writes to it —
``_PROJECT`` for JIRA, ``_ORG`` for Sentry). Refuses to run under CI (``CI`` set), where
cassettes are only replayed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    if os.environ.get("CI"):
        print("refusing to record under CI: cassettes are replayed there", file=sys.stderr)
        return 2
    cassettes = ROOT / "cassettes"
    cassettes.mkdir(exist_ok=True)
    for old in cassettes.glob("*.yaml"):
        old.unlink()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/cassette/test_connector_cassettes.py", *argv]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "BRIDGE_RECORD": "1"})
    if result.returncode == 0:
        # Prove the fresh cassettes replay and pass the scan.
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "tests/cassette"], cwd=ROOT, env={k: v for k, v in os.environ.items()
                                                                   if k != "BRIDGE_RECORD"})
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
