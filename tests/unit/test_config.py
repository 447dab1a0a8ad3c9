"""bridge.toml + BRIDGE_* environment -> validated Config; secrets only from the environment."""

from __future__ import annotations

import logging
import os
import string
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bridge.config import (
    SANDBOX_JIRA_URL,
    Config,
    env_name,
    is_secret_key,
    load_config,
    secret_keys,
    sections,
)
from bridge.errors import EXIT_USAGE, ConfigError

CANARY = "CANARY-7f3a9c1e-do-not-leak"


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ./bridge.toml is one of the sources; every test starts in a directory without one.
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def leaks(config: Config, secret: str) -> bool:
    return any(secret in text for text in (repr(config), str(config), config.model_dump_json()))


# -- sources and precedence -----------------------------------------------------------


def test_no_file_gives_sandbox_defaults():
    config = load_config(env={})
    assert config.source is None
    assert config.jira.url == SANDBOX_JIRA_URL
    assert config.store.url == "sqlite:///bridge.db"
    assert config.helpdesk.kind == "zendesk"
    assert config.jira.token is None
    assert config.mappings.dir is None
    assert config.actor  # the OS user


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("BRIDGE_JIRA_URL", "https://acme.atlassian.net/", lambda c: c.jira.url),
        ("BRIDGE_JIRA_USER", "ops@acme.test", lambda c: c.jira.user),
        ("BRIDGE_JIRA_AUTH", "pat", lambda c: c.jira.auth),
        ("BRIDGE_JIRA_DEPLOYMENT", "server", lambda c: c.jira.deployment),
        ("BRIDGE_JIRA_PROJECT", "OPS", lambda c: c.jira.project),
        ("BRIDGE_JIRA_API_VERSION", "3", lambda c: c.jira.api_version),
        ("BRIDGE_HELPDESK_KIND", "django-helpdesk", lambda c: c.helpdesk.kind),
        ("BRIDGE_HELPDESK_URL", "https://acme.zendesk.com", lambda c: c.helpdesk.url),
        ("BRIDGE_HELPDESK_USER", "agent@acme.test", lambda c: c.helpdesk.user),
        ("BRIDGE_SENTRY_URL", "https://de.sentry.io", lambda c: c.sentry.url),
        ("BRIDGE_SENTRY_ORG", "acme", lambda c: c.sentry.org),
        ("BRIDGE_SENTRY_PROJECT", "TASKS", lambda c: c.sentry.project),
        ("BRIDGE_STORE_URL", "postgresql+psycopg://u@db/bridge", lambda c: c.store.url),
        ("BRIDGE_POLICY_PROFILE", "p1-p4-matrix", lambda c: c.policy.profile),
        ("BRIDGE_MAPPINGS_DIR", "/etc/bridge/mappings", lambda c: str(c.mappings.dir)),
        ("BRIDGE_MONITOR_ENVIRONMENT", "staging", lambda c: c.monitor.environment),
        ("BRIDGE_HTTP_TIMEOUT", "7.5", lambda c: c.http.timeout),
        ("BRIDGE_HTTP_RETRIES", "0", lambda c: c.http.retries),
        ("BRIDGE_HTTP_VERIFY", "false", lambda c: c.http.verify),
        ("BRIDGE_PAGER_KIND", "pagerduty", lambda c: c.pager.kind),
        ("BRIDGE_BRIDGE_ACTOR", "jane@acme.test", lambda c: c.actor),
    ],
)
def test_every_setting_comes_from_the_environment(variable, value, read):
    config = load_config(env={variable: value})
    expected = {"https://acme.atlassian.net/": "https://acme.atlassian.net", "7.5": 7.5,
                "0": 0, "false": False}.get(value, value)
    assert read(config) == expected


def test_each_key_has_its_variable_name():
    names = {env_name(section, key) for section, model in sections().items()
             for key in model.model_fields}
    for expected in ("BRIDGE_JIRA_URL", "BRIDGE_JIRA_TOKEN", "BRIDGE_HELPDESK_KIND",
                     "BRIDGE_SENTRY_TOKEN", "BRIDGE_STORE_URL", "BRIDGE_POLICY_PROFILE",
                     "BRIDGE_MAPPINGS_DIR", "BRIDGE_MONITOR_DSN", "BRIDGE_HTTP_TIMEOUT",
                     "BRIDGE_BRIDGE_ACTOR", "BRIDGE_SECRETS_FILE", "BRIDGE_JIRA_API_VERSION"):
        assert expected in names


def test_environment_wins_over_the_file_and_the_file_over_defaults(tmp_path):
    write(tmp_path / "bridge.toml", '[jira]\nurl = "https://file.example"\nproject = "FILE"\n')
    config = load_config(env={"BRIDGE_JIRA_PROJECT": "ENV"})
    assert config.source == Path("bridge.toml")
    assert config.jira.url == "https://file.example"
    assert config.jira.project == "ENV"


def test_an_empty_variable_counts_as_unset(tmp_path):
    write(tmp_path / "bridge.toml", '[jira]\nproject = "FILE"\n')
    assert load_config(env={"BRIDGE_JIRA_PROJECT": ""}).jira.project == "FILE"


def test_config_option_beats_bridge_config_beats_cwd(tmp_path):
    write(tmp_path / "bridge.toml", '[sentry]\norg = "cwd"\n')
    other = write(tmp_path / "other.toml", '[sentry]\norg = "env"\n')
    explicit = write(tmp_path / "explicit.toml", '[sentry]\norg = "option"\n')
    assert load_config(env={}).sentry.org == "cwd"
    assert load_config(env={"BRIDGE_CONFIG": str(other)}).sentry.org == "env"
    assert load_config(explicit, env={"BRIDGE_CONFIG": str(other)}).sentry.org == "option"


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_named_file_that_does_not_exist_is_an_error(how):
    with pytest.raises(ConfigError) as err:
        if how == "option":
            load_config("nowhere.toml", env={})
        else:
            load_config(env={"BRIDGE_CONFIG": "nowhere.toml"})
    assert "nowhere.toml" in str(err.value)
    assert err.value.exit_code == EXIT_USAGE


def test_paths_in_the_file_are_relative_to_the_file(tmp_path):
    (tmp_path / "etc").mkdir()
    cfg = write(tmp_path / "etc" / "bridge.toml", '[mappings]\ndir = "maps"\n')
    assert load_config(cfg, env={}).mappings.dir == tmp_path / "etc" / "maps"


def test_actor_from_bridge_actor_then_os_user(tmp_path):
    assert load_config(env={"BRIDGE_ACTOR": "esc-manager"}).actor == "esc-manager"
    both = {"BRIDGE_ACTOR": "esc-manager", "BRIDGE_BRIDGE_ACTOR": "explicit"}
    assert load_config(env=both).actor == "explicit"
    write(tmp_path / "bridge.toml", '[bridge]\nactor = "from-file"\n')
    assert load_config(env={"BRIDGE_ACTOR": "esc-manager"}).actor == "from-file"


# -- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "variable"),
    [
        ('[jira]\ntoken = "{c}"\n', "jira.token", "BRIDGE_JIRA_TOKEN"),
        ('[helpdesk]\ntoken = "{c}"\n', "helpdesk.token", "BRIDGE_HELPDESK_TOKEN"),
        ('[monitor]\ndsn = "{c}"\n', "monitor.dsn", "BRIDGE_MONITOR_DSN"),
        ('[pager]\nrouting_key = "{c}"\n', "pager.routing_key", "BRIDGE_PAGER_ROUTING_KEY"),
        # Not a known key, but named like a secret: refused as a secret, not as a typo.
        ('[jira]\napi_token = "{c}"\n', "jira.api_token", "BRIDGE_JIRA_API_TOKEN"),
        ('[jira]\npassword = "{c}"\n', "jira.password", "BRIDGE_JIRA_PASSWORD"),
        ('[helpdesk]\nwebhook_secret = "{c}"\n', "helpdesk.webhook_secret",
         "BRIDGE_HELPDESK_WEBHOOK_SECRET"),
    ],
)
def test_a_secret_in_the_file_is_refused_without_echoing_it(tmp_path, toml, key, variable):
    write(tmp_path / "bridge.toml", toml.format(c=CANARY))
    with pytest.raises(ConfigError) as err:
        load_config(env={})
    message = str(err.value)
    assert message.startswith(f"bridge.toml: {key}: ")
    assert variable in message
    assert CANARY not in message
    assert CANARY not in repr(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_secret_names():
    for name in ("token", "password", "dsn", "api_token", "client_secret", "db_password_file"):
        assert is_secret_key(name)
    for name in ("url", "user", "project", "kind", "token_url_hint"):
        assert not is_secret_key(name)
    assert set(secret_keys()) == {("jira", "token"), ("helpdesk", "token"), ("sentry", "token"), ("errors", "token"),
                                  ("monitor", "dsn"), ("pager", "routing_key"),
                                  ("webhooks", "jira_secret"), ("webhooks", "zendesk_secret"),
                                  ("webhooks", "sentry_secret"), ("webhooks", "freshdesk_secret"),
                                  ("webhooks", "django_helpdesk_secret"), ("serve", "secret_key"),
                                  ("serve", "oidc_client_secret")}


def test_canary_secret_from_the_environment_is_usable_but_never_shown():
    config = load_config(env={"BRIDGE_JIRA_TOKEN": CANARY, "BRIDGE_MONITOR_DSN": CANARY})
    assert config.jira.token is not None
    assert config.jira.token.get_secret_value() == CANARY
    assert not leaks(config, CANARY)
    assert CANARY not in repr(config.jira) and CANARY not in str(config.jira.token)


@settings(max_examples=60, deadline=None)
@given(secret=st.text(alphabet=string.ascii_letters + string.digits + "-_./+=", min_size=12))
def test_no_secret_value_ever_reaches_repr(secret):
    # A value that already appears in a secret-less config (a class name...) proves nothing.
    assume(not leaks(load_config(env={}), secret))
    config = load_config(env={"BRIDGE_HELPDESK_TOKEN": secret, "BRIDGE_SENTRY_TOKEN": secret})
    assert config.helpdesk.token.get_secret_value() == secret
    assert not leaks(config, secret)


def test_secrets_file_supplies_secrets_and_the_environment_wins(tmp_path):
    secrets = write(tmp_path / "bridge.env",
                    f'# mounted by the orchestrator\nexport BRIDGE_JIRA_TOKEN="{CANARY}"\n'
                    "BRIDGE_SENTRY_TOKEN=from-file\n\n")
    secrets.chmod(0o600)
    config = load_config(env={"BRIDGE_SECRETS_FILE": str(secrets),
                              "BRIDGE_SENTRY_TOKEN": "from-env"})
    assert config.jira.token.get_secret_value() == CANARY
    assert config.sentry.token.get_secret_value() == "from-env"
    assert config.secrets.file == secrets
    assert not leaks(config, CANARY)


def test_secrets_file_named_in_the_toml(tmp_path):
    secrets = write(tmp_path / "bridge.env", "BRIDGE_HELPDESK_TOKEN=abc\n")
    secrets.chmod(0o600)
    write(tmp_path / "bridge.toml", '[secrets]\nfile = "bridge.env"\n')
    assert load_config(env={}).helpdesk.token.get_secret_value() == "abc"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_group_readable_secrets_file_warns(tmp_path, caplog):
    secrets = write(tmp_path / "bridge.env", f"BRIDGE_JIRA_TOKEN={CANARY}\n")
    secrets.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="bridge.config"):
        load_config(env={"BRIDGE_SECRETS_FILE": str(secrets)})
    assert "readable by group or others" in caplog.text
    assert CANARY not in caplog.text
    caplog.clear()
    secrets.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="bridge.config"):
        load_config(env={"BRIDGE_SECRETS_FILE": str(secrets)})
    assert caplog.text == ""


def test_a_malformed_secrets_line_names_the_line_not_the_text(tmp_path):
    secrets = write(tmp_path / "bridge.env", f"BRIDGE_JIRA_TOKEN=ok\n{CANARY}\n")
    secrets.chmod(0o600)
    with pytest.raises(ConfigError) as err:
        load_config(env={"BRIDGE_SECRETS_FILE": str(secrets)})
    assert "line 2: expected KEY=VALUE" in str(err.value)
    assert CANARY not in str(err.value)


def test_a_missing_secrets_file_is_an_error():
    with pytest.raises(ConfigError, match="missing.env: secrets file not found"):
        load_config(env={"BRIDGE_SECRETS_FILE": "missing.env"})


# -- errors name the place, the key and the expected form ---------------------------------


def test_bad_url_in_the_file(tmp_path):
    write(tmp_path / "bridge.toml", '[jira]\nurl = "acme.atlassian.net"\n')
    with pytest.raises(ConfigError) as err:
        load_config(env={})
    assert str(err.value).startswith("bridge.toml: jira.url: expected an http(s) URL")


def test_bad_value_in_the_environment_names_the_variable_not_the_value():
    with pytest.raises(ConfigError) as err:
        load_config(env={"BRIDGE_JIRA_URL": f"ftp://{CANARY}"})
    assert str(err.value).startswith("environment: BRIDGE_JIRA_URL: expected an http(s) URL")
    assert CANARY not in str(err.value)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("BRIDGE_HTTP_TIMEOUT", "soon", "environment: BRIDGE_HTTP_TIMEOUT: expected a number"),
        ("BRIDGE_HTTP_TIMEOUT", "-1", "environment: BRIDGE_HTTP_TIMEOUT: expected a number"),
        ("BRIDGE_HTTP_RETRIES", "3.5", "environment: BRIDGE_HTTP_RETRIES: expected"),
        ("BRIDGE_HELPDESK_KIND", "jira", "environment: BRIDGE_HELPDESK_KIND: expected one of "
                                         "'zendesk', 'freshdesk' or 'django-helpdesk'"),
        ("BRIDGE_STORE_URL", "bridge.db", "environment: BRIDGE_STORE_URL: expected an SQLAlchemy URL"),
        ("BRIDGE_JIRA_PROJECT", "sup", "environment: BRIDGE_JIRA_PROJECT: "),
    ],
)
def test_wrong_forms_from_the_environment(variable, value, expected):
    with pytest.raises(ConfigError) as err:
        load_config(env={variable: value})
    assert str(err.value).startswith(expected)


def test_wrong_type_in_the_file(tmp_path):
    write(tmp_path / "bridge.toml", "[http]\nretries = \"many\"\n")
    with pytest.raises(ConfigError, match=r"^bridge.toml: http.retries: expected an integer"):
        load_config(env={})


def test_unknown_key_suggests_the_right_one(tmp_path):
    write(tmp_path / "bridge.toml", '[jira]\nulr = "https://acme.atlassian.net"\n')
    with pytest.raises(ConfigError) as err:
        load_config(env={})
    assert str(err.value).startswith("bridge.toml: jira.ulr: unknown key; did you mean 'url'?")


def test_unknown_section_suggests_the_right_one(tmp_path):
    write(tmp_path / "bridge.toml", '[jria]\nurl = "https://acme.atlassian.net"\n')
    with pytest.raises(ConfigError) as err:
        load_config(env={})
    assert "bridge.toml: jria: unknown section" in str(err.value)
    assert "did you mean [jira]?" in str(err.value)


def test_top_level_key_outside_a_section(tmp_path):
    write(tmp_path / "bridge.toml", 'url = "https://acme.atlassian.net"\n')
    with pytest.raises(ConfigError, match=r"bridge.toml: url: expected a \[section\] table"):
        load_config(env={})


def test_unknown_variable_under_a_known_section_suggests_without_echoing():
    with pytest.raises(ConfigError) as err:
        load_config(env={"BRIDGE_JIRA_TOKN": CANARY})
    assert "environment: BRIDGE_JIRA_TOKN: unknown setting" in str(err.value)
    assert "did you mean BRIDGE_JIRA_TOKEN?" in str(err.value)
    assert CANARY not in str(err.value)


def test_variables_of_other_tools_are_left_alone():
    # BRIDGE_CONFIG / BRIDGE_ACTOR are ours but not section keys; BRIDGE_TEST_* belong to tests.
    config = load_config(env={"BRIDGE_TEST_PG_URL": "postgresql://x", "BRIDGE_ACTOR": "a"})
    assert config.actor == "a"


def test_invalid_toml_names_the_file_and_line(tmp_path):
    write(tmp_path / "bridge.toml", '[jira]\nurl = "https://x\n')
    with pytest.raises(ConfigError) as err:
        load_config(env={})
    assert str(err.value).startswith("bridge.toml: invalid TOML")
    assert "line 2" in str(err.value)


@settings(max_examples=50, deadline=None)
@given(org=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1))
def test_any_text_setting_passes_through_the_environment_unchanged(org):
    assert load_config(env={"BRIDGE_SENTRY_ORG": org}).sentry.org == org
