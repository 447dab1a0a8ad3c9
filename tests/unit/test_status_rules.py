"""The status map's row for a Bug: the first row whose condition holds, as the mappings
document it, however often it is asked (the answers are remembered) and whatever the case
of the names."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.mapping import load_mappings
from bridge.mapping.sections import StatusCondition, StatusRule
from bridge.models import Issue, Version

STATUSES = ["To Do", "In Progress", "In QA", "Done", "Closed", "Won't Do"]
CATEGORIES = ["new", "indeterminate", "done"]
RESOLUTIONS = [None, "Fixed", "Won't Fix", "Duplicate"]


def _case(name: str, flips: list[bool]) -> str:
    """``name`` with some letters' case flipped: names compare case-insensitively."""
    return "".join(c.swapcase() if flip else c for c, flip in zip(name, flips + [False] * len(name)))


names = st.builds(_case, st.sampled_from(STATUSES), st.lists(st.booleans(), max_size=8))
versions = st.lists(st.builds(Version, id=st.just("1"), name=st.sampled_from(["2.4.0", "2.5.0"]),
                              released=st.booleans()), max_size=2).map(tuple)
issues = st.builds(Issue, id=st.just("1"), key=st.just("SUP-1"), summary=st.just("s"), issue_type=st.just("Bug"),
                   status=names, status_category=st.sampled_from(CATEGORIES), priority=st.none(),
                   resolution=st.sampled_from(RESOLUTIONS), fix_versions=versions)
conditions = st.builds(
    StatusCondition,
    status=st.none() | st.lists(names, min_size=1, max_size=3),
    status_category=st.none() | st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2),
    resolution=st.none() | st.lists(st.sampled_from([r for r in RESOLUTIONS if r]), min_size=1, max_size=2),
    fix_version=st.none() | st.sampled_from(["released", "unreleased", "none"]),
    reopened=st.none() | st.booleans(),
)
status_maps = st.lists(conditions, min_size=1, max_size=5).map(
    lambda whens: [StatusRule(name=f"row{n}", when=when, public=False) for n, when in enumerate(whens)])


def documented_row(rows: list[StatusRule], issue: Issue, reopened: bool) -> StatusRule | None:
    """The row the mappings' documentation describes, checked key by key."""
    def within(value, names) -> bool:
        return names is None or (value is not None and value.lower() in [n.lower() for n in names])

    for row in rows:
        when = row.when
        state = ("none" if not issue.fix_versions
                 else "released" if any(v.released for v in issue.fix_versions) else "unreleased")
        if ((when.reopened is None or when.reopened == reopened)
                and within(issue.status, when.status) and within(issue.status_category, when.status_category)
                and within(issue.resolution, when.resolution)
                and (when.fix_version is None or when.fix_version == state)):
            return row
    return None


@given(status_maps, st.lists(st.tuples(issues, st.booleans()), min_size=1, max_size=12))
def test_the_row_is_the_first_whose_condition_holds_every_time_it_is_asked(rows, asked):
    mappings = load_mappings().model_copy(update={"status_map": rows})
    for issue, reopened in asked + asked:  # asked twice: the second answers are remembered ones
        assert mappings.status_rule_for(issue, reopened=reopened) == documented_row(rows, issue, reopened)
        assert all(row.when.holds(issue, reopened=reopened) == (documented_row([row], issue, reopened) is row)
                   for row in rows)


@given(status_maps, status_maps, issues, st.booleans())
def test_a_copy_with_a_map_of_its_own_answers_from_its_own_map(first, second, issue, reopened):
    mappings = load_mappings().model_copy(update={"status_map": first})
    mappings.status_rule_for(issue, reopened=reopened)  # remembered for the first map
    copy = mappings.model_copy(update={"status_map": second})
    assert copy.status_rule_for(issue, reopened=reopened) == documented_row(second, issue, reopened)
    assert mappings.status_rule_for(issue, reopened=reopened) == documented_row(first, issue, reopened)
