"""`bridge doctor`: every check one line, each problem saying what to change.

Checks run independently: a JIRA that refuses our token does not hide a malformed
mapping. Each yields a :class:`Check`; the CLI prints them and exits 1 if any failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable, Iterator

from bridge.errors import EXIT_USAGE, BridgeError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: The exit code of the error that failed the check (2: configuration, mapping or
    #: profile; 3: a service); 1 for a problem found by the check itself.
    exit_code: int = 1


def _run(name: str, fn: Callable[[], str | list[str]], *, problem_exit: int = 1) -> Iterator[Check]:
    """Run one check; a returned list holds problems (one line each, exiting
    ``problem_exit``), a string is success."""
    try:
        outcome = fn()
    except BridgeError as exc:
        yield Check(name, False, str(exc), exc.exit_code)
        return
    if isinstance(outcome, list):
        if outcome:
            for problem in outcome:
                yield Check(name, False, problem, problem_exit)
        else:
            yield Check(name, True, "ok")
    else:
        yield Check(name, True, outcome)


def run_checks(services) -> Iterator[Check]:
    """All checks, in the order a person would fix them."""
    yield from _run("mappings", lambda: f"loaded (profile {services.mappings.profile})")
    yield from _run("policy profile", lambda: f"{services.profile.name}: severities {', '.join(services.profile.severities)}")
    # A template that cannot render is a mapping problem: exit 2, like a malformed mapping.
    yield from _run("templates", lambda: template_problems(services.messages), problem_exit=EXIT_USAGE)
    # A mismatch is a mapping error (escalate exits 2 on it): exit 2 here too.
    yield from _run("mappings vs profile", lambda: [str(p) for p in services.mappings.profile_problems(
        services.profile.severities, tuple(services.profile.tiers))], problem_exit=EXIT_USAGE)
    yield from _run("store", lambda: _store(services))
    # Built, not tried: a test page would wake somebody up.
    yield from _run("pager", lambda: services.pager.describe() if services.pager else "off (pager.kind = none)")
    yield from _run("helpdesk", lambda: f"{services.helpdesk.service} at {services.helpdesk.base_url} as {services.helpdesk.check()}")
    yield from _run("jira", lambda: f"{services.tracker.deployment} at {services.tracker.url} as {services.tracker.check()}")
    yield from _run("jira mappings", lambda: jira_mapping_problems(services.tracker, services.mappings))
    # Named after the configured kind: "sentry" or "bugsink".
    yield from _run(services.config.error_tracker.kind, lambda: _sentry(services))
    yield from _run("monitoring", lambda: _monitoring(services))
    yield from _run("webhooks", lambda: _webhooks(services))
    yield from _run("workers", lambda: _workers(services))


def _workers(services) -> str | list[str]:
    """On PostgreSQL: workers alive, jobs waiting and failed (bridge/jobs)."""
    from bridge.jobs.report import doctor_lines

    return doctor_lines(services.config.store.url, services.store.engine)


def _webhooks(services) -> str | list[str]:
    """Each source's secret set or not; JIRA's and Zendesk's registration where one is due."""
    from bridge.service.registration import doctor_report

    return doctor_report(services.config, services.http_session)


def _sentry(services) -> str:
    """The error tracker is optional: without a token, escalate links no issues (not a problem)."""
    if not services.sentry_configured:
        return ("not configured (set BRIDGE_ERRORS_TOKEN, or BRIDGE_SENTRY_TOKEN, to file "
                "error-tracker issues as JIRA Tasks)")
    sentry = services.sentry
    return f"{sentry.base_url}: {sentry.check()}"


def _monitoring(services) -> str:
    # Never sends a test event: the DSN's project would get an issue for every doctor run.
    from bridge.errors import ConfigError
    from bridge.monitoring import dsn_problem

    monitor = services.config.monitor
    if monitor.dsn is None:
        return "off (set BRIDGE_MONITOR_DSN to report the bridge's own errors)"
    problem = dsn_problem(monitor.dsn.get_secret_value())
    if problem:
        raise ConfigError(problem, hint="other commands run without self-monitoring until it is fixed")
    return f"on, environment {monitor.environment or services.mappings.monitoring.environment}"


def _sample_context() -> dict[str, object]:
    """A value of the right kind for every name a template may use (see SAFE_CONTEXT)."""
    when = datetime(2026, 12, 1, 15, 30, tzinfo=timezone.utc)
    return {"ticket_id": "1234", "subject": "Export to CSV fails", "customer_name": "Jo Example",
            "status": "in_progress", "severity": "High", "version": "2.4.1", "release_date": date(2026, 12, 15),
            "next_update": when, "first_response_due": when, "jira_key": "SUP-1"}


def template_problems(messages) -> list[str]:
    """Render every customer template in every locale, once with sample values and once
    with none of them set (a customer without a name, a fix without a version), so a
    template that would fail when sent — an undefined name such as ``{{ jira_comment }}``,
    an ``{% include %}`` of a missing file, ``__class__`` and other attributes the sandbox
    refuses — fails here instead. One line per template that fails."""
    from bridge.messages import TEMPLATE_SUFFIX

    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for root in messages.roots:
        if not root.is_dir():
            continue
        for path in sorted(root.glob(f"*/*{TEMPLATE_SUFFIX}")):
            locale, name = path.parent.name, path.name[: -len(TEMPLATE_SUFFIX)]
            if (locale, name) in seen:
                continue  # a team's own template hides the packaged one of the same name
            seen.add((locale, name))
            for context in (_sample_context(), {}):
                try:
                    messages.render(name, locale, **context)
                except BridgeError as exc:
                    problems.append(str(exc))
                    break
    return problems


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
