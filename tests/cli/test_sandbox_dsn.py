"""`bridge sandbox` prints BRIDGE_MONITOR_DSN for its Sentry and a DSN for applications:
both deliver events (sent with the real sentry-sdk) to the running sandbox."""

from __future__ import annotations

import re

import requests

from bridge.config import load_config
from bridge.monitoring import flush, init_monitoring, report_item_failure, stop_monitoring
from tests.cli.test_cli import _read_exports, _sandbox_command
from tests.fixtures.sdk_capture import capture_with_sdk


def _issues(exports: dict[str, str], project_dsn: str) -> list[dict]:
    project = project_dsn.rsplit("/", 1)[1]
    answer = requests.get(f"{exports['BRIDGE_SENTRY_URL']}/api/0/organizations/{exports['BRIDGE_SENTRY_ORG']}/issues/",
                          params={"project": project, "query": ""}, timeout=30,
                          headers={"Authorization": f"Bearer {exports['BRIDGE_SENTRY_TOKEN']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _fail() -> None:
    raise ZeroDivisionError("the application's failure")


def test_the_printed_dsns_deliver_the_bridges_and_an_applications_errors(tmp_path):
    with _sandbox_command(tmp_path) as (proc, stderr_file):
        wanted = {"BRIDGE_SENTRY_URL", "BRIDGE_SENTRY_ORG", "BRIDGE_SENTRY_TOKEN", "BRIDGE_MONITOR_DSN"}
        exports = _read_exports(proc, stderr_file, wanted | {"# an application sends its own errors to the "
                                                             "sandbox with SENTRY_DSN"}, within=120)
        app_dsn = exports["# an application sends its own errors to the sandbox with SENTRY_DSN"]
        monitor_dsn = exports["BRIDGE_MONITOR_DSN"]
        assert re.fullmatch(r"http://[0-9a-f]{32}@127\.0\.0\.1:\d+/\d+", monitor_dsn)
        assert monitor_dsn != app_dsn  # the bridge's errors stay apart from the application's

        try:
            assert init_monitoring(load_config(None, env={"BRIDGE_MONITOR_DSN": monitor_dsn}))
            report_item_failure(RuntimeError("the bridge's own failure"), item="zendesk:1")
            flush()
        finally:
            stop_monitoring()
        capture_with_sdk(app_dsn, _fail)

        assert [i["title"] for i in _issues(exports, monitor_dsn)] == ["RuntimeError: the bridge's own failure"]
        assert "ZeroDivisionError: the application's failure" in [i["title"] for i in _issues(exports, app_dsn)]
