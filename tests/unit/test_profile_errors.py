"""Profile loading: malformed profiles raise MappingError naming the file, the key and the form;
``extends`` deep-merges; a team's directory is searched first."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bridge.errors import EXIT_USAGE, MappingError, UsageError
from bridge.mapping import list_profiles, load_profile, packaged_profiles_dir
from bridge.policy.profiles import parse_duration
from bridge.policy.sla import due

MINIMAL = """\
severities: [high, low]
default_severity: low
default_tier: standard
tiers:
  standard:
    hours:
      timezone: {zone}
      weekly: {{mon-fri: "09:00-17:00"}}
    targets:
      high: {{first_response: {high_target}}}
      low: {{first_response: 1bd}}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, **kwargs: object) -> MappingError:
    with pytest.raises(MappingError) as caught:
        load_profile(path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == EXIT_USAGE
    return caught.value


def test_minimal_profile_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "mini", MINIMAL.format(zone="America/Denver", high_target="4bh"))
    profile = load_profile(path)
    assert profile.name == "mini" and profile.file == str(path)


def test_unknown_time_zone(tmp_path: Path) -> None:
    path = write(tmp_path, "tz", MINIMAL.format(zone="America/Springfield", high_target="4bh"))
    error = load_error(path)
    assert error.file == str(path)
    assert error.key == "tiers.standard.hours.timezone"
    assert "America/Springfield" in error.problem and "IANA" in error.problem
    assert str(path) in str(error) and "tiers.standard.hours.timezone" in str(error)


@pytest.mark.parametrize(
    ("target", "expected"),
    [("-4bh", "positive"), ("0h", "positive"), ("4 fortnights", "15m, 1h"), ("1.5bd", "whole number"), ("4", "15m, 1h")],
)
def test_bad_targets(tmp_path: Path, target: str, expected: str) -> None:
    path = write(tmp_path, "neg", MINIMAL.format(zone="America/Denver", high_target=target))
    error = load_error(path)
    assert error.key == "tiers.standard.targets.high.first_response"
    assert expected in error.problem


def test_severity_missing_from_the_matrix(tmp_path: Path) -> None:
    path = write(tmp_path, "matrix", """\
extends: p1-p4-matrix
matrix:
  cells:
    low: {large: p3, medium: p3, small: p3}
    medium: {large: p2, medium: p3, small: p3}
""")
    error = load_error(path)
    assert error.file == str(path)
    assert error.key == "matrix.cells"
    assert "'p4' is missing from the matrix" in error.problem


def test_matrix_cell_missing_or_unknown(tmp_path: Path) -> None:
    # Mappings merge key by key, so a missing cell needs a profile without a parent.
    matrix = "matrix:\n  urgencies: [high, low]\n  impacts: [large, small]\n  cells:\n"
    path = write(tmp_path, "cell", MINIMAL.format(zone="UTC", high_target="1h") + matrix
                 + "    high: {large: high, small: high}\n    low: {large: low}\n")
    error = load_error(path)
    assert error.key == "matrix.cells.low.small" and "missing cell" in error.problem
    path = write(tmp_path, "cell2", "extends: p1-p4-matrix\nmatrix:\n  cells:\n    low: {small: p5}\n")
    error = load_error(path)
    assert error.key == "matrix.cells.low.small" and "p1, p2, p3, p4" in error.problem


def test_severity_missing_from_targets(tmp_path: Path) -> None:
    path = write(tmp_path, "targets", MINIMAL.format(zone="UTC", high_target="4bh").replace(
        "      low: {first_response: 1bd}\n", ""))
    error = load_error(path)
    assert error.key == "tiers.standard.targets.low"
    assert "missing" in error.problem


def test_unknown_tier(tmp_path: Path) -> None:
    path = write(tmp_path, "tier", "extends: p1-p4-matrix\ntiers:\n  trial: {same_as: platinum}\n")
    error = load_error(path)
    assert error.key == "tiers.trial.same_as" and "platinum" in error.problem
    path = write(tmp_path, "tier2", "extends: p1-p4-matrix\ndefault_tier: gold\n")
    assert load_error(path).key == "default_tier"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax", "severities: [high, low\ndefault_severity: low\n")
    error = load_error(path)
    assert error.file == str(path)
    assert error.key == "line 2" and "invalid YAML" in error.problem


def test_unknown_key_and_unknown_holiday_country(tmp_path: Path) -> None:
    path = write(tmp_path, "typo", "extends: severity-1-3\ntiers:\n  standard:\n    hourz: 24x7\n")
    error = load_error(path)
    assert error.key == "tiers.standard.hourz" and "unknown key" in error.problem
    path = write(tmp_path, "hol", "extends: severity-1-3\ntiers:\n  standard:\n    hours:\n      holidays: {country: XX}\n")
    assert load_error(path).key == "tiers.standard.hours.holidays"


def test_holiday_subdivision_is_checked_against_its_country(tmp_path: Path) -> None:
    holidays_at = "extends: severity-1-3\ntiers:\n  standard:\n    hours:\n      holidays: {{{}}}\n"
    path = write(tmp_path, "sub", holidays_at.format("country: US, subdivision: XX"))
    error = load_error(path)
    assert error.key == "tiers.standard.hours.holidays"
    assert "unknown subdivision 'XX' of US" in error.problem and "WA" in error.problem
    # An alias the holidays package knows (UK for GB) is a country too.
    ok = write(tmp_path, "alias", holidays_at.format("country: UK, subdivision: SCT"))
    assert load_profile(ok).tiers["standard"].hours.holidays.country == "UK"


def test_error_in_an_inherited_key_names_the_parent_file(tmp_path: Path) -> None:
    parent = write(tmp_path, "parent", MINIMAL.format(zone="Nowhere/City", high_target="4bh"))
    child = write(tmp_path, "child", "extends: parent.yaml\nat_risk_share: 0.5\n")
    error = load_error(child)
    assert error.file == str(parent)
    assert error.key == "tiers.standard.hours.timezone"


def test_circular_extends(tmp_path: Path) -> None:
    write(tmp_path, "a", "extends: b.yaml\n")
    path = write(tmp_path, "b", "extends: a.yaml\n")
    assert "circle" in load_error(path).problem


def test_extends_deep_merges_and_overrides_one_key(tmp_path: Path) -> None:
    write(tmp_path, "ours", """\
extends: emergency-to-low
tiers:
  standard:
    targets:
      high: {first_response: 2bh, status_update: 1bd}
""")
    ours = load_profile("ours", search_dirs=[tmp_path])
    base = load_profile("emergency-to-low")
    assert ours.name == "ours"
    assert ours.targets("high", "standard").first_response == parse_duration("2bh")
    # Everything else is inherited.
    assert ours.targets("normal", "standard") == base.targets("normal", "standard")
    assert ours.tiers["enterprise"] == base.tiers["enterprise"]
    assert ours.subject_rules == base.subject_rules
    opened = datetime.fromisoformat("2024-03-05T10:00-08:00")
    assert due(ours, "high", "standard", opened).first_response_due == datetime.fromisoformat("2024-03-05T12:00-08:00")


def test_a_teams_directory_shadows_and_extends_the_packaged_profile(tmp_path: Path) -> None:
    write(tmp_path, "severity-1-3", "extends: severity-1-3\nat_risk_share: 0.5\n")
    profile = load_profile("severity-1-3", search_dirs=[tmp_path])
    assert profile.at_risk_share == 0.5
    assert profile.file == str(tmp_path / "severity-1-3.yaml")
    assert profile.tiers["premium"].hours is not None and profile.tiers["premium"].hours.always_open


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, "ours", "extends: emergency-to-low\n")
    with pytest.raises(UsageError) as caught:
        load_profile("p5-matrix", search_dirs=[tmp_path])
    assert not isinstance(caught.value, MappingError)
    assert "emergency-to-low, ours, p1-p4-matrix, severity-1-3" in str(caught.value)


def test_list_profiles_and_packaged_dir(tmp_path: Path) -> None:
    assert list_profiles() == ["after-hours-critical", "emergency-to-low", "p1-p4-matrix", "severity-1-3"]
    assert (packaged_profiles_dir() / "p1-p4-matrix.yaml").is_file()
    write(tmp_path, "zzz", "extends: emergency-to-low\n")
    assert list_profiles(search_dirs=[tmp_path])[-1] == "zzz"


@pytest.mark.parametrize(
    ("text", "kind", "describe"),
    [
        ("15m", "wall", "15 minutes"),
        ("1h", "wall", "1 hour"),
        ("4 business hours", "business", "4 business hours"),
        ("4bh", "business", "4 business hours"),
        ("1 business day", "business_days", "1 business day"),
        ("2bd", "business_days", "2 business days"),
        ("60mins", "wall", "1 hour"),
        ("1.5h", "wall", "90 minutes"),
    ],
)
def test_duration_syntax(text: str, kind: str, describe: str) -> None:
    duration = parse_duration(text)
    assert duration.kind == kind
    assert duration.describe() == describe
