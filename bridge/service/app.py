"""The WSGI app of `bridge serve`: webhooks, the Escalate button, health, metrics, the board.

Routes (pinned, operators paste them into the vendors' admin pages):

- ``POST /hooks/jira``, ``/hooks/zendesk``, ``/hooks/sentry``, ``/hooks/freshdesk``,
  ``/hooks/django-helpdesk/<secret>`` — verify, write the pointer to the inbox, answer.
  A source without a secret configured answers 404 (as if the path did not exist); a body
  over ``[serve] max_body_bytes`` 413; a missing or wrong signature 401; a Zendesk
  timestamp outside the replay window 403; a body that is not the vendor's JSON (or holds
  values the bridge cannot read, such as JSON nested too deeply) 400, never a 500, which
  the vendor would retry for as long as it retries. Every
  refusal is counted in ``/metrics`` and stores nothing. An accepted delivery answers 202,
  a redelivery 200, an event the bridge has no use for 200 (``ignored``).
- ``GET|POST /escalate/<ticket>`` — the signed Escalate link (:mod:`bridge.service.button`),
  rate limited (429 with ``Retry-After``; :mod:`bridge.service.button_limits`), the only
  routes that are. It and every other route but the hooks read at most
  :data:`FORM_MAX_BYTES` of a body (413 beyond): they are public and take small forms.
- ``GET /healthz`` (the process answers), ``GET /readyz`` (the store and the services
  answer), ``GET /metrics`` (Prometheus).
- everything else under ``/`` — the managers' board (:func:`bridge.board.register`).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable

from flask import Flask, Response, abort, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge.errors import BridgeError
from bridge.service.metrics import CONTENT_TYPE_LATEST, Metrics
from bridge.service.webhooks import SOURCES, Refused, WebhookRequest, module_for
from bridge.service.webhooks.django_helpdesk import verify_path
from bridge.store.inbox import InboxRepository

log = logging.getLogger(__name__)

__all__ = ["create_app"]

#: How long /readyz trusts its last look at the services (they are not called per probe).
READY_CACHE_S = 15.0
#: The most any route but the hooks reads of a body: the Escalate confirmation and the
#: board's forms are a few hundred bytes, and the Escalate page is public.
FORM_MAX_BYTES = 64 * 1024
#: The path prefix whose next segment is the django-helpdesk secret (see :class:`_App`).
SECRET_PATH_PREFIX = "/hooks/django-helpdesk/"


class _App(Flask):
    """Flask, but an unhandled exception is logged without the secret path segment.

    Flask's own line is ``Exception on <path> [POST]``, and on ``/hooks/django-helpdesk/``
    the path holds the secret that is that source's only proof of origin. The path is logged
    with that segment replaced, and the traceback (whose messages could quote a value) with
    every webhook secret the app knows of replaced. The answer is still Flask's plain 500.
    """

    #: Set by :func:`create_app`: values no log line may hold.
    never_logged: tuple[str, ...] = ()

    def log_exception(self, exc_info) -> None:
        path = request.path
        if path.startswith(SECRET_PATH_PREFIX):
            path = SECRET_PATH_PREFIX + "<secret>"
        text = "".join(traceback.format_exception(*exc_info)) if exc_info[0] is not None else ""
        # Only the right secret gets past verify_path (a wrong one is a 404 before anything can
        # fail), so the configured secrets are all there is to scrub.
        for secret in self.never_logged:
            text = text.replace(secret, "<secret>")
        self.logger.error("Exception on %s [%s]\n%s", path, request.method, text.rstrip())


def create_app(services, *, inbox: InboxRepository | None = None, metrics: Metrics | None = None,
               ring: Callable[[], None] | None = None, clock: Callable[[], float] = time.time) -> Flask:
    """The app for ``services``; ``ring`` wakes the in-process workers after an accept."""
    config = services.config
    inbox = inbox or services.store.inbox
    metrics = metrics or Metrics(backlog=inbox.backlog)
    app = _App("bridge.service")
    # Every route reads at most this; the hooks lift it per request and check their own
    # (larger) limit, to count and answer it themselves.
    app.config["MAX_CONTENT_LENGTH"] = FORM_MAX_BYTES
    app.never_logged = tuple(s for s in (secret_of_config(config, source) for source in SOURCES) if s)
    app.extensions["bridge.inbox"] = inbox
    app.extensions["bridge.metrics"] = metrics
    limit = config.serve.max_body_bytes
    window = config.serve.replay_window_seconds
    if config.serve.proxy_hops:
        # Behind trusted proxies, the client is what they say: its address, the one they
        # appended to X-Forwarded-For, counted from the right (what the client itself wrote in
        # front of those is not believed; the Escalate button's per-client limit keys on it),
        # and its scheme, X-Forwarded-Proto (a proxy that ends TLS asks us over plain HTTP,
        # yet the browser's session and nonce cookies must be Secure). Host and prefix are
        # not taken: links are built from the public URL.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.serve.proxy_hops, x_proto=config.serve.proxy_hops,
                                x_host=0, x_port=0, x_prefix=0)

    def read_body(source: str) -> bytes:
        # Ours to check, below, so it is counted and answered like every refusal: werkzeug's
        # cap (FORM_MAX_BYTES for the other routes) lifted to just above our limit.
        request.max_content_length = limit + 1
        if request.content_length is not None and request.content_length > limit:
            raise Refused(413, "too_large", f"the body is over {limit} bytes")
        body = request.stream.read(limit + 1)
        if len(body) > limit:
            raise Refused(413, "too_large", f"the body is over {limit} bytes")
        return body

    def receive(source: str, path_secret: str | None = None):
        secret = secret_of_config(config, source)
        if secret is None:
            metrics.deliveries.labels(source, "not_configured").inc()
            abort(404)
        try:
            if path_secret is not None:
                verify_path(path_secret, secret)
            body = read_body(source)
            hook = WebhookRequest(headers=dict(request.headers), body=body)
            module = module_for(source)
            module.verify(hook, secret, now=clock(), window=window)
            delivery = _parse(module, hook)
        except Refused as refused:
            metrics.deliveries.labels(source, refused.outcome).inc()
            log.info("webhook %s refused (%s): %s", source, refused.status, refused.message)
            if refused.status == 404:
                abort(404)
            return jsonify({"error": refused.message}), refused.status
        if delivery is None:
            metrics.deliveries.labels(source, "ignored").inc()
            return jsonify({"ignored": True}), 200
        # Written before the answer: once the vendor hears 2xx, the delivery survives a crash.
        new = inbox.accept(delivery.source, delivery.delivery_id, delivery.event, delivery.subject)
        metrics.deliveries.labels(source, "accepted" if new else "duplicate").inc()
        # The vendor's unsigned delivery id, if any, names the delivery for people (repr: it is
        # the sender's text); the inbox key is what was signed.
        log.debug("webhook %s %s: %s %r", source, "accepted" if new else "duplicate", delivery.event,
                  delivery.label or delivery.delivery_id)
        if new and ring is not None:
            ring()
        return jsonify({"accepted": new}), 202 if new else 200

    for source in SOURCES:
        if source == "django-helpdesk":
            continue
        app.add_url_rule(f"/hooks/{source}", f"hook_{source}", lambda source=source: receive(source),
                         methods=["POST"])
    app.add_url_rule("/hooks/django-helpdesk/<path:secret>", "hook_django_helpdesk",
                     lambda secret: receive("django-helpdesk", secret), methods=["POST"])

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc):
        return jsonify({"error": f"the body is over {FORM_MAX_BYTES} bytes"}), 413

    @app.get("/healthz")
    def healthz():
        return jsonify({"ok": True})

    ready = _Readiness(services, inbox)

    @app.get("/readyz")
    def readyz():
        problems = ready.problems()
        return jsonify({"ready": not problems, "problems": problems}), 503 if problems else 200

    @app.get("/metrics")
    def metrics_page():
        # content_type, not mimetype: werkzeug appends a charset to a text/* mimetype, and
        # CONTENT_TYPE_LATEST names its own already (a doubled one upsets strict scrapers).
        return Response(metrics.render(), content_type=CONTENT_TYPE_LATEST)

    _register_button(app, services, inbox, metrics, ring)
    from bridge.board import register

    register(app, services)
    return app


def secret_of_config(config, source: str) -> str | None:
    """The configured secret of webhook ``source``, or None."""
    value = getattr(config.webhooks, f"{source.replace('-', '_')}_secret")
    return value.get_secret_value() if value is not None else None


def _parse(module, hook: WebhookRequest):
    """``module.parse(hook)``; whatever else than :class:`Refused` it raises is a body it
    cannot read, so a 400 too: a 500 is retried by the vendor, for a body that never changes."""
    try:
        return module.parse(hook)
    except Refused:
        raise
    except Exception as exc:  # parse is pure: no I/O, its failures are the body's
        log.warning("webhook %s: unreadable body (%s)", module.SOURCE, type(exc).__name__)
        raise Refused(400, "malformed", "the body could not be read") from None


def _register_button(app: Flask, services, inbox: InboxRepository, metrics: Metrics, ring) -> None:
    serve = services.config.serve
    if serve.secret_key is None:
        return  # no key, no links: /escalate/... is then an unknown path
    from bridge.escalate_links import LinkSigner
    from bridge.service.button import blueprint
    from bridge.service.button_limits import ButtonLimits

    def accept(ticket: str, press_id: str) -> bool:
        new = inbox.accept("button", press_id, "escalate", {"ticket": ticket})
        metrics.deliveries.labels("button", "accepted" if new else "duplicate").inc()
        if new and ring is not None:
            ring()
        return new

    signer = LinkSigner(serve.secret_key.get_secret_value(), max_age_days=serve.escalate_link_days)
    limits = ButtonLimits(serve, signer, services.config.helpdesk.kind, metrics)
    limits.init_app(app)
    app.register_blueprint(blueprint(services, signer, accept, limits))


class _Readiness:
    """The store is asked on every probe; the services at most every READY_CACHE_S."""

    def __init__(self, services, inbox: InboxRepository) -> None:
        self.services = services
        self.inbox = inbox
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._service_problems: list[str] = []

    def problems(self) -> list[str]:
        problems: list[str] = []
        try:
            self.inbox.backlog()
        except Exception as exc:  # whatever the driver raises, the store is not there
            problems.append(f"store: {type(exc).__name__}")
        with self._lock:
            if time.monotonic() - self._checked_at > READY_CACHE_S:
                self._service_problems = self._check_services()
                self._checked_at = time.monotonic()
            return problems + self._service_problems

    def _check_services(self) -> list[str]:
        found = []
        for name, check in (("helpdesk", lambda: self.services.helpdesk.check()),
                            ("jira", lambda: self.services.tracker.check())):
            try:
                check()
            except BridgeError as exc:  # its message names the service, never a secret
                found.append(f"{name}: {exc}")
        return found
