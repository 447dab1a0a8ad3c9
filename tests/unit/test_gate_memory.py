"""The outbound gate remembers the texts it cleaned lately: a remembered answer is the answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.policy.visibility import OutboundGate

PIECES = st.sampled_from([
    "Fixed in 5.3. ", "See https://acme.sentry.io/issues/4505/ ", "BACKEND-1A2 ", "issue 4505 ",
    "[details](https://sentry.io/organizations/acme/issues/4505/) ", "Danke für Ihre Geduld. ",
    "sentry-trace: 0af7651916cd43dd8448eb211c80319c ", "ａｃｍｅ.ｓｅｎｔｒｙ.ｉｏ ",
])
TEXTS = st.lists(PIECES, min_size=1, max_size=6).map("".join)


def _gate() -> OutboundGate:
    return OutboundGate(known_short_id_prefixes=["BACKEND"], known_ids=["4505"])


@settings(max_examples=60)
@given(texts=st.lists(TEXTS, min_size=1, max_size=12))
def test_a_remembered_answer_is_what_a_fresh_gate_answers(texts):
    remembering = _gate()
    for text in texts + texts:  # every text asked twice: the second answer is remembered
        assert remembering.clean(text) == _gate().clean(text)


def test_the_memory_stays_bounded_and_right_past_its_size():
    gate = _gate()
    texts = [f"Ticket {n}: see https://acme.sentry.io/issues/{n}/ now" for n in range(OutboundGate.REMEMBERED + 10)]
    first = [gate.clean(t) for t in texts]
    assert len(gate._cleaned) <= OutboundGate.REMEMBERED
    assert [gate.clean(t) for t in texts] == first == [_gate().clean(t) for t in texts]
    assert all("sentry" not in t for t in first)
