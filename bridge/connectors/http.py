"""The HTTP session every `requests`-based connector uses, and the mapping of HTTP failures
onto the bridge's exception tree.

Retries come from urllib3's ``Retry`` (it honours ``Retry-After``), configured so that a
retry can never apply a write twice:

* connection failures before the request was sent are retried for every method;
* read failures and 5xx answers are retried only for idempotent methods (a POST or a
  comment-carrying PUT that timed out may already have been applied: the caller decides,
  usually by reading back a marker);
* 429 is retried for every method: a rate-limited request was not applied;
* a time-out is never retried: a service that did not answer within the timeout is not
  going to within the same run, and retrying only multiplies the wait.

Waiting is capped by the timeout (:class:`WaitBudget`): all the pauses a session makes for
``Retry-After`` and backoff within a few minutes add up to at most its timeout. A service
asking for a longer wait (``Retry-After: 3600``) gets no wait at all: the request fails at
once, naming the wait asked for, and the next run tries again.

Every request has a timeout. Error messages name the service, the method and the path and
carry the vendor's own error text; never headers, never the request body. An answer that is
not the API's JSON (an HTML sign-in page, ``null``) becomes :class:`UnexpectedAnswer` here,
at the edge, through :func:`api_json` and :func:`answer_shape`.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry

from bridge.errors import (
    BridgeError,
    CredentialsRefused,
    ServiceRejected,
    ServiceUnreachable,
    UnexpectedAnswer,
)

#: The longest single Retry-After any connector honours (the wait budget caps it further).
MAX_RETRY_AFTER_S = 60.0
#: The window over which a session's waits are capped by its timeout.
WAIT_WINDOW_S = 600.0
#: How much of a non-JSON answer an error shows.
EXCERPT_BYTES = 80
#: How much of it is read to find that much printable text (whitespace collapses).
_SCAN_BYTES = 64 * 1024

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class WaitBudget:
    """How long a connector may still pause for retries: ``limit`` seconds per
    :data:`WAIT_WINDOW_S`. A one-shot command ends well inside one window, so its waits add
    up to at most ``limit`` in total; a long-running ``sync --watch`` gets it back over time.
    Thread-safe."""

    def __init__(self, limit: float, window: float = WAIT_WINDOW_S) -> None:
        self.limit = limit
        self.window = window
        self._spent: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    def remaining(self) -> float:
        with self._lock:
            return self._remaining(time.monotonic())

    def _remaining(self, now: float) -> float:
        while self._spent and self._spent[0][0] < now - self.window:
            self._spent.popleft()
        return max(0.0, self.limit - sum(s for _, s in self._spent))

    def take(self, wanted: float) -> float:
        """Reserve up to ``wanted`` seconds; returns what was granted (maybe 0)."""
        with self._lock:
            now = time.monotonic()
            granted = max(0.0, min(wanted, self._remaining(now)))
            if granted:
                self._spent.append((now, granted))
            return granted


def retry_after_seconds(response) -> float | None:
    """The ``Retry-After`` of a response in seconds (a number or an HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip() if response is not None else ""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Retry(Retry):
    """urllib3 Retry that retries 429 for every method, never retries a time-out, and
    waits only within the session's :class:`WaitBudget`."""

    def __init__(self, *args, budget: WaitBudget | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget

    def new(self, **kw):
        retry = super().new(**kw)
        retry.budget = self.budget
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total is not None and self.total > 0:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if isinstance(error, ReadTimeoutError):
            raise error  # requests turns it into ReadTimeout
        if isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError):
            raise MaxRetryError(_pool, url, error)  # requests: ConnectTimeout
        if response is not None and self.budget is not None:
            asked = retry_after_seconds(response)
            if asked is not None and asked > min(self.budget.remaining(), MAX_RETRY_AFTER_S):
                # No wait at all rather than a wait that ends in failure anyway; with
                # raise_on_status off urllib3 hands the answer back for the message.
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {asked:.0f} s is over the budget"))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response=None) -> None:
        wanted = retry_after_seconds(response) if response is not None else None
        if wanted is None:
            wanted = self.get_backoff_time()
        granted = self.budget.take(wanted) if self.budget is not None else min(wanted, MAX_RETRY_AFTER_S)
        if granted > 0:
            time.sleep(granted)


class TimeoutSession(requests.Session):
    """A Session whose every request has a timeout unless the caller gives one, and whose
    retries wait within ``budget``."""

    def __init__(self, timeout: float, budget: WaitBudget | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self.budget = budget or WaitBudget(timeout)

    def request(self, method, url, **kwargs):  # noqa: D401 - requests API
        kwargs.setdefault("timeout", self.timeout)
        # Per request, because requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the
        # environment override a session's own verify (psf/requests#3829): the configured
        # http.verify / http.ca_bundle must win.
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, **kwargs)


def tls_verify(verify: bool = True, ca_bundle: str | None = None) -> bool | str:
    """What requests (and the jira library) take as ``verify``: a CA bundle path when one is
    configured, else whether to verify at all."""
    if ca_bundle:
        return str(ca_bundle)
    return bool(verify)


def build_session(*, timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
                  user_agent: str = "bridge", verify: bool = True,
                  ca_bundle: str | None = None) -> TimeoutSession:
    """A session with bounded, write-safe retries, a default timeout and the configured TLS
    verification (``ca_bundle`` for a private certificate authority)."""
    session = TimeoutSession(timeout)
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
        budget=session.budget,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = tls_verify(verify, ca_bundle)
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json"
    return session


# ----------------------------------------------------------------- answers that are not JSON

_AUTH_VALUE = re.compile(r"(?i)\b(bearer|basic|token|apikey|api_key|password)([\s:=\"']+)[A-Za-z0-9._~+/=:-]{6,}")
_URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:[\w.-]*token|[\w.-]*key|[\w.-]*secret|signature|sig|password)=)[^&#\s\"']+")


def excerpt(content: bytes | str | None, secrets: tuple[str, ...] = ()) -> str:
    """The first bytes of an answer for an error message: one line, printable, with the
    given secret values, credential-looking values and URL user-info replaced by ``***``."""
    if not content:
        return ""
    raw = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
    known = _known(secrets)
    text = raw[:_SCAN_BYTES].decode("utf-8", "replace")
    if len(raw) > _SCAN_BYTES and known:
        # A secret cut in two by the window would survive the replacement: drop the tail.
        text = text[:-len(known[0])]
    text = _without(text, known)
    text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _URL_USERINFO.sub("***@", text)
    text = _SECRET_PARAM.sub(lambda m: m.group(1) + "***", text)
    text = _one_line(text)
    return text if len(text) <= EXCERPT_BYTES else text[:EXCERPT_BYTES - 1] + "…"


def scrub(text: str | None, secrets: tuple[str, ...] = ()) -> str:
    """``text`` on one printable line with the given secret values replaced by ``***`` (for
    a vendor's own error text, which :func:`excerpt` would cut too short, and whose words
    its credential-looking patterns would mask)."""
    return _one_line(_without(text or "", _known(secrets)))


def _known(secrets: tuple[str, ...]) -> list[str]:
    """The secret values worth replacing, longest first (so none is left half-replaced)."""
    return sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True)


def _without(text: str, known: list[str]) -> str:
    for secret in known:
        text = text.replace(secret, "***")
    return text


def _one_line(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def response_secrets(response: Any) -> tuple[str, ...]:
    """Credential values that went out with the request ``response`` answers: the session's
    (kept by :func:`send` as ``bridge_secrets``) and the Authorization header actually sent
    (its Basic form is not in the session's auth pair)."""
    found = list(getattr(response, "bridge_secrets", ()))
    headers = getattr(getattr(response, "request", None), "headers", None) or {}
    header = headers.get("Authorization")
    if header:
        found.extend(part for part in str(header).split() if len(part) >= 8)
    return tuple(found)


def session_secrets(session: Any) -> tuple[str, ...]:
    """Credential values a session sends (its basic auth pair, Authorization header), to
    strip from anything shown."""
    found: list[str] = []
    auth = getattr(session, "auth", None)
    if isinstance(auth, tuple):
        found.extend(str(a) for a in auth if a)
    header = (getattr(session, "headers", None) or {}).get("Authorization")
    if header:
        found.append(str(header))
        found.extend(part for part in str(header).split() if len(part) >= 8)
    return tuple(found)


def unexpected_answer(service: str, response: requests.Response | None, *, write: bool = False,
                      secrets: tuple[str, ...] = ()) -> UnexpectedAnswer:
    """The error for an answer that is not ``service``'s API JSON (see :class:`UnexpectedAnswer`)."""
    if response is None:
        return UnexpectedAnswer(service, "", "", maybe_applied=write)
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    try:
        content = response.content
    except Exception:  # noqa: BLE001 - a body that cannot even be read is shown as empty
        content = b""
    return UnexpectedAnswer(service, content_type,
                            excerpt(content, secrets + response_secrets(response)),
                            maybe_applied=write)


def api_json(service: str, response: requests.Response, *, expect: type | tuple[type, ...] = dict,
             require: tuple[str, ...] = (), secrets: tuple[str, ...] = (),
             object_hook: Callable[[dict], Any] | None = None) -> Any:
    """The JSON body of a service's answer, which must be an ``expect`` (an object unless
    told otherwise) holding the keys in ``require``; anything else — HTML, invalid or empty
    JSON, a list, ``null``, an object without them — raises :class:`UnexpectedAnswer`.
    ``object_hook`` sees each object as it is parsed (to drop what the caller never reads)."""
    write = (getattr(getattr(response, "request", None), "method", "GET") or "GET").upper() not in IDEMPOTENT_METHODS
    try:
        body = response.json(object_hook=object_hook) if object_hook is not None else response.json()
    except ValueError:
        raise unexpected_answer(service, response, write=write, secrets=secrets) from None
    if not isinstance(body, expect) or (require and not all(key in body for key in require)):
        raise unexpected_answer(service, response, write=write, secrets=secrets)
    return body


@contextmanager
def answer_shape(service: str, response: requests.Response | None, *,
                 secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Reading fields out of an answer: a field missing or of the wrong type (what a proxy
    or a wrong base URL produces) becomes :class:`UnexpectedAnswer`, not a traceback."""
    try:
        yield
    except BridgeError:
        raise
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise unexpected_answer(service, response, secrets=secrets) from None


def vendor_message(response: requests.Response) -> str:
    """The vendor's own error text from a response body (JIRA, Zendesk, Sentry shapes), on
    one line without our credentials; a body that is not JSON (an error page, which may
    quote the request's headers) only as a scrubbed :func:`excerpt`."""
    known = response_secrets(response)
    fallback = scrub(response.reason, known) or "no error text"
    try:
        body: Any = response.json()
    except (ValueError, json.JSONDecodeError):
        return excerpt(response.content, known) or fallback
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
    return scrub("; ".join(parts), known)[:500] or fallback


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
        asked = retry_after_seconds(response)
        if asked is not None:
            raise ServiceUnreachable(
                service, f"{what}: {status} ({'rate limited' if status == 429 else message}); "
                f"{service} asked to wait {asked:.0f} s before trying again, longer than the bridge "
                "waits within one run (at most BRIDGE_HTTP_TIMEOUT)", retry_after=asked,
                hint="run again later (a scheduled sync does that by itself)")
        raise ServiceUnreachable(service, f"{what} failed with {status} after retries: {message}",
                                 retry_after=asked)
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
    except requests.exceptions.SSLError:
        raise ServiceUnreachable(service, f"{what}: the TLS certificate was not accepted",
                                 hint="for a private certificate authority set http.ca_bundle "
                                      "(BRIDGE_HTTP_CA_BUNDLE)") from None
    except requests.exceptions.ConnectionError as exc:
        # A refused connection never reached the service; a connection dropped after the
        # request was sent may have been applied.
        refused = "NewConnectionError" in repr(exc.args) or "Connection refused" in str(exc)
        raise ServiceUnreachable(service, f"{what}: {'cannot connect' if refused else 'connection dropped'}",
                                 hint=f"is BRIDGE_{_env_section(service)}_URL right and the service up?",
                                 maybe_applied=write and not refused) from None
    # Kept with the answer so an error quoting its body can strip our own credentials.
    response.bridge_secrets = session_secrets(session)  # type: ignore[attr-defined]
    if response.status_code in allow:
        return response
    raise_for_status(service, response, what=what)
    return response


def _credentials_hint(service: str) -> str:
    section = _env_section(service)
    if section == "ERRORS":
        return "check BRIDGE_ERRORS_TOKEN (a Bugsink API token from bugsink-manage create_auth_token)"
    if section in ("SENTRY", "PAGER"):
        # Sentry and the pagers authenticate with a token (or routing key) alone.
        variable = "BRIDGE_PAGER_ROUTING_KEY" if section == "PAGER" else "BRIDGE_SENTRY_TOKEN"
        return f"check {variable}"
    return f"check the {service} user and token (BRIDGE_{section}_USER / _TOKEN)"


def _env_section(service: str) -> str:
    return {"JIRA": "JIRA", "Sentry": "SENTRY", "Bugsink": "ERRORS", "PagerDuty": "PAGER", "Pager webhook": "PAGER"}.get(service, "HELPDESK")
