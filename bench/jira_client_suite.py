"""Run pycontribs/jira's own test suite, unmodified, against the JIRA emulator and count the results.

The ``jira`` library is the client the bridge uses; its integration suite (at the pinned tag,
3.10.5) is a fair measure of how faithfully the emulator behaves. This script:

1. starts the emulator in this process, in Data Center mode (as ``bridge sandbox --jira-mode
   server`` does), on a free loopback port — the suite's Cloud setup names the real Cloud site;
2. points the suite's ``CI_JIRA_*`` variables at it (admin ``bridge``, normal user ``dev``);
3. runs ``pytest`` in the checkout in a subprocess, with every connection to anything but
   loopback refused (a ``sitecustomize`` on the subprocess's path), so tests that need the
   internet fail recognisably and are counted apart instead of hanging;
4. prints passed / failed / skipped counts, the share of the tests that need no internet
   that passed, and the failures grouped by cause.

Usage::

    python bench/jira_client_suite.py PATH_TO_JIRA_CHECKOUT [-k EXPR] [--deps DIR]
    JIRA_CLIENT_SUITE=PATH python bench/jira_client_suite.py

The checkout must be at tag 3.10.5 (``git -C PATH checkout 3.10.5``); it is only read. The
suite's own test dependencies (parameterized, requests-mock, flaky, pytest-timeout) must be
importable; ``--deps DIR`` adds a ``pip install --target DIR`` directory to the subprocess's
path without touching this environment.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

from bridge.sandbox.jira import DEMO_LOGINS, start

#: Raised in the subprocess for any connection that leaves loopback.
OFFLINE_MARKER = "SandboxOfflineError"
SITECUSTOMIZE = textwrap.dedent(f'''
    """Refuse every connection that leaves loopback (written by bench/jira_client_suite.py)."""
    import socket

    class {OFFLINE_MARKER}(OSError):
        pass

    _connect = socket.socket.connect

    def _loopback_only(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")) \\
                and self.family in (socket.AF_INET, socket.AF_INET6):
            raise {OFFLINE_MARKER}(f"no internet in this run: {{host}}")
        return _connect(self, address)

    socket.socket.connect = _loopback_only
    _getaddrinfo = socket.getaddrinfo

    def _resolve_loopback_only(host, *args, **kwargs):
        if isinstance(host, str) and host not in ("localhost",) and not host.startswith("127.") \\
                and host != "::1":
            raise {OFFLINE_MARKER}(f"no internet in this run: {{host}}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = _resolve_loopback_only
''')
REQUIRED_MODULES = ("parameterized", "requests_mock", "flaky", "pytest_timeout")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", nargs="?", default=os.environ.get("JIRA_CLIENT_SUITE"),
                        help="path of a pycontribs/jira checkout at tag 3.10.5 (or $JIRA_CLIENT_SUITE)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression (a subset of the suite)")
    parser.add_argument("--deps", help="a pip --target directory with the suite's test dependencies")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds the whole run may take")
    parser.add_argument("--show", type=int, default=3, help="test names shown per failure cause")
    args = parser.parse_args(argv)
    if not args.checkout:
        parser.error("give the checkout's path (argument or JIRA_CLIENT_SUITE)")
    checkout = Path(args.checkout).resolve()
    if not (checkout / "tests" / "conftest.py").is_file() or not (checkout / "jira" / "client.py").is_file():
        print(f"{checkout} is not a pycontribs/jira checkout (no tests/conftest.py, jira/client.py)", file=sys.stderr)
        return 2

    # Data Center: the suite's Cloud settings name the real Cloud site, so only its Server
    # setup can be pointed at a URL.
    service, state = start(mode="server", port=0)
    try:
        with tempfile.TemporaryDirectory(prefix="jira-suite-") as work:
            report = Path(work) / "junit.xml"
            Path(work, "sitecustomize.py").write_text(SITECUSTOMIZE)
            env = dict(os.environ)
            env.update(_suite_env(service.url))
            paths = [work] + ([str(Path(args.deps).resolve())] if args.deps else []) + [env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
            missing = _missing_modules(env)
            if missing:
                print(f"the suite needs {', '.join(missing)}: pip install --no-deps --target DIR {' '.join(missing)} "
                      f"and pass --deps DIR", file=sys.stderr)
                return 2
            command = [sys.executable, "-m", "pytest", "tests", "-o", "addopts=", "-p", "no:cacheprovider",
                       "-q", "--timeout=60", "--continue-on-collection-errors", f"--junitxml={report}", "-W", "ignore"]
            if args.keyword:
                command += ["-k", args.keyword]
            print(f"emulator (Data Center) at {service.url}; running: {' '.join(command[1:])}", flush=True)
            completed = subprocess.run(command, cwd=checkout, env=env, timeout=args.timeout,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if not report.exists():
                print(completed.stdout[-5000:])
                print("pytest wrote no report", file=sys.stderr)
                return 1
            _print_summary(ET.parse(report), args.show)
    finally:
        service.stop()
    return 0


def _suite_env(url: str) -> dict[str, str]:
    admin, normal = DEMO_LOGINS["bridge"], DEMO_LOGINS["dev"]
    return {"CI_JIRA_TYPE": "Server", "CI_JIRA_URL": url, "CI_JIRA_ADMIN": admin.username,
            "CI_JIRA_ADMIN_PASSWORD": admin.password, "CI_JIRA_USER": normal.username,
            "CI_JIRA_USER_PASSWORD": normal.password}


def _missing_modules(env: dict[str, str]) -> list[str]:
    probe = "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] if not importlib.util.find_spec(m)))"
    out = subprocess.run([sys.executable, "-c", probe, *REQUIRED_MODULES], env=env, capture_output=True, text=True)
    return out.stdout.split()


def _outcome(case: ET.Element) -> tuple[str, str]:
    for tag in ("failure", "error"):
        found = case.find(tag)
        if found is not None:
            return "failed", (found.get("message") or "") + "\n" + (found.text or "")
    skipped = case.find("skipped")
    if skipped is not None:
        return "skipped", skipped.get("message") or ""
    return "passed", ""


#: Ids and keys vary per run; a cause is the same whatever they are.
_VARIABLE = re.compile(r"(?<=/)\d+(?=/|$|\?|\s)|\b[A-Z][A-Z0-9]+-\d+\b|\b\d{5,}\b|0x[0-9a-f]+")


def _cause(text: str) -> str:
    """One line that names why a test failed, e.g. ``JIRAError HTTP 404 GET /rest/api/2/filter``."""
    if OFFLINE_MARKER in text or "no internet in this run" in text:
        return "needs the internet"
    match = re.search(r"JiraError HTTP (\d+) url: (\S+)", text)
    if match:
        path = re.sub(r"^https?://[^/]+", "", match.group(2)).split("?")[0]
        detail = re.search(r"text: (.*)", text)
        return _VARIABLE.sub("N", f"HTTP {match.group(1)} {path}" + (f" — {detail.group(1)[:80]}" if detail else ""))
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("E ")]
    first = lines[0][2:].strip() if lines else text.strip().splitlines()[0] if text.strip() else "unknown"
    return _VARIABLE.sub("N", first[:140])


def _print_summary(tree: ET.ElementTree, show: int) -> None:
    counts: Counter = Counter()
    causes: dict[str, list[str]] = defaultdict(list)
    offline = 0
    for case in tree.iter("testcase"):
        outcome, text = _outcome(case)
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if outcome == "failed":
            cause = _cause(text)
            if cause == "needs the internet":
                offline += 1
                continue
            causes[cause].append(name)
        counts[outcome] += 1
    total = sum(counts.values())
    ran = counts["passed"] + counts["failed"]
    print(f"\ntests: {total + offline}   need the internet (not counted): {offline}")
    print(f"passed: {counts['passed']}   failed: {counts['failed']}   skipped: {counts['skipped']}")
    if ran:
        print(f"passed / (passed + failed), no internet needed: {counts['passed'] / ran:.1%}")
    if total:
        print(f"passed / all tests that need no internet (skips included): {counts['passed'] / total:.1%}")
    if causes:
        print("\nfailures by cause:")
        for cause, names in sorted(causes.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(names):3d}  {cause}")
            for name in names[:show]:
                print(f"         {name}")


if __name__ == "__main__":
    sys.exit(main())
