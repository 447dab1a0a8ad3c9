"""The configuration's sections: what each setting is, its default and its form.

Pydantic models, one per ``[section]`` of ``bridge.toml`` (and ``BRIDGE_<SECTION>_<KEY>``);
:mod:`bridge.config` reads the sources and builds a :class:`Config` from them. Which keys
are secrets is decided here (:func:`is_secret_key`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr

from bridge.file_schema import StrictModel
from bridge.mapping.sections import HelpdeskKind

log = logging.getLogger(__name__)

#: A secret value; ``.get_secret_value()`` reveals it, nothing else does.
Secret = SecretStr

ENV_PREFIX = "BRIDGE_"
DEFAULT_FILE = "bridge.toml"

# Where `bridge sandbox` serves its emulators when given no --port, so that the embedded
# defaults reach them. `bridge sandbox` prints the exact exports for any other port.
SANDBOX_JIRA_URL = "http://127.0.0.1:8765"
SANDBOX_HELPDESK_URL = "http://127.0.0.1:8766"
SANDBOX_SENTRY_URL = "http://127.0.0.1:8767"
SANDBOX_JIRA_USER = "bridge@example.com"
SANDBOX_SENTRY_ORG = "acme"

_SECRET_NAMES = frozenset({"token", "password", "dsn", "secret", "routing_key", "api_key"})


def is_secret_key(key: str) -> bool:
    """Whether a key holds a secret, by name: token, password, dsn, ``*_token``, ``*_secret``..."""
    k = key.lower()
    return (
        k in _SECRET_NAMES
        or k.endswith(("_token", "_secret", "_key_secret"))
        or "password" in k
    )


def env_name(section: str, key: str) -> str:
    """The environment variable for ``section.key``: ``BRIDGE_JIRA_API_VERSION``."""
    return f"{ENV_PREFIX}{section}_{key}".upper().replace("-", "_")


def _http_url(value: str, credentials: str | None = None) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("expected an http(s) URL, e.g. https://example.atlassian.net")
    if "@" in parts.netloc:
        # A URL is printed (doctor, escalate's output, logs) and may sit in bridge.toml:
        # credentials in it would leak. The message never repeats the URL.
        where = f"; set them in {credentials}" if credentials else ""
        raise ValueError("expected a URL without a user or password (credentials in a URL "
                         f"would be shown wherever the URL is{where})")
    # Connectors join paths onto the base; a trailing slash would double it.
    return value.rstrip("/")


def _http_url_taking(credentials: str) -> Any:
    """An http(s) URL type whose refusal of ``user:password@`` names ``credentials``,
    the settings that take them instead."""
    return Annotated[str, AfterValidator(lambda value: _http_url(value, credentials))]


def _store_url(value: str) -> str:
    if "://" not in value:
        raise ValueError("expected an SQLAlchemy URL, e.g. sqlite:///bridge.db or "
                         "postgresql+psycopg://user@host/bridge")
    return value


def _ca_bundle(value: Path | None) -> Path | None:
    # requests takes a PEM file or a directory of certificates (c_rehash'ed); anything
    # else fails deep inside the first request as an OSError.
    if value is not None and not ((value.is_file() or value.is_dir()) and os.access(value, os.R_OK)):
        raise ValueError("expected a readable CA bundle file (PEM) or directory of certificates; "
                         "nothing readable is there")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]

#: The longest window a rate limit may have: `bridge serve` keeps each key's hits in memory
#: for its window, so a longer one would keep every client address that long.
LONGEST_RATE_WINDOW_S = 86400


def _rate_limits(value: str) -> str:
    # Parsed here by the library that enforces it (limits), so a limit `bridge serve` would
    # fail to read, or read as "nothing passes", stops it at start (exit 2), not per request.
    from limits import parse_many

    try:
        items = parse_many(value)
    except ValueError:
        items = []
    if not items:
        raise ValueError("expected a rate limit such as '30 per minute', or several as '30/minute; 300/hour'")
    if any(item.amount < 1 for item in items):
        raise ValueError("expected at least 1 request per window (0 would refuse every request)")
    if any(item.get_expiry() > LONGEST_RATE_WINDOW_S for item in items):
        raise ValueError("expected a window of at most a day (each hit is kept in memory for its window)")
    return value.strip()


#: A rate limit in the notation of the `limits` package: ``30 per minute``, ``5/second; 100/hour``.
RateLimits = Annotated[str, AfterValidator(_rate_limits)]


# ---------------------------------------------------------------------------------------
# Sections. Each field's description is what `bridge init` writes above the key.
# ---------------------------------------------------------------------------------------


class Section(StrictModel):
    """Base of a config section; field descriptions document the starter file."""


class JiraConfig(Section):
    """JIRA Cloud or Data Center, where the Bugs and Tasks are filed."""

    url: _http_url_taking("BRIDGE_JIRA_USER and BRIDGE_JIRA_TOKEN") = Field(  # type: ignore[valid-type]
        SANDBOX_JIRA_URL, description="Base URL of JIRA (Cloud or Data Center).")
    auth: Literal["basic", "token", "pat"] = Field(
        "token", description="basic: user + password (Data Center); token: e-mail + API token "
        "(Cloud); pat: personal access token as a bearer token (Data Center).")
    user: str | None = Field(
        SANDBOX_JIRA_USER, description="User name or e-mail for basic / token auth.")
    token: Secret | None = Field(
        None, description="API token, password or personal access token.")
    deployment: Literal["cloud", "server"] | None = Field(
        None, examples=["cloud"],
        description="cloud or server; detected from serverInfo when unset.")
    project: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]{0,19}$", examples=["SUP"],
        description="Project key for Bugs; overrides jira.project in the mappings.")
    api_version: Literal["2", "3"] = Field(
        "2", description="REST API version; 2 takes plain text, 3 needs ADF bodies.")


class HelpdeskConfig(Section):
    """The customer helpdesk whose tickets are escalated."""

    kind: HelpdeskKind = Field(
        "zendesk", description="zendesk, freshdesk or django-helpdesk.")
    url: _http_url_taking("BRIDGE_HELPDESK_USER and BRIDGE_HELPDESK_TOKEN") = Field(  # type: ignore[valid-type]
        SANDBOX_HELPDESK_URL, description="Base URL of the helpdesk.")
    user: str | None = Field(
        None, examples=["bridge-agent@example.com"],
        description="Agent e-mail (Zendesk: used as '<email>/token').")
    token: Secret | None = Field(None, description="API token or key of that agent.")


class SentryConfig(Section):
    """Sentry (sentry.io or self-hosted), whose issues become JIRA Tasks."""

    url: _http_url_taking("BRIDGE_SENTRY_TOKEN") = Field(  # type: ignore[valid-type]
        SANDBOX_SENTRY_URL, description="Base URL, e.g. https://sentry.io or https://de.sentry.io.")
    org: str = Field(SANDBOX_SENTRY_ORG, min_length=1, description="Organization slug.")
    token: Secret | None = Field(None, description="Auth token with event:read / event:write.")
    project: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]{0,19}$", examples=["SUP"],
        description="JIRA project key for Sentry Tasks; default: the Bug project.")


class ErrorsConfig(Section):
    """The error tracker whose issues become JIRA Tasks: Sentry or a self-hosted Bugsink.
    A key left unset here is taken from [sentry] (and BRIDGE_SENTRY_*)."""

    kind: Literal["sentry", "bugsink"] = Field(
        "sentry", description="sentry or bugsink.")
    url: _http_url_taking("BRIDGE_ERRORS_TOKEN") | None = Field(  # type: ignore[valid-type]
        None, examples=["https://bugsink.example.com"],
        description="Base URL of Sentry or Bugsink; default: sentry.url.")
    token: Secret | None = Field(
        None, description="Sentry auth token or Bugsink API token (bugsink-manage create_auth_token).")
    org: str | None = Field(
        None, min_length=1, examples=["acme"],
        description="Sentry organization slug (Bugsink has none); default: sentry.org.")


@dataclass(frozen=True)
class ErrorTrackerSettings:
    """The error tracker's settings after [errors] fell back to [sentry]."""

    kind: str
    url: str
    token: SecretStr | None
    org: str


class StoreConfig(Section):
    """The state store (escalations, links, outbox, audit trail)."""

    url: Annotated[str, AfterValidator(_store_url)] = Field(
        "sqlite:///bridge.db",
        description="SQLAlchemy URL; a SQLite file by default, PostgreSQL for teams.")


class PolicyConfig(Section):
    """The support policy the SLA clocks follow."""

    profile: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9_-]*$", examples=["emergency-to-low"],
        description="Profile in mappings/profiles/ (emergency-to-low, after-hours-critical, "
        "p1-p4-matrix, severity-1-3); overrides profile in the mappings.")


class MappingsConfig(Section):
    """Where the mappings (default.yaml, profiles/, templates/) are."""

    dir: Path | None = Field(
        None, examples=["mappings"],
        description="Directory with default.yaml; unset = the packaged defaults. "
        "Relative to this file.")


class MonitorConfig(Section):
    """Reporting the bridge's own errors to Sentry (self-monitoring)."""

    dsn: Secret | None = Field(None, description="Sentry DSN; unset = no self-monitoring.")
    environment: str | None = Field(
        None, examples=["production"],
        description="Environment name reported; overrides monitoring.environment "
        "in the mappings.")


class HttpConfig(Section):
    """How every connector talks HTTP."""

    timeout: float = Field(30.0, gt=0, le=600, description="Seconds per request.")
    retries: int = Field(
        3, ge=0, le=20, description="Retries on 429 / 5xx / connection errors, honouring Retry-After.")
    backoff: float = Field(
        0.5, ge=0, le=60, description="Backoff factor in seconds between retries.")
    concurrency: int = Field(
        8, ge=1, le=32, description="Requests of one sync round in flight together per service "
        "(helpdesk bulk reads and writes, JIRA writes to different Bugs, Cloud search pages); "
        "a pass applies up to two rounds at once, and 1 sends one request at a time. Each "
        "still waits for its rate-limit token.")
    verify: bool = Field(True, description="Verify TLS certificates.")
    ca_bundle: Annotated[Path | None, AfterValidator(_ca_bundle)] = Field(
        None, examples=["/etc/ssl/certs/company-ca.pem"],
        description="CA bundle for a private certificate authority.")


class PagerConfig(Section):
    """Paging on-call for `bridge escalate --emergency`."""

    kind: Literal["none", "webhook", "pagerduty"] = Field(
        "none", description="none, webhook (POST JSON to url) or pagerduty (Events API v2).")
    url: HttpUrl | None = Field(
        None, examples=["https://hooks.example.com/page-oncall"],
        description="Webhook URL, or the PagerDuty events URL to override the default.")
    routing_key: Secret | None = Field(
        None, description="PagerDuty integration (routing) key.")


class BridgeConfig(Section):
    """The bridge itself."""

    actor: str = Field(
        "", examples=["jane@example.com"],
        description="Who runs the bridge (recorded in the audit trail); default "
        "$BRIDGE_ACTOR, else the OS user.")


class SecretsConfig(Section):
    """Where secrets are read from besides the environment."""

    file: Path | None = Field(
        None, examples=["/run/secrets/bridge.env"],
        description="KEY=VALUE file with BRIDGE_* secrets, e.g. /run/secrets/bridge.env; "
        "must not be readable by group or others.")


class WebhooksConfig(Section):
    """Webhooks received by `bridge serve` under /hooks/...; a source without a secret is refused (404)."""

    jira_secret: Secret | None = Field(
        None, description="Secret of the JIRA admin webhook (X-Hub-Signature: sha256=HMAC of the body).")
    zendesk_secret: Secret | None = Field(
        None, description="Signing secret of the Zendesk webhook (X-Zendesk-Webhook-Signature).")
    sentry_secret: Secret | None = Field(
        None, description="Client secret of the Sentry integration (Sentry-Hook-Signature).")
    freshdesk_secret: Secret | None = Field(
        None, description="Shared secret Freshdesk's automation rule sends in the X-Bridge-Secret header.")
    django_helpdesk_secret: Secret | None = Field(
        None, description="Secret path segment of /hooks/django-helpdesk/<secret> (it signs nothing).")
    escalate_tag: str = Field(
        "escalate", min_length=1, pattern=r"^[A-Za-z0-9_:.-]+$",
        description="Ticket tag (or checkbox field tag) with which a customer presses the Escalate button.")


class ServeConfig(Section):
    """`bridge serve`: the webhook receiver, the Escalate button, the board."""

    secret_key: Secret | None = Field(
        None, description="Signs Escalate links, sessions and CSRF tokens; long and random.")
    public_url: HttpUrl | None = Field(
        None, examples=["https://bridge.example.com"],
        description="Base URL customers' Escalate links point at; unset = messages carry no link.")
    escalate_link_days: int = Field(
        30, ge=1, le=365, description="Days an Escalate link stays valid.")
    workers: int = Field(2, ge=0, le=64, description="Worker threads processing the inbox (0: accept only).")
    lease_seconds: float = Field(
        60.0, gt=0, le=3600,
        description="How long a worker holds an inbox item before another may take it (renewed while working).")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, le=64 * 1_048_576, description="Largest webhook body accepted (413 above).")
    replay_window_seconds: int = Field(
        300, ge=10, le=3600, description="How old a signed Zendesk or Sentry timestamp may be.")
    # The Escalate button's pages are public (no sign-in, by design) and a press's first
    # confirmation reads the ticket and the Bug; see bridge/service/button_limits.py for how
    # each limit is keyed and why these numbers.
    escalate_limit_per_client: RateLimits = Field(
        "30 per minute", description="Requests one client address may make to the Escalate pages (page "
        "and confirmation together); 429 with Retry-After beyond. Per bridge serve process.")
    escalate_limit_per_ticket: RateLimits = Field(
        "10 per minute", description="Confirmations of one ticket's Escalate links, whoever sends them.")
    escalate_limit_total: RateLimits = Field(
        "20 per minute", description="Escalate presses this process plans, all tickets together (each "
        "reads the ticket from the helpdesk and the Bug from JIRA).")
    proxy_hops: int = Field(
        0, ge=0, le=5, description="Reverse proxies in front of bridge serve that append the client's "
        "address to X-Forwarded-For and set X-Forwarded-Proto (set it only when every request comes through "
        "them); the client is the address that many hops from the right, its scheme the proxy's "
        "X-Forwarded-Proto (Secure cookies behind a proxy that ends TLS). 0: the connection's own address "
        "and scheme (those headers are ignored: anyone can send them).")
    oidc_issuer: HttpUrl | None = Field(
        None, examples=["https://login.example.com/realms/support"],
        description="OpenID Connect issuer the board's sign-in offers (discovery at /.well-known/openid-configuration); unset = local accounts only.")
    oidc_client_id: str | None = Field(None, description="The board's client id at the OpenID Connect provider.")
    oidc_client_secret: Secret | None = Field(None, description="The board's client secret at the OpenID Connect provider.")


class Config(StrictModel):
    """The whole configuration, validated. Build it with :func:`load_config`."""

    jira: JiraConfig = Field(default_factory=JiraConfig)
    helpdesk: HelpdeskConfig = Field(default_factory=HelpdeskConfig)
    sentry: SentryConfig = Field(default_factory=SentryConfig)
    errors: ErrorsConfig = Field(default_factory=ErrorsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    mappings: MappingsConfig = Field(default_factory=MappingsConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    pager: PagerConfig = Field(default_factory=PagerConfig)
    bridge: BridgeConfig = Field(default_factory=BridgeConfig)
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file the configuration was read from (None: defaults and environment only)."""
        return self._source

    @property
    def actor(self) -> str:
        """Who is running the bridge."""
        return self.bridge.actor

    @property
    def error_tracker(self) -> ErrorTrackerSettings:
        """[errors] with every unset key taken from [sentry], where the older
        ``BRIDGE_SENTRY_*`` names land."""
        errors, sentry = self.errors, self.sentry
        return ErrorTrackerSettings(kind=errors.kind, url=errors.url or sentry.url,
                                    token=errors.token if errors.token is not None else sentry.token,
                                    org=errors.org or sentry.org)


def sections() -> dict[str, type[Section]]:
    """Section name -> model, in file order."""
    return {name: field.annotation for name, field in Config.model_fields.items()}  # type: ignore[misc]


def secret_keys() -> Iterator[tuple[str, str]]:
    """Every ``(section, key)`` that holds a secret."""
    for section, model in sections().items():
        for key, field in model.model_fields.items():
            if SecretStr in (field.annotation, *get_args(field.annotation)):
                yield section, key
