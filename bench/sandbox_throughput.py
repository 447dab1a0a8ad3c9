"""How many requests per second the JIRA emulator serves, so other benchmarks can show it is not their bottleneck.

Starts a Cloud-mode emulator on loopback in its own process (so the clients do not share its
interpreter lock), fills it with 1,000 and then 10,000 issues (created directly in the
state, through the same validation as ``POST /issue``), and measures with a few concurrent
client threads:

* ``GET /rest/api/2/issue/{key}`` for random issues;
* ``GET /rest/api/3/search/jql`` pages (``maxResults=100``, ``fields=summary,status,updated``)
  walked with ``nextPageToken`` — the query is the same each time, as a sync job's is;
* the same search with a relative date (``updated >= -1d``), which the emulator cannot
  cache, so every page evaluates the query over all issues.

Usage: ``python bench/sandbox_throughput.py [--seconds 3] [--threads 4]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable

import requests

from bridge.sandbox.jira import DEMO_CREDENTIALS, start
from bridge.sandbox.jira_state import JiraState

SEARCH_FIELDS = "summary,status,updated"


@dataclass
class Result:
    issues: int
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def fill(state: JiraState, total: int) -> None:
    """Create issues until the state holds ``total`` (varied labels, priorities, statuses)."""
    bridge = state.user_by(name="bridge")
    priorities = ["Highest", "High", "Medium", "Low", "Lowest"]
    for n in range(len(state.issues), total):
        state.create_issue({"fields": {
            "project": {"key": "SUP"}, "issuetype": {"name": "Bug" if n % 3 else "Task"},
            "summary": f"Benchmark issue {n}: login fails on device {n % 97}",
            "labels": [f"bridge-zendesk-{n}", "bridge"], "priority": {"name": priorities[n % 5]},
            "customfield_10100": n % 13,
        }}, bridge, adf=False)


def measure(name: str, issues: int, worker: Callable[[requests.Session], None], *,
            seconds: float, threads: int) -> Result:
    """Run ``worker`` in ``threads`` threads for ``seconds``; count requests and latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def loop() -> None:
        session = requests.Session()
        session.auth = (DEMO_CREDENTIALS["email"], DEMO_CREDENTIALS["api_token"])
        own: list[float] = []
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                worker(session)
                own.append((time.perf_counter() - started) * 1000)
        except BaseException as exc:  # surfaced after the run, not swallowed
            errors.append(exc)
        with lock:
            latencies.extend(own)

    started = time.perf_counter()
    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return Result(issues, name, len(latencies), time.perf_counter() - started, latencies)


def issue_get(base: str, total: int) -> Callable[[requests.Session], None]:
    def work(session: requests.Session) -> None:
        response = session.get(f"{base}/rest/api/2/issue/SUP-{random.randint(1, total)}")
        response.raise_for_status()
    return work


def search_pages(base: str, jql: str) -> Callable[[requests.Session], None]:
    """Each call fetches one page; a thread walks the result set and starts over at the end."""
    tokens = threading.local()

    def work(session: requests.Session) -> None:
        params = {"jql": jql, "maxResults": 100, "fields": SEARCH_FIELDS}
        token = getattr(tokens, "next", None)
        if token:
            params["nextPageToken"] = token
        response = session.get(f"{base}/rest/api/3/search/jql", params=params)
        response.raise_for_status()
        body = response.json()
        assert len(body["issues"]) <= 100 and body["issues"]
        tokens.next = body.get("nextPageToken")
    return work


def _serve(conn, mode: str) -> None:
    """The emulator's process: start, then obey ("fill", n) and ("stop", None) from the pipe."""
    service, state = start(mode)
    conn.send(service.url)
    while True:
        command, argument = conn.recv()
        if command == "fill":
            began = time.perf_counter()
            fill(state, argument)
            conn.send(time.perf_counter() - began)
        else:
            service.stop()
            conn.send("stopped")
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--sizes", default="1000,10000", help="issue counts to measure at")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=_serve, args=(theirs, "cloud"), daemon=True)
    server.start()
    url = ours.recv()
    results: list[Result] = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            ours.send(("fill", size))
            print(f"filled {size:,} issues in {ours.recv():.1f} s", flush=True)
            for name, worker in (
                ("GET issue", issue_get(url, size)),
                ("search/jql page (100)", search_pages(url, "project = SUP ORDER BY key ASC")),
                ("search/jql page, uncached", search_pages(url, "project = SUP AND updated >= -1d")),
            ):
                results.append(measure(name, size, worker, seconds=args.seconds, threads=args.threads))
    finally:
        ours.send(("stop", None))
        ours.recv()
        server.join(timeout=10)

    header = f"{'issues':>7}  {'request':<26} {'requests':>8} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7}"
    print()
    print(f"JIRA emulator throughput (own process), {args.threads} client threads, {args.seconds:g} s each")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.issues:>7,}  {r.name:<26} {r.requests:>8} {r.rate:>8.0f} {r.percentile(50):>7.1f} "
              f"{r.percentile(95):>7.1f}")
    mean = statistics.mean(r.rate for r in results)
    print(f"\nmean over all rows: {mean:.0f} req/s")


if __name__ == "__main__":
    main()
