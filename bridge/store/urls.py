"""Store URLs: normalising them, showing them without their password, and turning the
driver's connection failures into messages that say what to check.

A store URL is a SQLAlchemy URL (``BRIDGE_STORE_URL``). It may carry a password, and the
password must never reach a message, a log line or the database; :func:`mask_url` is the
only way a URL is ever rendered for people.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode

import sqlalchemy.exc
from sqlalchemy.engine import URL, make_url

from bridge.errors import ConfigError

__all__ = ["MASK", "connection_error", "mask_url", "normalise_url", "parse_url", "scrub"]

MASK = "***"

# Query parameters some drivers accept as credentials (psycopg takes ``password=`` and a
# whole ``dsn``/``sslpassword``); their values are masked like the URL's own password.
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|dsn", re.IGNORECASE)
# Fallback for strings SQLAlchemy cannot parse: anything between ``scheme://user:`` and the
# last ``@`` of the authority is a password.
_USERINFO = re.compile(r"^(?P<head>[^:/?#]*://[^:/?#@]*:)(?P<password>.*)@(?P<tail>[^@]*)$", re.DOTALL)


def parse_url(url: str | URL) -> URL:
    """Parse a store URL, raising :class:`ConfigError` (masked) when it is not one."""
    if isinstance(url, URL):
        parsed = url
    else:
        try:
            parsed = make_url(url)
        except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
            raise ConfigError(
                f"store URL {mask_url(url)} is not a database URL",
                hint="set BRIDGE_STORE_URL to e.g. sqlite:///path/bridge.db or "
                "postgresql+psycopg://user:password@host:5432/dbname",
            ) from exc
    if "@" in (parsed.host or ""):
        # A raw "@" in the password: SQLAlchemy split at the first "@", so the password's
        # tail sits in ``host`` and the driver's error (and our hint) would print it.
        raise ConfigError(
            f"store URL {mask_url(url)} has an unencoded '@' in its user or password",
            hint="percent-encode '@' as %40 in BRIDGE_STORE_URL",
        )
    return parsed


def normalise_url(url: str | URL) -> URL:
    """The URL the bridge connects with: ``postgresql://`` and ``postgres://`` use psycopg 3.

    SQLAlchemy would pick psycopg2 for a bare ``postgresql://``, which the bridge does not
    depend on; the ``postgres`` extra installs psycopg 3.
    """
    if isinstance(url, str) and url.startswith("postgres://"):
        # SQLAlchemy refuses the Heroku-style scheme outright.
        url = "postgresql://" + url[len("postgres://") :]
    parsed = parse_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL as people may see it: the password and credential-like parameters masked.

    Works on strings SQLAlchemy cannot parse too, because those end up in error messages.
    """
    if isinstance(url, URL):
        parsed: URL | None = url
    else:
        try:
            parsed = make_url(url)
        except Exception:  # any unparsable text: fall back to the regex below
            parsed = None
    if parsed is not None and "@" in (parsed.host or ""):
        # An unencoded "@" in the password: the parser split at the wrong "@", and part of
        # the password sits in ``host``. Mask up to the last "@" instead.
        parsed = None
    if parsed is not None:
        if parsed.query:
            parsed = parsed.set(
                query={k: (MASK if _SECRET_PARAM.search(k) else v) for k, v in parsed.query.items()}
            )
        return parsed.render_as_string(hide_password=True).replace(quote(MASK, safe=""), MASK)
    return _mask_unparsed(str(url))


def _mask_unparsed(text: str) -> str:
    head, sep, query = text.partition("?")
    match = _USERINFO.match(head)
    if match:
        head = f"{match['head']}{MASK}@{match['tail']}"
    if sep:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return head + sep + query


def _secrets_of(url: URL) -> list[str]:
    """Every credential the URL carries, raw and percent-encoded, longest first."""
    values = [url.password or ""]
    if "@" in (url.host or ""):
        # parse_url refuses such URLs; should one get here, the host holds the password's tail.
        values.append(url.host.rpartition("@")[0])
    values += [
        v
        for k, vs in url.query.items()
        if _SECRET_PARAM.search(k)
        for v in (vs if isinstance(vs, tuple) else (vs,))
    ]
    found: set[str] = set()
    for value in values:
        if value:
            found.update({str(value), quote(str(value), safe=""), unquote(str(value))})
    return sorted(found, key=len, reverse=True)


def scrub(text: str, url: URL) -> str:
    """``text`` with every credential of ``url`` replaced by the mask (defence in depth for
    driver messages, which should not but might quote a connection string)."""
    for secret in _secrets_of(url):
        text = text.replace(secret, MASK)
    return text


def connection_error(exc: BaseException, url: URL) -> ConfigError:
    """A :class:`ConfigError` for a store that cannot be reached or refuses the credentials.

    The message carries the masked URL and the driver's first line of explanation (scrubbed
    of the password), and the hint says what to check for this kind of store.
    """
    original = getattr(exc, "orig", None) or exc
    reason = (str(original).strip().splitlines() or [type(original).__name__])[0]
    reason = scrub(reason, url)
    if url.get_backend_name() == "sqlite":
        hint = "check that the directory of the SQLite file exists and is writable"
    else:
        where = f"{url.host or 'localhost'}:{url.port or 'default port'}"
        hint = (
            f"check that the database server is running and reachable at {where}, that the "
            f"database {url.database!r} exists, and that the user and password in "
            "BRIDGE_STORE_URL are right"
        )
    return ConfigError(f"cannot connect to the store at {mask_url(url)}: {reason}", hint=hint)
