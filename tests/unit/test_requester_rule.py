"""Policy 003's rule on the requester (`EscalationRules.requester_refusal`): pure logic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.mapping import EscalationRules
from bridge.models import Ticket

RULE = EscalationRules(require_active_admin_requester=True)


def ticket(**changes) -> Ticket:
    values = dict(id="1", helpdesk="zendesk", subject="s", description="d", status="open", priority=None,
                  requester="Alice", requester_email="alice@acme.example", organization="Acme Corp",
                  requester_active=True, requester_fields={"account_admin": True})
    values.update(changes)
    return Ticket(**values)


def test_an_active_marked_requester_of_an_account_is_allowed():
    assert RULE.requester_refusal(ticket()) is None
    assert RULE.requester_refusal(ticket(requester_fields={}, requester_tags=("Account_Admin",))) is None


def test_the_rule_off_allows_anyone():
    assert EscalationRules().requester_refusal(ticket(requester_active=False, requester_fields={})) is None


def test_each_refusal_says_why():
    assert "not an admin of Acme Corp" in RULE.requester_refusal(ticket(requester_fields={"account_admin": False}))
    assert "not an active user" in RULE.requester_refusal(ticket(requester_active=False))
    assert "no customer account" in RULE.requester_refusal(ticket(organization=None))
    # A helpdesk that does not report the requester's standing: refused, the rule fails closed.
    assert "does not report" in RULE.requester_refusal(ticket(requester_active=None))


def test_a_helpdesk_staff_role_does_not_make_an_account_admin():
    assert RULE.requester_refusal(ticket(requester_role="admin", requester_fields={})) is not None


_values = st.one_of(st.booleans(), st.none(), st.integers(-2, 2),
                    st.sampled_from(["yes", "no", "true", "false", "1", "0", "", "Y"]))


@given(active=st.one_of(st.none(), st.booleans()), org=st.sampled_from([None, "", "Acme Corp"]),
       field=st.one_of(st.none(), _values), tagged=st.booleans())
def test_allowed_exactly_when_active_in_an_account_and_marked(active, org, field, tagged):
    fields = {} if field is None else {"account_admin": field}
    subject = ticket(requester_active=active, organization=org, requester_fields=fields,
                     requester_tags=("account_admin",) if tagged else ("vip",))
    marked = (tagged or field is True or (type(field) is int and field == 1)
              or (isinstance(field, str) and field.strip().lower() in ("yes", "true", "1", "y")))
    expected = active is True and bool(org) and marked
    assert (RULE.requester_refusal(subject) is None) == expected
