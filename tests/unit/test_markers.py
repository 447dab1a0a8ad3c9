"""Marker runs: invisible, lossless, and never read out of ordinary text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.connectors import markers
from bridge.connectors.django_helpdesk import neutralise_template, restore_template

_TAG = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.:", min_size=1, max_size=30)
_OPS = st.lists(st.tuples(st.sampled_from("+-"), _TAG).map("".join), max_size=6)
_INVISIBLE = "\u200b\u200c\u2060\u2063"


@given(text=st.text(), ops=_OPS)
def test_a_marker_run_round_trips_and_leaves_the_text_alone(text, ops):
    text = "".join(c for c in text if c not in _INVISIBLE)
    rest, found = markers.split(text + markers.encode(ops))
    assert (rest, found) == (text, ops)


@given(ops=_OPS.filter(bool))
def test_a_marker_run_is_invisible(ops):
    assert all(c in _INVISIBLE for c in markers.encode(ops))


@given(text=st.text(alphabet=st.sampled_from(list(_INVISIBLE) + list("ab "))))
def test_stray_invisible_characters_are_not_markers(text):
    rest, found = markers.split(text)
    assert found == [] and rest == text


@given(tags=st.lists(_TAG, max_size=5), ops=_OPS)
def test_replaying_ops_adds_and_removes(tags, ops):
    result = markers.apply_tag_ops(tags, ops)
    assert len(set(result)) == len(result)
    for op in ops[::-1]:
        # The last operation on a tag decides.
        if op[1:] not in {o[1:] for o in ops[ops.index(op) + 1:]}:
            assert (op[1:] in result) == op.startswith("+")


def test_examples():
    assert markers.tag_ops(["a"], ["b"]) == ["+a", "-b"]
    assert markers.encode([]) == ""
    assert markers.apply_tag_ops(["x"], ["+y", "-x", "+x"]) == ("y", "x")


@given(text=st.text().map(lambda t: t.replace("\u2060", "")))
def test_template_syntax_is_neutralised_and_restored(text):
    safe = neutralise_template(text)
    assert "{{" not in safe and "{%" not in safe and "{#" not in safe and "%}" not in safe
    assert restore_template(safe) == text
