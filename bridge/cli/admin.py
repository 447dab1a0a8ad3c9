"""Operating the store and the board's accounts: `bridge db`, `bridge users`."""

from __future__ import annotations

import sys

import click

from bridge.cli import (BridgeGroup, State, main,
                        pass_state)
from bridge.errors import UsageError


# --------------------------------------------------------------------------- db --
@main.group(cls=BridgeGroup)
def db() -> None:
    """The state store."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: State) -> None:
    """Create or migrate the store's tables to the current version."""
    from bridge.store.db import upgrade

    url = state.services.config.store.url
    upgrade(url, jobs=True)  # on PostgreSQL, procrastinate's schema too (bridge worker)
    from bridge.store.urls import mask_url

    click.echo(f"store {mask_url(url)} is at the current version")


@db.command("copy")
@click.argument("from_url", metavar="FROM_URL")
@click.argument("to_url", metavar="TO_URL")
@pass_state
def db_copy(state: State, from_url: str, to_url: str) -> None:
    """Copy every row of the store at FROM_URL (e.g. SQLite) into an empty store at TO_URL.

    TO_URL is migrated first (with the job engine's schema on PostgreSQL); the copy is one
    transaction, so a failure leaves TO_URL empty. A store that already holds rows is
    refused (exit 2), and so is a row TO_URL cannot take (named; nothing is copied).
    FROM_URL is only read. Stop `bridge serve` and cron before copying.
    """
    from bridge.jobs.copy_store import copy_store
    from bridge.store.urls import mask_url

    counts = copy_store(from_url, to_url)
    total = sum(counts.values())
    click.echo(f"copied {total} row(s) in {len(counts)} table(s) from {mask_url(from_url)} to {mask_url(to_url)}")

# ------------------------------------------------------------------------ users --
@main.group(cls=BridgeGroup)
def users() -> None:
    """Accounts of the managers' board (viewers read; managers escalate and retry; admins manage users)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "manager", "admin"]), help="What the account may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_state
def users_add(state: State, name: str, role: str, password_stdin: bool) -> None:
    """Create a board account; prompts for its password unless --password-stdin."""
    from bridge.board.accounts import MIN_PASSWORD, hash_password
    from bridge.store.users import UserExists

    name = name.strip()
    if not name or len(name) > 80:
        raise UsageError("the account name must be 1 to 80 characters")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        except click.Abort:
            if sys.stdin.isatty():
                raise  # Ctrl-C at the prompt: the person stopped it
            # No terminal (a script, cron, `< /dev/null`): input ended before a password and
            # its confirmation came, which is a usage error with a way out, not an abort.
            raise UsageError("no password given: standard input ended before the password and its confirmation",
                             hint="in a script, pipe the password in with --password-stdin") from None
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password has {len(password)} characters; it needs at least {MIN_PASSWORD}")
    store = state.services.store
    try:
        store.users.add(name, role, password_hash=hash_password(password))
    except UserExists:
        raise UsageError(f"a board account named {name!r} already exists",
                         hint=f"`bridge users remove {name}` first to replace it") from None
    store.audit.record(state.services.actor, "user_add", f"board:user:{name}", "ok", role)
    click.echo(f"added {name} ({role})")


@users.command("remove")
@click.argument("name")
@pass_state
def users_remove(state: State, name: str) -> None:
    """Delete a board account; its sessions stop working at once."""
    store = state.services.store
    if not store.users.remove(name.strip()):
        raise UsageError(f"no board account named {name!r}", hint="names are case-sensitive")
    store.audit.record(state.services.actor, "user_remove", f"board:user:{name.strip()}", "ok")
    click.echo(f"removed {name.strip()}")
