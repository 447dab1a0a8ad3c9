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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bridge.config_sections import (DEFAULT_FILE, ENV_PREFIX, SANDBOX_HELPDESK_URL, SANDBOX_JIRA_URL, SANDBOX_JIRA_USER,
                                    SANDBOX_SENTRY_ORG, SANDBOX_SENTRY_URL, BridgeConfig, Config, ErrorsConfig,  # noqa: F401
                                    ErrorTrackerSettings, HelpdeskConfig, HttpConfig, JiraConfig, MappingsConfig,
                                    MonitorConfig, PagerConfig, PolicyConfig, Secret, SecretsConfig, Section,
                                    SentryConfig, ServeConfig, StoreConfig, WebhooksConfig, env_name, is_secret_key,
                                    sections, secret_keys)
from bridge.errors import ConfigError
from bridge.file_schema import did_you_mean, validation_problems

log = logging.getLogger(__name__)


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
    except RecursionError:
        # tomllib recurses per nested array / inline table; no setting nests at all.
        raise ConfigError(f"{path}: nested too deeply",
                          hint="settings are plain values in [section] tables") from None
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
    "SANDBOX_HELPDESK_URL", "SANDBOX_JIRA_URL", "SANDBOX_JIRA_USER", "SANDBOX_SENTRY_ORG", "SANDBOX_SENTRY_URL",
    "DEFAULT_FILE", "ENV_PREFIX", "BridgeConfig", "Config", "ErrorTrackerSettings", "ErrorsConfig", "HelpdeskConfig", "HttpConfig", "JiraConfig", "MappingsConfig",
    "MonitorConfig", "PagerConfig", "PolicyConfig", "Secret", "SecretsConfig", "Section",
    "SentryConfig", "ServeConfig", "StoreConfig", "WebhooksConfig", "env_name", "is_secret_key", "load_config", "secret_keys",
    "sections",
]
