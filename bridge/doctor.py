"""`bridge doctor`: every check one line, each problem saying what to change.

Checks run independently: a JIRA that refuses our token does not hide a malformed
mapping. Each yields a :class:`Check`; the CLI prints them and exits 1 if any failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from bridge.errors import BridgeError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: The exit code of the error that failed the check (2: configuration, mapping or
    #: profile; 3: a service); 1 for a problem found by the check itself.
    exit_code: int = 1


def _run(name: str, fn: Callable[[], str | list[str]]) -> Iterator[Check]:
    """Run one check; a returned list holds problems (one line each), a string is success."""
    try:
        outcome = fn()
    except BridgeError as exc:
        yield Check(name, False, str(exc), exc.exit_code)
        return
    if isinstance(outcome, list):
        if outcome:
            for problem in outcome:
                yield Check(name, False, problem)
        else:
            yield Check(name, True, "ok")
    else:
        yield Check(name, True, outcome)


def run_checks(services) -> Iterator[Check]:
    """All checks, in the order a person would fix them."""
    yield from _run("mappings", lambda: f"loaded (profile {services.mappings.profile})")
    yield from _run("policy profile", lambda: f"{services.profile.name}: severities {', '.join(services.profile.severities)}")
    yield from _run("mappings vs profile", lambda: [str(p) for p in services.mappings.profile_problems(
        services.profile.severities, tuple(services.profile.tiers))])
    yield from _run("store", lambda: _store(services))
    # Built, not tried: a test page would wake somebody up.
    yield from _run("pager", lambda: services.pager.describe() if services.pager else "off (pager.kind = none)")
    yield from _run("helpdesk", lambda: f"{services.helpdesk.service} at {services.helpdesk.base_url} as {services.helpdesk.check()}")
    yield from _run("jira", lambda: f"{services.tracker.deployment} at {services.tracker.url} as {services.tracker.check()}")
    yield from _run("jira mappings", lambda: jira_mapping_problems(services.tracker, services.mappings))
    # Named after the configured kind: "sentry" or "bugsink".
    yield from _run(services.config.error_tracker.kind, lambda: _sentry(services))
    yield from _run("monitoring", lambda: _monitoring(services))


def _sentry(services) -> str:
    """The error tracker is optional: without a token, escalate links no issues (not a problem)."""
    if not services.sentry_configured:
        return ("not configured (set BRIDGE_ERRORS_TOKEN, or BRIDGE_SENTRY_TOKEN, to file "
                "error-tracker issues as JIRA Tasks)")
    sentry = services.sentry
    return f"{sentry.base_url}: {sentry.check()}"


def _monitoring(services) -> str:
    # Never sends a test event: the DSN's project would get an issue for every doctor run.
    monitor = services.config.monitor
    if monitor.dsn is None:
        return "off (set BRIDGE_MONITOR_DSN to report the bridge's own errors)"
    return f"on, environment {monitor.environment or services.mappings.monitoring.environment}"


def _store(services) -> str:
    from bridge.store.urls import mask_url

    services.store  # opening it checks reachability and the schema version
    return f"{mask_url(services.config.store.url)} at the current version"


def jira_mapping_problems(tracker, mappings) -> list[str]:
    """Everything the mappings name in JIRA that JIRA does not have, one line each."""
    problems: list[str] = []
    jira = mappings.jira
    try:
        types = tracker.project_issue_types(jira.project)
    except BridgeError as exc:
        return [f"jira.project: project {jira.project!r} cannot be read ({exc}); set jira.project to a project key the bridge's user can see"]
    for key, name in (("jira.bug_type", jira.bug_type), ("jira.task_type", jira.task_type)):
        if name not in types:
            problems.append(f"{key}: project {jira.project} has no issue type {name!r} (it has {', '.join(types)})")
    priorities = tracker.priorities()
    for severity, mapping in mappings.severities.items():
        if mapping.jira_priority not in priorities:
            problems.append(f"severities.{severity}.jira_priority: JIRA has no priority {mapping.jira_priority!r} "
                            f"(it has {', '.join(priorities)})")
    link_types = tracker.link_type_names()
    if jira.relates_link not in link_types:
        problems.append(f"jira.relates_link: JIRA has no link type {jira.relates_link!r} (it has {', '.join(link_types)})")
    fields = tracker.field_names()
    wanted = {"jira.affected_customers_field": jira.affected_customers_field} if jira.affected_customers_field else {}
    for name, mapping in mappings.fields.items():
        if mapping.to.startswith("customfield_"):
            wanted[f"fields.{name}.to"] = mapping.to
    for key, field_id in wanted.items():
        if field_id not in fields:
            problems.append(f"{key}: JIRA has no field {field_id!r}")
    statuses = set(tracker.statuses())
    for index, rule in enumerate(mappings.status_map):
        for status in rule.when.status or ():
            if status not in statuses:
                problems.append(f"status_map[{index}].when.status: JIRA has no status {status!r}")
    return problems
