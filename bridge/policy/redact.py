"""Customer PII redaction: what is taken out of helpdesk text before it is written to JIRA.

Everything the bridge copies from a customer conversation into JIRA (the Bug's description,
comments, the summary) goes through :meth:`Redactor.redact` first. What is removed, and how
each kind is told apart from look-alikes:

``email``
    ``local@domain.tld`` with any RFC 5322 ``atext`` in the local part (plus-addressing
    included), any depth of subdomains, Unicode (IDN) labels and ``xn--`` punycode, and the
    URL-encoded ``%40`` form found in query strings. Addresses at the reserved example
    domains are redacted like any other (customers use them in their tests too); only
    domains the caller lists in ``keep_domains`` (say, the support team's own address) stay.
``phone``
    Found with Google's libphonenumber (the ``phonenumbers`` package) at the ``VALID``
    leniency, once per region in ``phone_regions``: a candidate must be a number that is
    really allocated in the numbering plan, so dates, times, versions, JIRA keys and order
    numbers are not taken for phone numbers. Its few slips are caught here: a candidate
    whose digits are mostly a date, time or version (``1699-01-01``), or that continues an
    identifier (``INV-2024-000123``), is no phone; digits right after ``#`` are an order or
    ticket number (``#301``, ``#4155550100`` too), and what follows them is looked at alone.
    National formats (``(415) 555-0100``, ``030/1234567``, ``0171 1234567``) are found for
    the listed regions only; international formats (``+49 30 1234567``, ``0044 20 ...``)
    for every country. As a safety net any ``+`` followed by 8 to 15 digits (with the usual
    separators) is redacted too, valid or not. A 10-digit number may be a valid North
    American number and is then redacted, even when it was meant as some other id.
``card``
    13 to 19 digits, either in one block or grouped the way card numbers are printed (a
    first group of four, then groups of four to six, separated by one space or dash), and
    passing the Luhn check — so other long numbers are not flagged (one in ten still
    passes Luhn by chance; that is the price of not missing a card).
``ip``
    IPv4 dotted quads and IPv6 addresses (validated with :mod:`ipaddress`). A dotted quad
    right after ``v`` or the word ``version`` (``v1.2.3.4``, ``version: 1.2.3.4``) is a
    version number and stays; any other four-part dotted number is taken for an address.
    Three-part versions (``2.4.0``) never look like addresses. IPv6 addresses written with
    fewer than four hex digits (``::``, ``::1``, ``a::b``) are left alone: they are loopback
    or unspecified addresses, or C++ scope syntax, never a customer's host.
``<name>``
    Each extra pattern from the mappings (name + regular expression), e.g. customer
    account numbers.

Each finding is replaced by a readable typed token, ``[email redacted]``, ``[phone
redacted]``, ``[card redacted]``, ``[ip redacted]`` or ``[<name> redacted]``. Redaction is
idempotent: tokens are never matched again, and because replacing one finding can change
the context of its neighbour (a phone number glued to an e-mail address is only recognised
once the address is gone), redaction repeats until nothing more is found.

Disguises are seen through: before looking, text outside ASCII is read as NFKC folds it
(full-width ``＠`` and digits, ligatures, superscripts), look-alike dots read as ``.`` and
invisible format characters (zero-width spaces and joiners, bidirectional marks) are
skipped, digits of every script read as ASCII digits and a line break or tab as a space,
so ``jane.doe＠example．com``, ``+1 415\u200b555 0142`` and a number wrapped onto the next
line are found. Only what is found is replaced: every other character reaches JIRA exactly
as the customer wrote it.

Known limits: obfuscated addresses (``jane at example dot com``), phone numbers in a
national format of a region not listed, and postal addresses or names are not detected.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import phonenumbers

from bridge.errors import InvalidValue, MappingError
from bridge.policy.folding import DOTS

__all__ = ["DEFAULT_PHONE_REGIONS", "Finding", "Redactor", "luhn_valid"]

#: Regions whose *national* phone formats are recognised unless the caller says otherwise.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE")

# The built-in kinds, in the order that names a merged span when findings overlap: a
# mapping pattern is the most deliberate statement of what a string is, a phone number the
# loosest guess.
_BUILTIN_KINDS = ("email", "card", "ip", "phone")

# A token this module wrote. Findings never overlap one, so a second pass leaves it alone.
_TOKEN = re.compile(r"\[[A-Za-z0-9 _.-]{1,64} redacted\]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,47}")

# RFC 5322 atext (and dots) in the local part; \w makes it Unicode-aware for IDN mailboxes.
_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"(?:@|%40)"
    r"(?:"
    # Labels as typed, not as DNS allows: a label ending in "-" (a typo) is still an address.
    r"(?:[^\W_][\w-]*\.)+(?:xn--[a-z0-9-]*[a-z0-9]|[^\W\d_]{2,})"  # host name
    r"|\[[0-9A-Fa-f:.]+\]"  # address literal, user@[192.0.2.1]
    r")",
    re.IGNORECASE,
)

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Not part of a longer dotted number on either side (1.2.3.4.5 is a version, not an address).
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d]|\.\d)")
_VERSION_BEFORE = re.compile(r"(?:\bv|\bversion\s*[:=]?\s*)$", re.IGNORECASE)
_IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])"
    r"(?:(?:[0-9A-Fa-f]{0,4}:){2,6}\d{1,3}(?:\.\d{1,3}){3}"  # ::ffff:192.0.2.1
    r"|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})"
    r"(?:%[\w.]+)?"  # zone index, fe80::1%eth0
    r"(?![\w:])"
)

# Digit groups separated by one space or dash; a card is a contiguous sub-run of them.
_DIGIT_RUN = re.compile(r"(?<![\w.])\d+(?:[ \u00a0-]\d+)*(?![\w]|[.,]\d)")
_GROUP = re.compile(r"\d+")

# Dates, times and versions a phone number may not consist of (libphonenumber takes 1699-01-01 for a
# valid US number), and the identifier heads a number may not continue.
_DATEISH = re.compile(
    r"(?<!\d)(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
    r"|\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"  # times, with fractions of a second
    r"|\d{1,3}\.\d{1,3}\.\d{1,3})(?!\d)"  # versions (a dotted phone ends in four digits)
)
_IDENTIFIER_BEFORE = re.compile(r"[^\W\d][-_/]$")
_MIN_PHONE_DIGITS = 7

# Safety net for international numbers libphonenumber does not consider valid.
_PLUS_PHONE = re.compile(r"(?<![\d+])\+\d(?:[ \u00a0.\-/()]{0,2}\d){7,14}(?!\d)")

_MAX_PASSES = 4
_HEX = frozenset("0123456789abcdefABCDEF")
_MIN_IPV6_HEX = 4


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of PII in a text: its kind and where it is (``text[start:end]``).

    The matched text itself is deliberately not carried, so findings can be logged.
    """

    kind: str
    start: int
    end: int


#: Line breaks and tabs read as spaces: a number wrapped onto the next line is one number.
_BREAKS = str.maketrans("\n\r\t\v\f", "     ")


def _unmasked(text: str) -> tuple[str, list[tuple[int, int]] | None] | None:
    """``text`` as the finders read it (see the module docstring), with the span of
    ``text`` each of its characters comes from (None: its own position, nothing was
    folded); None when that is ``text`` itself.

    Each base character is folded together with the combining marks after it (NFKC
    composes them), so a finding maps back to whole characters of the original; digits
    of any script read as ASCII digits."""
    if text.isascii():
        plain = text.translate(_BREAKS)
        return None if plain == text else (plain, None)
    folded: list[str] = []
    spans: list[tuple[int, int]] = []
    i, size = 0, len(text)
    while i < size:
        j = i + 1
        while j < size and not text[j].isascii() and unicodedata.category(text[j]).startswith("M"):
            j += 1
        cluster = text[i:j]
        if not cluster.isascii():
            cluster = "".join(_plain_char(c) for c in unicodedata.normalize("NFKC", cluster)).translate(DOTS)
        folded.append(cluster)
        spans.extend([(i, j)] * len(cluster))
        i = j
    return "".join(folded).translate(_BREAKS), spans


def _plain_char(c: str) -> str:
    """One character of NFKC's output as the finders read it: invisible format characters
    dropped, a decimal digit of any script as its ASCII digit."""
    if c.isascii():
        return c
    category = unicodedata.category(c)
    if category == "Cf":
        return ""
    return str(unicodedata.digit(c)) if category == "Nd" else c


def luhn_valid(digits: str) -> bool:
    """True when the string of digits passes the Luhn (mod 10) check used by card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


class _PatternProblem(Exception):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(problem)
        self.name = name
        self.problem = problem


def _compile_extra(name: str, regex: str) -> re.Pattern[str]:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _PatternProblem(
            str(name),
            "a pattern name is 1-48 letters, digits, spaces, '_', '-' or '.', starting with a "
            "letter or digit",
        )
    if name in _BUILTIN_KINDS:
        raise _PatternProblem(name, f"{name!r} is a built-in kind; choose another name")
    if not isinstance(regex, str) or not regex:
        raise _PatternProblem(name, "expected a non-empty regular expression string")
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise _PatternProblem(name, f"invalid regular expression {regex!r}: {exc}") from None
    # A pattern that matches nothing at all would put a token between every two characters.
    if pattern.fullmatch(""):
        raise _PatternProblem(name, f"regular expression {regex!r} matches the empty string")
    return pattern


class Redactor:
    """Finds and replaces customer PII in text; build once, use for every text.

    ``extra_patterns`` are ``(name, regex)`` pairs (compiled here, once); ``keep_domains``
    are e-mail domains that stay readable, subdomains included; ``phone_regions`` are the
    ISO 3166 regions whose national phone formats are recognised.
    """

    def __init__(
        self,
        extra_patterns: Iterable[tuple[str, str]] = (),
        keep_domains: Iterable[str] = (),
        *,
        phone_regions: Iterable[str] = DEFAULT_PHONE_REGIONS,
    ) -> None:
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for name, regex in extra_patterns:
            try:
                compiled.append((name, _compile_extra(name, regex)))
            except _PatternProblem as exc:
                raise InvalidValue(f"redaction pattern {exc.name!r}: {exc.problem}") from None
        self._extra = tuple(compiled)
        self._keep_domains = tuple(d.strip().lower().lstrip("@").rstrip(".") for d in keep_domains)
        regions = tuple(r.upper() for r in phone_regions)
        supported = phonenumbers.SUPPORTED_REGIONS
        unknown = [r for r in regions if r not in supported]
        if unknown:
            raise InvalidValue(
                f"unknown phone region(s) {', '.join(unknown)}",
                hint="use ISO 3166 two-letter codes such as US, GB, DE",
            )
        self._regions = regions
        self._kind_rank = {name: rank for rank, (name, _) in enumerate(self._extra)}
        for rank, kind in enumerate(_BUILTIN_KINDS, start=len(self._extra)):
            self._kind_rank[kind] = rank

    @classmethod
    def from_mapping(
        cls,
        file: str,
        key: str,
        patterns: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        keep_domains: Iterable[str] = (),
        phone_regions: Iterable[str] = DEFAULT_PHONE_REGIONS,
    ) -> Redactor:
        """Build a redactor from the patterns of a mapping file.

        ``patterns`` is the mapping's ``name: regex`` table (or pairs); a bad entry raises
        :class:`~bridge.errors.MappingError` naming ``file`` and ``key.<name>``.
        """
        items = list(patterns.items()) if isinstance(patterns, Mapping) else list(patterns)
        pairs: list[tuple[str, str]] = []
        for item in items:
            try:
                name, regex = item
            except (TypeError, ValueError):
                raise MappingError(file, key, "expected pairs of name and regular expression")
            try:
                _compile_extra(name, regex)
            except _PatternProblem as exc:
                raise MappingError(file, f"{key}.{exc.name}" if key else exc.name, exc.problem)
            pairs.append((name, regex))
        return cls(pairs, keep_domains, phone_regions=phone_regions)

    # ------------------------------------------------------------------ finding

    def findings(self, text: str) -> list[Finding]:
        """Every piece of PII in ``text``, in order, overlapping matches merged into one;
        found in the text as the module docstring says it is read (disguises seen through),
        and given as spans of ``text`` itself."""
        unmasked = _unmasked(text)
        if unmasked is None:
            return self._findings(text)
        plain, spans = unmasked
        if spans is None:
            return self._findings(plain)
        return self._merge([Finding(f.kind, spans[f.start][0], spans[f.end - 1][1]) for f in self._findings(plain)])

    def _findings(self, text: str) -> list[Finding]:
        protected = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
        raw: list[Finding] = []
        for name, pattern in self._extra:
            raw.extend(Finding(name, *m.span()) for m in pattern.finditer(text) if m.group())
        raw.extend(self._emails(text))
        raw.extend(self._cards(text))
        raw.extend(self._ips(text))
        raw.extend(self._phones(text))
        raw = [f for f in raw if not any(f.start < e and s < f.end for s, e in protected)]
        return self._merge(raw)

    def _emails(self, text: str) -> Iterable[Finding]:
        for m in _EMAIL.finditer(text):
            # Quotes and slashes are legal in a local part but far more often quote the
            # address or end a URL path; leave them out of the span.
            start = m.start() + len(m.group()) - len(m.group().lstrip("'`/"))
            domain = re.split(r"@|%40", m.group(), maxsplit=1, flags=re.IGNORECASE)[1].lower()
            if any(domain == d or domain.endswith("." + d) for d in self._keep_domains):
                continue
            yield Finding("email", start, m.end())

    def _cards(self, text: str) -> Iterable[Finding]:
        for run in _DIGIT_RUN.finditer(text):
            offset = run.start()
            groups = [(g.start() + offset, g.end() + offset) for g in _GROUP.finditer(run.group())]
            i = 0
            while i < len(groups):
                found = self._card_at(text, groups, i)
                if found is None:
                    i += 1
                    continue
                yield Finding("card", groups[i][0], groups[found][1])
                i = found + 1

    @staticmethod
    def _card_at(text: str, groups: list[tuple[int, int]], first: int) -> int | None:
        """Index of the last group of the longest card starting at group ``first``, if any."""
        best: int | None = None
        digits = ""
        for j in range(first, len(groups)):
            size = groups[j][1] - groups[j][0]
            single_block = j == first and 13 <= size <= 19
            # Printed card numbers start with a group of four, then groups of 4-6, and the
            # last group may be shorter (4-4-4-4-3, 4-6-5, 4-6-4, ...).
            if j == first and size != 4 and not single_block:
                break
            if j > first and not 1 <= size <= 6:
                break
            if j > first + 1 and (groups[j - 1][1] - groups[j - 1][0]) < 4:
                break  # a short group ends a card; nothing may follow it
            digits += text[groups[j][0] : groups[j][1]]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_valid(digits):
                best = j
            if single_block:
                break
        return best

    def _ips(self, text: str) -> Iterable[Finding]:
        for m in _IPV4.finditer(text):
            if _VERSION_BEFORE.search(text, 0, m.start()):
                continue
            yield Finding("ip", m.start(), m.end())
        for m in _IPV6_CANDIDATE.finditer(text):
            address = m.group().split("%", 1)[0]
            if sum(c in _HEX for c in address) < _MIN_IPV6_HEX:
                continue  # "::", "::1", "a::b": scope syntax or loopback, not a customer's host
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                continue
            yield Finding("ip", m.start(), m.end())

    def _phones(self, text: str) -> Iterable[Finding]:
        dates = [m.span() for m in _DATEISH.finditer(text)]
        for region in self._regions:
            yield from self._national_phones(text, 0, len(text), region, dates)
        for m in _PLUS_PHONE.finditer(text):
            yield Finding("phone", m.start(), m.end())

    def _national_phones(self, text: str, start: int, end: int, region: str,
                         dates: list[tuple[int, int]]) -> Iterable[Finding]:
        """The phone numbers in national formats of ``region`` in ``text[start:end]``."""
        for match in phonenumbers.PhoneNumberMatcher(
            text[start:end], region, leniency=phonenumbers.Leniency.VALID
        ):
            first, last = start + match.start, start + match.end
            if _IDENTIFIER_BEFORE.search(text, 0, first):
                continue  # INV-2024-000123, BACKEND-4155550100: the tail of an identifier
            if text[first - 1:first] == "#":
                # "#301" is an order or ticket number, not the start of a phone: what
                # libphonenumber read after it is looked at on its own.
                head = _GROUP.match(text, first)
                if head is not None and head.end() < last:
                    yield from self._national_phones(text, head.end(), last, region, dates)
                continue
            outside = sum(
                1
                for i in range(first, last)
                if text[i].isdigit() and not any(s <= i < e for s, e in dates)
            )
            if outside < _MIN_PHONE_DIGITS:
                continue  # 1699-01-01 is a valid number somewhere, but here it is a date
            yield Finding("phone", first, last)

    def _merge(self, raw: list[Finding]) -> list[Finding]:
        # Overlapping findings become one span, so no fragment of either survives; the span
        # is named after the most specific kind among them.
        merged: list[Finding] = []
        for f in sorted(raw, key=lambda f: (f.start, -f.end)):
            if merged and f.start < merged[-1].end:
                last = merged[-1]
                kind = min(last.kind, f.kind, key=self._kind_rank.__getitem__)
                merged[-1] = Finding(kind, last.start, max(last.end, f.end))
            else:
                merged.append(f)
        return merged

    # ---------------------------------------------------------------- replacing

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced by its ``[<kind> redacted]`` token."""
        for _ in range(_MAX_PASSES):
            found = self.findings(text)
            if not found:
                break
            parts: list[str] = []
            position = 0
            for f in found:
                parts.append(text[position : f.start])
                parts.append(f"[{f.kind} redacted]")
                position = f.end
            parts.append(text[position:])
            text = "".join(parts)
        return text
