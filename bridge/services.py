"""Building the bridge's collaborators from a loaded configuration, once per process.

The CLI creates one :class:`Services` per invocation; each collaborator (connectors, store,
mappings, policy profile) is built on first use, so `bridge sla due` touches no service and
`bridge escalate --dry-run` opens no store.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from bridge.config import Config, load_config
from bridge.errors import ConfigError

log = logging.getLogger(__name__)


class Services:
    """Lazily built connectors, store, mappings and policy for one configuration."""

    def __init__(self, config: Config, *, read_only: bool = False) -> None:
        self.config = config
        #: Open the store read-only (``status``, dry runs): nothing is written or created.
        self.read_only = read_only

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
        from bridge.mapping import load_profile

        return load_profile(self.mappings.profile, search_dirs=self.profile_dirs)

    @cached_property
    def redactor(self):
        from bridge.policy.redact import Redactor

        rules = self.mappings.redaction
        return Redactor.from_mapping(self.mappings.file, "redaction.extra_patterns",
                                     [(p.name, p.regex) for p in rules.extra_patterns],
                                     keep_domains=rules.keep_domains)

    @cached_property
    def gate(self):
        """The outbound gate; it follows the store, so a Task filed after it was built (by
        this run, or by `link-sentry` while `sync --watch` runs) is known at the next write."""
        from bridge.sentry_tasks import KnownSentryGate

        sentry = self.mappings.sentry
        base = self._self_hosted_sentry()
        if self.config.error_tracker.kind == "bugsink":
            # Bugsink's own host always; a self-hosted Sentry the mappings name goes too.
            extra = [sentry.self_hosted_base] if sentry.self_hosted_base else []
            return KnownSentryGate(self.store, self_hosted_base=base, known_projects=sentry.known_projects,
                                   extra_blocked_hosts=extra)
        return KnownSentryGate(self.store, self_hosted_base=sentry.self_hosted_base or base,
                               known_projects=sentry.known_projects)

    def _self_hosted_sentry(self) -> str | None:
        """The error tracker's base URL when it is self-hosted (any Bugsink; a Sentry not on
        sentry.io), else None: the gate knows sentry.io's hosts anyway."""
        errors = self.config.error_tracker
        url = str(errors.url)
        return url if errors.kind == "bugsink" or "sentry.io" not in url else None

    @property
    def messages(self):
        return self.mappings.templates

    # -- I/O --------------------------------------------------------------------------------
    @cached_property
    def store(self):
        from bridge.store.db import open_store

        return open_store(self.config.store.url, read_only=self.read_only)

    def http_session(self):
        """A new session with the configured timeout, retries and backoff (``[http]``);
        each connector gets its own, as each sets its own authentication on it."""
        from bridge.connectors.http import build_session

        http = self.config.http
        return build_session(timeout=http.timeout, retries=http.retries, backoff=http.backoff,
                             verify=http.verify, ca_bundle=str(http.ca_bundle) if http.ca_bundle else None)

    @cached_property
    def helpdesk(self):
        hd = self.config.helpdesk
        if hd.kind == "zendesk":
            from bridge.connectors.zendesk import ZendeskHelpdesk

            return ZendeskHelpdesk(str(hd.url), email=hd.user or "", token=_secret(hd.token, "BRIDGE_HELPDESK_TOKEN"),
                                   gate=self.gate, session=self.http_session())
        if hd.kind == "freshdesk":
            from bridge.connectors.freshdesk import FreshdeskHelpdesk

            return FreshdeskHelpdesk(str(hd.url), api_key=_secret(hd.token, "BRIDGE_HELPDESK_TOKEN"),
                                     gate=self.gate, session=self.http_session())
        if hd.kind == "django-helpdesk":
            from bridge.connectors.django_helpdesk import DjangoHelpdesk

            return DjangoHelpdesk(str(hd.url), token=_secret(hd.token, "BRIDGE_HELPDESK_TOKEN"),
                                  gate=self.gate, session=self.http_session())
        raise ConfigError(f"helpdesk kind {hd.kind!r} has no connector in this version",
                          hint="set BRIDGE_HELPDESK_KIND to zendesk, freshdesk or django-helpdesk")

    @cached_property
    def tracker(self):
        from bridge.connectors.http import tls_verify
        from bridge.connectors.jira import JiraTracker

        jira = self.config.jira
        return JiraTracker(str(jira.url), user=jira.user, token=_secret(jira.token, "BRIDGE_JIRA_TOKEN"),
                           auth=jira.auth, timeout=self.config.http.timeout, retries=self.config.http.retries,
                           verify=tls_verify(self.config.http.verify, self.config.http.ca_bundle),
                           api_version=jira.api_version, deployment=jira.deployment, cache=self.metadata_cache)

    @cached_property
    def metadata_cache(self):
        """serverInfo, JIRA's field list and the error tracker's projects, kept in the store
        with an expiry (:mod:`bridge.metadata_cache`); a read-only run reads it, never writes."""
        from bridge.metadata_cache import MetadataCache

        return MetadataCache(lambda: self.store, writable=not self.read_only)

    def escalator(self, lease=None):
        """The escalator (``lease``: the leases whose loss stops its writes, as a sync pass
        passes them when it finishes what escalations left unfinished)."""
        from bridge.escalation import Escalator

        # The policy first: a malformed mapping or profile is reported before any connector
        # asks for its secrets.
        self.profile  # noqa: B018 - loads and validates
        return Escalator(helpdesk=self.helpdesk, tracker=self.tracker, store=self.store,
                         mappings=self.mappings, profile=self.profile, redactor=self.redactor,
                         messages=self.messages, pager=self.pager, gate=self.gate,
                         sentry_linker=self.sentry_linker if self.sentry_configured else None,
                         escalate_link=self.escalate_link, lease=lease)

    def escalate_link(self, escalation, helpdesk: str, ticket_id: str) -> str | None:
        """The signed Escalate link a customer message on this ticket ends with: None at the
        profile's highest severity, or while `bridge serve` has no public URL or key."""
        from bridge.errors import BridgeError
        from bridge.escalate_links import escalate_link

        try:
            if escalation.severity == self.profile_for(escalation.profile).highest:
                return None
        except BridgeError:
            return None  # the profile cannot be read: no promise of an escalation path
        return escalate_link(helpdesk, ticket_id, config=self.config)

    # -- Sentry -------------------------------------------------------------------------------
    @property
    def sentry_configured(self) -> bool:
        """Whether an error-tracker token is set (``BRIDGE_ERRORS_TOKEN`` or the older
        ``BRIDGE_SENTRY_TOKEN``); without one, escalate links no error-tracker issues."""
        return self.config.error_tracker.token is not None

    #: The same, by the name of what it is.
    errors_configured = sentry_configured

    @cached_property
    def sentry(self):
        """The error tracker ``[errors]`` chooses (falling back to ``[sentry]``): a
        :class:`~bridge.connectors.base.ErrorTracker`, Sentry's or Bugsink's."""
        errors = self.config.error_tracker
        if errors.kind == "bugsink":
            from bridge.connectors.bugsink import BugsinkErrorTracker

            return BugsinkErrorTracker(str(errors.url), token=_secret(errors.token, "BRIDGE_ERRORS_TOKEN"),
                                       session=self.http_session(), cache=self.metadata_cache)
        from bridge.connectors.sentry import SentryErrorTracker

        return SentryErrorTracker(str(errors.url), org=errors.org, token=_secret(errors.token, "BRIDGE_ERRORS_TOKEN"),
                                  self_hosted_base=self.mappings.sentry.self_hosted_base or self._self_hosted_sentry(),
                                  session=self.http_session(), cache=self.metadata_cache)

    @property
    def error_tracker(self):
        """The configured error tracker (the same object as :attr:`sentry`)."""
        return self.sentry

    @cached_property
    def sentry_linker(self):
        """Files error-tracker issues as JIRA Tasks related to Bugs (`link-sentry`, `escalate`)."""
        from bridge.sentry_tasks import SentryLinker

        return SentryLinker(sentry=self.sentry, tracker=self.tracker, store=self.store, mappings=self.mappings,
                            helpdesk=self.helpdesk, redactor=self.redactor, gate=self.gate)

    @cached_property
    def pager(self):
        """The on-call pager ``[pager]`` configures, or None when paging is off."""
        from bridge.paging import build_pager

        return build_pager(self.config.pager, self.config.http)

    def sync_engine(self, **kwargs):
        from bridge.monitoring import report_item_failure
        from bridge.sync.engine import SyncEngine

        if self.sentry_configured:
            # The gate then knows every short-id prefix of the org, not only linked ones.
            # Sentry being down must not stop customer updates: URLs and the ids of linked
            # issues are still recognised without this.
            from bridge.errors import BridgeError

            try:
                self.gate.learn_short_id_prefixes(self.sentry.project_slugs())
            except BridgeError as exc:
                log.warning("sync: could not read Sentry's project list (%s); short ids of "
                            "unlinked projects will not be recognised this run", exc)
        kwargs.setdefault("on_failure", lambda exc, target: report_item_failure(exc, item=target))
        kwargs.setdefault("sentry", self.sentry if self.sentry_configured else None)
        kwargs.setdefault("error_linker", self.sentry_linker if self.sentry_configured else None)
        kwargs.setdefault("escalate_link", self.escalate_link)
        kwargs.setdefault("concurrency", self.config.http.concurrency)
        kwargs.setdefault("finisher", self.escalator)
        kwargs.setdefault("actor", self.actor)
        kwargs.setdefault("profile_for", lambda name: self.profile if name == self.profile.name else self.profile_named(name))
        return SyncEngine(store=self.store, tracker=self.tracker, helpdesk=self.helpdesk, mappings=self.mappings,
                          messages=self.messages, redactor=self.redactor, **kwargs)

    # -- read models for `status` and `sla` ----------------------------------------------------
    def status_rows(self, target: str | None) -> list[dict]:
        """Escalations as rows for `bridge status` (:func:`bridge.status_report.status_rows`)."""
        from bridge.status_report import status_rows

        return status_rows(self.store, self.profile_for, self.config.helpdesk.kind, target)

    def profile_for(self, name: str):
        """The policy profile an escalation was opened under (the configured one, or a team's own)."""
        return self.profile if name == self.profile.name else self.profile_named(name)

    def sla_rows(self, at: datetime | None) -> list[dict]:
        """Open escalations with their SLA clocks at ``at`` (default now), for `bridge sla`.

        The configured profile is loaded first, so a malformed one fails the command
        (exit 2, naming file and key) even with no escalation in the store.
        """
        from bridge.sla_report import sla_rows

        configured = self.profile
        now = at or datetime.now(timezone.utc)
        return sla_rows(self.store, lambda name: configured if name == configured.name else self.profile_named(name),
                        now)

    @property
    def profile_dirs(self) -> list[Path] | None:
        """Where a team's own profiles live (``<mappings dir>/profiles``), searched first."""
        directory = self.config.mappings.dir
        return [Path(directory) / "profiles"] if directory else None

    def profile_named(self, name: str):
        """A profile by name (an escalation keeps the one it was made under), cached."""
        from bridge.mapping import load_profile

        cache = self.__dict__.setdefault("_profiles_by_name", {})
        if name not in cache:
            cache[name] = load_profile(name, search_dirs=self.profile_dirs)
        return cache[name]


def _secret(value, variable: str) -> str:
    if value is None:
        raise ConfigError(f"no secret configured: set {variable} in the environment or the secrets file",
                          hint="to try the bridge without real services, run `bridge sandbox` in another terminal "
                               "and paste the export lines it prints")
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
