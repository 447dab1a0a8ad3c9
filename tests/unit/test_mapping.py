"""mappings/default.yaml: schema, defaults, errors naming file + key path, pure look-ups."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config import load_config
from bridge.errors import EXIT_USAGE, MappingError
from bridge.mapping import (
    EscalationRules,
    SubjectRule,
    TierMapping,
    load_mappings,
    load_mappings_for,
    packaged_mappings_dir,
    parse_mappings,
)
from bridge.models import Issue, Ticket, Version


def mappings_dir(tmp_path: Path, yaml_text: str) -> Path:
    directory = tmp_path / "mappings"
    directory.mkdir(exist_ok=True)
    (directory / "default.yaml").write_text(textwrap.dedent(yaml_text), encoding="utf-8")
    return directory


def issue(status="Open", category="new", resolution=None, versions=()) -> Issue:
    return Issue(id="10001", key="SUP-1", summary="s", issue_type="Bug", status=status,
                 status_category=category, priority="High", resolution=resolution,
                 fix_versions=tuple(versions))


def ticket(helpdesk="zendesk", **custom) -> Ticket:
    return Ticket(id="42", helpdesk=helpdesk, subject="Export fails", description="d",
                  status="open", priority="high", requester="Ana", requester_email=None,
                  organization="Acme Corp", custom_fields=custom)


# -- defaults ------------------------------------------------------------------------------


def test_packaged_file_states_exactly_the_built_in_defaults():
    # default.yaml documents the defaults; an empty file must mean the same thing.
    assert load_mappings().model_dump() == parse_mappings({}).model_dump()


def test_defaults():
    m = load_mappings()
    assert m.profile == "emergency-to-low"
    assert m.jira_priority("emergency") == "Highest"
    assert m.jira.project == "SUP" and m.jira.bug_type == "Bug" and m.jira.task_type == "Task"
    assert m.jira.relates_link == "Relates"
    assert m.jira.affected_customers_field == "customfield_10100"
    assert m.fields["category"].to == "customfield_10101"
    assert m.fields["category"].source_key("zendesk") == "360001"
    assert m.fields["tier"].to == "customfield_10104"
    assert m.ticket_key_field.field["zendesk"] == "360004"
    assert m.tiers.default == "standard"
    assert m.escalation.refuse_closed is True
    assert m.comments.customer_marker == "[customer]"
    assert m.sentry_project == "SUP"
    assert m.show_jira_key_to_customer is False
    assert m.directory is None


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "profile: emergency-to-low\n"])
def test_an_empty_or_minimal_file_works(tmp_path, text):
    m = load_mappings(mappings_dir(tmp_path, text))
    assert m.severity_for_subject("[Emergency] all down") == "emergency"
    assert m.templates.exists("acknowledgement")  # packaged templates fill in
    assert m.directory == tmp_path / "mappings"


@pytest.mark.parametrize(
    ("profile", "highest", "priority"),
    [("p1-p4-matrix", "p1", "Highest"), ("severity-1-3", "severity-1", "Highest"),
     ("after-hours-critical", "critical", "Highest"), ("emergency-to-low", "emergency", "Highest")],
)
def test_selected_profile_brings_its_own_severity_names(profile, highest, priority):
    m = load_mappings(profile=profile)
    assert m.profile == profile
    assert m.severity_for_subject("[EMERGENCY] backup failed") == highest
    assert m.severity_for_priority("Urgent") == highest
    assert m.jira_priority(highest) == priority


def test_mappings_cover_every_packaged_profile():
    from bridge.mapping import list_profiles, load_profile

    for name in list_profiles():
        profile = load_profile(name)
        problems = load_mappings(profile=name).profile_problems(profile.severities, profile.tiers)
        assert problems == [], [str(p) for p in problems]


def test_top_level_severities_written_for_a_profile_are_kept(tmp_path):
    m = load_mappings(mappings_dir(tmp_path, """
        profile: p1-p4-matrix
        severities:
          p1: {jira_priority: Blocker}
          p2: {jira_priority: Critical}
          p3: {jira_priority: Major}
          p4: {jira_priority: Minor}
    """))
    assert m.jira_priority("p1") == "Blocker"
    assert m.severity_for_priority("urgent") == "p1"  # built-in per-profile fills the rest


def test_a_written_per_profile_section_wins_over_the_top_level(tmp_path):
    m = load_mappings(mappings_dir(tmp_path, """
        per_profile:
          severity-1-3:
            severities:
              severity-1: {jira_priority: Blocker}
              severity-2: {jira_priority: Major}
              severity-3: {jira_priority: Minor}
            helpdesk_priority: {urgent: severity-1, high: severity-2, normal: severity-3,
                                low: severity-3}
            subject_rules: []
    """), profile="severity-1-3")
    assert m.jira_priority("severity-1") == "Blocker"
    assert m.severity_for_subject("[Emergency] x") is None


def test_profile_problems_name_missing_and_extra_severities_and_unknown_tiers(tmp_path):
    m = load_mappings(mappings_dir(tmp_path, """
        tiers: {default: standard, organizations: {"Acme Corp": platinum}}
    """))
    problems = [str(p) for p in m.profile_problems(["emergency", "high", "normal", "low", "info"],
                                                  ["standard", "premium"])]
    assert any("severities.info" in p and "no JIRA priority" in p for p in problems)
    assert any('tiers.organizations["Acme Corp"]' in p and "platinum" in p for p in problems)
    assert len(problems) == 2


def test_subject_rules_feed_the_severity_classifier():
    from bridge.mapping import load_profile
    from bridge.policy.severity import classify

    m = load_mappings(profile="p1-p4-matrix")
    result = classify(load_profile("p1-p4-matrix"), subject="[Emergency] backups failing",
                      subject_rules=m.subject_rules, priority_map=m.helpdesk_priority)
    assert (result.severity, result.source) == ("p1", "subject")


def test_config_overrides_win(tmp_path):
    config = load_config(env={"BRIDGE_POLICY_PROFILE": "severity-1-3", "BRIDGE_JIRA_PROJECT": "OPS",
                              "BRIDGE_SENTRY_PROJECT": "ERR", "BRIDGE_MONITOR_ENVIRONMENT": "stage",
                              "BRIDGE_MAPPINGS_DIR": str(mappings_dir(tmp_path, "profile: p1-p4-matrix\n"))})
    m = load_mappings_for(config)
    assert m.profile == "severity-1-3"
    assert set(m.severities) == {"severity-1", "severity-2", "severity-3"}
    assert (m.jira.project, m.sentry_project, m.monitoring.environment) == ("OPS", "ERR", "stage")
    assert m.directory == tmp_path / "mappings"


# -- errors: file, key path, expected form ----------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "key", "problem"),
    [
        ("severities:\n  high:\n    jira_priority: 1\n",
         "severities.high.jira_priority", "expected a string"),
        ("severities:\n  high:\n    jira_priorty: High\n",
         "severities.high.jira_priorty", "unknown key; did you mean 'jira_priority'?"),
        ("severites: {}\n", "severites", "did you mean 'severities'?"),
        ("severities:\n  high: Highest\n", "severities.high", "expected a mapping"),
        ("subject_rules:\n  - contains: '[Emergency]'\n    severity: critical\n",
         "subject_rules[0].severity", "expected one of the severities"),
        ("subject_rules:\n  - regex: '(['\n    severity: high\n",
         "subject_rules[0]", "expected a valid regular expression"),
        ("subject_rules:\n  - pattern: '(['\n    severity: high\n    match: regex\n",
         "subject_rules[0]", "expected a valid regular expression"),
        ("subject_rules:\n  - pattern: x\n    severity: high\n    match: glob\n",
         "subject_rules[0]", "expected match: contains or match: regex"),
        ("subject_rules:\n  - pattern: '[Emergency]'\n    severity: high\n",
         "subject_rules[0]", "write contains: TEXT (text, any case) or regex: PATTERN"),
        ("subject_rules:\n  - {contains: x, regex: y, severity: high}\n",
         "subject_rules[0]", "expected exactly one of contains (text) or regex"),
        ("subject_rules:\n  - {containz: x, severity: high}\n",
         "subject_rules[0].containz", "did you mean 'contains'?"),
        ("helpdesk_priority:\n  urgen: high\n", "helpdesk_priority.urgen", "expected one of"),
        ("helpdesk_priority:\n  urgent: critical\n", "helpdesk_priority.urgent",
         "expected one of the severities"),
        ("fields:\n  category:\n    to: customfield_x\n", "fields.category.to",
         "expected component, label or a custom field id"),
        ("fields:\n  colour:\n    to: label\n", "fields.colour", "expected a source per helpdesk"),
        ("fields:\n  category:\n    to: label\n    source: {jira: x}\n",
         "fields.category.source.jira", "expected one of"),
        ("status_map:\n  - name: done\n    when: {status: Done}\n    template: shipped\n",
         "status_map[0].template", "no template 'shipped'"),
        ("status_map:\n  - name: done\n    when: {status: Done}\n",
         "status_map[0]", "expected a template for a public row"),
        ("status_map:\n  - name: done\n    when: {status_category: finished}\n    public: false\n",
         "status_map[0].when.status_category[0]", "expected one of 'new', 'indeterminate' or 'done'"),
        ("redaction:\n  extra_patterns:\n    - name: id\n      regex: '(unclosed'\n",
         "redaction.extra_patterns[0].regex", "expected a valid regular expression"),
        ("tiers:\n  organizations:\n    Acme Corp: Premium Plus\n", "tiers",
         "expected tier names in lower case"),
        ("jira:\n  project: sup\n", "jira.project", "String should match pattern"),
        ("escalation:\n  refuse_closed: maybe\n", "escalation.refuse_closed", "expected true or false"),
        ("per_profile:\n  p1-p4-matrix:\n    severities:\n      p1: {jira_priority: 3}\n",
         "per_profile.p1-p4-matrix.severities.p1.jira_priority", "expected a string"),
        ("ticket_key_field:\n  tag_prefix: ''\n  field: {}\n", "ticket_key_field",
         "the JIRA key must land somewhere"),
    ],
)
def test_malformed_mappings_name_file_key_and_expected_form(tmp_path, yaml_text, key, problem):
    directory = mappings_dir(tmp_path, yaml_text)
    with pytest.raises(MappingError) as err:
        load_mappings(directory)
    assert err.value.file == str(directory / "default.yaml")
    assert err.value.key == key
    assert problem in err.value.problem
    assert err.value.exit_code == EXIT_USAGE
    assert str(err.value).startswith(f"{directory / 'default.yaml'}: {key}: ")


@pytest.mark.parametrize(
    ("yaml_text", "line", "problem"),
    [
        ("jira:\n  project: SUP\n  bug_type: [Bug\n", "line 4", "invalid YAML"),
        ("jira:\n  project: SUP\n\tbug_type: Bug\n", "line 3", "invalid YAML"),
        ("jira:\n  project: SUP\n  project: OPS\n", "line 3", "duplicate key 'project' (first on line 2)"),
    ],
)
def test_yaml_syntax_errors_give_the_line(tmp_path, yaml_text, line, problem):
    directory = mappings_dir(tmp_path, yaml_text)
    with pytest.raises(MappingError) as err:
        load_mappings(directory)
    assert err.value.key == line
    assert problem in err.value.problem


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(MappingError, match="expected a mapping of keys at the top level"):
        load_mappings(mappings_dir(tmp_path, "- a\n- b\n"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(MappingError) as err:
        load_mappings(tmp_path / "nowhere")
    assert err.value.file == str(tmp_path / "nowhere" / "default.yaml")
    assert "file not found" in str(err.value)


def test_several_problems_are_counted(tmp_path):
    directory = mappings_dir(tmp_path, "jira:\n  bug_type: 1\n  task_type: 2\n")
    with pytest.raises(MappingError, match=r"\(and 1 more problem\)"):
        load_mappings(directory)


def test_unknown_severity_lookup_names_the_key():
    with pytest.raises(MappingError, match=r"severities.p9: no JIRA priority mapped"):
        load_mappings().jira_priority("p9")


# -- status map -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jira_issue", "reopened", "expected"),
    [
        (issue("In Progress", "indeterminate"), False, "in_progress"),
        (issue("in progress", "indeterminate"), False, "in_progress"),
        (issue("In QA", "indeterminate"), False, "in_qa"),
        (issue("Done", "done", "Fixed", [Version("1", "2.4", released=False)]), False, "fix_ready"),
        (issue("Done", "done", "Fixed", [Version("1", "2.4", released=True)]), False, "released"),
        (issue("Done", "done", "Won't Fix"), False, "closed_unfixed"),
        (issue("Closed", "done", "Duplicate"), False, "closed_unfixed"),
        (issue("Done", "done", "Cannot Reproduce"), False, "closed_unfixed"),
        (issue("In Progress", "indeterminate"), True, "reopened"),
        (issue("Open", "new"), False, None),
        (issue("Done", "done", "Fixed"), False, None),  # fixed, no version: nothing to promise
    ],
)
def test_status_map_defaults_follow_issue_5(jira_issue, reopened, expected):
    rule = load_mappings().status_rule_for(jira_issue, reopened=reopened)
    assert (rule.name if rule else None) == expected


def test_status_map_rows_carry_status_template_and_visibility():
    rows = {row.name: row for row in load_mappings().status_map}
    assert (rows["released"].helpdesk_status, rows["released"].template) == ("solved", "released")
    assert rows["in_progress"].helpdesk_status == "open" and rows["in_progress"].public
    assert rows["closed_unfixed"].public is False and rows["closed_unfixed"].template is None


def test_a_custom_status_map_replaces_the_default(tmp_path):
    m = load_mappings(mappings_dir(tmp_path, """
        status_map:
          - name: review
            when: {status: [Code Review, In Review]}
            template: in_qa
    """))
    assert m.status_rule_for(issue("In Review", "indeterminate")).name == "review"
    assert m.status_rule_for(issue("In Progress", "indeterminate")) is None


# -- pure look-ups ------------------------------------------------------------------------------


def test_fields_read_from_each_helpdesks_own_key():
    m = load_mappings()
    assert m.fields["category"].read(ticket(**{"360001": "billing"})) == "billing"
    assert m.fields["category"].read(ticket("freshdesk", cf_category="export")) == "export"
    assert m.fields["category"].read(ticket("zendesk", cf_category="export")) is None
    assert m.fields["organization"].read(ticket()) == "Acme Corp"


def test_ticket_key_tag():
    assert load_mappings().ticket_key_field.tag_for("SUP-12") == "jira_sup-12"


def test_subject_rules_contains_is_case_insensitive_and_regex_is_not(tmp_path):
    m = load_mappings(mappings_dir(tmp_path, r"""
        subject_rules:
          - {regex: "^URGENT\\b", severity: high}
          - {contains: "[emergency]", severity: emergency}
          - {pattern: "^Outage", severity: high, match: regex}
    """))
    assert m.severity_for_subject("URGENT: login broken") == "high"
    assert m.severity_for_subject("urgent: login broken") is None
    assert m.severity_for_subject("Re: [EMERGENCY] down") == "emergency"
    # The older long form `pattern` + `match` reads as the same rule type.
    assert m.severity_for_subject("Outage in EU") == "high"
    assert m.subject_rules[2] == SubjectRule(regex="^Outage", severity="high")


def test_the_mappings_and_the_profiles_share_one_subject_rule_type():
    from bridge.policy import profiles

    assert SubjectRule is profiles.SubjectRule
    assert profiles.Profile.model_fields["subject_rules"].annotation == tuple[SubjectRule, ...]
    assert load_mappings().subject_rules == [SubjectRule(contains="[Emergency]", severity="emergency")]


org_names = st.text(alphabet=st.characters(whitelist_categories=("L", "N", "Zs")), min_size=1,
                    max_size=20).filter(lambda s: s.strip() == s and s.strip())
tier_names = st.sampled_from(["free", "community", "trial", "standard", "premium", "enterprise"])


@given(orgs=st.dictionaries(org_names, tier_names, max_size=5), default=tier_names,
       probe=org_names)
def test_tier_for_named_organizations_any_case_else_default(orgs, default, probe):
    tiers = TierMapping(default=default, organizations=orgs)
    for name, tier in orgs.items():
        if sum(n.casefold() == name.casefold() for n in orgs) == 1:
            # Any spelling with the same case-folded form names the same organization.
            for spelling in (name, name.upper(), name.lower(), name.swapcase()):
                if spelling.casefold() == name.casefold():
                    assert tiers.tier_for(spelling) == tier
    if all(probe.casefold() != n.casefold() for n in orgs):
        assert tiers.tier_for(probe) == default
    assert tiers.tier_for(None) == default


def test_tier_by_organization_tag_when_the_name_is_not_listed():
    tiers = TierMapping(organizations={"Acme Corp": "enterprise"}, organization_tags={"vip": "premium"})
    assert tiers.tier_for("Acme Corp", ["vip"]) == "enterprise"
    assert tiers.tier_for("Globex", ["beta", "VIP"]) == "premium"
    assert tiers.tier_for("Globex", ["beta"]) == "standard"


@given(actor=st.text(min_size=1), groups=st.lists(st.text(min_size=1), max_size=3))
def test_empty_escalation_lists_allow_anyone(actor, groups):
    assert EscalationRules().actor_allowed(actor, groups)


@given(actor=st.emails(), others=st.lists(st.emails(), max_size=3))
def test_only_listed_actors_or_groups_may_escalate(actor, others):
    rules = EscalationRules(allowed_actors=[actor.upper()], allowed_groups=["Escalation Managers"])
    assert rules.actor_allowed(actor)
    for other in others:
        if other.casefold() != actor.casefold():
            assert not rules.actor_allowed(other)
            assert rules.actor_allowed(other, ["escalation managers"])


def test_packaged_directory_holds_the_file():
    assert (packaged_mappings_dir() / "default.yaml").is_file()
