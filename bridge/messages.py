"""Customer message templates: plain-text Jinja2, sandboxed, per locale with a fallback.

Templates live in ``mappings/templates/<locale>/<name>.txt.j2``. A ticket in ``de-CH`` gets
``de-CH`` if the team wrote one, else ``de``, else the default locale (``en``). A team's own
``mappings/templates`` is searched before the packaged one, so overriding one message is one
file.

What a template may see is deliberately small (:data:`SAFE_CONTEXT`): the ticket's own id and
subject, customer-safe words, a release name and date, when the customer hears next. Nothing
from JIRA comments or Sentry is accepted — :meth:`Messages.render` refuses other names and
non-scalar values, so a caller cannot hand a template an object to dig through. The Jinja
environment is a ``SandboxedEnvironment`` (no ``__class__`` walks) with ``StrictUndefined``
(a typo in a template is an error, not an empty string); autoescape is off because the
bodies are plain text, not HTML.

Every problem with a template — missing, syntax error, undefined name, sandbox violation —
raises :class:`bridge.errors.MappingError` naming the template file.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_datetime_format, get_timezone_gmt, get_timezone_name
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.sandbox import SandboxedEnvironment

from bridge.errors import MappingError

TEMPLATE_SUFFIX = ".txt.j2"

#: How long a loaded template is trusted before its file is looked at again (seconds).
RECHECK_S = 2.0

#: Names a template may use, with what each holds. Anything else passed to render() is refused.
SAFE_CONTEXT: dict[str, str] = {
    "ticket_id": "the customer's own ticket id",
    "subject": "the ticket's subject as the customer wrote it",
    "customer_name": "the requester's name, to greet them",
    "status": "the announced state, a status_map row name (in_progress, in_qa, fix_ready...)",
    "severity": "the severity wording (e.g. 'Emergency')",
    "version": "the release that carries the fix",
    "release_date": "when that release ships or shipped (date)",
    "next_update": "when the customer hears from us next (datetime or words)",
    "first_response_due": "when the policy promises the first response (datetime or words)",
    "jira_key": "the JIRA key; shown as `reference` only if show_jira_key_to_customer",
    "escalate_url": "the signed link to the Escalate confirmation page (tickets below the highest severity)",
}

#: Values a template may receive: no objects, so nothing to walk through.
_SCALARS = (str, int, float, date, datetime)


@functools.lru_cache(maxsize=256)
def _babel_locale(locale: str | None) -> Locale:
    """The most specific locale Babel knows among ``locale``'s candidates (``de-CH``, ``de``), else English."""
    for tag in locale_candidates(locale):
        try:
            return Locale.parse(tag, sep="-")
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")  # pragma: no cover - "en" is always a candidate


def customer_time(value: datetime | None, locale: str | None) -> str | None:
    """A time as a customer reads it, in their language, with the zone spelled out.

    ``Friday, May 3, 2024, 2:00 PM Central European Summer Time (GMT+02:00)`` in ``en``,
    ``Freitag, 3. Mai 2024, 14:00 Mitteleuropäische Sommerzeit (GMT+02:00)`` in ``de``: the
    locale's own date, time and date-time patterns (CLDR, through Babel), the zone's long
    name — which also tells the repeated hour apart when clocks go back — and the UTC
    offset, so a customer elsewhere can convert it. A zone that has no name (a fixed
    offset) is written as the offset alone. This is the one customer date format: every
    message that shows a time goes through it. ``None`` stays ``None``.

    Raises ValueError for a naive datetime: a time without a zone would be a guess.
    """
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a customer time needs a time zone; got a naive datetime")
    # Aware datetimes compare (and hash) as instants, and within a zone ignore ``fold``:
    # the key is what the customer reads, the wall time with its fold and zone.
    return _customer_time(value.replace(tzinfo=None), value.fold, value.tzinfo, locale)


@functools.lru_cache(maxsize=4096)
def _customer_time(wall: datetime, fold: int, zone: tzinfo, locale: str | None) -> str:
    """:func:`customer_time` of an aware time, remembered: the messages of one sync round
    mostly tell the same few times (the same next update), and Babel takes tens of
    microseconds a time."""
    value = wall.replace(tzinfo=zone, fold=fold)
    where = _babel_locale(locale)
    moment = get_datetime_format("full", locale=where).replace("'", "").format(
        format_time(value, "short", locale=where), format_date(value, "full", locale=where))
    offset = get_timezone_gmt(value, "long", locale=where)
    name = get_timezone_name(value, "long", locale=where)
    zone = offset if name == offset or name.startswith(("GMT", "UTC")) and name[3:4] in "+-" else f"{name} ({offset})"
    return f"{moment} {zone}"


def customer_date(value: date | None, locale: str | None) -> str | None:
    """A calendar date as a customer reads it: ``May 3, 2024`` (``en``), ``3. Mai 2024`` (``de``)."""
    if value is None:
        return None
    # A datetime is a date too, and compares as an instant: the key is its calendar date.
    return _customer_date(value.date() if isinstance(value, datetime) else value, locale)


@functools.lru_cache(maxsize=1024)
def _customer_date(value: date, locale: str | None) -> str:
    return format_date(value, "long", locale=_babel_locale(locale))


def _format_value(value: object, locale: str | None) -> object:
    """Times and dates in the customer's format (:func:`customer_time`); anything else as is."""
    if isinstance(value, datetime):
        return customer_time(value, locale)
    if isinstance(value, date):
        return customer_date(value, locale)
    return value


def locale_candidates(locale: str | None, default: str = "en") -> list[str]:
    """Locales to try, most specific first: ``de-CH`` -> ``de-ch``, ``de``, then ``default``.

    Case and ``_`` vs ``-`` are normalised (helpdesks send ``de-CH``, ``pt_BR``, ``EN``).
    """
    out: list[str] = []
    if locale:
        parts = locale.strip().replace("_", "-").lower().split("-")
        for n in range(len(parts), 0, -1):
            tag = "-".join(parts[:n])
            if tag and tag not in out:
                out.append(tag)
    default_tag = default.replace("_", "-").lower()
    if default_tag not in out:
        out.append(default_tag)
    return out


class _RecheckingLoader(FileSystemLoader):
    """Jinja's file loader, looking at a loaded template's file at most every ``recheck_s``.

    Jinja asks a loaded template's ``uptodate`` on every ``get_template``: a stat per
    customer message, which showed as an eighth of a 10,000-message sync pass's CPU. A
    long-running process (``bridge serve``, workers, ``sync --watch``) still picks up an
    edited or removed template, within ``recheck_s``.
    """

    def __init__(self, searchpath: Sequence[str], recheck_s: float, clock: Callable[[], float]) -> None:
        super().__init__(searchpath)
        self.recheck_s = recheck_s
        self.clock = clock

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        looked = [self.clock()]

        def recheck() -> bool:
            now = self.clock()
            if now - looked[0] < self.recheck_s:
                return True
            looked[0] = now
            return uptodate()

        return source, filename, recheck


class Messages:
    """The customer message templates under one or more roots (first wins).

    ``roots`` are directories holding ``<locale>/<name>.txt.j2``. ``show_jira_key`` decides
    whether a template's ``reference`` is the JIRA key or None. A template's file is looked
    at again at most every ``recheck_s`` seconds of ``clock``: an edit shows within that.
    """

    def __init__(
        self,
        roots: Sequence[Path],
        *,
        default_locale: str = "en",
        show_jira_key: bool = False,
        recheck_s: float = RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.roots = [Path(r) for r in roots]
        self.default_locale = default_locale
        self.show_jira_key = show_jira_key
        self._env = SandboxedEnvironment(
            loader=_RecheckingLoader([str(r) for r in self.roots], recheck_s, clock),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Which file serves (name, locale), found once: looking costs a directory listing
        # and a few stats, in every message of a 10,000-message pass. Like the mapping, the
        # choice is made once per process; an edit to the chosen file still shows (Jinja
        # reloads a changed file, looked at every ``recheck_s``), a removed one is looked
        # for again.
        self._resolved: dict[tuple[str, str | None], str] = {}

    # -- locating templates ------------------------------------------------------------
    def _locale_dirs(self) -> dict[str, str]:
        """Lower-cased locale -> directory name as written on disk (``de-CH``)."""
        found: dict[str, str] = {}
        for root in self.roots:
            if root.is_dir():
                for entry in root.iterdir():
                    if entry.is_dir():
                        found.setdefault(entry.name.lower(), entry.name)
        return found

    def locales(self) -> list[str]:
        """Locale directories available, as written on disk."""
        return sorted(set(self._locale_dirs().values()))

    def template_name(self, name: str, locale: str | None) -> str:
        """The loader name (``de/in_qa.txt.j2``) used for ``name`` in ``locale``.

        Raises :class:`MappingError` when no candidate locale has the template.
        """
        dirs = self._locale_dirs()
        candidates = locale_candidates(locale, self.default_locale)
        for tag in candidates:
            directory = dirs.get(tag)
            if directory is None:
                continue
            relative = f"{directory}/{name}{TEMPLATE_SUFFIX}"
            if any((root / relative).is_file() for root in self.roots):
                return relative
        wanted = f"templates/{candidates[-1]}/{name}{TEMPLATE_SUFFIX}"
        raise MappingError(wanted, "", f"template not found (looked for locales {', '.join(candidates)})")

    def exists(self, name: str, locale: str | None = None) -> bool:
        """Whether ``name`` resolves for ``locale`` (default locale when None)."""
        try:
            self.template_name(name, locale)
        except MappingError:
            return False
        return True

    def template_file(self, name: str, locale: str | None) -> Path:
        """The file that renders ``name`` for ``locale``."""
        relative = self.template_name(name, locale)
        for root in self.roots:
            if (root / relative).is_file():
                return root / relative
        raise MappingError(relative, "", "template not found")  # pragma: no cover - raced away

    def _file_of(self, relative: str) -> str:
        for root in self.roots:
            if (root / relative).is_file():
                return str(root / relative)
        return relative

    # -- rendering ---------------------------------------------------------------------
    def render(self, name: str, locale: str | None, **context: object) -> str:
        """Render template ``name`` for ``locale`` with only :data:`SAFE_CONTEXT` values.

        Missing names are passed as None so templates can say ``{% if version %}``. Raises
        TypeError for a context name or value type outside the safe set (a programming
        error), :class:`MappingError` naming the template file for any template problem.
        """
        unknown = set(context) - set(SAFE_CONTEXT)
        if unknown:
            raise TypeError(
                f"not a customer-safe template value: {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(SAFE_CONTEXT)})"
            )
        values: dict[str, object] = dict.fromkeys(SAFE_CONTEXT)
        for key, value in context.items():
            if value is not None and not isinstance(value, _SCALARS):
                raise TypeError(f"template value {key} must be text, a number or a date")
            values[key] = _format_value(value, locale or self.default_locale)
        values["reference"] = values["jira_key"] if self.show_jira_key else None
        del values["jira_key"]

        relative = self._resolved.get((name, locale)) or self.template_name(name, locale)
        try:
            try:
                template = self._env.get_template(relative)
            except TemplateNotFound:
                # The file found earlier is gone: look again (a more general locale may
                # serve), or say it is missing.
                self._resolved.pop((name, locale), None)
                relative = self.template_name(name, locale)
                template = self._env.get_template(relative)
            self._resolved[(name, locale)] = relative
            text = template.render(values)
        except TemplateSyntaxError as exc:
            raise MappingError(self._file_of(relative), f"line {exc.lineno}",
                               f"template syntax error: {exc.message}") from None
        except TemplateNotFound:  # pragma: no cover - template_name() found it a moment ago
            raise MappingError(self._file_of(relative), "", "template not found") from None
        except TemplateError as exc:
            # UndefinedError, SecurityError (sandbox) and the rest: name the file, say what.
            raise MappingError(self._file_of(relative), "",
                               f"template error ({exc.__class__.__name__}): {exc.message}") from None
        return text.strip() + "\n"

    def check(self, names: Iterable[str] | None = None) -> None:
        """Parse every template (or those named) in every locale; raise the first problem.

        Parsing catches syntax errors at start-up; undefined names and sandbox violations
        only show when rendering, which :meth:`render` reports the same way.
        """
        wanted = set(names) if names is not None else None
        for root in self.roots:
            if not root.is_dir():
                continue
            for path in sorted(root.glob(f"*/*{TEMPLATE_SUFFIX}")):
                if wanted is not None and path.name[: -len(TEMPLATE_SUFFIX)] not in wanted:
                    continue
                try:
                    self._env.parse(path.read_text(encoding="utf-8"), filename=str(path))
                except TemplateSyntaxError as exc:
                    raise MappingError(str(path), f"line {exc.lineno}",
                                       f"template syntax error: {exc.message}") from None


def packaged_messages() -> Messages:
    """The templates shipped with the package, default settings."""
    from bridge.mapping import packaged_mappings_dir

    return Messages([packaged_mappings_dir() / "templates"])


def render(name: str, locale: str | None, **context: object) -> str:
    """Render a packaged template (see :meth:`Messages.render`).

    Code that has loaded the team's mappings should use ``mappings.templates.render`` so the
    team's own templates and ``show_jira_key_to_customer`` apply.
    """
    return packaged_messages().render(name, locale, **context)


__all__ = ["SAFE_CONTEXT", "TEMPLATE_SUFFIX", "Messages", "customer_date", "customer_time",
           "locale_candidates", "packaged_messages", "render"]
