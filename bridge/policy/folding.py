"""How the outbound gate reads text before it looks for error-tracker references.

A reference can hide behind encodings and look-alikes, so the gate reads text *folded*:
HTML entities, %-escapes and JSON's ``\\/`` undone, Unicode look-alikes folded (NFKC and the
dots it leaves), invisible format characters dropped. It looks at *runs* (URL-ish stretches
between delimiters) one at a time, and skips a pattern's scan when a cheap test on the
*probe* (the text lowered) shows no match can be there. Each shortcut here is checked
against the plain reading by property tests (tests/unit/test_error_refs_shortcuts.py).
Pure: no I/O.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote

__all__ = ["DOTS", "FOLDABLE", "REMEMBERED_LENGTH", "RUN", "RUN_TRAILING", "fold", "folded", "folding_runs",
           "holds_any", "literal_probe", "may_fold"]

# Candidate URL-ish runs: maximal stretches without whitespace or the characters that
# delimit a URL in prose, Markdown and HTML.
RUN = re.compile(r"[^\s<>\"'()\[\]{}]+")
RUN_TRAILING = ".,;:!?"

# Folded look-alikes for the suspicious second look (NFKC does not fold these dots).
DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\ufe12": ".", "\u2024": "."})
# What folding can change: anything outside ASCII (NFKC, look-alike dots, invisibles are all
# non-ASCII) and the escapes :func:`_decode` undoes (&entities;, %xx, \/). Text without any of these
# folds to itself, which most text does: the gate then skips the Unicode work. One class, not
# an alternation: the regular expression engine searches a class several times faster.
FOLDABLE = re.compile(r"[%&\\\x80-\U0010ffff]")
_NON_ASCII = re.compile(r"[\x80-\U0010ffff]")
# The only characters outside ASCII that an IGNORECASE pattern matches to an ASCII letter
# (long s, dotless i, dotted capital I, Kelvin sign). Text translated by these and lowered
# holds every ASCII literal a pattern finds in it, lowered: a cheap test that a pattern
# with such a literal cannot match, before the pattern's own scan of every position.
_CASE_TWINS = {"\u017f": "s", "\u0131": "i", "\u0130": "i", "\u212a": "k"}
_UNTWIN = str.maketrans(_CASE_TWINS)


def literal_probe(text: str) -> str:
    """``text`` as the literal pre-checks read it (see :data:`_CASE_TWINS`)."""
    if any(twin in text for twin in _CASE_TWINS):
        text = text.translate(_UNTWIN)  # rare, and translate is the slow part
    return text.lower()


def holds_any(probe: str, literals: tuple[str, ...] | None) -> bool:
    """Whether ``probe`` may hold a match of patterns needing one of ``literals`` (None:
    no usable literals, so it may)."""
    return literals is None or any(literal in probe for literal in literals)


def _decode(text: str) -> str:
    """Undo the encodings a URL hides behind: HTML entities, %-escapes (nested), JSON ``\\/``."""
    for _ in range(4):
        decoded = unquote(html.unescape(text)).replace("\\/", "/")
        if decoded == text:
            break
        text = decoded
    return text


#: Runs up to this long are remembered once folded (the same template words recur in every
#: message). Longer ones, and whole messages of any length (``fold(text, remember=False)``:
#: each is unique to its ticket, by its dates and its Escalate link), never recur:
#: remembering them held up to 8,192 messages, about 8 MB in a pass that announces 10,000
#: changes, for no hit.
REMEMBERED_LENGTH = 256


def may_fold(text: str) -> bool:
    """Whether ``text`` holds a :data:`FOLDABLE` character, tested with string methods
    (each a scan in C): the gate asks this of every message, link and run."""
    return not text.isascii() or "%" in text or "&" in text or "\\" in text


def folding_runs(text: str) -> Iterator[tuple[int, str]]:
    """The runs (:data:`RUN`) holding a :data:`FOLDABLE` character, as (start, run), in
    order: found from those characters, which a message has few of, instead of by trying
    every run. A run extends both ways from its first such character (backwards as a
    match on the reversed text: the run's characters are a class, so it reads the same)."""
    end = 0
    reversed_text = ""
    for found in FOLDABLE.finditer(text):
        at = found.start()
        if at < end:
            continue  # in the run just given
        ahead = RUN.match(text, at)
        if ahead is None:
            continue  # a delimiter (a space outside ASCII): in no run
        if not reversed_text:
            reversed_text = text[::-1]
        behind = RUN.match(reversed_text, len(text) - 1 - at)
        assert behind is not None  # the character at ``at`` itself is in the run
        start, end = at + 1 - len(behind.group()), ahead.end()
        yield start, text[start:end]


def fold(text: str, *, remember: bool = True) -> str:
    """Decode, fold Unicode look-alikes (full-width letters, odd dots) and drop invisibles.
    ``remember`` False for a whole message: folded afresh, not kept (see
    :data:`REMEMBERED_LENGTH`)."""
    if not may_fold(text):
        return text
    return folded(text) if remember and len(text) <= REMEMBERED_LENGTH else folded.__wrapped__(text)


@functools.lru_cache(maxsize=8192)
def folded(text: str) -> str:
    """:func:`fold` of text that may change; remembered (short texts only, see
    :data:`REMEMBERED_LENGTH`), as the gate folds the same words of the same templates in
    every message."""
    text = _decode(text)
    if text.isascii():
        # NFKC leaves ASCII as it is, and the look-alike dots and the invisibles (format
        # characters) are all outside it: a message's link with its "&" ends here.
        return text
    text = unicodedata.normalize("NFKC", text).translate(DOTS)
    # Format characters are all outside ASCII: only those characters need their category.
    invisible = {ord(c): None for c in set(_NON_ASCII.findall(text)) if unicodedata.category(c) == "Cf"}
    return text.translate(invisible) if invisible else text
