"""What the SLA cadence costs per escalation: ``next_check`` on synthetic clocks of the four
packaged policy profiles, beside two baselines run in the same process on the same clocks.
Prints numbers; asserts nothing.

A sync pass computes the next check of every escalation whose check is due, and the pass
after a burst of announcements computes one for each of them (announcing clears the check).
Three ways are timed, each on the same ``--clocks`` inputs (opened up to three days before
"now", a public update somewhere since):

- **next_check**: as the product does it: the clock at ``now``, and the instant the at-risk
  share is reached solved from it (:meth:`bridge.policy.sla.ClockState.share_reached_at`);
- **confirmed**: the same plus one more clock a microsecond before that instant, to
  confirm the escalation is not at risk already (what the product did before; the property
  tests of ``tests/unit/test_sla_share_reached.py`` hold the solved instant to the clock);
- **bisected**: the clock evaluated until the instant is found to a minute (before the clock
  could solve for it; the same function those tests compare ``next_check`` with).

``next_check`` and ``confirmed`` must answer alike, and both within the bisection's minute;
how many clocks do not is printed.

    python bench/sla_clocks.py [--clocks 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.mapping import load_profile  # noqa: E402
from bridge.policy import sla  # noqa: E402
from bridge.sync.cadence import next_check  # noqa: E402
# The reference the property tests hold next_check to: the clock evaluated alone, bisected.
from tests.unit.test_sla_share_reached import bisected  # noqa: E402

PROFILES = ("p1-p4-matrix", "severity-1-3", "emergency-to-low", "after-hours-critical")
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
US = timedelta(microseconds=1)


def cases(count: int, seed: int = 1) -> list:
    """``count`` clocks as (profile, state_at) pairs, spread evenly over the profiles."""
    rng = random.Random(seed)
    profiles = [load_profile(name) for name in PROFILES]
    found = []
    for index in range(count):
        profile = profiles[index % len(profiles)]
        severity = rng.choice(list(profile.severities))
        opened = NOW - timedelta(minutes=rng.randint(1, 3 * 24 * 60))
        told = opened + (NOW - opened) * rng.random()

        def state_at(at, profile=profile, severity=severity, opened=opened, told=told):
            return sla.clock(profile, severity, None, opened, first_response_at=told, public_updates=(told,), now=at)

        found.append((profile, state_at))
    return found


def _options(profile) -> dict:
    return {"post_updates": profile.post_status_updates, "alert_at_risk": profile.alert_at_risk,
            "at_risk_share": profile.at_risk_share}


def confirmed(state_at, now, **options):
    """``next_check`` plus the confirming clock the product evaluated before."""
    state = state_at(now)
    found = next_check(state_at, now, state=state, **options)
    if state.best_effort or state.paused or not options["alert_at_risk"]:
        return found
    running = state.next_update_due or (state.first_response_due if state.first_response_at is None else None)
    reached = state.share_reached_at(options["at_risk_share"])
    if running is not None and reached is not None and now < reached < running:
        state_at(reached - US)  # the confirming evaluation; its answer is what the tests hold
    return found


def timed(way, clocks) -> tuple[float, list]:
    """CPU seconds for ``way`` over every clock, and its answers."""
    started = time.process_time()
    answers = [way(state_at, NOW, **_options(profile)) for profile, state_at in clocks]
    return time.process_time() - started, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clocks", type=int, default=10_000, help="escalations (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each way; the least CPU is kept")
    args = parser.parse_args(argv)
    clocks = cases(args.clocks)
    ways = {"next_check": next_check, "confirmed": confirmed, "bisected": bisected}
    best: dict[str, float] = {}
    answers: dict[str, list] = {}
    for _ in range(args.rounds):
        for name, way in ways.items():  # interleaved, so a slow moment hits every way alike
            seconds, answers[name] = timed(way, clocks)
            best[name] = min(seconds, best.get(name, seconds))
    print(f"SLA next check of {args.clocks:,} clocks over {len(PROFILES)} profiles, least CPU of {args.rounds} rounds")
    for name, seconds in best.items():
        print(f"  {name:<11} {seconds:6.3f} s  {1e6 * seconds / args.clocks:6.1f} µs a clock"
              f"  ({seconds / best['next_check']:.2f} × next_check)")
    apart = sum(1 for a, b, c in zip(answers["next_check"], answers["confirmed"], answers["bisected"])
                if a != b or not (c - 2 * MINUTE <= a <= c + MINUTE))
    print(f"  answers apart (next_check vs confirmed exactly, vs bisected to its minute): {apart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
