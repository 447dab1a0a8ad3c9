"""A real board on loopback: the sandbox emulators, a SQLite store, and `bridge serve`'s app
(:func:`bridge.service.app.create_app`, which mounts the board) served by werkzeug from a
thread."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import requests
from flask import Flask

from bridge.board import accounts
from bridge.sandbox.server import ServiceThread
from bridge.service.app import create_app
from bridge.services import Services

PASSWORD = "correct horse battery staple"
MANAGER = "erin@example.com"  # the Zendesk demo's escalation manager: the mappings let her escalate
VIEWER = "vera@example.com"
ADMIN = "adam@example.com"


def board_app(services: Services) -> tuple[Flask, object]:
    """`bridge serve`'s app (webhooks, health and the board), and the board's SLA standings."""
    app = create_app(services)
    return app, app.extensions["bridge.board.standings"]


@dataclass
class Board:
    url: str
    services: Services
    standings: object
    app: Flask

    def client(self) -> requests.Session:
        session = requests.Session()
        session.headers["Accept"] = "text/html"
        return session

    def sign_in(self, name: str = MANAGER, password: str = PASSWORD, session: requests.Session | None = None):
        """Sign in through the form; returns (session, response)."""
        session = session or self.client()
        form = session.get(f"{self.url}/login", timeout=10)
        response = session.post(f"{self.url}/login", data={"username": name, "password": password,
                                                           "csrf_token": csrf_of(form.text)},
                                allow_redirects=False, timeout=30)
        return session, response

    def signed_in(self, name: str = MANAGER) -> requests.Session:
        session, response = self.sign_in(name)
        assert response.status_code == 303, response.text
        return session


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def add_account(board: "Board", session: requests.Session, name: str) -> requests.Response:
    """The admin form's answer to adding viewer ``name`` (``session`` signed in as an admin)."""
    token = csrf_of(session.get(f"{board.url}/accounts", timeout=10).text)
    return session.post(f"{board.url}/accounts", data={"name": name, "role": "viewer", "password": "x" * 16,
                                                       "csrf_token": token}, timeout=30)


@pytest.fixture(scope="session")
def password_hash() -> str:
    # Hashed once: argon2 is slow on purpose.
    return accounts.hash_password(PASSWORD)


@contextmanager
def serving_board(services: Services, accounts_: Iterable[tuple[str, str]], password_hash: str) -> Iterator[Board]:
    """The board of ``services`` served on loopback, with ``accounts_`` (name, role) added,
    all with the test password; stopped on the way out."""
    for name, role in accounts_:
        services.store.users.add(name, role, password_hash=password_hash)
    app, standings = board_app(services)
    server = ServiceThread(app).start()
    try:
        yield Board(url=server.url, services=services, standings=standings, app=app)
    finally:
        server.stop()
        standings.stop()


@pytest.fixture
def board(services: Services, password_hash: str) -> Iterator[Board]:
    with serving_board(services, ((MANAGER, "manager"), (VIEWER, "viewer"), (ADMIN, "admin")), password_hash) as b:
        yield b
