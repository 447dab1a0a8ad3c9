"""The HTTP session every `requests`-based connector uses, and the mapping of HTTP failures
onto the bridge's exception tree.

Retries come from urllib3's ``Retry`` (it honours ``Retry-After``), configured so that a
retry can never apply a write twice:

* connection failures before the request was sent are retried for every method;
* read failures and 5xx answers are retried only for idempotent methods (a POST or a
  comment-carrying PUT that timed out may already have been applied: the caller decides,
  usually by reading back a marker);
* 429 is retried for every method: a rate-limited request was not applied.

Every request has a timeout. Error messages name the service, the method and the path and
carry the vendor's own error text; never headers, never the request body.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bridge.errors import CredentialsRefused, ServiceRejected, ServiceUnreachable

#: A Retry-After longer than this is not waited for inside one run: the run fails the item
#: (exit 1 or 3) and the next scheduled run tries again.
MAX_RETRY_AFTER_S = 60.0

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class _Retry(Retry):
    """urllib3 Retry that also retries 429 for non-idempotent methods and caps Retry-After."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total is not None and self.total > 0:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def get_retry_after(self, response) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_RETRY_AFTER_S)


class TimeoutSession(requests.Session):
    """A Session whose every request has a timeout unless the caller gives one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):  # noqa: D401 - requests API
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def build_session(*, timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
                  user_agent: str = "bridge") -> TimeoutSession:
    """A session with bounded, write-safe retries and a default timeout."""
    retry = _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=(429, 500, 502, 503, 504),
        backoff_factor=backoff,
        backoff_max=10,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = TimeoutSession(timeout)
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json"
    return session


def vendor_message(response: requests.Response) -> str:
    """The vendor's own error text from a response body (JIRA, Zendesk, Sentry shapes)."""
    try:
        body: Any = response.json()
    except (ValueError, json.JSONDecodeError):
        text = (response.text or "").strip()
        return text[:300] or response.reason or "no error text"
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("errorMessages",):
            parts.extend(str(m) for m in body.get(key) or [])
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
        for key in ("error", "description", "detail", "message"):
            value = body.get(key)
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, dict) and "message" in value:
                parts.append(str(value["message"]))
        details = body.get("details")
        if isinstance(details, dict):
            parts.extend(f"{k}: {v}" for k, v in details.items())
    return "; ".join(parts)[:500] or response.reason or "no error text"


def raise_for_status(service: str, response: requests.Response, *, what: str) -> None:
    """Turn a failed response into the right bridge error; return quietly on 2xx/3xx."""
    status = response.status_code
    if status < 400:
        return
    message = vendor_message(response)
    if status in (401, 403):
        raise CredentialsRefused(
            service, f"{what} was refused ({status}): {message}",
            hint=_credentials_hint(service),
        )
    if status == 429 or status >= 500:
        raise ServiceUnreachable(service, f"{what} failed with {status} after retries: {message}")
    raise ServiceRejected(service, status, f"{what}: {message}")


def send(session: requests.Session, service: str, method: str, url: str, *, what: str,
         allow: tuple[int, ...] = (), **kwargs) -> requests.Response:
    """Send one request; connection problems and error statuses become bridge errors.

    Statuses in ``allow`` (e.g. 404 when absence is an answer) are returned to the caller.
    """
    write = method.upper() not in IDEMPOTENT_METHODS
    try:
        response = session.request(method, url, **kwargs)
    except requests.exceptions.RetryError:
        raise ServiceUnreachable(service, f"{what}: still failing after retries") from None
    except requests.exceptions.ConnectTimeout:
        raise ServiceUnreachable(service, f"{what}: timed out connecting",
                                 hint=f"is BRIDGE_{_env_section(service)}_URL right and the service up?") from None
    except requests.exceptions.Timeout:
        raise ServiceUnreachable(service, f"{what}: timed out waiting for an answer",
                                 maybe_applied=write) from None
    except requests.exceptions.ConnectionError as exc:
        # A refused connection never reached the service; a connection dropped after the
        # request was sent may have been applied.
        refused = "NewConnectionError" in repr(exc.args) or "Connection refused" in str(exc)
        raise ServiceUnreachable(service, f"{what}: {'cannot connect' if refused else 'connection dropped'}",
                                 hint=f"is BRIDGE_{_env_section(service)}_URL right and the service up?",
                                 maybe_applied=write and not refused) from None
    if response.status_code in allow:
        return response
    raise_for_status(service, response, what=what)
    return response


def _credentials_hint(service: str) -> str:
    section = _env_section(service)
    if section in ("SENTRY", "PAGER"):
        # Sentry and the pagers authenticate with a token (or routing key) alone.
        variable = "BRIDGE_PAGER_ROUTING_KEY" if section == "PAGER" else "BRIDGE_SENTRY_TOKEN"
        return f"check {variable}"
    return f"check the {service} user and token (BRIDGE_{section}_USER / _TOKEN)"


def _env_section(service: str) -> str:
    return {"JIRA": "JIRA", "Sentry": "SENTRY", "PagerDuty": "PAGER", "Pager webhook": "PAGER"}.get(service, "HELPDESK")
