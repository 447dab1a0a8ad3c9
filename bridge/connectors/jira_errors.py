"""JIRA's failures as bridge errors, carrying no headers or request bodies.

``str(JIRAError)`` prints the request headers, Authorization included (pycontribs/jira
PR #2411), so the JIRA connector never shows one: :func:`translate` builds a bridge error
from the status code and JIRA's own error text, and the caller drops the original
(``from None``).
"""

from __future__ import annotations

import requests
from jira import JIRAError

from bridge.connectors.http import excerpt, retry_after_seconds, scrub
from bridge.errors import CredentialsRefused, ServiceRejected, ServiceUnreachable

SERVICE = "JIRA"


def translate(exc: Exception, what: str, *, write: bool) -> Exception:
    """A bridge error for a JIRAError or a requests failure, carrying no headers or bodies."""
    if isinstance(exc, JIRAError):
        status = exc.status_code or 0
        text = _jira_error_text(exc)
        if status in (401, 403):
            return CredentialsRefused(SERVICE, f"{what} was refused ({status}): {text}",
                                      hint="check BRIDGE_JIRA_USER / BRIDGE_JIRA_TOKEN and the user's project permissions")
        if status == 429:
            retry_after = retry_after_seconds(exc.response)
            return ServiceUnreachable(SERVICE, f"{what}: rate limited (429)", retry_after=retry_after)
        if status >= 500 or status == 0:
            # A 503 for maintenance or overload names its wait like a 429 (cli.md).
            return ServiceUnreachable(SERVICE, f"{what} failed with {status}: {text}", maybe_applied=write,
                                      retry_after=retry_after_seconds(exc.response))
        return ServiceRejected(SERVICE, status, f"{what}: {text}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ServiceUnreachable(SERVICE, f"{what}: timed out connecting", hint="is BRIDGE_JIRA_URL right?")
    if isinstance(exc, requests.exceptions.Timeout):
        return ServiceUnreachable(SERVICE, f"{what}: timed out waiting for an answer (BRIDGE_HTTP_TIMEOUT)",
                                  maybe_applied=write)
    if isinstance(exc, requests.exceptions.SSLError):
        return ServiceUnreachable(SERVICE, f"{what}: the TLS certificate was not accepted",
                                  hint="for a private certificate authority set http.ca_bundle (BRIDGE_HTTP_CA_BUNDLE)")
    refused = "NewConnectionError" in repr(getattr(exc, "args", ())) or "Connection refused" in str(exc)
    return ServiceUnreachable(SERVICE, f"{what}: {'cannot connect' if refused else 'connection dropped'}",
                              hint="is BRIDGE_JIRA_URL right and JIRA up?", maybe_applied=write and not refused)


def _jira_error_text(exc: JIRAError) -> str:
    response = exc.response
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            parts = [str(m) for m in body.get("errorMessages") or []]
            parts += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
            if parts:
                return scrub("; ".join(parts), _auth_values(response))[:500]
        return excerpt(response.content, _auth_values(response)) or "no error text"
    return excerpt(exc.text or "") or "no error text"


def _auth_values(response) -> tuple[str, ...]:
    header = (getattr(getattr(response, "request", None), "headers", None) or {}).get("Authorization") or ""
    return tuple(part for part in str(header).split() if len(part) >= 6)
