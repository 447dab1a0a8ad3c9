"""`bridge init`'s files: a commented bridge.toml and the mappings, loading back cleanly."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.config import env_name, load_config, secret_keys, sections
from bridge.errors import UsageError
from bridge.mapping import load_mappings_for, packaged_mappings_dir
from bridge.starter import starter_toml, write_starter

CANARY = "CANARY-starter-5c1d"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_starter_files_load_back_cleanly(project):
    written = write_starter(project)
    assert project / "bridge.toml" in written
    config = load_config(env={"BRIDGE_JIRA_TOKEN": CANARY})
    assert config.source == Path("bridge.toml")
    assert config.mappings.dir is not None
    assert config.mappings.dir.resolve() == (project / "mappings").resolve()
    mappings = load_mappings_for(config)
    assert mappings.directory.resolve() == (project / "mappings").resolve()
    assert mappings.profile == "emergency-to-low"
    # The team's copy is what renders now.
    assert mappings.templates.template_file("in_qa", "de").resolve() == (
        project / "mappings" / "templates" / "de" / "in_qa.txt.j2").resolve()


def test_starter_works_from_another_directory_through_bridge_config(
    project, tmp_path_factory, monkeypatch
):
    write_starter(project)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    config = load_config(env={"BRIDGE_CONFIG": str(project / "bridge.toml")})
    assert config.mappings.dir == project / "mappings"
    assert load_mappings_for(config).directory == project / "mappings"


def test_starter_values_equal_the_defaults_except_the_mappings_dir(project):
    write_starter(project)
    from_file = load_config(env={}).model_dump(exclude={"mappings"})
    (project / "bridge.toml").unlink()
    assert from_file == load_config(env={}).model_dump(exclude={"mappings"})


def test_every_key_is_documented_and_no_secret_is_set():
    text = starter_toml()
    parsed = tomllib.loads(text)
    for section, model in sections().items():
        assert f"[{section}]" in text
        for key in model.model_fields:
            variable = env_name(section, key)
            assert variable in text, variable
            assert f"{key} = " in text or f"# {key}: secret" in text, f"{section}.{key}"
    for section, key in secret_keys():
        assert key not in parsed.get(section, {})
        assert f"# {key}: secret — set {env_name(section, key)}" in text


def test_starter_copies_the_mappings_profiles_and_templates(project):
    write_starter(project)
    packaged = packaged_mappings_dir()
    copied = project / "mappings"
    assert (copied / "default.yaml").read_bytes() == (packaged / "default.yaml").read_bytes()
    profiles = sorted(p.name for p in (packaged / "profiles").glob("*.yaml"))
    assert sorted(p.name for p in (copied / "profiles").glob("*.yaml")) == profiles
    templates = sorted(p.relative_to(packaged) for p in (packaged / "templates").rglob("*.j2"))
    assert sorted(p.relative_to(copied) for p in (copied / "templates").rglob("*.j2")) == templates
    assert len(templates) >= 14


def test_refuses_to_overwrite_and_leaves_everything_as_it_was(project):
    write_starter(project)
    template = project / "mappings" / "templates" / "en" / "in_qa.txt.j2"
    template.write_text("our own wording {{ subject }}")
    (project / "bridge.toml").unlink()  # only the template is left to collide
    with pytest.raises(UsageError) as err:
        write_starter(project)
    assert "already exists" in str(err.value)
    assert "--force" in str(err.value)
    assert not (project / "bridge.toml").exists()  # nothing was written before the refusal
    assert template.read_text() == "our own wording {{ subject }}"


def test_names_the_existing_config_file(project):
    (project / "bridge.toml").write_text("# mine\n")
    with pytest.raises(UsageError, match=r"bridge.toml already exists"):
        write_starter(project)
    assert (project / "bridge.toml").read_text() == "# mine\n"


def test_force_overwrites(project):
    write_starter(project)
    (project / "bridge.toml").write_text("# mine\n")
    written = write_starter(project, force=True)
    assert project / "bridge.toml" in written
    assert "[jira]" in (project / "bridge.toml").read_text()
