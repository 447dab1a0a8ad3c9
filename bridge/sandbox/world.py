"""The whole sandbox: emulated JIRA, Zendesk, Sentry and a pager started together and seeded.

Used by ``bridge sandbox`` (fixed ports, so the embedded default configuration finds it),
``bridge demo`` and the test fixtures (port 0: free ports, a fresh world per test).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bridge.sandbox import freshdesk as freshdesk_emulator
from bridge.sandbox import jira as jira_emulator
from bridge.sandbox import pager as pager_emulator
from bridge.sandbox import sentry as sentry_emulator
from bridge.sandbox import zendesk as zendesk_emulator
from bridge.sandbox.server import ServiceThread

#: ``bridge sandbox`` listens here by default: JIRA on this port, Zendesk on the next,
#: Sentry on the one after, the pager after that. The embedded default configuration points
#: at the first three (paging is off unless BRIDGE_PAGER_KIND is set).
DEFAULT_PORT = 8765


@dataclass
class Sandbox:
    """Running emulators and their in-memory state (tests inspect the state directly)."""

    jira: ServiceThread
    jira_state: "jira_emulator.JiraState"
    zendesk: ServiceThread
    zendesk_state: "zendesk_emulator.ZendeskState"
    sentry: ServiceThread
    sentry_state: "sentry_emulator.SentryState"
    #: Emulated PagerDuty Events API v2 (and a generic paging webhook receiver).
    pager: ServiceThread | None = None
    pager_state: "pager_emulator.PagerState | None" = None
    #: Emulated Freshdesk API v2 (``env(helpdesk="freshdesk")`` points the bridge at it).
    freshdesk: ServiceThread | None = None
    freshdesk_state: "freshdesk_emulator.FreshdeskState | None" = None

    def env(self, helpdesk: str = "zendesk") -> dict[str, str]:
        """The settings that point the bridge at this sandbox, as environment variables.

        ``helpdesk="freshdesk"`` points the helpdesk settings at the Freshdesk emulator.
        """
        return {**self._env(), **self._helpdesk_env(helpdesk)}

    def _helpdesk_env(self, helpdesk: str) -> dict[str, str]:
        if helpdesk == "zendesk":
            return {}
        if helpdesk == "freshdesk" and self.freshdesk is not None:
            return {
                "BRIDGE_HELPDESK_KIND": "freshdesk",
                "BRIDGE_HELPDESK_URL": self.freshdesk.url,
                "BRIDGE_HELPDESK_USER": freshdesk_emulator.DEMO_CREDENTIALS["email"],
                "BRIDGE_HELPDESK_TOKEN": freshdesk_emulator.DEMO_CREDENTIALS["api_key"],
            }
        raise ValueError(f"the sandbox has no {helpdesk!r} helpdesk")

    def _env(self) -> dict[str, str]:
        jira = jira_emulator.DEMO_CREDENTIALS
        zendesk = zendesk_emulator.DEMO_CREDENTIALS
        sentry = sentry_emulator.DEMO_CREDENTIALS
        cloud = self.jira_state.mode == "cloud"
        return {
            "BRIDGE_JIRA_URL": self.jira.url,
            "BRIDGE_JIRA_AUTH": "basic",
            "BRIDGE_JIRA_USER": jira["email"] if cloud else jira["username"],
            "BRIDGE_JIRA_TOKEN": jira["api_token"] if cloud else jira["password"],
            "BRIDGE_HELPDESK_KIND": "zendesk",
            "BRIDGE_HELPDESK_URL": self.zendesk.url,
            "BRIDGE_HELPDESK_USER": zendesk["email"],
            "BRIDGE_HELPDESK_TOKEN": zendesk["token"],
            "BRIDGE_SENTRY_URL": self.sentry.url,
            "BRIDGE_SENTRY_ORG": sentry["org"],
            "BRIDGE_SENTRY_TOKEN": sentry["token"],
            **self._pager_env(),
        }

    def _pager_env(self) -> dict[str, str]:
        if self.pager is None:
            return {}
        return {
            "BRIDGE_PAGER_KIND": "pagerduty",
            "BRIDGE_PAGER_URL": self.pager.url,
            "BRIDGE_PAGER_ROUTING_KEY": pager_emulator.DEMO_CREDENTIALS["routing_key"],
        }

    def export_lines(self) -> list[str]:
        return [f"export {name}={shlex.quote(value)}" for name, value in self.env().items()]

    def services(self) -> list[ServiceThread]:
        return [s for s in (self.jira, self.zendesk, self.sentry, self.pager, self.freshdesk) if s is not None]

    def stop(self) -> None:
        for service in self.services():
            service.stop()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(port: int = 0, *, jira_mode: str = "cloud", seed: bool = True) -> Sandbox:
    """Start the emulators on 127.0.0.1: JIRA, Zendesk, Sentry, the pager and Freshdesk on
    ``port`` .. ``port+4`` (0 = free ports)."""
    started: list[ServiceThread] = []
    try:
        jira, jira_state = jira_emulator.start(mode=jira_mode, port=port, seed=seed)
        started.append(jira)
        zendesk, zendesk_state = zendesk_emulator.start(port=port + 1 if port else 0, seed=seed)
        started.append(zendesk)
        sentry, sentry_state = sentry_emulator.start(port=port + 2 if port else 0, seed=seed)
        started.append(sentry)
        pager, pager_state = pager_emulator.start(port=port + 3 if port else 0)
        started.append(pager)
        freshdesk, freshdesk_state = freshdesk_emulator.start(port=port + 4 if port else 0, seed=seed)
        started.append(freshdesk)
    except BaseException:
        for service in started:
            service.stop()
        raise
    return Sandbox(jira, jira_state, zendesk, zendesk_state, sentry, sentry_state, pager, pager_state,
                   freshdesk, freshdesk_state)
