"""F1: the JIRA comment visibility decision reads every shape the REST API and the `jira`
library (3.10.5) give, and calls anything it cannot read internal."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from jira.resources import Comment, dict2resource

from bridge.policy.visibility import jira_comment_is_public

INTERNAL = {"key": "sd.public.comment", "value": {"internal": True}}
PUBLIC_MARK = {"key": "sd.public.comment", "value": {"internal": False}}


def _shapes(raw: dict):
    """The comment as REST JSON, as the library's Comment resource, as bare PropertyHolders."""
    yield raw
    yield Comment({}, None, raw=raw)
    yield dict2resource(raw)


def test_internal_property_in_every_shape_is_internal():
    raw = {"id": "1", "body": "[customer] x", "properties": [INTERNAL]}
    for shape in _shapes(raw):
        assert jira_comment_is_public(shape) is False, type(shape)


def test_unrestricted_comment_with_its_properties_read_is_public():
    for properties in ([], [PUBLIC_MARK], [{"key": "other", "value": {"internal": True}}]):
        for shape in _shapes({"id": "1", "body": "x", "properties": properties}):
            assert jira_comment_is_public(shape) is True


def test_role_or_group_visibility_is_internal():
    for kind in ("role", "group"):
        raw = {"id": "1", "body": "x", "properties": [], "visibility": {"type": kind, "value": "Developers"}}
        for shape in _shapes(raw):
            assert jira_comment_is_public(shape) is False


def test_value_as_json_text_bool_or_string():
    for value in ('{"internal": true}', "true", True, {"internal": "true"}):
        assert jira_comment_is_public({"properties": [{"key": "sd.public.comment", "value": value}]}) is False
    for value in ('{"internal": false}', "false", False, {"internal": "false"}):
        assert jira_comment_is_public({"properties": [{"key": "sd.public.comment", "value": value}]}) is True


def test_jsd_public_false_is_internal():
    assert jira_comment_is_public({"jsdPublic": False, "properties": []}) is False
    assert jira_comment_is_public({"jsdPublic": True, "properties": []}) is True


def test_undetermined_is_internal():
    assert jira_comment_is_public({"id": "1", "body": "x"}) is False  # properties not read
    assert jira_comment_is_public({"properties": []}, properties_known=False) is False
    for odd in ("yes", 1, None, [], {"internal": 1}, {"other": True}, "{not json"):
        assert jira_comment_is_public({"properties": [{"key": "sd.public.comment", "value": odd}]}) is False
    assert jira_comment_is_public({"properties": "sd.public.comment"}) is False
    assert jira_comment_is_public({"properties": [42]}) is False
    assert jira_comment_is_public(None) is False
    assert jira_comment_is_public("a comment") is False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        # "self" would make the library build a linked resource, and the library sets every
        # key as an attribute ("__dict__" breaks the object); JIRA never sends either there.
        st.sampled_from(["internal", "x"]) | st.text(max_size=8).filter(lambda k: k != "self" and not k.startswith("__")),
        inner, max_size=3),
    max_leaves=8,
)


@given(value=json_values, visibility=st.none() | st.fixed_dictionaries({"type": st.sampled_from(["role", "group"]),
                                                                       "value": st.text(min_size=1, max_size=8)}))
def test_public_only_when_the_mark_provably_says_not_internal(value, visibility):
    raw = {"id": "1", "body": "x", "properties": [{"key": "sd.public.comment", "value": value}]}
    if visibility:
        raw["visibility"] = visibility
    says_public = (value is False or (isinstance(value, str) and value.strip().lower() == "false")
                   or (isinstance(value, dict) and (value.get("internal") is False
                       or (isinstance(value.get("internal"), str) and value["internal"].strip().lower() == "false")))
                   or (isinstance(value, str) and _json_false(value)))
    for shape in _shapes(raw):
        assert jira_comment_is_public(shape) is (says_public and not visibility)


def _json_false(text: str) -> bool:
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    flag = parsed.get("internal") if isinstance(parsed, dict) else parsed
    return flag is False or (isinstance(parsed, dict) and isinstance(flag, str) and flag.strip().lower() == "false")
