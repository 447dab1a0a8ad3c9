"""The subset of Zendesk's search query language the Zendesk emulator understands.

Zendesk's ``GET /api/v2/search.json?query=...`` takes free text mixed with ``property
operator value`` terms (``type:ticket status<solved tags:premium -tags:spam``). The rules
reproduced here, from Zendesk's search reference:

* operators are ``:`` (equals / contains), ``<``, ``>``, ``<=``, ``>=``; ``-`` in front of
  a term negates it; values with spaces are quoted (``subject:"CSV export"``);
* several terms on the *same* property are OR-ed (``status:open status:pending``), terms on
  different properties are AND-ed, negated terms must all hold;
* ``status`` and ``priority`` compare by their order (new < open < pending < hold < solved
  < closed; low < normal < high < urgent), dates compare by day (``created>2026-01-31``);
* free text matches words of the subject and of the conversation, case-insensitively.

This module is pure: it parses, and it decides whether one record matches given accessor
functions. The emulator does the lookups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterable

STATUS_ORDER = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITY_ORDER = ("low", "normal", "high", "urgent")
OPERATORS = (":", "<=", ">=", "<", ">")

_TERM = re.compile(
    r"""
    (?P<neg>-)?
    (?:
        (?P<field>[A-Za-z_][A-Za-z0-9_.]*)(?P<op><=|>=|:|<|>)(?P<value>"[^"]*"|\S*)
      | (?P<phrase>"[^"]*")
      | (?P<word>\S+)
    )
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Term:
    """One term of a query. ``field`` is None for free text."""

    field: str | None
    op: str
    value: str
    negated: bool = False


def parse_query(query: str) -> list[Term]:
    """Split a Zendesk search query into terms (field names lower-cased, quotes removed)."""
    terms: list[Term] = []
    for match in _TERM.finditer(query or ""):
        negated = bool(match.group("neg"))
        if match.group("field") is not None:
            value = match.group("value")
            if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
                value = value[1:-1]
            terms.append(Term(match.group("field").lower(), match.group("op"), value, negated))
        elif match.group("phrase") is not None:
            terms.append(Term(None, ":", match.group("phrase")[1:-1], negated))
        else:
            terms.append(Term(None, ":", match.group("word"), negated))
    return [t for t in terms if t.value != "" or t.field is not None]


def result_types(terms: Iterable[Term]) -> set[str] | None:
    """The record types a query is limited to by ``type:`` terms (None = all types)."""
    wanted = {t.value.lower() for t in terms if t.field == "type" and not t.negated}
    return wanted or None


def compare_ordered(actual: str | None, op: str, wanted: str, order: tuple[str, ...]) -> bool:
    """Compare two values of an ordered vocabulary (status, priority) with ``op``."""
    wanted = wanted.lower()
    if op == ":":
        return (actual or "") == wanted
    if actual is None or actual not in order or wanted not in order:
        return False
    a, w = order.index(actual), order.index(wanted)
    return {"<": a < w, ">": a > w, "<=": a <= w, ">=": a >= w}[op]


def compare_dates(actual: datetime, op: str, wanted: str) -> bool:
    """Compare a timestamp with a ``YYYY-MM-DD`` (or full ISO) value by ``op``; day precision
    unless the value carries a time."""
    try:
        if "T" in wanted:
            target = datetime.fromisoformat(wanted.replace("Z", "+00:00"))
            left: datetime | date = actual
            right: datetime | date = target
        else:
            right = date.fromisoformat(wanted)
            left = actual.date()
    except ValueError:
        return False
    return {":": left == right, "<": left < right, ">": left > right,
            "<=": left <= right, ">=": left >= right}[op]


def text_matches(needle: str, haystacks: Iterable[str]) -> bool:
    """Whether every word of ``needle`` occurs (case-insensitively) in the haystacks.

    Zendesk matches whole words; a trailing ``*`` makes a prefix search.
    """
    words = re.findall(r"[\w*]+", needle.lower())
    if not words:
        return True
    tokens: set[str] = set()
    for text in haystacks:
        tokens.update(re.findall(r"\w+", (text or "").lower()))
    for word in words:
        if word.endswith("*"):
            if not any(t.startswith(word[:-1]) for t in tokens):
                return False
        elif word not in tokens:
            return False
    return True


def matches(terms: list[Term], check: Callable[[Term], bool | None]) -> bool:
    """Whether a record satisfies the query.

    ``check(term)`` says whether the record satisfies one (non-negated form of a) term;
    None means the property does not apply to this record type (the term is ignored, as
    Zendesk ignores e.g. ``status:`` for users). Same-property terms are OR-ed.
    """
    groups: dict[str | None, list[bool]] = {}
    for term in terms:
        if term.field == "type":
            continue
        outcome = check(term)
        if outcome is None:
            continue
        if term.negated:
            if outcome:
                return False
            continue
        # Free-text words are each required; only property terms are OR-ed.
        key = term.field if term.field is not None else f"\0{len(groups)}"
        groups.setdefault(key, []).append(outcome)
    return all(any(outcomes) for outcomes in groups.values())
