"""What may be shown on the customer side: Sentry references never reach a helpdesk.

Support policy 001 ("Never link a Sentry issue to a client's ticket"): a client who can
follow a Sentry issue from their ticket sees every comment engineers make in Sentry. The
bridge therefore files Sentry issues as JIRA Tasks related to the Bug, and everything it
sends to a helpdesk — public replies and internal notes alike, because agents forward
notes — passes through one :class:`OutboundGate`:

* :meth:`OutboundGate.clean` removes every Sentry reference it finds: issue URLs and any
  other URL on a Sentry host (``sentry.io``, ``*.sentry.io``, the configured self-hosted
  base, extra blocked hosts), in any shape — with or without a scheme, percent-encoded
  (also twice), HTML-escaped, JSON-escaped, in Markdown links and HTML anchors (the link
  text stays, the link goes) — short ids of known Sentry projects, and numeric issue ids
  the store knows about.
* :meth:`OutboundGate.check` cleans and then looks again, more suspiciously (Unicode
  look-alikes and invisible characters folded, obfuscations like ``sentry[.]io``,
  ``sentry-trace`` headers and trace ids, DSN keys). If anything is left the message is
  refused with :class:`OutboundRefused`, an :class:`~bridge.errors.ItemFailed`: the engine
  records a failed item instead of sending.

The word "Sentry" on its own is not a reference and passes.

Bugsink (a self-hosted, Sentry-compatible error tracker) is recognised the same way when its
base URL is the configured self-hosted base: every URL on its host goes, its issue pages
(``/issues/issue/<uuid>/``) are references, its friendly ids (``BACKEND-1``) are short ids
of its projects, and the issue UUIDs the store knows are removed like known numeric ids.

Short ids (``BACKEND-1A2``) are only recognised for project prefixes the caller knows to
be Sentry projects, so ``COVID-19``, ``UTF-8`` or the JIRA key ``SUP-12`` are left alone.
They match in upper case as Sentry prints them, and in any case when the suffix holds a
digit (``backend-1a2``); ``backend-team`` is prose. Numeric ids are only recognised when
known to the store, at least four digits long (a bare "7" is no usable reference, and
removing every "7" would garble the message), and standing alone as a token (``#4505`` or
``issue 4505.``, not ``v4505``, ``4505-2`` or ``/4505/`` inside some other URL).

:func:`parse_sentry_ref` turns one reference given on the command line into a
:class:`SentryRef`; :func:`find_sentry_refs` finds the references in a conversation (to link
them as Tasks) with the same scanner the gate uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bridge.errors import ItemFailed
# What a customer may see of JIRA: the comment decision lives beside this module.
from bridge.policy.comment_visibility import JIRA_INTERNAL_PROPERTY, jira_comment_is_public
# The recognisers of error-tracker references (the gate's eyes).
from bridge.policy.error_refs import (_PAIRS, SentryRef, _Hit, _Scanner, _SelfHosted,  # noqa: F401
                                      find_sentry_refs, parse_sentry_ref)

__all__ = [
    "JIRA_INTERNAL_PROPERTY",
    "OutboundGate",
    "OutboundRefused",
    "SentryRef",
    "find_sentry_refs",
    "jira_comment_is_public",
    "parse_sentry_ref",
]


class OutboundRefused(ItemFailed):
    """A message for a helpdesk would still carry a Sentry reference after cleaning.

    ``reasons`` names what was left (never the message text itself, which is customer data).
    """

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(
            "refused to send to the helpdesk: the message would still carry "
            + "; ".join(self.reasons),
            hint="policy 001 forbids Sentry references on a client's ticket; "
            "edit the text or template so it no longer mentions them",
        )


# ---------------------------------------------------------------------------- gate


class OutboundGate:
    """The one gate every text bound for a helpdesk passes: removes Sentry references.

    Build it once from the configuration (self-hosted Sentry URL, extra hosts to treat as
    Sentry) and the store (known project short-id prefixes, known numeric issue ids).
    """

    # Removing a span can join two halves into a new reference; a few passes undo that.
    _MAX_PASSES = 4

    def __init__(
        self,
        self_hosted_base: str | None = None,
        known_short_id_prefixes: Iterable[str] = (),
        known_ids: Iterable[str | int] = (),
        extra_blocked_hosts: Iterable[str] = (),
    ) -> None:
        self._scanner = _Scanner(
            self_hosted_base, known_short_id_prefixes, known_ids, extra_blocked_hosts
        )
        # The texts cleaned lately: a message is cleaned when its write is prepared and again
        # when it is sent (the gate never changes once built, so the answer is the same).
        self._cleaned: dict[str, str] = {}

    #: How many recent texts the gate remembers (a sync round's messages, a few hundred).
    REMEMBERED = 1024

    def clean(self, text: str) -> str:
        """``text`` with every Sentry reference removed and the gap tidied.

        Link text of Markdown links and HTML anchors stays; URLs, ids and the brackets or
        quotes left empty around them go; the spaces around a removed reference collapse.
        Text without a reference comes back unchanged.
        """
        cleaned = self._cleaned.get(text)
        if cleaned is not None:
            return cleaned
        original = text
        for _ in range(self._MAX_PASSES):
            hits = self._scanner.hits(text)
            if not hits:
                break
            text = _remove(text, hits)
        if len(self._cleaned) >= self.REMEMBERED:
            self._cleaned.clear()
        self._cleaned[original] = text
        return text

    def check(self, text: str) -> str:
        """The cleaned ``text``, or :class:`OutboundRefused` if a reference would remain."""
        cleaned = self.clean(text)
        reasons = self._scanner.residue(cleaned)
        if reasons:
            raise OutboundRefused(reasons)
        return cleaned


def _remove(text: str, hits: list[_Hit]) -> str:
    """Remove the hits' spans (keeping link text) and tidy each gap."""
    spans: list[tuple[int, int]] = []
    for hit in hits:
        if hit.keep is None:
            spans.append(_widen(text, hit.start, hit.end))
        else:
            spans.append((hit.start, hit.keep[0]))
            spans.append((hit.keep[1], hit.end))
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    position = 0
    for start, end in merged:
        parts.append(text[position:start])
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a removed span over the brackets it leaves empty and one side's spaces."""
    while start > 0 and end < len(text) and _PAIRS.get(text[start - 1]) == text[end]:
        start -= 1
        end += 1
    if start > 0 and text[start - 1] == "#":
        start -= 1  # "issue #4505": the number sign means nothing without its number
    before = text[start - 1] if start > 0 else "\n"
    after = text[end] if end < len(text) else "\n"
    if before in " \t":
        if after in " \t":
            # "see URL now" -> "see now": keep one of the two spaces.
            while end < len(text) and text[end] in " \t":
                end += 1
        elif after in ".,;:!?\n" or end == len(text):
            # "see URL." -> "see.": the space belonged to the removed word.
            while start > 0 and text[start - 1] in " \t":
                start -= 1
    elif before == "\n" and after in " \t":
        while end < len(text) and text[end] in " \t":
            end += 1
    return start, end
