"""OpenID Connect sign-in to the board (authorization-code flow with PKCE, through authlib).

On when ``[serve] oidc_issuer`` and ``oidc_client_id`` are set (the secret from
``BRIDGE_SERVE_OIDC_CLIENT_SECRET``). The identity provider says who someone is; the
board's own accounts say what they may do: a person signs in to the account linked to
their provider subject, or, the first time, to the account named by their *verified*
e-mail address (which is then linked). Nobody gets an account by signing in: an admin
creates it (``bridge users add``).

The flow's ``state``, ``nonce`` and PKCE verifier travel in a short-lived HttpOnly cookie
signed with the serve secret, so nothing is kept server-side before sign-in. The ID token
is checked against the provider's published keys: signature, issuer, audience, expiry
and nonce.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Blueprint, abort, current_app, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from werkzeug.exceptions import HTTPException

from bridge.board import auth

FLOW_COOKIE = "bridge_board_oidc"
FLOW_TTL_S = 600
DISCOVERY_TTL_S = 3600
TIMEOUT_S = 10

bp = Blueprint("board_oidc", __name__)
bp.register_error_handler(HTTPException, auth.error_page)


class Provider:
    """The configured identity provider: discovery and keys, fetched lazily and cached."""

    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        # Without its trailing "/", to build URLs from and to name linked subjects by (so a
        # configured "https://idp/" and "https://idp" are the same provider); ID tokens are
        # checked against :attr:`published_issuer` instead.
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self._meta: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched = 0.0

    def meta(self) -> dict[str, Any]:
        if self._meta is None or time.monotonic() - self._fetched > DISCOVERY_TTL_S:
            meta = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=TIMEOUT_S).json()
            if meta.get("issuer", "").rstrip("/") != self.issuer:
                raise ValueError("the provider's discovery document names another issuer")
            self._meta = meta
            self._keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=TIMEOUT_S).json())
            self._fetched = time.monotonic()
        return self._meta

    @property
    def published_issuer(self) -> str:
        """The issuer exactly as the discovery document spells it: an ID token's ``iss`` must
        equal it character for character (OIDC Core 3.1.3.7), trailing "/" included (Auth0's
        issuers end in one)."""
        return self.meta()["issuer"]

    def keys(self) -> KeySet:
        self.meta()
        assert self._keys is not None
        return self._keys

    def session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(self.client_id, self.client_secret, scope="openid email profile",
                             redirect_uri=redirect_uri, token_endpoint_auth_method="client_secret_basic")


def register(app, services) -> None:
    """Offer OIDC sign-in when the configuration names a provider."""
    serve = services.config.serve
    if serve.oidc_issuer is None or not serve.oidc_client_id:
        return
    secret = serve.oidc_client_secret.get_secret_value() if serve.oidc_client_secret is not None else ""
    app.extensions["bridge.board.oidc"] = Provider(str(serve.oidc_issuer), serve.oidc_client_id, secret)
    app.register_blueprint(bp)


def _provider() -> Provider:
    return current_app.extensions["bridge.board.oidc"]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.extensions["bridge.board.secret"], salt="bridge.board.oidc")


@bp.get("/login/oidc")
def start():
    provider = _provider()
    try:
        meta = provider.meta()
    except (requests.RequestException, ValueError, KeyError):
        abort(502, "the identity provider does not answer: sign in with a board account, or try again later")
    flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48), "next": request.args.get("next", "")}
    client = provider.session(url_for("board_oidc.callback", _external=True))
    target, _ = client.create_authorization_url(
        meta["authorization_endpoint"], state=flow["state"], nonce=flow["nonce"],
        code_challenge=create_s256_code_challenge(flow["verifier"]), code_challenge_method="S256")
    response = redirect(target)
    auth.set_cookie(response, FLOW_COOKIE, _serializer().dumps(flow), max_age=FLOW_TTL_S)
    return response


@bp.get("/login/oidc/callback")
def callback():
    provider = _provider()
    try:
        flow = _serializer().loads(request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_TTL_S)
    except BadSignature:
        abort(400, "this sign-in expired or was not started here: start again")
    # Bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500).
    if not secrets.compare_digest(request.args.get("state", "").encode(), flow["state"].encode()):
        abort(400, "this sign-in's state does not match: start again")
    if "error" in request.args:
        auth.audit("sign_in", "board:oidc", "denied", f"provider said {request.args['error'][:80]}")
        abort(403, "the identity provider did not sign you in")
    client = provider.session(url_for("board_oidc.callback", _external=True))
    try:
        token = client.fetch_token(provider.meta()["token_endpoint"], code=request.args.get("code", ""),
                                   code_verifier=flow["verifier"], timeout=TIMEOUT_S)
        claims = _verified_claims(provider, token.get("id_token", ""), flow["nonce"])
    except (requests.RequestException, OAuthError, ValueError, KeyError, JoseError) as exc:
        auth.audit("sign_in", "board:oidc", "denied", f"token refused: {type(exc).__name__}")
        abort(403, "the identity provider's answer could not be verified: start again")
    user = _account_for(claims, provider.issuer)
    if user is None:
        auth.audit("sign_in", f"board:oidc:{claims.get('sub', '?')[:80]}", "denied", "no board account")
        abort(403, "no board account for you yet: ask an admin to run `bridge users add` with your e-mail address")
    response = auth.start_session(user, flow.get("next"))
    response.delete_cookie(FLOW_COOKIE, path="/")
    return response


def _verified_claims(provider: Provider, id_token: str, nonce: str) -> dict[str, Any]:
    token = jwt.decode(id_token, provider.keys(), algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": provider.published_issuer},
                                     aud={"essential": True, "value": provider.client_id},
                                     sub={"essential": True}, exp={"essential": True},
                                     nonce={"essential": True, "value": nonce})
    registry.validate(token.claims)
    return dict(token.claims)


def _account_for(claims: dict[str, Any], issuer: str):
    users = auth.users()
    subject = f"{issuer} {claims['sub']}"
    user = users.by_oidc_subject(subject)
    if user is not None:
        return user
    email = claims.get("email")
    if not email or claims.get("email_verified") is not True:
        return None  # an unverified address could be anyone's
    user = users.by_name(email)
    if user is None or user.oidc_subject is not None:
        return None
    users.link_oidc_subject(user.name, subject)
    return users.by_name(email)
