"""Configuration: ``bridge.toml`` and ``BRIDGE_*`` environment variables, parsed once.

Where settings come from, later sources winning:

1. embedded defaults — they point at the sandbox (``bridge sandbox``) and a SQLite file
   ``./bridge.db``, so ``bridge`` runs with no file at all;
2. the file: ``--config PATH``, else ``$BRIDGE_CONFIG``, else ``./bridge.toml`` if present;
3. the secrets file (``[secrets] file`` or ``$BRIDGE_SECRETS_FILE``): ``KEY=VALUE`` lines
   using the environment names below, for deployments that mount secrets as a file;
4. the environment: every key as ``BRIDGE_<SECTION>_<KEY>`` (``BRIDGE_JIRA_URL``,
   ``BRIDGE_HELPDESK_TOKEN``, ``BRIDGE_HTTP_TIMEOUT``...). An empty variable counts as unset.

Secrets (tokens, passwords, DSNs, routing keys) are accepted only from 3 and 4: a secret in
``bridge.toml`` is an error, because that file is meant to be committed. Secret values are
held as :class:`pydantic.SecretStr` (``Secret``), whose ``repr``/``str`` print stars, and no
error message ever includes a value — only the file or variable and the key.

Every problem raises :class:`bridge.errors.ConfigError` (exit 2) naming where the value came
from, the key and the expected form, e.g. ``bridge.toml: jira.url: expected an http(s) URL``.
Unknown sections and keys are errors with a did-you-mean suggestion.
"""

from __future__ import annotations

import getpass
import logging
import os
import stat
import tomllib
from dataclasses import dataclass
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, ValidationError

from bridge.errors import ConfigError
from bridge.file_schema import StrictModel, did_you_mean, validation_problems
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


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("expected an http(s) URL, e.g. https://example.atlassian.net")
    # Connectors join paths onto the base; a trailing slash would double it.
    return value.rstrip("/")


def _store_url(value: str) -> str:
    if "://" not in value:
        raise ValueError("expected an SQLAlchemy URL, e.g. sqlite:///bridge.db or "
                         "postgresql+psycopg://user@host/bridge")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


# ---------------------------------------------------------------------------------------
# Sections. Each field's description is what `bridge init` writes above the key.
# ---------------------------------------------------------------------------------------


class Section(StrictModel):
    """Base of a config section; field descriptions document the starter file."""


class JiraConfig(Section):
    """JIRA Cloud or Data Center, where the Bugs and Tasks are filed."""

    url: HttpUrl = Field(SANDBOX_JIRA_URL, description="Base URL of JIRA (Cloud or Data Center).")
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
    url: HttpUrl = Field(SANDBOX_HELPDESK_URL, description="Base URL of the helpdesk.")
    user: str | None = Field(
        None, examples=["bridge-agent@example.com"],
        description="Agent e-mail (Zendesk: used as '<email>/token').")
    token: Secret | None = Field(None, description="API token or key of that agent.")


class SentryConfig(Section):
    """Sentry (sentry.io or self-hosted), whose issues become JIRA Tasks."""

    url: HttpUrl = Field(
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
    url: HttpUrl | None = Field(
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
    verify: bool = Field(True, description="Verify TLS certificates.")
    ca_bundle: Path | None = Field(
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


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _find_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        chosen, origin = Path(path), "--config"
    elif env.get("BRIDGE_CONFIG"):
        chosen, origin = Path(env["BRIDGE_CONFIG"]), "BRIDGE_CONFIG"
    else:
        default = Path(DEFAULT_FILE)
        return default if default.is_file() else None
    if not chosen.is_file():
        raise ConfigError(f"{chosen}: configuration file not found (from {origin})")
    return chosen


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message names the line and column, never the value.
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} cannot be read)",
                          hint="TOML files are UTF-8: save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from None


def _check_file_layout(data: dict[str, Any], file: str) -> None:
    """Reject secrets, unknown sections and non-table top-level keys before validation."""
    known = sections()
    secret = set(secret_keys())
    for section, body in data.items():
        if not isinstance(body, dict):
            if is_secret_key(section):
                raise _secret_in_file(file, section, env_name("bridge", section))
            raise ConfigError(f"{file}: {section}: expected a [section] table; top-level keys "
                              f"belong in one of: {', '.join(known)}")
        for key in body:
            if is_secret_key(str(key)) or (section, key) in secret:
                raise _secret_in_file(file, f"{section}.{key}", env_name(section, str(key)))
        if section not in known:
            suggestion = did_you_mean(section, known)
            hint = f"did you mean [{suggestion}]?" if suggestion else f"sections: {', '.join(known)}"
            raise ConfigError(f"{file}: {section}: unknown section", hint=hint)


def _secret_in_file(file: str, key: str, variable: str) -> ConfigError:
    return ConfigError(
        f"{file}: {key}: secrets are not read from the configuration file",
        hint=f"remove it there and set {variable} in the environment or the secrets file",
    )


def _parse_secrets_file(path: Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines (``#`` comments, optional ``export``, optional quotes)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: secrets file not found") from None
    except UnicodeDecodeError as exc:
        # Never quote the bytes: they may be a secret.
        raise ConfigError(f"{path}: the secrets file is not UTF-8 text (byte {exc.start} cannot be read)",
                          hint="save it as UTF-8 KEY=VALUE lines") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secrets file ({exc.strerror})") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secrets file %s is readable by group or others (mode %s); run chmod 600 %s",
                    path, oct(mode & 0o777), path)
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            # Never echo the line: it may hold a secret.
            raise ConfigError(f"{path}: line {number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def _resolve_secrets_path(
    data: dict[str, Any], env: Mapping[str, str], base: Path | None
) -> Path | None:
    if env.get("BRIDGE_SECRETS_FILE"):
        return Path(env["BRIDGE_SECRETS_FILE"])
    configured = data.get("secrets", {}).get("file")
    if configured is None:
        return None
    if not isinstance(configured, str):
        return None  # validation names secrets.file as the wrong type
    path = Path(configured)
    return path if path.is_absolute() or base is None else base / path


def _overlay(
    data: dict[str, dict[str, Any]],
    variables: Mapping[str, str],
    origins: dict[tuple[str, str], str],
    origin: str,
) -> None:
    """Apply ``BRIDGE_<SECTION>_<KEY>`` variables onto ``data``; typos under a known section fail."""
    known = sections()
    # Longest section names first, so a section never swallows another's prefix.
    for section in sorted(known, key=len, reverse=True):
        prefix = f"{ENV_PREFIX}{section.upper()}_"
        keys = known[section].model_fields
        for variable, value in variables.items():
            if not variable.startswith(prefix) or value == "":
                continue
            key = variable[len(prefix):].lower()
            if key not in keys:
                candidates = [env_name(section, k) for k in keys]
                suggestion = did_you_mean(variable, candidates)
                hint = f"did you mean {suggestion}?" if suggestion else (
                    f"known: {', '.join(candidates)}")
                raise ConfigError(f"{origin}: {variable}: unknown setting", hint=hint)
            data.setdefault(section, {})[key] = value
            origins[(section, key)] = f"{origin}: {variable}"


def _relative_to(base: Path | None, value: Any) -> Any:
    if base is None or not isinstance(value, str):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] = os.environ,
) -> Config:
    """Load and validate the configuration (see the module docstring for the sources).

    ``path`` is ``--config``; ``env`` is the environment (tests pass a dict). Raises
    :class:`ConfigError` naming the file or variable, the key and the expected form.
    """
    file = _find_file(path, env)
    data: dict[str, Any] = {}
    origins: dict[tuple[str, str], str] = {}
    base = file.parent if file is not None else None
    if file is not None:
        data = _read_toml(file)
        _check_file_layout(data, str(file))
        for section, body in data.items():
            for key in body:
                origins[(section, key)] = f"{file}: {section}.{key}"
        # Paths in the file are relative to the file, not to wherever bridge runs.
        for section, key in (("mappings", "dir"), ("http", "ca_bundle")):
            if key in data.get(section, {}):
                data[section][key] = _relative_to(base, data[section][key])
        data = {section: dict(body) for section, body in data.items()}

    secrets_path = _resolve_secrets_path(data, env, base)
    if secrets_path is not None:
        data.setdefault("secrets", {})["file"] = str(secrets_path)
        _overlay(data, _parse_secrets_file(secrets_path), origins, str(secrets_path))
    _overlay(data, env, origins, "environment")

    bridge_section = data.setdefault("bridge", {})
    if not bridge_section.get("actor"):
        bridge_section["actor"] = env.get("BRIDGE_ACTOR") or _os_user()

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, origins, file) from None
    config._source = file
    return config


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary container uid
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _config_error(
    exc: ValidationError, origins: Mapping[tuple[str, str], str], file: Path | None
) -> ConfigError:
    problems = validation_problems(exc)
    key, problem = problems[0]
    section, _, rest = key.partition(".")
    field = rest.split(".")[0].split("[")[0]
    where = origins.get((section, field))
    if where is None:
        where = f"{file}: {key}" if file is not None else f"configuration: {key}"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ConfigError(f"{where}: {problem}{more}")


__all__ = [
    "BridgeConfig", "Config", "ErrorTrackerSettings", "ErrorsConfig", "HelpdeskConfig", "HttpConfig", "JiraConfig", "MappingsConfig",
    "MonitorConfig", "PagerConfig", "PolicyConfig", "Secret", "SecretsConfig", "Section",
    "SentryConfig", "ServeConfig", "StoreConfig", "WebhooksConfig", "env_name", "is_secret_key", "load_config", "secret_keys",
    "sections",
]
