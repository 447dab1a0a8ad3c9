"""Self-monitoring: the bridge reports its own failures to a Sentry project, scrubbed.

Off unless ``BRIDGE_MONITOR_DSN`` (``config.monitor.dsn``) is set. When on, two kinds of
event are sent:

* **unhandled errors** of a command (anything that is not a :class:`~bridge.errors.BridgeError`:
  those are expected outcomes with their own exit codes), from :func:`report_unhandled`;
* **failed items** — a Sentry issue that could not be linked during ``escalate``, later
  each failed sync item — from :func:`report_item_failure`, tagged with the item.

The bridge handles secrets and customer conversations, so what leaves is cut down before it
is sent (:func:`scrub_event`, run as the SDK's ``before_send`` and ``before_breadcrumb``):

* ``send_default_pii=False``, ``include_local_variables=False`` and Sentry's own
  :class:`~sentry_sdk.scrubber.EventScrubber` (keys such as ``authorization``, ``token``);
* frame variables, request bodies, cookies and headers, the ``user`` and breadcrumb
  messages and data are dropped outright (ticket text travels in exactly such places);
* in every remaining string: every configured secret value, ``Authorization``-like header
  values (``Bearer …``, ``Basic …``), credentials and token parameters in URLs, and e-mail
  addresses are replaced by ``[Filtered]``.

The default integrations are off (the logging integration would turn log lines, which may
quote a ticket, into events); only exception hooks, de-duplication, flushing at exit and
the command line (``argv``, scrubbed like the rest) are on.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any

import bridge

# sentry_sdk is imported only when monitoring is on: every command pays for this module,
# and most runs have no DSN.

FILTERED = "[Filtered]"
#: Secrets shorter than this are not searched for: removing every "abc" garbles events and
#: a value that short protects nothing anyway.
MIN_SECRET_LENGTH = 6
DEFAULT_ENVIRONMENT = "production"

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# user:password@ (and a DSN's public key@) inside a URL.
_URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_URL_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[\w.-]*token|[\w.-]*key|[\w.-]*secret|signature|sig|password|passwd|auth|code)=)[^&#\s\"']+"
)
_AUTH_VALUE = re.compile(r"(?i)\b(bearer|basic|token|sentry)\s+[A-Za-z0-9._~+/=:-]{6,}")
# Keys whose whole value goes (request bodies, headers, locals, breadcrumb payloads).
_DROPPED_REQUEST_KEYS = ("data", "cookies", "headers", "env", "query_string")
#: Added to sentry_sdk.scrubber.DEFAULT_DENYLIST (keys whose values are removed).
_EXTRA_DENYLIST = ["dsn", "routing_key", "x-api-key", "api-token", "private-token"]

_active = False
_warned: set[str] = set()

#: Where the DSN comes from, for messages.
DSN_VARIABLE = "BRIDGE_MONITOR_DSN"


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(message, file=sys.stderr)


class _Scrubber:
    """The ``before_send`` / ``before_breadcrumb`` pair for one set of secret values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # Longest first so a secret containing another is removed whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, FILTERED)
        value = _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {FILTERED}", value)
        value = _URL_USERINFO.sub(f"{FILTERED}@", value)
        value = _URL_SECRET_PARAM.sub(lambda m: m.group(1) + FILTERED, value)
        return _EMAIL.sub(FILTERED, value)

    def walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.walk(v) for v in value]
        return value

    def event(self, event: dict, hint: dict | None = None) -> dict:
        """Drop the places customer data travels in, then scrub every string left."""
        event.pop("user", None)
        request = event.get("request")
        if isinstance(request, dict):
            for key in _DROPPED_REQUEST_KEYS:
                request.pop(key, None)
        for container in _exception_values(event) + _threads(event):
            stacktrace = container.get("stacktrace")
            if isinstance(stacktrace, dict):
                for frame in stacktrace.get("frames") or ():
                    if isinstance(frame, dict):
                        frame.pop("vars", None)
        breadcrumbs = event.get("breadcrumbs")
        if isinstance(breadcrumbs, dict):
            breadcrumbs["values"] = [self.breadcrumb(b) for b in breadcrumbs.get("values") or ()
                                     if isinstance(b, dict)]
        elif isinstance(breadcrumbs, list):
            event["breadcrumbs"] = [self.breadcrumb(b) for b in breadcrumbs if isinstance(b, dict)]
        return self.walk(event)

    def breadcrumb(self, crumb: dict, hint: dict | None = None) -> dict:
        """Keep when, what kind and which category; a message or its data may quote a ticket."""
        kept = {k: crumb[k] for k in ("timestamp", "type", "category", "level") if k in crumb}
        return self.walk(kept)


def _exception_values(event: dict) -> list[dict]:
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    return [v for v in values or () if isinstance(v, dict)]


def _threads(event: dict) -> list[dict]:
    threads = event.get("threads")
    values = threads.get("values") if isinstance(threads, dict) else threads
    return [v for v in values or () if isinstance(v, dict)]


def scrub_event(event: dict, secrets: Iterable[str] = ()) -> dict:
    """``event`` without secrets and customer data (see the module docstring); pure."""
    return _Scrubber(secrets).event(event)


def configured_secrets(config) -> list[str]:
    """Every secret value in the configuration (tokens, passwords, DSNs, routing keys)."""
    from bridge.config import secret_keys

    found: list[str] = []
    for section, key in secret_keys():
        value = getattr(getattr(config, section, None), key, None)
        if value is None:
            continue
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        if text:
            found.append(text)
    return found


def _environment(config) -> str:
    if config.monitor.environment:
        return config.monitor.environment
    from bridge.errors import BridgeError
    from bridge.mapping import load_mappings_for

    try:
        return load_mappings_for(config).monitoring.environment
    except BridgeError:
        # A broken mapping is reported by the command that needs it, not by monitoring.
        return DEFAULT_ENVIRONMENT


def dsn_problem(dsn: str) -> str | None:
    """Why ``dsn`` is not a usable Sentry DSN, or None when it is. Never quotes the value
    (a DSN carries the project's key)."""
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        parsed = Dsn(dsn)
    except (BadDsn, ValueError, TypeError):
        return f"{DSN_VARIABLE} is not a Sentry DSN (expected https://<key>@<host>/<project id>)"
    if not parsed.host:
        return f"{DSN_VARIABLE} names no host (expected https://<key>@<host>/<project id>)"
    return None


def init_monitoring(config) -> bool:
    """Turn self-monitoring on when ``config.monitor.dsn`` is set, off otherwise.

    Returns whether it is on. Safe to call again (each CLI invocation does): a later call
    without a DSN closes a client an earlier call opened.

    A malformed DSN does not stop the command: monitoring is a helper, and a typo in it
    must not stop escalations and customer updates. The command runs without monitoring
    after one warning on stderr; ``bridge doctor`` reports it as a configuration problem
    (exit 2).
    """
    global _active
    dsn = config.monitor.dsn.get_secret_value() if config.monitor.dsn is not None else ""
    if not dsn:
        stop_monitoring()
        return False
    problem = dsn_problem(dsn)
    if problem is not None:
        stop_monitoring()
        _warn_once(f"warning: {problem}; running without self-monitoring")
        return False
    import sentry_sdk
    from sentry_sdk.integrations.argv import ArgvIntegration
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    scrubber = _Scrubber(configured_secrets(config))
    sentry_sdk.init(
        dsn=dsn,
        release=bridge.__version__,
        environment=_environment(config),
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + _EXTRA_DENYLIST, recursive=True),
        # The SDK types events as a TypedDict; the scrubber takes any event-shaped dict.
        before_send=scrubber.event,  # type: ignore[arg-type]
        before_breadcrumb=scrubber.breadcrumb,  # type: ignore[arg-type]
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[ExcepthookIntegration(), DedupeIntegration(), AtexitIntegration(), ArgvIntegration()],
    )
    _active = True
    return True


def stop_monitoring(timeout: float = 2.0) -> None:
    """Flush and close the monitoring client, if one is open."""
    global _active
    if not _active:
        return
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.close(timeout=timeout)
    sentry_sdk.get_global_scope().set_client(None)
    _active = False


def monitoring_active() -> bool:
    return _active


def flush(timeout: float = 5.0) -> None:
    """Send what is queued (the CLI's exit does this too, through the atexit hook)."""
    if _active:
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout)


def report_item_failure(exc: BaseException, *, item: str) -> str | None:
    """Report one failed item (a Sentry link, a sync item); returns the event id, or None when off.

    ``item`` names the item for grouping and search (``zendesk:101 sentry:BACKEND-1A2``);
    it is scrubbed like the rest of the event.
    """
    if not _active:
        return None
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("bridge.failure", "item")
        scope.set_tag("bridge.item", item[:200])
        scope.set_tag("bridge.error", type(exc).__name__)
        return sentry_sdk.capture_exception(exc)


def report_unhandled(exc: BaseException) -> str | None:
    """Report an error no code path expected (a bug); returns the event id, or None when off."""
    if not _active:
        return None
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("bridge.failure", "unhandled")
        return sentry_sdk.capture_exception(exc)
