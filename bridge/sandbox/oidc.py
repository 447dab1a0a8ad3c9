"""A small OpenID Connect provider for the board's sign-in in tests and the demo.

It follows OpenID Connect Core 1.0 and Discovery 1.0 for the authorization-code flow with
PKCE (RFC 7636), which is all the board uses:

* ``GET /.well-known/openid-configuration`` — discovery; ``GET /jwks`` — the RS256 key;
* ``GET /authorize`` — checks ``client_id``, the registered ``redirect_uri``,
  ``response_type=code``, ``scope`` containing ``openid`` and an S256 ``code_challenge``;
  then signs in the person :attr:`OidcState.signed_in` names (a browser already signed in
  at the provider) or shows a page to pick one of the demo people, and redirects back with
  ``code`` and ``state``. Errors about the client or redirect URI are shown, not redirected
  (Core 3.1.2.6);
* ``POST /token`` — client authentication ``client_secret_basic`` or ``client_secret_post``;
  a code is good once, for 60 s, for the same redirect URI and PKCE verifier; answers an
  ``id_token`` (RS256: ``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nonce``, ``email``,
  ``email_verified``, ``name``) and an ``access_token``; errors as RFC 6749 5.2;
* ``GET /userinfo`` — the person behind a bearer access token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, render_template_string, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from bridge.sandbox.server import ServiceThread

#: The board's client in the sandbox (the demo and tests point the board at these).
DEMO_CLIENT = {"client_id": "bridge-board", "client_secret": "sandbox-oidc-client-secret"}
#: People the provider knows: Erin is the demo's escalation manager.
DEMO_PEOPLE = {
    "erin": {"sub": "u-1001", "email": "erin@example.com", "email_verified": True, "name": "Erin Escalation"},
    "vera": {"sub": "u-1002", "email": "vera@example.com", "email_verified": True, "name": "Vera Viewer"},
    "mallory": {"sub": "u-1003", "email": "mallory@example.com", "email_verified": False, "name": "Mallory"},
}
CODE_TTL_S = 60

_CHOOSER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox identity provider</title></head>
<body><main><h1>Sign in to the sandbox identity provider</h1><ul>
{% for name, person in people.items() %}<li><a href="{{ url }}&amp;as={{ name }}">{{ person.name }} ({{ person.email }})</a></li>{% endfor %}
</ul></main></body></html>"""


@dataclass
class OidcState:
    """Registered clients, people, and codes and tokens handed out."""

    issuer: str = ""
    clients: dict[str, dict] = field(default_factory=dict)
    people: dict[str, dict] = field(default_factory=lambda: {k: dict(v) for k, v in DEMO_PEOPLE.items()})
    #: Who is signed in at the provider: /authorize answers for them without asking.
    signed_in: str | None = None
    codes: dict[str, dict] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "sandbox-1", "use": "sig"}))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.clients[client_id] = {"secret": client_secret, "redirect_uris": list(redirect_uris)}


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def create_app(state: OidcState) -> Flask:
    """The provider's endpoints over ``state``."""
    app = Flask("bridge.sandbox.oidc")

    def oauth_error(error: str, description: str, status: int = 400):
        response = jsonify({"error": error, "error_description": description})
        response.status_code = status
        return response

    @app.get("/.well-known/openid-configuration")
    def discovery():
        base = state.issuer
        return jsonify({
            "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo", "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"], "grant_types_supported": ["authorization_code"],
        })

    @app.get("/jwks")
    def jwks():
        return jsonify({"keys": [state.key.as_dict(private=False)]})

    @app.get("/authorize")
    def authorize():
        args = request.args
        client = state.clients.get(args.get("client_id", ""))
        redirect_uri = args.get("redirect_uri", "")
        if client is None:
            return "unknown client_id", 400
        if redirect_uri not in client["redirect_uris"]:
            return "redirect_uri is not registered for this client", 400

        def back(**params):
            return redirect(f"{redirect_uri}?{urlencode({**params, 'state': args.get('state', '')})}")

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if "openid" not in args.get("scope", "").split():
            return back(error="invalid_scope", error_description="scope must contain openid")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE with S256 is required")
        person = args.get("as") or state.signed_in
        if person is None:
            return render_template_string(_CHOOSER, people=state.people, url=request.full_path)
        if person not in state.people:
            return back(error="access_denied")
        code = secrets.token_urlsafe(24)
        with state.lock:
            state.codes[code] = {"client_id": args["client_id"], "redirect_uri": redirect_uri, "person": person,
                                 "nonce": args.get("nonce"), "challenge": args["code_challenge"],
                                 "expires": time.time() + CODE_TTL_S}
        return back(code=code)

    @app.post("/token")
    def token():
        client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
        if request.authorization is not None and request.authorization.type == "basic":
            client_id, secret = request.authorization.username, request.authorization.password
        client = state.clients.get(client_id or "")
        if client is None or not hmac.compare_digest((secret or "").encode(), client["secret"].encode()):
            return oauth_error("invalid_client", "client authentication failed", 401)
        if request.form.get("grant_type") != "authorization_code":
            return oauth_error("unsupported_grant_type", "only authorization_code")
        with state.lock:
            grant = state.codes.pop(request.form.get("code", ""), None)  # good once
        if (grant is None or grant["expires"] < time.time() or grant["client_id"] != client_id
                or grant["redirect_uri"] != request.form.get("redirect_uri")):
            return oauth_error("invalid_grant", "the code is unknown, used, expired or not for this client")
        if _s256(request.form.get("code_verifier", "")) != grant["challenge"]:
            return oauth_error("invalid_grant", "the PKCE code_verifier does not match")
        person = state.people[grant["person"]]
        now = int(time.time())
        claims = {"iss": state.issuer, "sub": person["sub"], "aud": client_id, "iat": now, "exp": now + 300,
                  "email": person["email"], "email_verified": person["email_verified"], "name": person["name"]}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        access = secrets.token_urlsafe(24)
        state.tokens[access] = grant["person"]
        id_token = jwt.encode({"alg": "RS256", "kid": state.key.kid}, claims, state.key)
        return jsonify({"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
                        "scope": "openid profile email"})

    @app.get("/userinfo")
    def userinfo():
        header = request.headers.get("Authorization", "")
        person = state.tokens.get(header[7:]) if header.startswith("Bearer ") else None
        if person is None:
            return oauth_error("invalid_token", "unknown access token", 401)
        return jsonify(state.people[person])

    return app


def start(port: int = 0) -> tuple[ServiceThread, OidcState]:
    """Serve the provider on 127.0.0.1:``port`` from a daemon thread."""
    state = OidcState()
    service = ServiceThread(create_app(state), port=port).start()
    state.issuer = service.url
    return service, state
