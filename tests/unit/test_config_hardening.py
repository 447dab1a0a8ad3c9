"""Hostile or mistaken configuration and mapping files: each is refused with a message
naming what to fix (exit 2), never an internal error, and never echoing a secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.errors import EXIT_USAGE, ConfigError, MappingError, UsageError
from bridge.file_schema import MAX_DEPTH, parse_yaml
from bridge.mapping import load_mappings, load_profile, packaged_profiles_dir
from bridge.starter import write_starter
from bridge.store.urls import normalise_url, parse_url

SECRET = "S3cretPW"


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ./bridge.toml is one of the sources; every test starts in a directory without one.
    monkeypatch.chdir(tmp_path)


def alias_bomb(levels: int = 10) -> str:
    """~1 KB of YAML that expands to 9**levels nodes when its aliases are followed."""
    # Mappings, not lists: the profiles' origin tracking walks every mapping it reaches.
    lines = ["a0: &a0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} {{" + ", ".join(f"k{k}: *a{i - 1}" for k in range(9)) + "}")
    return "\n".join(lines) + "\n"


# --- 1. a raw "@" in the store password -------------------------------------------------

@pytest.mark.parametrize("parse", [parse_url, normalise_url])
def test_a_store_url_with_a_raw_at_in_its_password_is_refused_without_showing_it(parse):
    url = "postgresql+psycopg://bob:Tr0ub4dor@S3cretTail@127.0.0.1:5432/db"
    with pytest.raises(ConfigError) as caught:
        parse(url)
    text = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE
    assert "%40" in text and "bob:***@127.0.0.1" in text
    assert "S3cretTail" not in text and "Tr0ub4dor" not in text


def test_a_percent_encoded_at_in_the_store_password_is_accepted():
    parsed = normalise_url("postgresql+psycopg://bob:Tr0ub4dor%40S3cretTail@127.0.0.1:5432/db")
    assert parsed.host == "127.0.0.1" and parsed.password == "Tr0ub4dor@S3cretTail"


# --- 2. credentials in a service URL ----------------------------------------------------

@pytest.mark.parametrize("variable, settings", [
    ("BRIDGE_JIRA_URL", ("BRIDGE_JIRA_USER", "BRIDGE_JIRA_TOKEN")),
    ("BRIDGE_HELPDESK_URL", ("BRIDGE_HELPDESK_USER", "BRIDGE_HELPDESK_TOKEN")),
])
def test_credentials_in_a_service_url_from_the_environment_are_refused_unechoed(variable, settings):
    with pytest.raises(ConfigError) as caught:
        load_config(env={variable: f"http://bob:{SECRET}@jira.example.com"})
    text = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE
    assert variable in text and all(name in text for name in settings)
    assert SECRET not in text


def test_credentials_in_a_service_url_in_the_file_are_refused_unechoed(tmp_path):
    file = tmp_path / "bridge.toml"
    file.write_text(f'[helpdesk]\nurl = "https://bob:{SECRET}@acme.zendesk.com"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(file, env={})
    text = str(caught.value)
    assert "helpdesk.url" in text and "BRIDGE_HELPDESK_TOKEN" in text
    assert SECRET not in text


def test_a_user_alone_in_a_service_url_is_refused_too():
    with pytest.raises(ConfigError, match="BRIDGE_JIRA_URL"):
        load_config(env={"BRIDGE_JIRA_URL": "https://bob@jira.example.com"})


# --- 3. a list or mapping as a YAML key -------------------------------------------------

@pytest.mark.parametrize("text, line", [("a: 1\n[a, b]: 1\n", 2), ("{x: 1}: 2\n", 1)], ids=["list", "mapping"])
def test_a_list_or_mapping_as_a_key_is_a_mapping_error_naming_file_and_line(text, line):
    with pytest.raises(MappingError) as caught:
        parse_yaml(text, "mappings/default.yaml")
    assert str(caught.value).startswith(f"mappings/default.yaml: line {line}: ")
    assert "not a list or mapping" in str(caught.value)


# --- 4. nesting too deep ----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "a: " + "[" * 500 + "]" * 500 + "\n",
    "a: " + "{b: " * 2000 + "1" + "}" * 2000 + "\n",
], ids=["lists", "mappings"])
def test_yaml_nested_too_deeply_is_a_mapping_error(text):
    with pytest.raises(MappingError, match="nested too deeply") as caught:
        parse_yaml(text, "profiles/deep.yaml")
    assert str(caught.value).startswith("profiles/deep.yaml: line 1: ")


def test_yaml_nested_within_the_limit_still_loads():
    depth = MAX_DEPTH - 2  # the top-level mapping and key `a` take a level each
    assert parse_yaml("a: " + "[" * depth + "]" * depth, "f.yaml")["a"] is not None


@pytest.mark.parametrize("value", ["[" * 2000 + "1" + "]" * 2000, "{b = " * 2000 + "1" + "}" * 2000],
                         ids=["arrays", "inline-tables"])
def test_toml_nested_too_deeply_is_a_config_error_naming_the_file(tmp_path, value):
    file = tmp_path / "bridge.toml"
    file.write_text(f"[jira]\nproject = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply") as caught:
        load_config(file, env={})
    assert str(file) in str(caught.value)


# --- 5. YAML aliases (billion laughs) ---------------------------------------------------

def test_an_alias_bomb_profile_is_refused_naming_file_and_line(tmp_path):
    bomb = alias_bomb(10)
    assert len(bomb) < 1100
    path = tmp_path / "laughs.yaml"
    path.write_text(bomb, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_profile(path)
    assert re.match(rf"{re.escape(str(path))}: line \d+: .*YAML aliases", str(caught.value))


def test_an_alias_bomb_in_the_mappings_file_is_refused(tmp_path):
    (tmp_path / "default.yaml").write_text(alias_bomb(10), encoding="utf-8")
    with pytest.raises(MappingError, match="aliases"):
        load_mappings(tmp_path)


def test_an_alias_inside_the_value_it_names_is_refused():
    with pytest.raises(MappingError, match=r"f\.yaml: line 1: .*inside the value it names"):
        parse_yaml("a: &a [1, *a]\n", "f.yaml")


def test_a_profile_sharing_values_through_aliases_loads(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(
        "extends: emergency-to-low\n"
        "tiers:\n"
        "  standard:\n"
        "    hours: &h {timezone: Europe/Berlin, weekly: {mon-fri: '09:00-17:00'}}\n"
        "  enterprise:\n"
        "    hours: *h\n", encoding="utf-8")
    profile = load_profile(path)
    assert str(profile.tiers["enterprise"].hours) == str(profile.tiers["standard"].hours)
    assert "Europe/Berlin" in str(profile.tiers["enterprise"].hours)


def test_the_shipped_profiles_and_mappings_with_their_anchors_still_load():
    # Two packaged profiles share `hours:` through an anchor; the alias bomb guard lets them load.
    for path in sorted(packaged_profiles_dir().glob("*.yaml")):
        load_profile(path)
    load_mappings()


# --- 6. bridge init over a file named mappings ------------------------------------------

@pytest.mark.parametrize("force", [False, True])
def test_init_where_mappings_is_a_file_refuses_before_writing_anything(tmp_path, force):
    (tmp_path / "mappings").write_text("not a directory", encoding="utf-8")
    with pytest.raises(UsageError, match="mappings is not a directory"):
        write_starter(tmp_path, force=force)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mappings"]
    assert (tmp_path / "mappings").read_text(encoding="utf-8") == "not a directory"


def test_init_into_a_relative_directory_still_refuses_an_existing_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bridge.toml").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        write_starter(Path("sub"))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["bridge.toml"]


# --- 7. a CA bundle that is not there ---------------------------------------------------

def test_a_ca_bundle_that_does_not_exist_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="BRIDGE_HTTP_CA_BUNDLE") as caught:
        load_config(env={"BRIDGE_HTTP_CA_BUNDLE": "/nonexistent.pem"})
    assert caught.value.exit_code == EXIT_USAGE


def test_a_ca_bundle_in_the_file_that_does_not_exist_names_the_key(tmp_path):
    file = tmp_path / "bridge.toml"
    file.write_text('[http]\nca_bundle = "missing.pem"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"http\.ca_bundle"):
        load_config(file, env={})


def test_a_ca_bundle_file_or_directory_that_exists_is_accepted(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    assert load_config(env={"BRIDGE_HTTP_CA_BUNDLE": str(bundle)}).http.ca_bundle == bundle
    assert load_config(env={"BRIDGE_HTTP_CA_BUNDLE": str(tmp_path)}).http.ca_bundle == tmp_path
