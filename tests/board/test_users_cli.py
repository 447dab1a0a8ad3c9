"""`bridge users add/remove`: accounts the board signs in with."""

from __future__ import annotations

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load_config
from bridge.services import Services
from tests.board.conftest import PASSWORD


def run(env: dict[str, str], *args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def _users(env):
    return Services(load_config(None, env=env)).store.users


def test_add_reads_the_password_from_stdin_and_stores_only_a_hash(bridge_env):
    result = run(bridge_env, "users", "add", "mia@example.com", "--role", "manager", "--password-stdin",
                 stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    user = _users(bridge_env).by_name("mia@example.com")
    assert user.role == "manager" and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash and PASSWORD not in result.output


def test_add_prompts_twice_for_the_password(bridge_env):
    result = run(bridge_env, "users", "add", "max@example.com", "--role", "viewer", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert _users(bridge_env).by_name("max@example.com").role == "viewer"


def test_bad_input_exits_2_and_writes_nothing(bridge_env):
    short = run(bridge_env, "users", "add", "a@example.com", "--role", "admin", "--password-stdin", stdin="short\n")
    assert short.exit_code == 2 and "at least 12" in short.output
    role = run(bridge_env, "users", "add", "a@example.com", "--role", "root", "--password-stdin", stdin=PASSWORD)
    assert role.exit_code == 2
    assert _users(bridge_env).by_name("a@example.com") is None
    run(bridge_env, "users", "add", "a@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    again = run(bridge_env, "users", "add", "a@example.com", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    assert again.exit_code == 2 and "already exists" in again.output
    assert _users(bridge_env).by_name("a@example.com").role == "admin"


def test_remove_deletes_the_account_and_says_so_when_there_is_none(bridge_env):
    run(bridge_env, "users", "add", "zoe@example.com", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    assert run(bridge_env, "users", "remove", "zoe@example.com").exit_code == 0
    assert _users(bridge_env).by_name("zoe@example.com") is None
    missing = run(bridge_env, "users", "remove", "zoe@example.com")
    assert missing.exit_code == 2 and "no board account" in missing.output
