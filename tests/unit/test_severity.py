"""Severity classification: the order of signals, each profile's rules, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import UsageError
from bridge.mapping import load_profile
from bridge.policy.profiles import SubjectRule
from bridge.policy.severity import classify, escalate_to_emergency, highest

AMPERITY = load_profile("emergency-to-low")
AMANDA = load_profile("p1-p4-matrix")
MSP = load_profile("severity-1-3")

# The document's table (002), row by row.
MATRIX = [
    ("high", "large", "p1"), ("high", "medium", "p2"), ("high", "small", "p3"),
    ("medium", "large", "p2"), ("medium", "medium", "p3"), ("medium", "small", "p4"),
    ("low", "large", "p3"), ("low", "medium", "p4"), ("low", "small", "p4"),
]


@pytest.mark.parametrize(("urgency", "impact", "severity"), MATRIX)
def test_matrix_from_the_document(urgency: str, impact: str, severity: str) -> None:
    result = classify(AMANDA, urgency=urgency, impact=impact)
    assert (result.severity, result.source) == (severity, "matrix")
    assert urgency in result.reason and impact in result.reason


def test_names_are_matched_loosely() -> None:
    assert classify(AMANDA, urgency="High", impact=" Large ").severity == "p1"
    assert classify(MSP, explicit="Severity 1").severity == "severity-1"
    assert classify(AMANDA, explicit="P2").severity == "p2"


def test_explicit_beats_everything() -> None:
    result = classify(AMANDA, explicit="p4", urgency="high", impact="large", customer_override="p1",
                      ticket_priority="urgent", priority_map={"urgent": "p1"})
    assert (result.severity, result.source) == ("p4", "explicit")


def test_customer_override_where_the_profile_allows_it() -> None:
    result = classify(AMANDA, urgency="low", impact="small", customer_override="p2")
    assert (result.severity, result.source) == ("p2", "customer-override")


def test_customer_override_is_ignored_where_the_profile_does_not_allow_it() -> None:
    result = classify(AMPERITY, customer_override="emergency", subject="Login is slow")
    assert (result.severity, result.source) == ("normal", "default")
    assert "ignored" in result.reason


def test_subject_rule_from_the_profile() -> None:
    result = classify(AMPERITY, subject="[EMERGENCY] nightly load failed")
    assert (result.severity, result.source) == ("emergency", "subject")
    assert classify(AMPERITY, subject="Emergency, not bracketed").source == "default"


def test_callers_subject_rules_come_first() -> None:
    rules = [SubjectRule(regex=r"(?i)^outage\b", severity="high"),
             SubjectRule(contains="[emergency]", severity="low")]
    assert classify(AMPERITY, subject="Outage in EU", subject_rules=rules).severity == "high"
    assert classify(AMPERITY, subject="[Emergency] x", subject_rules=rules).severity == "low"


def test_matrix_beats_subject_and_subject_beats_priority() -> None:
    assert classify(AMANDA, urgency="low", impact="small", ticket_priority="urgent",
                    priority_map={"urgent": "p1"}).source == "matrix"
    assert classify(AMPERITY, subject="[Emergency] down", ticket_priority="low",
                    priority_map={"low": "low"}).severity == "emergency"


def test_ticket_priority_through_the_callers_map() -> None:
    mapping = {"Urgent": "emergency", "High": "high", "Normal": "normal", "Low": "low"}
    result = classify(AMPERITY, ticket_priority="urgent", priority_map=mapping)
    assert (result.severity, result.source) == ("emergency", "priority")
    # A priority the map does not name falls through to the default.
    assert classify(AMPERITY, ticket_priority="whenever", priority_map=mapping).source == "default"


def test_default_severity() -> None:
    result = classify(MSP)
    assert (result.severity, result.source) == ("severity-3", "default")


@pytest.mark.parametrize(
    ("kwargs", "message", "valid"),
    [
        ({"explicit": "sev1"}, "sev1", "severity-1, severity-2, severity-3"),
        ({"customer_override": "urgent"}, "urgent", "severity-1"),
        ({"ticket_priority": "high", "priority_map": {"high": "critical"}}, "critical", "severity-1"),
        ({"subject_rules": [SubjectRule(contains="x", severity="s1")]}, "s1", "severity-2"),
    ],
)
def test_unknown_severity_lists_the_valid_ones(kwargs: dict, message: str, valid: str) -> None:
    with pytest.raises(UsageError) as caught:
        classify(MSP, **kwargs)
    assert message in caught.value.message
    assert valid in str(caught.value)


def test_matrix_input_errors() -> None:
    with pytest.raises(UsageError, match="no urgency x impact matrix"):
        classify(MSP, urgency="high", impact="large")
    with pytest.raises(UsageError, match="both an urgency and an impact"):
        classify(AMANDA, urgency="high")
    with pytest.raises(UsageError) as caught:
        classify(AMANDA, urgency="critical", impact="large")
    assert "high, medium, low" in str(caught.value)


def test_escalate_moves_to_the_highest_severity() -> None:
    assert highest(AMPERITY) == "emergency"
    result = escalate_to_emergency(AMPERITY, "low")
    assert (result.severity, result.source) == ("emergency", "escalate")
    again = escalate_to_emergency(AMPERITY, "emergency")
    assert again.severity == "emergency" and "already" in again.reason
    assert escalate_to_emergency(AMANDA, "p3").severity == "p1"


@given(
    explicit=st.none() | st.sampled_from(AMANDA.severities),
    override=st.none() | st.sampled_from(AMANDA.severities),
    cell=st.none() | st.sampled_from(MATRIX),
)
def test_classification_always_yields_a_profile_severity(explicit, override, cell) -> None:
    urgency, impact = (cell[0], cell[1]) if cell else (None, None)
    result = classify(AMANDA, explicit=explicit, customer_override=override, urgency=urgency, impact=impact)
    assert result.severity in AMANDA.severities
    expected = explicit or override or (cell[2] if cell else AMANDA.default_severity)
    assert result.severity == expected
