"""Error-tracker references in text: what they look like and where they are.

The recognisers behind the outbound gate (:mod:`bridge.policy.visibility`) and the linker:
Sentry and Bugsink issue URLs in any shape (with or without a scheme, percent-encoded,
HTML- or JSON-escaped, in Markdown links and HTML anchors), short ids of known projects,
and the issue ids the store knows. :func:`parse_sentry_ref` reads one reference given on
the command line; :func:`find_sentry_refs` finds the references in a conversation with the
same scanner the gate uses. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from bridge.errors import InvalidValue
from bridge.policy.folding import (
    RUN,
    RUN_TRAILING,
    fold,
    folding_runs,
    holds_any,
    literal_probe,
    may_fold,
)

# sentry.io region hosts: their first label names a data-storage region, not an org.
_REGION_LABELS = frozenset({"us", "de"})

_ACCEPTED_FORMS = (
    "an issue URL (https://sentry.io/organizations/<org>/issues/<id>/, "
    "https://<org>.sentry.io/issues/<id>/, a region host such as https://us.sentry.io/..., "
    "or under the configured self-hosted Sentry URL), a Bugsink issue URL "
    "(<Bugsink URL>/issues/issue/<uuid>/), a short id such as BACKEND-1A2, "
    "a numeric issue id or a Bugsink issue UUID"
)

_SHORT_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*-[0-9A-Za-z]+")
_NUMERIC_ID = re.compile(r"\d{1,20}")
# Bugsink names an issue by a UUID (its page is /issues/issue/<uuid>/ under its base URL).
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# Standing alone, as known numeric ids must: not a segment of some other URL.
_UUID_TOKEN = re.compile(r"(?<![\w./-])" + _UUID.pattern + r"(?![\w-]|/\w)", re.IGNORECASE)
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

# Any host under sentry.io, as text (after decoding): o123.ingest.sentry.io, acme.sentry.io.
_SENTRY_IO_HOST = r"(?<![\w-])(?:[a-z0-9-]+\.)*sentry\.io(?![\w-])"

_MIN_KNOWN_ID_DIGITS = 4

# Where a configured host name ends: errors.acme.internal.example.org is another host.
_HOST_END = r"(?![\w-]|\.[\w-])"

_SCHEME_START = re.compile(r"(?:[a-z][a-z0-9+.-]*:)?//|www\.", re.IGNORECASE)

_MD_LINK = re.compile(
    r"(!?\[)([^\[\]\n]*)"  # [text
    r"(\]\(\s*<?([^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?"  # ](target, one level of parens
    r"(?:\s+\"[^\"\n]*\")?\s*\))"  # "title")
)
_HTML_ANCHOR = re.compile(
    r"(<a\b[^>]*?\bhref\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))[^>]*>)(.*?)(</a\s*>)",
    re.IGNORECASE | re.DOTALL,
)

# Pairs a removal may leave empty: "(https://...)" → "()" → nothing.
_PAIRS = {"(": ")", "[": "]", "<": ">", '"': '"', "'": "'", "`": "`"}

_OBFUSCATED_SENTRY_IO = re.compile(
    r"sentry\s*(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\sdot\s)\s*io\b", re.IGNORECASE
)
_SENTRY_HEADER_WORDS = re.compile(
    r"\bsentry[-_](?:trace|key|secret|public[-_]key|client|auth|version|release|environment"
    r"|trace[-_]id|sample[-_]rate|sampled|transaction)\b",
    re.IGNORECASE,
)
_TRACE_HEADER_VALUE = re.compile(r"\b[0-9a-f]{32}-[0-9a-f]{16}(?:-[01])?\b", re.IGNORECASE)
# The dash and span id of a trace header value: a literal first, which the engine finds fast.
_TRACE_SPAN = re.compile(r"-[0-9a-fA-F]{16}")


@dataclass(frozen=True, slots=True)
class SentryRef:
    """A reference to one Sentry issue.

    ``kind`` is ``"url"`` (``value`` is the issue URL, without query or fragment),
    ``"short_id"`` (``value`` is ``PROJ-1A2`` in upper case) or ``"id"`` (``value`` is the
    numeric issue id). ``org`` and ``host`` are known from a URL (``org`` may also come from
    the configured default); ``issue_id`` is the numeric id when the reference names it.
    """

    kind: Literal["url", "short_id", "id"]
    value: str
    org: str | None = None
    host: str | None = None
    issue_id: str | None = None


# ------------------------------------------------------------------------ trace values


def _has_trace_value(text: str) -> bool:
    """Whether :data:`_TRACE_HEADER_VALUE` matches in ``text``, tried only 32 characters
    before each dash that starts a span id (a message has few), not at every position."""
    return any(found.start() >= 32 and _TRACE_HEADER_VALUE.match(text, found.start() - 32)
               for found in _TRACE_SPAN.finditer(text))


# --------------------------------------------------------------------------- hosts


@dataclass(frozen=True, slots=True)
class _SelfHosted:
    scheme: str
    host: str  # lower case, with ":port" when the base URL has one
    prefix: tuple[str, ...]  # path segments of the base URL

    @classmethod
    def parse(cls, base: str) -> _SelfHosted:
        parts = urlsplit(base.strip() if "//" in base else "https://" + base.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidValue(
                f"self-hosted Sentry base URL {base!r} is not an http(s) URL",
                hint="set it like https://sentry.example.com/",
            )
        host = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
        return cls(parts.scheme, host, tuple(s for s in parts.path.split("/") if s))

    def text_pattern(self) -> str:
        """A regex finding this Sentry's address in (decoded) text."""
        pattern = r"(?<![\w-])" + re.escape(self.host)
        if self.prefix:
            pattern += r"/+" + r"/+".join(re.escape(s) for s in self.prefix)
        return pattern + _HOST_END


def _blocked_host_literal(host: str) -> str:
    host = host.strip().lower()
    if "//" in host:
        host = urlsplit(host).netloc.lower() + urlsplit(host).path.rstrip("/")
    if not host:
        raise InvalidValue("an empty host name cannot be blocked")
    return host.rstrip("/")


def _blocked_host_pattern(host: str) -> str:
    return r"(?<![\w-])(?:[a-z0-9-]+\.)*" + re.escape(_blocked_host_literal(host)) + _HOST_END


def _literals(values: Iterable[str]) -> tuple[str, ...] | None:
    """Lower-cased literals for :func:`holds_any`, or None when one is not ASCII (the
    pre-check is exact for ASCII literals only)."""
    found = tuple(v.lower() for v in values)
    return found if all(v.isascii() for v in found) else None


def _issue_from_segments(segments: Sequence[str]) -> tuple[str | None, str] | None:
    """(org, numeric id) from the path of a Sentry issue page, (None, uuid) from a Bugsink
    issue page (``/issues/issue/<uuid>/...``), or None."""
    if len(segments) >= 3 and segments[:2] == ["issues", "issue"] and _UUID.fullmatch(segments[2]):
        return None, segments[2].lower()
    candidates: list[tuple[str | None, str]] = []
    if len(segments) >= 4 and segments[0] == "organizations" and segments[2] == "issues":
        candidates.append((segments[1], segments[3]))
    if len(segments) >= 2 and segments[0] == "issues":  # on an org subdomain
        candidates.append((None, segments[1]))
    if len(segments) >= 4 and segments[2] == "issues":  # legacy /<org>/<project>/issues/<id>/
        candidates.append((segments[0], segments[3]))
    # An org may itself be called "issues"; the shape whose id is a number wins.
    for org, issue in candidates:
        if issue.isdigit():
            return org, issue
    return None


def _parse_url(url: str, self_hosted: _SelfHosted | None) -> SentryRef | None:
    """The issue a Sentry URL points at, or None when it is not a Sentry issue URL."""
    candidate = url.strip()
    if not re.match(r"[a-z][a-z0-9+.-]*://", candidate, re.IGNORECASE):
        candidate = "https://" + candidate.lstrip("/")
    try:
        parts = urlsplit(candidate)
        hostname = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    host = hostname + (f":{port}" if port else "")
    segments = [s for s in parts.path.split("/") if s]
    if hostname == "sentry.io" or hostname.endswith(".sentry.io"):
        found = _issue_from_segments(segments)
        if found is None or not found[1].isdigit():
            return None
        org, issue = found
        if org is None:
            label = hostname.removesuffix("sentry.io").rstrip(".")
            if not label or "." in label or label in _REGION_LABELS:
                return None
            org = label
        scheme = "https"
    elif self_hosted is not None and host == self_hosted.host:
        prefix = list(self_hosted.prefix)
        if segments[: len(prefix)] != prefix:
            return None
        found = _issue_from_segments(segments[len(prefix) :])
        # A self-hosted Sentry's issue pages name the org; Bugsink's name a UUID alone.
        if found is None or (found[0] is None and not _UUID.fullmatch(found[1])):
            return None
        org, issue = found
        scheme = self_hosted.scheme
    else:
        return None
    path = "/" + "/".join(segments) + "/"
    return SentryRef("url", f"{scheme}://{host}{path}", org=org, host=host, issue_id=issue)


# ------------------------------------------------------------------------- parsing


def parse_sentry_ref(
    ref: str, *, self_hosted_base: str | None = None, default_org: str | None = None
) -> SentryRef:
    """Parse one reference to a Sentry issue, as given on the command line.

    Accepts an issue URL on sentry.io (``https://sentry.io/organizations/acme/issues/4505/``,
    ``https://acme.sentry.io/issues/4505/?project=1``, region hosts ``us.sentry.io`` /
    ``de.sentry.io``), under ``self_hosted_base``, a short id (``BACKEND-1A2``) or a numeric
    id; ``default_org`` fills ``org`` for the last two. Anything else raises
    :class:`~bridge.errors.InvalidValue` naming the accepted forms.
    """
    self_hosted = _SelfHosted.parse(self_hosted_base) if self_hosted_base else None
    text = (ref or "").strip().strip("<>")
    if _NUMERIC_ID.fullmatch(text):
        return SentryRef("id", text, org=default_org, issue_id=text)
    if _UUID.fullmatch(text):  # before short ids: "d3b07384-..." has their shape too
        return SentryRef("id", text.lower(), org=default_org, issue_id=text.lower())
    if _SHORT_ID.fullmatch(text):
        return SentryRef("short_id", text.upper(), org=default_org)
    if "/" in text or "." in text:
        parsed = _parse_url(text, self_hosted)
        if parsed is not None:
            return parsed
    shown = text if len(text) <= 120 else text[:117] + "..."
    raise InvalidValue(f"not a Sentry issue reference: {shown!r}", hint=f"use {_ACCEPTED_FORMS}")


# ------------------------------------------------------------------------- scanning


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    ref: SentryRef | None  # None: Sentry-related, but names no particular issue
    keep: tuple[int, int] | None = None  # a Markdown/HTML link keeps its text


class _Scanner:
    """Finds Sentry references in text, with their spans; shared by the gate and find."""

    def __init__(
        self,
        self_hosted_base: str | None,
        known_short_id_prefixes: Iterable[str],
        known_ids: Iterable[str | int],
        extra_blocked_hosts: Iterable[str] = (),
    ) -> None:
        self.self_hosted = _SelfHosted.parse(self_hosted_base) if self_hosted_base else None
        extra_blocked_hosts = list(extra_blocked_hosts)  # read twice below
        host_patterns = [_SENTRY_IO_HOST]
        if self.self_hosted is not None:
            host_patterns.append(self.self_hosted.text_pattern())
        host_patterns.extend(_blocked_host_pattern(h) for h in extra_blocked_hosts)
        self.hosts = re.compile("|".join(f"(?:{p})" for p in host_patterns), re.IGNORECASE)
        # A host match holds its host name: sentry.io, the self-hosted host, a blocked one.
        self._host_literals = _literals(
            ["sentry.io"]
            + ([self.self_hosted.host] if self.self_hosted is not None else [])
            + [_blocked_host_literal(h) for h in extra_blocked_hosts]
        )
        # A whole URL around a host, in decoded text, to parse into a reference.
        self.urls = re.compile(
            r"(?:[a-z][a-z0-9+.-]*://)?(?:[^\s/@<>\"']+@)?(?:"
            + "|".join(f"(?:{p})" for p in host_patterns)
            + r")(?::\d+)?(?:/[^\s<>\"'()\[\]{}]*)?",
            re.IGNORECASE,
        )
        prefixes = []
        for prefix in known_short_id_prefixes:
            if not _SLUG.fullmatch(str(prefix)):
                raise InvalidValue(f"{prefix!r} is not a Sentry project slug")
            prefixes.append(str(prefix).upper())
        # Longest first, so MY-APP wins over MY for MY-APP-1A2.
        prefixes.sort(key=len, reverse=True)
        self._short_id_literals = _literals(f"{p}-" for p in prefixes)
        self.short_ids = (
            re.compile(
                r"(?<![\w-])("
                + "|".join(re.escape(p) for p in prefixes)
                + r")-([0-9A-Z]+)(?![\w-])",
                re.IGNORECASE,
            )
            if prefixes
            else None
        )
        # A one- to three-digit id (a fresh self-hosted Sentry starts at 1) is no usable
        # reference, and removing every "1" or "42" would wreck "within 1 business day".
        self.known_ids = frozenset(
            s for s in (str(i).strip().lower() for i in known_ids) if len(s) >= _MIN_KNOWN_ID_DIGITS
        )
        # Bugsink's ids; a UUID alone names nothing to a customer, but agents forward notes
        # and the id together with a leaked host is an address, so known ones go too.
        self.known_uuids = frozenset(i for i in self.known_ids if _UUID.fullmatch(i))
        self.numbers = re.compile(r"(?<![\w.,/-])\d+(?![\w]|[.,]\d|[-/]\w)")

    def is_sentry(self, text: str) -> bool:
        folded = fold(text)
        return holds_any(literal_probe(folded), self._host_literals) and self.hosts.search(folded) is not None

    def hits(self, text: str) -> list[_Hit]:
        found: list[_Hit] = []
        # Links first, so their text can stay while the target goes.
        for m in _HTML_ANCHOR.finditer(text):
            href = m.group(2) or m.group(3) or m.group(4) or ""
            if self.is_sentry(href):
                found.append(_Hit(m.start(), m.end(), self._ref_in(href), keep=m.span(5)))
        for m in _MD_LINK.finditer(text):
            if self.is_sentry(m.group(4)):
                found.append(_Hit(m.start(), m.end(), self._ref_in(m.group(4)), keep=m.span(2)))
        # A run that folds to itself holds no host unless the text does: a run is a
        # stretch between delimiters, and no delimiter is a character the host patterns'
        # look-arounds refuse, so a host found in such a run would be found in the text.
        # Only runs that fold (an escape, a non-ASCII letter) need a look of their own.
        probe = literal_probe(text)
        if holds_any(probe, self._host_literals) and self.hosts.search(text) is not None:
            runs: Iterable[tuple[int, str]] = ((m.start(), m.group()) for m in RUN.finditer(text))
        else:
            runs = folding_runs(text) if may_fold(text) else ()
        for run_start, run in runs:
            run = run.rstrip(RUN_TRAILING)
            if not run or not self.is_sentry(run):
                continue
            start = run_start
            # Only a run readable as is may be trimmed; an encoded one goes whole.
            raw_host = self.hosts.search(run) if fold(run) == run else None
            if raw_host is not None:
                # The host is readable as is: drop the URL, not words glued before it.
                scheme = _SCHEME_START.search(run, 0, raw_host.start())
                if scheme is not None:
                    start += scheme.start()
                elif "@" not in run[: raw_host.start()]:
                    start += raw_host.start()
                # else a scheme-less DSN, key@host/1: the whole run goes, key included.
            found.append(_Hit(start, run_start + len(run), self._ref_in(run)))
        if self.short_ids is not None and holds_any(probe, self._short_id_literals):
            for m in self.short_ids.finditer(text):
                suffix = m.group(2)
                if m.group() != m.group().upper() and not any(c.isdigit() for c in suffix):
                    continue  # "backend-team" is prose; BACKEND-TEAM or backend-1a2 is an id
                found.append(_Hit(m.start(), m.end(), SentryRef("short_id", m.group().upper())))
        if self.known_ids:
            for m in self.numbers.finditer(text):
                if m.group() in self.known_ids:
                    ref = SentryRef("id", m.group(), issue_id=m.group())
                    found.append(_Hit(m.start(), m.end(), ref))
        if self.known_uuids:
            for m in _UUID_TOKEN.finditer(text):
                if m.group().lower() in self.known_uuids:
                    uuid = m.group().lower()
                    found.append(_Hit(m.start(), m.end(), SentryRef("id", uuid, issue_id=uuid)))
        found.sort(key=lambda h: (h.start, -h.end))
        return found

    def _ref_in(self, raw: str) -> SentryRef | None:
        decoded = fold(raw)
        for m in self.urls.finditer(decoded):
            ref = _parse_url(m.group(), self.self_hosted)
            if ref is not None:
                return ref
        return None

    def residue(self, text: str) -> list[str]:
        """What a suspicious second look still finds in ``text`` (kinds, not the text)."""
        folded = fold(text, remember=False)
        probe = literal_probe(folded)
        says_sentry = "sentry" in probe  # the obfuscated host and the header words spell it
        reasons: list[str] = []
        if (holds_any(probe, self._host_literals) and self.hosts.search(folded)) or (
                says_sentry and _OBFUSCATED_SENTRY_IO.search(folded)):
            reasons.append("a Sentry host name")
        if (says_sentry and _SENTRY_HEADER_WORDS.search(folded)) or _has_trace_value(folded):
            reasons.append("a Sentry trace header, key or trace id")
        if self.short_ids is not None and holds_any(probe, self._short_id_literals):
            for m in self.short_ids.finditer(folded):
                if m.group() == m.group().upper() or any(c.isdigit() for c in m.group(2)):
                    reasons.append("a Sentry short id")
                    break
        if self.known_ids and any(
            m.group() in self.known_ids for m in self.numbers.finditer(folded)
        ):
            reasons.append("a known Sentry issue id")
        if self.known_uuids and any(
            m.group().lower() in self.known_uuids for m in _UUID_TOKEN.finditer(folded)
        ):
            reasons.append("a known Bugsink issue id")
        return reasons


def find_sentry_refs(
    text: str,
    *,
    self_hosted_base: str | None = None,
    known_short_id_prefixes: Iterable[str] = (),
    known_ids: Iterable[str | int] = (),
) -> list[SentryRef]:
    """The Sentry issues ``text`` refers to, in order of appearance, each once.

    Finds issue URLs in every shape the gate removes (see the module docstring), short ids
    with a prefix in ``known_short_id_prefixes`` and numeric ids in ``known_ids``. URLs on a
    Sentry host that name no issue (a DSN, a dashboard) are removed by the gate but are not
    returned here: there is nothing to link.
    """
    scanner = _Scanner(self_hosted_base, known_short_id_prefixes, known_ids)
    refs: list[SentryRef] = []
    for hit in scanner.hits(text):
        if hit.ref is not None and hit.ref not in refs:
            refs.append(hit.ref)
    return refs
