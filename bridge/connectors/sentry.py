"""Sentry (sentry.io, a region host, or self-hosted) as the bridge's ``ErrorTracker``.

Only the organization-scoped endpoints are used (the project-scoped issue list is
deprecated): ``/api/0/organizations/{org}/issues/{id}/``, ``.../shortids/{short_id}/``,
``.../issues/``, ``.../projects/`` and ``/api/0/organizations/{org}/`` for ``doctor``.

How the connector treats Sentry's traffic rules:

* **Pagination** is in the ``Link`` header (not in the schema):
  ``<url>; rel="next"; results="true"; cursor="0:100:0"``. A ``next`` link whose
  ``results`` is ``"false"`` ends the listing; the cursor is sent back as ``cursor=``.
* **Rate limits** are per caller and endpoint. A 429 is retried by the shared session
  honouring ``Retry-After`` (:mod:`bridge.connectors.http`). Besides, when an answer says
  ``X-Sentry-Rate-Limit-Remaining: 0``, the next call waits until
  ``X-Sentry-Rate-Limit-Reset`` (an epoch second), capped at
  :data:`~bridge.connectors.http.MAX_RETRY_AFTER_S`, instead of spending a request on a 429.
* Every request has a timeout; errors become :mod:`bridge.errors` exceptions carrying the
  service name, what was being done and Sentry's ``detail`` text, never the token.

Raw JSON never leaves: callers get :class:`~bridge.models.ErrorIssue` (``SentryIssue``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Callable
from urllib.parse import quote

import requests

from bridge.connectors.http import MAX_RETRY_AFTER_S, answer_shape, api_json, build_session, send
from bridge.errors import ConfigError, InvalidValue
from bridge.models import SentryIssue
from bridge.policy.visibility import SentryRef, find_sentry_refs, parse_sentry_ref

SERVICE = "Sentry"
#: Sentry's page size limit for issue and project listings.
PAGE_SIZE = 100


def parse_sentry_time(value: str | None) -> datetime | None:
    """Sentry's ``2026-11-23T10:00:00.123456Z`` (also without fraction or with an offset)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _int(value: Any) -> int:
    """Sentry sends ``count`` as a string and ``userCount`` as a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def issue_from_json(body: dict) -> SentryIssue:
    """A :class:`SentryIssue` from an issue (group) body of the org-scoped API."""
    project: dict = body["project"] if isinstance(body.get("project"), dict) else {}
    return SentryIssue(
        id=str(body["id"]),
        short_id=str(body.get("shortId") or ""),
        title=str(body.get("title") or ""),
        culprit=body.get("culprit") or None,
        level=body.get("level") or None,
        status=str(body.get("status") or "unresolved"),
        permalink=str(body.get("permalink") or ""),
        first_seen=parse_sentry_time(body.get("firstSeen")),
        last_seen=parse_sentry_time(body.get("lastSeen")),
        count=_int(body.get("count")),
        user_count=_int(body.get("userCount")),
        project=project.get("slug"),
    )


class SentryErrorTracker:
    """The Sentry organization whose issues become JIRA Tasks.

    ``base_url`` is where the API lives (``https://sentry.io``, ``https://de.sentry.io`` or a
    self-hosted Sentry); ``self_hosted_base`` is the base whose issue URLs are recognised as
    references besides sentry.io's (``None`` for sentry.io). ``sleep`` and ``clock`` are
    injectable so the rate-limit pause can be observed without waiting.
    """

    service = SERVICE
    kind = "sentry"

    def __init__(self, base_url: str, *, org: str, token: str, self_hosted_base: str | None = None,
                 session: requests.Session | None = None, timeout: float = 30.0, retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, cache=None) -> None:
        self.base_url = base_url.rstrip("/")
        self.org = org
        #: A :class:`~bridge.metadata_cache.MetadataCache` for the project list (None: asked
        #: of Sentry by every process).
        self._cache = cache
        self.self_hosted_base = self_hosted_base
        self._session = session or build_session(timeout=timeout, retries=retries)
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._sleep = sleep
        self._clock = clock
        #: Epoch second before which no request is sent (Sentry said none were left).
        self._not_before = 0.0

    # -- plumbing --------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/0/organizations/{quote(self.org, safe='')}/{path.lstrip('/')}"

    def _get(self, url: str, *, what: str, allow: tuple[int, ...] = (),
             params: dict[str, Any] | None = None) -> requests.Response:
        self._wait_for_budget()
        response = send(self._session, SERVICE, "GET", url, what=what, allow=allow, params=params)
        self._note_budget(response)
        return response

    def _wait_for_budget(self) -> None:
        pause = self._not_before - self._clock()
        if pause > 0:
            self._sleep(min(pause, MAX_RETRY_AFTER_S))
        self._not_before = 0.0

    def _note_budget(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-Sentry-Rate-Limit-Remaining")
        reset = response.headers.get("X-Sentry-Rate-Limit-Reset")
        if remaining is None or reset is None:
            return
        try:
            if int(remaining) > 0:
                return
            reset_at = float(reset)
        except ValueError:
            return  # a header we cannot read is no reason to fail the call
        self._not_before = min(reset_at, self._clock() + MAX_RETRY_AFTER_S)

    def _pages(self, path: str, *, what: str, params: dict[str, Any]) -> Iterator[dict]:
        """Every item of a listing, following ``Link: rel="next"`` while it has results."""
        url: str | None = self._url(path)
        query: dict[str, Any] | None = {**params, "limit": params.get("limit", PAGE_SIZE)}
        while url is not None:
            response = self._get(url, what=what, params=query)
            body = api_json(SERVICE, response, expect=list)
            yield from body
            following = response.links.get("next")
            if not following or following.get("results") != "true":
                return
            url, query = following.get("url"), None  # the next URL carries the cursor and params

    # -- reading ---------------------------------------------------------------------
    def check(self) -> str:
        """Reach the organization with our token; return its name. Raises on failure."""
        response = self._get(self._url(""), what=f"reading organization {self.org}", allow=(404,))
        if response.status_code == 404:
            raise ConfigError(f"Sentry has no organization {self.org!r} (or the token cannot see it)",
                              hint="set BRIDGE_SENTRY_ORG to the organization slug in the Sentry URL")
        body = api_json(SERVICE, response)
        return f"organization {body.get('slug') or self.org} ({body.get('name') or '?'})"

    def issue(self, issue_id: str) -> SentryIssue | None:
        """The issue with this numeric id, or None when the organization has none."""
        if not str(issue_id).isdigit():
            raise InvalidValue(f"{issue_id!r} is not a numeric Sentry issue id")
        response = self._get(self._url(f"issues/{issue_id}/"), what=f"reading issue {issue_id}", allow=(404,))
        if response.status_code == 404:
            return None
        body = api_json(SERVICE, response)
        with answer_shape(SERVICE, response):
            return issue_from_json(body)

    def status(self, issue_id: str) -> str | None:
        """The issue's status (unresolved, resolved, ignored...), or None when unknown."""
        found = self.issue(issue_id)
        return found.status if found is not None else None

    def issue_by_short_id(self, short_id: str) -> SentryIssue | None:
        """The issue with this short id (``BACKEND-1A2``), or None."""
        response = self._get(self._url(f"shortids/{quote(short_id, safe='')}/"),
                             what=f"looking up {short_id}", allow=(404,))
        if response.status_code == 404:
            return None
        body = api_json(SERVICE, response)
        with answer_shape(SERVICE, response):
            return issue_from_json(body.get("group") or {"id": body["groupId"], "shortId": short_id})

    def issues(self, *, query: str = "is:unresolved", project: str | None = None,
               stats_period: str | None = None, page_size: int = PAGE_SIZE) -> Iterator[SentryIssue]:
        """The organization's issues matching ``query`` (Sentry search syntax), every page."""
        params: dict[str, Any] = {"query": query, "limit": page_size}
        if project is not None:
            params["project"] = project
        if stats_period is not None:
            params["statsPeriod"] = stats_period
        for body in self._pages("issues/", what="listing issues", params=params):
            with answer_shape(SERVICE, None):
                issue = issue_from_json(body)
            yield issue

    def project_slugs(self) -> list[str]:
        """Slugs of the organization's projects: the prefixes of its short ids (from the
        store's cache while it is fresh)."""
        def fetch() -> list[str]:
            return [str(p["slug"]) for p in self._pages("projects/", what="listing projects", params={})]

        if self._cache is None:
            return fetch()
        return list(self._cache.remember(f"sentry:{self.base_url}:{self.org}:projects", fetch))

    def parse(self, ref: str) -> SentryRef:
        """Parse a reference as given on the command line (no request is made).

        Raises :class:`~bridge.errors.InvalidValue` for something that is no Sentry
        reference, and for a URL of another organization than the configured one.
        """
        parsed = parse_sentry_ref(ref, self_hosted_base=self.self_hosted_base, default_org=self.org)
        self._check_org(parsed)
        return parsed

    def _check_org(self, ref: SentryRef) -> None:
        if ref.org is not None and ref.org != self.org:
            raise InvalidValue(
                f"{ref.value} belongs to Sentry organization {ref.org!r}, not {self.org!r}",
                hint="the bridge links issues of BRIDGE_SENTRY_ORG only",
            )

    def resolve(self, ref: str | SentryRef) -> SentryIssue:
        """The issue a reference names: an issue URL, a short id or a numeric id.

        Raises :class:`~bridge.errors.InvalidValue` (exit 2) naming the reference when it is
        malformed, of another organization, or unknown to Sentry.
        """
        parsed = self.parse(ref) if isinstance(ref, str) else ref
        self._check_org(parsed)
        if parsed.kind == "short_id":
            found = self.issue_by_short_id(parsed.value)
        else:
            found = self.issue(parsed.issue_id or parsed.value)
        if found is None:
            raise InvalidValue(f"Sentry organization {self.org!r} has no issue {parsed.value}",
                               hint="check the reference (URL, short id or numeric id)")
        return found

    def references(self, texts: Iterable[str], *, short_id_prefixes: Iterable[str],
                   known_ids: Iterable[str]) -> tuple[list[SentryRef], list[str]]:
        """The issues of this organization ``texts`` refer to, and notes on what was skipped.

        URLs of another organization are skipped with a note (a customer's own Sentry is
        none of ours); so are issue pages of a Bugsink that shares the self-hosted base.
        """
        refs: list[SentryRef] = []
        skipped: list[str] = []
        for text in texts:
            for ref in find_sentry_refs(text, self_hosted_base=self.self_hosted_base,
                                        known_short_id_prefixes=sorted(set(short_id_prefixes)),
                                        known_ids=sorted(set(known_ids))):
                if ref.org is not None and ref.org != self.org:
                    note = f"skipped {ref.value}: Sentry organization {ref.org!r} is not {self.org!r}"
                elif ref.issue_id is not None and not ref.issue_id.isdigit():
                    note = f"skipped {ref.value}: not a Sentry issue"
                else:
                    if ref not in refs:
                        refs.append(ref)
                    continue
                if note not in skipped:
                    skipped.append(note)
        return refs, skipped
