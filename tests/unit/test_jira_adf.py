"""The plain-text subset of ADF the JIRA connector writes on REST v3 reads back unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.connectors.jira_adf import adf_to_text, text_to_adf


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_text_survives_the_round_trip(text):
    assert adf_to_text(text_to_adf(text)) == text


def test_a_document_from_jiras_editor_reads_as_text():
    doc = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Hi "},
                                          {"type": "mention", "attrs": {"id": "1", "text": "@Jo"}}]},
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]},
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "two"}]}]}]},
    ]}
    assert adf_to_text(doc) == "Hi @Jo\n\none\ntwo"


def test_anything_else_reads_as_empty():
    assert adf_to_text(None) == "" and adf_to_text(42) == "" and adf_to_text("v2 text") == "v2 text"
