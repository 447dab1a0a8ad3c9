"""[errors] chooses the error tracker; every key it leaves unset comes from [sentry], where
the older BRIDGE_SENTRY_* names land, so existing deployments keep working unchanged."""

from __future__ import annotations

import pytest

from bridge.config import load_config
from bridge.errors import ConfigError

CANARY = "errors-token-canary-51e2"


def test_without_errors_settings_the_sentry_ones_are_used():
    tracker = load_config(env={"BRIDGE_SENTRY_URL": "https://de.sentry.io", "BRIDGE_SENTRY_ORG": "globex",
                               "BRIDGE_SENTRY_TOKEN": "old"}).error_tracker
    assert (tracker.kind, tracker.url, tracker.org) == ("sentry", "https://de.sentry.io", "globex")
    assert tracker.token.get_secret_value() == "old"


def test_errors_settings_win_over_the_sentry_ones():
    tracker = load_config(env={"BRIDGE_SENTRY_URL": "https://sentry.io", "BRIDGE_SENTRY_TOKEN": "old",
                               "BRIDGE_ERRORS_KIND": "bugsink", "BRIDGE_ERRORS_URL": "https://errors.example/",
                               "BRIDGE_ERRORS_TOKEN": CANARY}).error_tracker
    assert (tracker.kind, tracker.url) == ("bugsink", "https://errors.example")
    assert tracker.token.get_secret_value() == CANARY
    assert CANARY not in repr(tracker)


def test_errors_section_in_the_file(tmp_path):
    (tmp_path / "bridge.toml").write_text('[errors]\nkind = "bugsink"\nurl = "http://127.0.0.1:8000"\n')
    tracker = load_config(tmp_path / "bridge.toml", env={}).error_tracker
    assert (tracker.kind, tracker.url, tracker.token) == ("bugsink", "http://127.0.0.1:8000", None)


@pytest.mark.parametrize("env,named", [
    ({"BRIDGE_ERRORS_KIND": "rollbar"}, "BRIDGE_ERRORS_KIND"),
    ({"BRIDGE_ERRORS_URL": "ftp://errors.example"}, "BRIDGE_ERRORS_URL"),
    ({"BRIDGE_ERRORS_KINDS": "bugsink"}, "BRIDGE_ERRORS_KINDS"),
])
def test_a_wrong_errors_setting_is_a_config_error_naming_the_variable(env, named):
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    assert named in str(err.value)


def test_the_token_is_never_read_from_the_file(tmp_path):
    (tmp_path / "bridge.toml").write_text(f'[errors]\ntoken = "{CANARY}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "bridge.toml", env={})
    assert "BRIDGE_ERRORS_TOKEN" in str(err.value) and CANARY not in str(err.value)
