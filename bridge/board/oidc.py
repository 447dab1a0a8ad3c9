"""OpenID Connect sign-in through authlib (placeholder until the provider is configured)."""

from __future__ import annotations


def register(app, services) -> None:
    """Nothing yet: OIDC sign-in is off."""
