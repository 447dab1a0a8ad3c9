"""What the Sentry emulator does with what an SDK sends: pure functions, no I/O.

A Sentry SDK posts *envelopes* (``/api/<project>/envelope/``): one JSON header line, then
items, each an item-header line (``{"type": "event", "length": 123}``) followed by its
payload (``length`` bytes, or up to the next newline when no length is given). Older SDKs
post a bare event to ``/api/<project>/store/`` (JSON, or base64 of zlib-deflated JSON).
Bodies may be gzip-, deflate- or brotli-compressed (``Content-Encoding``).

Events are grouped into issues by a fingerprint, as Sentry does in outline:

* the event's own ``fingerprint`` when it is set and is not just ``{{ default }}``
  (``{{ default }}`` inside a custom fingerprint stands for the default components);
* otherwise the exception type plus the top in-app frame (module or file name, and
  function), or for a message event its message.

Short ids (``BACKEND-1A2``) are the project slug upper-cased and a per-project counter in
Crockford base 32, exactly as Sentry spells them.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

try:  # brotli is optional: without it the SDK itself falls back to gzip
    import brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

#: Crockford's base-32 alphabet, which Sentry uses for short ids.
BASE32_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DEFAULT_FINGERPRINT = ("{{ default }}", "{{default}}")
#: Levels the issue API knows; anything else an SDK sends is reported as ``error``.
LEVELS = ("sample", "debug", "info", "warning", "error", "fatal", "unknown")
_LEVEL_ALIASES = {"warn": "warning", "critical": "fatal", "log": "info"}


class IngestError(ValueError):
    """The request body is not something Sentry would accept (answered with 400)."""


# -- short ids ----------------------------------------------------------------------------
def base32_encode(number: int) -> str:
    """Sentry's short-id number encoding (Crockford base 32, upper case)."""
    if number < 0:
        raise ValueError("short id numbers are positive")
    if number == 0:
        return "0"
    digits = []
    while number:
        number, rest = divmod(number, 32)
        digits.append(BASE32_ALPHABET[rest])
    return "".join(reversed(digits))


def base32_decode(text: str) -> int:
    """Inverse of :func:`base32_encode`; case-insensitive, reads O as 0 and I/L as 1."""
    cleaned = text.upper().replace("O", "0").replace("I", "1").replace("L", "1")
    if not cleaned:
        raise ValueError("empty short id")
    number = 0
    for char in cleaned:
        index = BASE32_ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"not a short id character: {char!r}")
        number = number * 32 + index
    return number


def format_short_id(project_slug: str, number: int) -> str:
    return f"{project_slug.upper()}-{base32_encode(number)}"


def parse_short_id(short_id: str) -> tuple[str, int]:
    """``"BACKEND-1A2"`` -> ``("backend", 1346)``; ValueError when it is not a short id."""
    slug, sep, code = short_id.rpartition("-")
    if not sep or not slug:
        raise ValueError(f"not a short id: {short_id!r}")
    return slug.lower(), base32_decode(code)


# -- bodies --------------------------------------------------------------------------------
def decode_body(data: bytes, content_encoding: str | None) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, br; several may be listed)."""
    encodings = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    try:
        for encoding in reversed(encodings):
            if encoding in ("identity",):
                continue
            if encoding in ("gzip", "x-gzip"):
                data = gzip.decompress(data)
            elif encoding == "deflate":
                try:
                    data = zlib.decompress(data)
                except zlib.error:
                    data = zlib.decompress(data, -zlib.MAX_WBITS)  # raw deflate
            elif encoding == "br":
                if brotli is None:
                    raise IngestError("brotli-compressed body but brotli is not installed")
                data = brotli.decompress(data)
            else:
                raise IngestError(f"unsupported content encoding {encoding!r}")
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"could not decompress the body: {exc}") from None
    return data


@dataclass(frozen=True)
class EnvelopeItem:
    headers: dict
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))

    def json(self) -> dict:
        """The payload as a JSON object (raises :class:`IngestError` otherwise)."""
        return json_object(self.payload, f"the {self.type} item")


def json_object(text: bytes, what: str) -> dict:
    """``text`` parsed as a JSON object; :class:`IngestError` naming ``what`` otherwise."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise IngestError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise IngestError(f"{what} is not a JSON object")
    return value


def _read_line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        return data[pos:], len(data)
    return data[pos:end], end + 1


def parse_envelope(data: bytes) -> tuple[dict, list[EnvelopeItem]]:
    """Split an envelope into its header and items (raises :class:`IngestError`)."""
    line, pos = _read_line(data, 0)
    header = json_object(line, "the envelope header") if line.strip() else {}
    items: list[EnvelopeItem] = []
    while pos < len(data):
        line, pos = _read_line(data, pos)
        if not line.strip():
            continue
        item_header = json_object(line, "an item header")
        length = item_header.get("length")
        if length is not None:
            if not isinstance(length, int) or length < 0 or pos + length > len(data):
                raise IngestError("an item is shorter than its declared length")
            payload = data[pos:pos + length]
            pos += length
            if data[pos:pos + 1] == b"\n":
                pos += 1
        else:
            payload, pos = _read_line(data, pos)
        items.append(EnvelopeItem(item_header, payload))
    return header, items


def parse_store_body(data: bytes) -> dict:
    """A legacy ``/store/`` body: JSON, or base64 of zlib-deflated JSON (old SDKs)."""
    text = data.strip()
    if not text.startswith(b"{"):
        try:
            text = zlib.decompress(base64.b64decode(text))
        except (binascii.Error, zlib.error, ValueError) as exc:
            raise IngestError(f"the event is neither JSON nor base64/zlib: {exc}") from None
    return json_object(text, "the event")


def parse_auth_header(value: str | None) -> dict[str, str]:
    """``Sentry sentry_key=abc, sentry_version=7`` -> ``{"sentry_key": "abc", ...}``."""
    if not value:
        return {}
    text = value.strip()
    if text.lower().startswith("sentry "):
        text = text[7:]
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            out[key.strip()] = val.strip()
    return out


# -- events and grouping ----------------------------------------------------------------------
def exceptions_of(event: dict) -> list[dict]:
    """The exception values of an event, oldest cause first (Sentry's order)."""
    exc = event.get("exception")
    if isinstance(exc, dict):
        values = exc.get("values") or []
    elif isinstance(exc, list):
        values = exc
    else:
        values = []
    return [v for v in values if isinstance(v, dict)]


def top_frame(exception: dict) -> dict | None:
    """The most recent in-app frame of an exception (the last frame when none is in-app)."""
    stacktrace = exception.get("stacktrace") or {}
    frames = [f for f in (stacktrace.get("frames") or []) if isinstance(f, dict)]
    if not frames:
        return None
    in_app = [f for f in frames if f.get("in_app")]
    return (in_app or frames)[-1]


def message_of(event: dict) -> str:
    logentry = event.get("logentry") or {}
    message = event.get("message")
    if isinstance(message, dict):  # old SDKs send the logentry under "message"
        logentry, message = message, None
    if isinstance(logentry, dict):
        text = logentry.get("formatted") or logentry.get("message")
        if text:
            return str(text)
    return str(message or "")


def default_components(event: dict) -> list[str]:
    """The default grouping components (see the module docstring)."""
    values = exceptions_of(event)
    if values:
        primary = values[-1]
        components = [str(primary.get("type") or "Error")]
        frame = top_frame(primary)
        if frame is not None:
            components.append(str(frame.get("module") or frame.get("filename") or frame.get("abs_path") or "?"))
            components.append(str(frame.get("function") or "?"))
        return components
    return [message_of(event) or "<unlabeled event>"]


def grouping_components(event: dict) -> list[str]:
    fingerprint = event.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint and not all(
        str(part) in DEFAULT_FINGERPRINT for part in fingerprint
    ):
        components: list[str] = []
        for part in fingerprint:
            if str(part) in DEFAULT_FINGERPRINT:
                components.extend(default_components(event))
            else:
                components.append(str(part))
        return components
    return default_components(event)


def group_hash(event: dict) -> str:
    """The md5 hex digest that decides which issue an event belongs to."""
    joined = "\x00".join(grouping_components(event))
    return hashlib.md5(joined.encode("utf-8")).hexdigest()


def parse_timestamp(value: Any, default: datetime) -> datetime:
    """An event's ``timestamp``: RFC 3339 text or seconds since the epoch."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return default


def normalise_level(value: Any) -> str:
    level = _LEVEL_ALIASES.get(str(value or "error").lower(), str(value or "error").lower())
    return level if level in LEVELS else "error"


def normalise_tags(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [tuple(p) for p in value if isinstance(p, (list, tuple)) and len(p) == 2]
    else:
        pairs = []
    return [(str(k), str(v)) for k, v in pairs]


def user_key(user: Any) -> str | None:
    """What makes two events "the same user" for ``userCount``."""
    if not isinstance(user, dict):
        return None
    for key in ("id", "email", "username", "ip_address"):
        if user.get(key) not in (None, ""):
            return f"{key}:{user[key]}"
    return None


@dataclass(frozen=True)
class Summary:
    """Title, culprit, type and metadata of an issue, derived from its first event."""

    title: str
    culprit: str
    type: str
    metadata: dict
    location: str | None


def summarise(event: dict) -> Summary:
    values = exceptions_of(event)
    if values:
        primary = values[-1]
        exc_type = str(primary.get("type") or "Error")
        exc_value = str(primary.get("value") or "")
        frame = top_frame(primary) or {}
        where = frame.get("module") or frame.get("filename") or ""
        function = frame.get("function") or ""
        culprit = event.get("culprit") or (f"{where} in {function}" if where and function else where)
        title = f"{exc_type}: {exc_value}" if exc_value else exc_type
        metadata = {"type": exc_type, "value": exc_value,
                    "filename": frame.get("filename") or frame.get("abs_path") or "",
                    "function": function}
        return Summary(title[:200], str(culprit), "error", metadata, frame.get("filename"))
    message = message_of(event) or "<unlabeled event>"
    title = message.splitlines()[0][:200] if message.strip() else "<unlabeled event>"
    return Summary(title, str(event.get("culprit") or event.get("transaction") or ""), "default",
                   {"title": title}, None)
