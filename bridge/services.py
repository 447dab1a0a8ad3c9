"""Building the bridge's collaborators from a loaded configuration, once per process.

The CLI creates one :class:`Services` per invocation; each collaborator (connectors, store,
mappings, policy profile) is built on first use, so `bridge sla due` touches no service and
`bridge escalate --dry-run` opens no store.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from bridge.config import Config, load_config
from bridge.errors import ConfigError


class Services:
    """Lazily built connectors, store, mappings and policy for one configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def from_config_path(cls, path: str | None) -> "Services":
        return cls(load_config(path))

    # -- policy and mappings (no I/O but files) ------------------------------------------
    @property
    def actor(self) -> str:
        return self.config.actor

    @cached_property
    def mappings(self):
        """The mappings with the configuration's overrides and the profile's applied."""
        from bridge.mapping import load_mappings_for

        return load_mappings_for(self.config)

    @cached_property
    def profile(self):
        from bridge.policy.profiles import load_profile

        directory = self.config.mappings.dir
        search = [Path(directory) / "profiles"] if directory else None
        return load_profile(self.mappings.profile, search_dirs=search)

    @cached_property
    def redactor(self):
        from bridge.policy.redact import Redactor

        rules = self.mappings.redaction
        return Redactor(extra_patterns=[(p.name, p.regex) for p in rules.extra_patterns],
                        keep_domains=rules.keep_domains)

    @cached_property
    def gate(self):
        from bridge.policy.visibility import OutboundGate

        sentry = self.mappings.sentry
        known_ids: set[str] = set()
        prefixes = set(sentry.known_projects)
        for task in self.store.related_tasks():
            known_ids.add(task.sentry_issue_id)
            if task.sentry_short_id:
                prefixes.add(task.sentry_short_id.rsplit("-", 1)[0])
        return OutboundGate(self_hosted_base=sentry.self_hosted_base or self._self_hosted_sentry(),
                            known_short_id_prefixes=tuple(sorted(prefixes)), known_ids=tuple(sorted(known_ids)))

    def _self_hosted_sentry(self) -> str | None:
        url = str(self.config.sentry.url)
        return url if "sentry.io" not in url else None

    @property
    def messages(self):
        return self.mappings.templates

    # -- I/O --------------------------------------------------------------------------------
    @cached_property
    def store(self):
        from bridge.store.db import open_store

        return open_store(self.config.store.url)

    @cached_property
    def helpdesk(self):
        hd = self.config.helpdesk
        http = self.config.http
        if hd.kind == "zendesk":
            from bridge.connectors.zendesk import ZendeskHelpdesk

            return ZendeskHelpdesk(str(hd.url), email=hd.user or "", token=_secret(hd.token, "BRIDGE_HELPDESK_TOKEN"),
                                   gate=self.gate, timeout=http.timeout, retries=http.retries)
        raise ConfigError(f"helpdesk kind {hd.kind!r} has no connector in this version",
                          hint="set BRIDGE_HELPDESK_KIND=zendesk")

    @cached_property
    def tracker(self):
        from bridge.connectors.jira import JiraTracker

        jira = self.config.jira
        return JiraTracker(str(jira.url), user=jira.user, token=_secret(jira.token, "BRIDGE_JIRA_TOKEN"),
                           auth=jira.auth, timeout=self.config.http.timeout, retries=self.config.http.retries)

    def escalator(self):
        from bridge.escalation import Escalator

        return Escalator(helpdesk=self.helpdesk, tracker=self.tracker, store=self.store,
                         mappings=self.mappings, profile=self.profile, redactor=self.redactor,
                         messages=self.messages)

    # -- read models for `status` and `sla` ----------------------------------------------------
    def status_rows(self, target: str | None) -> list[dict]:
        """Escalations as rows for `bridge status`: all, or the one a ticket id or key names."""
        store = self.store
        if target is None:
            escalations = store.escalations()
        else:
            found = store.escalation_by_key(target.upper()) or store.escalation_by_ticket(self.config.helpdesk.kind, target.strip().lstrip("#"))
            escalations = [found] if found else []
        rows = []
        for e in escalations:
            tickets = store.linked_tickets(e.id)
            rows.append({
                "jira_key": e.jira_key, "jira_issue_id": e.jira_issue_id, "jira_url": e.jira_url,
                "state": e.state, "severity": e.severity, "priority": e.priority, "tier": e.tier,
                "profile": e.profile, "organization": e.organization, "escalated_by": e.escalated_by,
                "opened_at": e.opened_at, "affected_count": e.affected_count,
                "jira_status": e.last_status, "jira_resolution": e.last_resolution,
                "tickets": [{"helpdesk": t.helpdesk, "ticket": t.ticket_id, "role": t.role,
                             "last_announced_state": t.last_announced_state,
                             "last_public_update_at": t.last_public_update_at} for t in tickets],
                "last_public_update_at": max((t.last_public_update_at for t in tickets if t.last_public_update_at), default=None),
                "sentry_tasks": [{"jira_key": task.jira_key, "sentry_short_id": task.sentry_short_id}
                                 for task in store.tasks_for(e.id)],
            })
        return rows

    def sla_rows(self, at: datetime | None) -> list[dict]:
        from bridge.policy.sla import clock

        now = at or datetime.now(timezone.utc)
        rows = []
        for row in self.status_rows(None):
            if row["state"] != "complete":
                continue
            updates = [t["last_public_update_at"] for t in row["tickets"] if t["last_public_update_at"]]
            state = clock(self.profile, row["severity"], row["tier"], row["opened_at"],
                          public_updates=updates, now=now)
            rows.append({**row, "sla": state.to_dict(),
                         "next_update_due": state.next_update_due.isoformat() if state.next_update_due else None})
        rows.sort(key=lambda r: (not r["sla"]["breached"], not r["sla"]["at_risk"]))
        return rows


def _secret(value, variable: str) -> str:
    if value is None:
        raise ConfigError(f"no secret configured: set {variable} in the environment or the secrets file")
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
