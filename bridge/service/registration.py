"""Registering `bridge serve`'s webhook URLs at the vendors whose API allows it.

`bridge webhooks register`, `bridge sandbox --webhooks-to` and `bridge doctor` use this:

- **JIRA** (Cloud and Data Center admin webhooks, ``/rest/webhooks/1.0/webhook``): one
  registration named ``bridge`` for ``<serve>/hooks/jira`` with the issue, comment,
  version and issue-link events and ``BRIDGE_WEBHOOKS_JIRA_SECRET`` as its secret. Found
  again by its URL and updated in place, so registering twice leaves one registration.
- **Zendesk** (``/api/v2/webhooks`` and ``/api/v2/triggers.json``): an event-subscribed
  webhook for ticket events, and a trigger-connected one with a trigger that fires when a
  ticket carries the Escalate tag, both signed with ``BRIDGE_WEBHOOKS_ZENDESK_SECRET``
  (Zendesk lets the creator choose the signing secret). Found again by endpoint and title.

Sentry integration webhooks, Freshdesk automation rules and django-helpdesk's environment
variables are set up in their own admin pages (the README says how).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests

from bridge.errors import BridgeError, CredentialsRefused, ServiceUnreachable, UsageError

__all__ = ["JIRA_EVENTS", "Registration", "jira_webhook", "register_all", "register_sandbox", "zendesk_webhooks"]

JIRA_EVENTS = ["jira:issue_created", "jira:issue_updated", "comment_created", "comment_updated",
               "comment_deleted", "jira:version_released", "issuelink_created", "issuelink_deleted"]
ZENDESK_EVENTS = ["zen:event-type:ticket.created", "zen:event-type:ticket.comment_added",
                  "zen:event-type:ticket.status_changed", "zen:event-type:ticket.tags_changed",
                  "zen:event-type:ticket.custom_field_changed", "zen:event-type:ticket.priority_changed"]
NAME = "bridge"
TRIGGER_NAME = "bridge trigger"
TRIGGER_TITLE = "bridge: the customer pressed Escalate"
#: The body the trigger sends (the README gives the same one for hand-made triggers).
TRIGGER_BODY = '{"ticket_id": "{{ticket.id}}", "event": "escalate"}'


@dataclass(frozen=True)
class Registration:
    """One thing registered (or found already registered) at a vendor."""

    source: str
    what: str
    created: bool

    def describe(self) -> str:
        return f"{self.source}: {self.what} {'created' if self.created else 'already registered (updated)'}"


class _Api:
    """A small JSON client over one authenticated session (errors become BridgeErrors)."""

    def __init__(self, service: str, base: str, session: requests.Session) -> None:
        self.service, self.base, self.session = service, base.rstrip("/"), session

    def __call__(self, method: str, path: str, body: dict | None = None):
        try:
            response = self.session.request(method, f"{self.base}{path}", json=body, timeout=30)
        except requests.RequestException as exc:
            raise ServiceUnreachable(f"{self.service} at {self.base} did not answer ({type(exc).__name__})") from None
        if response.status_code in (401, 403):
            raise CredentialsRefused(f"{self.service} refused to manage webhooks ({response.status_code})",
                                     hint="the configured account must be an administrator")
        if response.status_code >= 400:
            raise BridgeError(f"{self.service}: {method} {path} answered {response.status_code}")
        return response.json() if response.content else None


def _jira_api(config, session_factory: Callable[[], requests.Session]) -> _Api:
    jira = config.jira
    if jira.token is None:
        raise UsageError("no JIRA token: set BRIDGE_JIRA_TOKEN")
    session = session_factory()
    if jira.auth == "pat":
        session.headers["Authorization"] = f"Bearer {jira.token.get_secret_value()}"
    else:
        session.auth = (jira.user or "", jira.token.get_secret_value())
    return _Api("JIRA", str(jira.url), session)


def _zendesk_api(config, session_factory: Callable[[], requests.Session]) -> _Api:
    helpdesk = config.helpdesk
    if helpdesk.token is None:
        raise UsageError("no Zendesk token: set BRIDGE_HELPDESK_TOKEN")
    session = session_factory()
    session.auth = (f"{helpdesk.user}/token", helpdesk.token.get_secret_value())
    return _Api("Zendesk", str(helpdesk.url), session)


def jira_webhook(api: _Api, serve_url: str, secret: str, *, find_only: bool = False) -> Registration | None:
    """Create or update the ``bridge`` admin webhook; ``find_only``: None when absent."""
    url = f"{serve_url.rstrip('/')}/hooks/jira"
    body = {"name": NAME, "url": url, "events": JIRA_EVENTS, "excludeBody": False, "secret": secret,
            "filters": {"issue-related-events-section": ""}}
    existing = next((w for w in api("GET", "/rest/webhooks/1.0/webhook") or [] if w.get("url") == url), None)
    if find_only:
        return Registration("jira", f"admin webhook to {url}", False) if existing else None
    if existing is None:
        api("POST", "/rest/webhooks/1.0/webhook", body)
        return Registration("jira", f"admin webhook to {url}", True)
    webhook_id = existing.get("id") or str(existing.get("self", "")).rstrip("/").rsplit("/", 1)[-1]
    api("PUT", f"/rest/webhooks/1.0/webhook/{webhook_id}", body)
    return Registration("jira", f"admin webhook to {url}", False)


def zendesk_webhooks(api: _Api, serve_url: str, secret: str, escalate_tag: str, *,
                     find_only: bool = False) -> list[Registration]:
    """The event-subscribed webhook, the trigger-connected one and its trigger."""
    endpoint = f"{serve_url.rstrip('/')}/hooks/zendesk"
    found: list[Registration] = []
    webhooks = (api("GET", "/api/v2/webhooks") or {}).get("webhooks", [])
    ids: dict[str, str] = {}
    for name, subscriptions in ((NAME, ZENDESK_EVENTS), (TRIGGER_NAME, ["conditional_ticket_events"])):
        existing = next((w for w in webhooks if w.get("endpoint") == endpoint and w.get("name") == name), None)
        spec = {"name": name, "endpoint": endpoint, "http_method": "POST", "request_format": "json",
                "status": "active", "subscriptions": subscriptions}
        if existing is not None:
            ids[name] = existing["id"]
            if not find_only:
                api("PUT", f"/api/v2/webhooks/{existing['id']}", {"webhook": spec})
            found.append(Registration("zendesk", f"webhook {name!r} to {endpoint}", False))
        elif not find_only:
            spec["signing_secret"] = {"algorithm": "SHA256", "secret": secret}
            ids[name] = api("POST", "/api/v2/webhooks", {"webhook": spec})["webhook"]["id"]
            found.append(Registration("zendesk", f"webhook {name!r} to {endpoint}", True))
    if TRIGGER_NAME not in ids:
        return found
    trigger = {"title": TRIGGER_TITLE, "active": True,
               "conditions": {"all": [{"field": "current_tags", "operator": "includes", "value": escalate_tag}],
                              "any": []},
               "actions": [{"field": "notification_webhook", "value": [ids[TRIGGER_NAME], TRIGGER_BODY]}]}
    triggers = (api("GET", "/api/v2/triggers.json") or {}).get("triggers", [])
    existing = next((t for t in triggers if t.get("title") == TRIGGER_TITLE), None)
    if existing is not None:
        if not find_only:
            api("PUT", f"/api/v2/triggers/{existing['id']}.json", {"trigger": trigger})
        found.append(Registration("zendesk", f"trigger {TRIGGER_TITLE!r}", False))
    elif not find_only:
        api("POST", "/api/v2/triggers.json", {"trigger": trigger})
        found.append(Registration("zendesk", f"trigger {TRIGGER_TITLE!r}", True))
    return found


def _serve_url(config, serve_url: str | None) -> str:
    if serve_url:
        return serve_url
    if config.serve.public_url is None:
        raise UsageError("no URL to register: set BRIDGE_SERVE_PUBLIC_URL to where vendors reach bridge serve")
    return str(config.serve.public_url)


def register_all(config, session_factory: Callable[[], requests.Session], *, serve_url: str | None = None,
                 secrets: dict[str, str] | None = None, find_only: bool = False) -> list[Registration]:
    """Register (or, with ``find_only``, look for) every webhook the vendors' APIs allow.

    ``secrets`` overrides the configured ``{"jira": ..., "zendesk": ...}`` (the sandbox
    generates its own). A source without a secret is skipped: registering an unsigned
    webhook would have `bridge serve` refuse every delivery.
    """
    url = _serve_url(config, serve_url)
    chosen = dict(secrets or {})
    for source in ("jira", "zendesk"):
        value = getattr(config.webhooks, f"{source}_secret")
        if source not in chosen and value is not None:
            chosen[source] = value.get_secret_value()
    done: list[Registration] = []
    if "jira" in chosen:
        registered = jira_webhook(_jira_api(config, session_factory), url, chosen["jira"], find_only=find_only)
        done += [registered] if registered else []
    if "zendesk" in chosen and config.helpdesk.kind == "zendesk":
        done += zendesk_webhooks(_zendesk_api(config, session_factory), url, chosen["zendesk"],
                                 config.webhooks.escalate_tag, find_only=find_only)
    return done




def register_sandbox(world, serve_url: str) -> dict[str, str]:
    """Point every emulator of a running sandbox at ``serve_url`` with fresh secrets, through
    each vendor's own API where it has one; returns the ``BRIDGE_WEBHOOKS_*`` settings."""
    import secrets as random

    from bridge.config import load_config

    chosen = {source: random.token_urlsafe(24) for source in ("jira", "zendesk", "sentry", "freshdesk")}
    config = load_config(None, env=world.env())
    register_all(config, requests.Session, serve_url=serve_url, secrets={k: chosen[k] for k in ("jira", "zendesk")})
    world.sentry_state.hooks.subscribe(f"{serve_url.rstrip('/')}/hooks/sentry", chosen["sentry"])
    if world.freshdesk_state is not None:
        world.freshdesk_state.hooks.subscribe(f"{serve_url.rstrip('/')}/hooks/freshdesk", chosen["freshdesk"])
    return {f"BRIDGE_WEBHOOKS_{source.upper()}_SECRET": value for source, value in chosen.items()}


def doctor_report(config, session_factory: Callable[[], requests.Session]) -> str | list[str]:
    """`bridge doctor`'s webhooks line: each source's secret set or not, and for JIRA and
    Zendesk whether the webhook is registered at ``BRIDGE_SERVE_PUBLIC_URL``. A list holds
    problems (a secret set but no registration found), a string is the all-clear."""
    sources = ("jira", "zendesk", "sentry", "freshdesk", "django_helpdesk")
    states = {s: getattr(config.webhooks, f"{s}_secret") is not None for s in sources}
    parts = [f"{s.replace('_', '-')} {'set' if on else 'not set'}" for s, on in states.items()]
    if not (states["jira"] or states["zendesk"]):
        return "secrets: " + ", ".join(parts)
    if config.serve.public_url is None:
        return "secrets: " + ", ".join(parts) + "; registration not checked (BRIDGE_SERVE_PUBLIC_URL unset)"
    found = {r.source for r in register_all(config, session_factory, find_only=True)}
    wanted = {"jira"} if states["jira"] else set()
    if states["zendesk"] and config.helpdesk.kind == "zendesk":
        wanted.add("zendesk")
    missing = sorted(wanted - found)
    if missing:
        return [f"{s}: no webhook to {config.serve.public_url}/hooks/{s} is registered: run `bridge webhooks register`"
                for s in missing]
    return "secrets: " + ", ".join(parts) + f"; registered at {', '.join(sorted(found))}"
