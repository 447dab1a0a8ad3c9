"""Bugsink (self-hosted, Sentry-SDK-compatible) as the bridge's ``ErrorTracker``.

Bugsink's own REST API lives under ``/api/canonical/0/`` on the installation's base URL and
takes ``Authorization: Bearer <token>`` (``bugsink-manage create_auth_token``):

* ``GET projects/`` lists the projects (``slug``; a project's upper-cased slug is the
  prefix of its issues' friendly ids, ``BACKEND-1``);
* ``GET issues/?project=<id>`` lists a project's issues; ``GET issues/<uuid or friendly
  id>/`` reads one. An issue has a UUID ``id``, a ``friendly_id``, ``is_resolved``,
  ``is_muted``, ``first_seen`` / ``last_seen``, ``calculated_type`` / ``calculated_value``;
* listings page with a cursor: every page is ``{"next", "previous", "results"}`` and
  ``next`` is the whole URL of the next page (None on the last);
* an issue's page, the URL people paste into conversations, is
  ``<base>/issues/issue/<uuid>/`` (and pages below it).

Issues come back as :class:`~bridge.models.ErrorIssue` with Sentry's status words
(``resolved``, ``ignored`` for muted, ``unresolved``), so the rest of the bridge treats both
trackers alike. Errors become :mod:`bridge.errors` exceptions naming Bugsink and what was
being done, never the token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from bridge.connectors.http import answer_shape, api_json, build_session, send, unexpected_answer
from bridge.errors import InvalidValue
from bridge.models import ErrorIssue
from bridge.policy.visibility import SentryRef, find_sentry_refs, parse_sentry_ref

SERVICE = "Bugsink"
API_PREFIX = "/api/canonical/0"
# A UUID standing alone (not inside a URL or a longer token): a candidate issue id.
_BARE_UUID = re.compile(r"(?<![\w/-])[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}(?![\w/-])", re.IGNORECASE)


def parse_bugsink_time(value: str | None) -> datetime | None:
    """Bugsink's ``2026-12-01T18:18:19.409074Z``."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def status_of(body: dict) -> str:
    """Sentry's status word for a Bugsink issue body."""
    if body.get("is_resolved_by_next_release") and not body.get("is_resolved_unconditionally"):
        return "resolvedInNextRelease"
    if body.get("is_resolved"):
        return "resolved"
    if body.get("is_muted"):
        return "ignored"
    return "unresolved"


def issue_from_json(body: dict, *, base_url: str, project_slug: str | None = None) -> ErrorIssue:
    """An :class:`ErrorIssue` from an issue body of Bugsink's canonical API."""
    kind = str(body.get("calculated_type") or "")
    value = str(body.get("calculated_value") or "")
    title = f"{kind}: {value}" if kind and value else (kind or value or str(body.get("friendly_id") or ""))
    return ErrorIssue(
        id=str(body["id"]).lower(),
        short_id=str(body.get("friendly_id") or ""),
        title=title,
        culprit=body.get("transaction") or None,
        level=None,  # Bugsink keeps levels on events, not on issues
        status=status_of(body),
        permalink=f"{base_url}/issues/issue/{str(body['id']).lower()}/",
        first_seen=parse_bugsink_time(body.get("first_seen")),
        last_seen=parse_bugsink_time(body.get("last_seen")),
        count=int(body.get("digested_event_count") or 0),
        project=project_slug,
        tracker="bugsink",
    )


class BugsinkErrorTracker:
    """A Bugsink installation whose issues become JIRA Tasks.

    ``base_url`` is where Bugsink is served (its ``BASE_URL``); issue pages under it are
    recognised as references, and the outbound gate removes every URL on its host.
    """

    service = SERVICE
    kind = "bugsink"
    #: Bugsink has no organizations; references never name one.
    org: str | None = None

    def __init__(self, base_url: str, *, token: str, session: requests.Session | None = None,
                 timeout: float = 30.0, retries: int = 3, cache=None) -> None:
        self.base_url = base_url.rstrip("/")
        self.self_hosted_base = self.base_url
        self._session = session or build_session(timeout=timeout, retries=retries)
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._projects: dict[str, str] | None = None  # project id -> slug
        #: A :class:`~bridge.metadata_cache.MetadataCache` for the project list (None: asked
        #: of Bugsink by every process).
        self._cache = cache

    # -- plumbing --------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}/{path.lstrip('/')}"

    def _get(self, url: str, *, what: str, allow: tuple[int, ...] = (),
             params: dict[str, Any] | None = None) -> requests.Response:
        return send(self._session, SERVICE, "GET", url, what=what, allow=allow, params=params)

    def _pages(self, path: str, *, what: str, params: dict[str, Any]) -> Iterator[dict]:
        """Every item of a listing, following the cursor URL in ``next``."""
        url: str | None = self._url(path)
        query: dict[str, Any] | None = params
        while url is not None:
            response = self._get(url, what=what, params=query)
            body = api_json(SERVICE, response, require=("results",))
            if not isinstance(body["results"], list):
                raise unexpected_answer(SERVICE, response)
            yield from body["results"]
            url, query = body.get("next") or None, None  # the next URL carries cursor and filters

    def _project_slugs_by_id(self) -> dict[str, str]:
        if self._projects is None:
            self._projects = dict(self._fetch_projects() if self._cache is None
                                  else self._cache.remember(f"bugsink:{self.base_url}:projects", self._fetch_projects))
        return self._projects

    def _fetch_projects(self) -> dict[str, str]:
        return {str(p["id"]): str(p.get("slug") or p.get("name") or p["id"])
                for p in self._pages("projects/", what="listing projects", params={})}

    def _issue(self, body: dict) -> ErrorIssue:
        project = body.get("project")
        slug = self._project_slugs_by_id().get(str(project)) if project is not None else None
        return issue_from_json(body, base_url=self.base_url, project_slug=slug)

    # -- reading ---------------------------------------------------------------------
    def check(self) -> str:
        """Reach Bugsink with our token; return how many projects it shows. Raises on failure."""
        self._projects = self._fetch_projects()  # asked of Bugsink: this checks the token
        slugs = sorted(self._projects.values())
        shown = ", ".join(slugs[:5]) + (", ..." if len(slugs) > 5 else "")
        return f"{len(slugs)} project(s)" + (f": {shown}" if slugs else "")

    def issue(self, issue_id: str) -> ErrorIssue | None:
        """The issue with this UUID (or friendly id), or None when Bugsink has none."""
        text = str(issue_id).strip()
        if not text or "/" in text:
            raise InvalidValue(f"{issue_id!r} is not a Bugsink issue id", hint="use its UUID or friendly id")
        response = self._get(self._url(f"issues/{quote(text, safe='')}/"), what=f"reading issue {text}",
                             allow=(404,))
        if response.status_code == 404:
            return None
        body = api_json(SERVICE, response)
        with answer_shape(SERVICE, response):
            return self._issue(body)

    def status(self, issue_id: str) -> str | None:
        """The issue's status in Sentry's words, or None when Bugsink has no such issue."""
        found = self.issue(issue_id)
        return found.status if found is not None else None

    def issues(self, *, project: str | None = None, state: str = "unresolved") -> Iterator[ErrorIssue]:
        """Issues in ``state`` (Bugsink's filter: all, open, unresolved, resolved, muted), of
        one project (id or slug) or of every project, each page followed."""
        by_id = self._project_slugs_by_id()
        if project is None:
            project_ids = sorted(by_id, key=lambda i: int(i) if i.isdigit() else 0)
        else:
            wanted = str(project)
            project_ids = [i for i, slug in by_id.items() if wanted in (i, slug)]
            if not project_ids:
                raise InvalidValue(f"Bugsink has no project {wanted!r}", hint="give a project id or slug")
        for project_id in project_ids:
            # Bugsink's issue list is per project (``?project=`` required by the API we target).
            params = {"project": project_id, "state": state}
            for body in self._pages("issues/", what=f"listing issues of project {project_id}", params=params):
                yield self._issue(body)

    def project_slugs(self) -> list[str]:
        """Slugs of Bugsink's projects: upper-cased, the prefixes of their friendly ids."""
        self._projects = None  # a project made since the last call is included
        return sorted(self._project_slugs_by_id().values())

    def parse(self, ref: str) -> SentryRef:
        """Parse a reference (issue URL, friendly id or UUID); no request is made.

        Raises :class:`~bridge.errors.InvalidValue` for anything else, including a numeric
        id (Sentry's shape) and a URL on another host.
        """
        parsed = parse_sentry_ref(ref, self_hosted_base=self.self_hosted_base)
        if parsed.kind == "id" and parsed.value.isdigit():
            raise InvalidValue(f"{parsed.value!r} is a Sentry-style numeric id; Bugsink names issues by UUID",
                               hint="give the Bugsink issue URL, its friendly id (BACKEND-1) or its UUID")
        if parsed.kind == "url" and parsed.host != _host_of(self.base_url):
            raise InvalidValue(f"{parsed.value} is not an issue of the Bugsink at {self.base_url}",
                               hint="the bridge links issues of BRIDGE_ERRORS_URL only")
        return parsed

    def resolve(self, ref: str | SentryRef) -> ErrorIssue:
        """The issue a reference names; :class:`~bridge.errors.InvalidValue` (exit 2) naming
        the reference when it is malformed or unknown to Bugsink."""
        parsed = self.parse(ref) if isinstance(ref, str) else ref
        found = self.issue(parsed.issue_id or parsed.value)
        if found is None:
            raise InvalidValue(f"Bugsink has no issue {parsed.value}",
                               hint="check the reference (issue URL, friendly id or UUID)")
        return found

    def references(self, texts: Iterable[str], *, short_id_prefixes: Iterable[str],
                   known_ids: Iterable[str]) -> tuple[list[SentryRef], list[str]]:
        """The Bugsink issues ``texts`` refer to, and notes on what was skipped.

        Issue URLs on this Bugsink, friendly ids with a known project prefix and known
        UUIDs count. A bare UUID nobody told us about is looked up: a conversation carries
        order and request ids too, and one of those is skipped with a note, not a failure.
        """
        prefixes, known = sorted(set(short_id_prefixes)), {str(i).lower() for i in known_ids}
        refs: list[SentryRef] = []
        skipped: list[str] = []
        for text in texts:
            for ref in find_sentry_refs(text, self_hosted_base=self.self_hosted_base,
                                        known_short_id_prefixes=prefixes, known_ids=sorted(known)):
                if ref.host is not None and ref.host != _host_of(self.base_url):
                    continue  # a sentry.io URL: not this tracker's
                if ref not in refs:
                    refs.append(ref)
            for candidate in _bare_uuids(text):
                if candidate in known or any(r.issue_id == candidate for r in refs):
                    continue
                if self.issue(candidate) is None:
                    note = f"skipped {candidate}: no Bugsink issue has this id"
                    if note not in skipped:
                        skipped.append(note)
                    continue
                known.add(candidate)
                refs.append(SentryRef("id", candidate, issue_id=candidate))
        return refs, skipped


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")


def _bare_uuids(text: str) -> list[str]:
    """UUIDs standing alone in ``text`` (not inside a URL: those are found as URLs)."""
    found: list[str] = []
    for m in _BARE_UUID.finditer(text):
        if m.group().lower() not in found:
            found.append(m.group().lower())
    return found
