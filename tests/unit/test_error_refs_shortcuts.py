"""The outbound gate's shortcuts change no answer.

``fold`` returns text that has nothing to fold (ASCII without ``%``, ``&`` or ``\\``) as it
is; ``_Scanner.hits`` skips the URL-ish runs that have nothing to fold when the text as a
whole holds no Sentry host, and finds the runs that do from their foldable characters; the
scanner skips a pattern's scan when the text lacks the literal every match of it holds
(``literal_probe``), and tries the trace header pattern only before a span id's dash. Each
is checked against the plain reading: the full fold, every run looked at one by one, the
whole pattern searched at every position.
"""

from __future__ import annotations

import html
import re
import string
import unicodedata
from urllib.parse import unquote

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.policy.error_refs import _TRACE_HEADER_VALUE, _has_trace_value, _Scanner
from bridge.policy.folding import (
    DOTS,
    FOLDABLE,
    RUN,
    RUN_TRAILING,
    fold,
    folding_runs,
    literal_probe,
    may_fold,
)
from bridge.policy.visibility import OutboundGate

#: What ``fold`` may change, written the plain way: outside ASCII, or an escape's character.
PLAIN_FOLDABLE = re.compile(r"[^\x00-\x7f]|[%&\\]")


def full_fold(text: str) -> str:
    """``fold`` without its shortcut: decode, NFKC, look-alike dots, drop invisibles."""
    for _ in range(4):
        decoded = unquote(html.unescape(text)).replace("\\/", "/")
        if decoded == text:
            break
        text = decoded
    text = unicodedata.normalize("NFKC", text).translate(DOTS)
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


# Pieces of prose, URLs, escapes and look-alikes, glued in any order.
PIECES = ["sentry.io", "acme.sentry.io/issues/4505/", "errors.example.org", "sentry", ".io", "io", "acme",
          "https://", "//", "www.", "-", "_", ".", ",", ":", "!", "?", ";", "/", "@", " ", "\n", "\t", "(", ")",
          "[", "]", "{", "}", "<", ">", '"', "'", "x", "1", "%2E", "%73", "&#46;", "&amp;", "\\/",
          "\uff53entry", "sentry\u3002io", "sen\u200btry", "\u00e9", "\u3000", "BACKEND-1A2", "4505123",
          "\u017fentry.io", "SENTRY.\u0130O", "sentry.\u0131o", "BAC\u212aEND-1A2", "blocked.example.net",
          "ERRORS.example.org", "sentry-trace", "sentry [dot] io"]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join) | st.text(max_size=40)
SCANNER = _Scanner("https://errors.example.org/", ["BACKEND"], ["4505123"], ["blocked.example.net"])


@settings(max_examples=400, deadline=None)
@given(texts)
@example("a%41&amp;\\/b")
@example("https://bridge.example.com/escalate?ticket=1&t=x.y")  # ASCII after decoding: returned as decoded
@example("https://bridge.example.com/escalate?ticket=1&not=x")  # "&not" decodes to a non-ASCII sign
@example("\uff53\uff45\uff4e\uff54\uff52\uff59.io")
def test_fold_equals_the_full_fold(text: str) -> None:
    assert fold(text) == full_fold(text)
    if FOLDABLE.search(text) is None:
        assert fold(text) is text


@settings(max_examples=400, deadline=None)
@given(texts)
@example("see sentry.io.")
@example("(errors.example.org).")
@example("a sentry.io-b")
def test_a_run_that_folds_to_itself_holds_a_host_only_when_the_text_does(text: str) -> None:
    if SCANNER.hosts.search(text) is not None:
        return  # every run is looked at
    for m in RUN.finditer(text):
        run = m.group().rstrip(RUN_TRAILING)
        if FOLDABLE.search(run) is None:  # skipped by the gate: it must hold nothing
            assert not (run and SCANNER.is_sentry(run)), run


@settings(max_examples=400, deadline=None)
@given(texts)
@example("a\u3000\u00e9b c%41 plain")
@example("%start and end\u00e9")
@example("\u00e9\u00e9 a%b%c&d x\u202fy")
def test_the_folding_runs_are_the_runs_that_fold(text: str) -> None:
    runs = [(m.start(), m.group()) for m in RUN.finditer(text) if PLAIN_FOLDABLE.search(m.group())]
    assert list(folding_runs(text)) == runs


@settings(max_examples=400, deadline=None)
@given(texts)
@example("\\")
@example("\x7f\x80")
def test_what_may_fold_is_what_the_plain_pattern_finds(text: str) -> None:
    plain = PLAIN_FOLDABLE.search(text) is not None
    assert may_fold(text) is plain
    assert (FOLDABLE.search(text) is not None) is plain


@settings(max_examples=200, deadline=None)
@given(texts)
def test_the_gate_finds_in_a_text_what_it_finds_in_its_runs(text: str) -> None:
    gate = OutboundGate("https://errors.example.org/", ["BACKEND"], ["4505123"], ["blocked.example.net"])
    cleaned = gate.clean(text)
    # Whatever is left holds no host a run would still show.
    for m in RUN.finditer(cleaned):
        run = m.group().rstrip(RUN_TRAILING)
        if run and FOLDABLE.search(run) is None:
            assert SCANNER.hosts.search(run) is None, (text, cleaned)


def test_every_character_a_pattern_matches_to_an_ascii_literal_probes_as_that_literal():
    # What IGNORECASE lets stand for an ASCII letter, digit or host punctuation, anywhere in
    # Unicode, reads as that character in the probe: a literal found by a pattern is found
    # in the probe, so the pre-check never skips a match.
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for literal in string.ascii_letters + string.digits + ".-_:/":
        for m in re.finditer(re.escape(literal), everything, re.IGNORECASE):
            assert literal_probe(m.group()) == literal.lower(), (literal, hex(ord(m.group())))


PLAIN = _Scanner("https://errors.example.org/", ["BACKEND"], ["4505123"], ["blocked.example.net"])
PLAIN._host_literals = PLAIN._short_id_literals = None  # no pre-check: every pattern scans


@settings(max_examples=400, deadline=None)
@given(texts)
@example("\u017fentry.io/issues/1")
@example("see BAC\u212aEND-1A2 and SENTRY.\u0130O")
def test_the_literal_pre_check_changes_no_answer(text: str) -> None:
    assert SCANNER.hits(text) == PLAIN.hits(text)
    assert SCANNER.residue(text) == PLAIN.residue(text)
    assert SCANNER.is_sentry(text) == PLAIN.is_sentry(text)


@settings(max_examples=100, deadline=None)
@given(head=texts, tail=texts)
def test_a_whole_message_folds_the_same_and_is_not_remembered(head: str, tail: str) -> None:
    """Whole messages (unique to their ticket) fold as any text does, but are not kept in
    the fold's memory: at a pass's 10,000 messages they filled it for no hit."""
    from bridge.policy.folding import REMEMBERED_LENGTH, folded

    text = head + "ﬁ &amp; " + "x" * REMEMBERED_LENGTH + tail
    before = folded.cache_info()
    assert fold(text) == full_fold(text)
    after = folded.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)
    short = "ﬁ &amp; é"
    fold(short)
    assert folded.cache_info().currsize >= 1  # a run is still remembered


@settings(max_examples=100, deadline=None)
@given(text=texts)
def test_the_second_look_at_a_short_message_does_not_remember_it(text: str) -> None:
    """An announcement is often shorter than the runs worth remembering (Babel's dates put a
    non-ASCII space in it, so it folds): the second look at a whole message must not keep
    it, else a pass's 10,000 messages fill the fold's memory (up to 8,192 of them)."""
    from bridge.policy.folding import REMEMBERED_LENGTH, folded

    message = ("Fixed in 2.3, shipping Tuesday at 5:00\u202fPM. " + text)[:REMEMBERED_LENGTH]
    before = folded.cache_info()
    assert SCANNER.residue(message) == PLAIN.residue(message)
    after = folded.cache_info()
    assert (after.hits, after.misses, after.currsize) == (before.hits, before.misses, before.currsize)


# Hex runs of the lengths a trace header value is made of, dashes, and what borders them.
HEX_PIECES = ["0123456789abcdef", "0123456789ABCDEF", "0123456789abcdef" * 2, "-", "-0", "-1", "-2", "a", "g", "_",
              " ", ".", "\u00e9", "\u212a"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(HEX_PIECES), max_size=12).map("".join) | st.text(max_size=60))
@example("0123456789abcdef0123456789abcdef-0123456789abcdef-1")
@example("x0123456789abcdef0123456789abcdef-0123456789abcdef")
@example("0123456789abcdef0123456789abcdef-0123456789abcdef0123456789abcdef-0123456789abcdef")
def test_a_trace_value_is_found_where_the_whole_pattern_finds_one(text: str) -> None:
    assert _has_trace_value(text) is (_TRACE_HEADER_VALUE.search(text) is not None)
