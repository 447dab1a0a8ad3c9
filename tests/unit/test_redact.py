"""PII redaction: examples for each kind and look-alike, and property tests over generated PII."""

from __future__ import annotations

import string

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bridge.errors import InvalidValue, MappingError
from bridge.policy.redact import DEFAULT_PHONE_REGIONS, Finding, Redactor, luhn_valid

REDACTOR = Redactor()

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# ------------------------------------------------------------------------ examples


@pytest.mark.parametrize(
    "address",
    [
        "jane.doe@example.com",
        "jane+billing@example.com",
        "j.o'neil+tag@mail.eu.example.co.uk",
        "ADMIN@EXAMPLE.ORG",
        "jörg.müller@bücher.de",
        "user@xn--bcher-kva.xn--p1ai",
        "someone@test.example",
        "a@b.io",
    ],
)
def test_email_addresses_are_redacted(address: str) -> None:
    text = f"Customer wrote from {address}, please call back."
    assert REDACTOR.redact(text) == "Customer wrote from [email redacted], please call back."


def test_url_encoded_address_in_a_query_string_is_redacted() -> None:
    out = REDACTOR.redact("https://app.example.com/reset?user=jane.doe%40example.com&x=1")
    assert "jane.doe" not in out and "[email redacted]" in out


def test_quotes_around_an_address_stay() -> None:
    assert REDACTOR.redact("'jane@example.com'") == "'[email redacted]'"


def test_keep_domains_leave_the_support_address_readable() -> None:
    redactor = Redactor(keep_domains=["support.acme.com", "@acme-help.io"])
    text = "cc help@support.acme.com eu@eu.support.acme.com ops@acme-help.io jane@acme.com"
    assert redactor.redact(text) == (
        "cc help@support.acme.com eu@eu.support.acme.com ops@acme-help.io [email redacted]"
    )


@pytest.mark.parametrize(
    "number",
    [
        "+1 415 555 0100",
        "+1-415-555-0100",
        "(415) 555-0100",
        "415.555.0100",
        "1-800-555-0199",
        "+49 30 1234567",
        "+49 (0)30 1234567",
        "030/1234567",
        "0171 1234567",
        "0171-1234567",
        "+44 20 7946 0958",
        "020 7946 0958",
        "0044 20 7946 0958",
        "+33 1 23 45 67 89",
        "+81 3-1234-5678",
    ],
)
def test_phone_numbers_are_redacted(number: str) -> None:
    assert REDACTOR.redact(f"Call me at {number} today") == "Call me at [phone redacted] today"


def test_national_formats_follow_the_configured_regions() -> None:
    french = "Appelez le 01 23 45 67 89 svp"
    assert REDACTOR.redact(french) == french  # FR is not a default region
    assert Redactor(phone_regions=["FR"]).redact(french) == "Appelez le [phone redacted] svp"


def test_unknown_phone_region_is_refused() -> None:
    with pytest.raises(InvalidValue, match="XX"):
        Redactor(phone_regions=["XX"])


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # Amex 4-6-5
        "3056 930902 5904",  # Diners 4-6-4
        "6011 0009 9013 9424",
        "4222222222222",  # 13 digits
    ],
)
def test_card_numbers_are_redacted(card: str) -> None:
    assert REDACTOR.redact(f"paid with {card} yesterday") == "paid with [card redacted] yesterday"


def test_card_after_an_unrelated_number_is_still_found() -> None:
    assert REDACTOR.redact("ref 12 4111 1111 1111 1111") == "ref 12 [card redacted]"


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "1234 5678 9012 3456",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",  # a row of small numbers
        "4111111111111111111111",  # too long for a card
    ],
)
def test_other_long_numbers_are_not_cards(number: str) -> None:
    assert "[card redacted]" not in REDACTOR.redact(f"number {number} here")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 192.168.0.1 today", "from [ip redacted] today"),
        ("host 10.0.0.254:8080", "host [ip redacted]:8080"),
        ("net 203.0.113.7/24.", "net [ip redacted]/24."),
        ("from 2001:db8::1 today", "from [ip redacted] today"),
        ("link-local fe80::1%eth0 down", "link-local [ip redacted] down"),
        ("mapped ::ffff:192.0.2.1 ok", "mapped [ip redacted] ok"),
        ("at [2001:db8:85a3::8a2e:370:7334]:443", "at [[ip redacted]]:443"),
        # A four-part dotted number that is not declared a version is taken for an address.
        ("build 1.2.3.4 failed", "build [ip redacted] failed"),
    ],
)
def test_ip_addresses_are_redacted(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "running v1.2.3.4 now",
        "Version: 1.2.3.4",
        "version=10.0.0.1",
        "release 2.4.0 and 2.4.0-rc1",
        "a five-part 1.2.3.4.5 build",
        "std::vector and a::b",
        "at 12:30:45 on 2024-03-15T12:30:45Z",
        "MAC ac:de:48:00:11:22",
    ],
)
def test_versions_times_and_code_are_not_addresses(text: str) -> None:
    assert REDACTOR.redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "See SUP-12 and BACKEND-1234567 in JIRA",
        "Order #123456 placed on 2024-03-15 at 12:30",
        "Upgraded to 2.4.0 on 15.03.2024, build 20240315",
        "Ticket 4505 reopened at 09:15:00, ETA 3/15/2024",
        "order number 1234567",
        "Invoice INV-2024-000123, total 1,234.56 EUR",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
    ],
)
def test_business_identifiers_survive(text: str) -> None:
    assert REDACTOR.redact(text) == text


def test_findings_report_kind_and_span_without_the_text() -> None:
    text = "mail a@b.io or call +1 415 555 0100 from 10.1.2.3"
    found = REDACTOR.findings(text)
    assert [f.kind for f in found] == ["email", "phone", "ip"]
    assert [text[f.start : f.end] for f in found] == ["a@b.io", "+1 415 555 0100", "10.1.2.3"]
    assert found[0] == Finding("email", 5, 11)


def test_overlapping_findings_merge_so_no_fragment_survives() -> None:
    redactor = Redactor([("account", r"ACC-\d{4} \d{4}")])
    assert redactor.redact("ACC-4111 1111 1111 1111") == "[account redacted]"


def test_extra_patterns_use_their_name_in_the_token() -> None:
    redactor = Redactor([("customer id", r"CUST-\d{5}"), ("iban", r"(?i)\bDE\d{20}\b")])
    out = redactor.redact("cust CUST-00042, iban de89370400440532013000.")
    assert out == "cust [customer id redacted], iban [iban redacted]."


def test_a_phone_glued_to_an_address_goes_too_and_redaction_is_stable() -> None:
    once = REDACTOR.redact("jane@example.com4155550100")
    assert "4155550100" not in once
    assert REDACTOR.redact(once) == once


def test_tokens_are_never_redacted_again() -> None:
    redactor = Redactor([("word", r"redacted|email")])
    once = redactor.redact("mail jane@example.com")
    assert once == "mail [email redacted]"
    assert redactor.redact(once) == once


@pytest.mark.parametrize(
    ("patterns", "key", "problem"),
    [
        ({"account": "ACC-(\\d+"}, "redaction.patterns.account", "invalid regular expression"),
        ({"anything": "x*"}, "redaction.patterns.anything", "matches the empty string"),
        ({"bad/name": "x"}, "redaction.patterns.bad/name", "pattern name"),
        ({"email": "x"}, "redaction.patterns.email", "built-in kind"),
        ({"account": ""}, "redaction.patterns.account", "non-empty regular expression"),
    ],
)
def test_from_mapping_names_file_and_key_of_a_bad_pattern(
    patterns: dict[str, str], key: str, problem: str
) -> None:
    with pytest.raises(MappingError) as caught:
        Redactor.from_mapping("mappings/default.yaml", "redaction.patterns", patterns)
    assert caught.value.file == "mappings/default.yaml"
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert caught.value.exit_code == 2


def test_from_mapping_builds_a_working_redactor() -> None:
    redactor = Redactor.from_mapping(
        "mappings/default.yaml", "redaction.patterns", {"account": r"ACC-\d{6}"},
        keep_domains=["acme.com"],
    )
    assert redactor.redact("ACC-123456 by ops@acme.com") == "[account redacted] by ops@acme.com"


def test_constructor_refuses_a_bad_pattern() -> None:
    with pytest.raises(InvalidValue, match="account"):
        Redactor([("account", "(")])


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert luhn_valid("4111111111111111")


# ---------------------------------------------------------------- property tests

# Surrounding text: words from letters (any script), spaces and prose punctuation. Digits
# are left out so a generated value is never glued to a stray number that changes what it is.
_WORD_CHARS = st.characters(categories=["L"]) | st.sampled_from(list(",.;:!?()\"'-"))
_words = st.lists(st.text(_WORD_CHARS, min_size=1, max_size=12), max_size=8).map(" ".join)


@st.composite
def embedded(draw: st.DrawFn, values: st.SearchStrategy[str]) -> tuple[str, list[str]]:
    """Text with one to three generated values, each set off from the words by spaces."""
    chosen = draw(st.lists(values, min_size=1, max_size=3))
    parts = [draw(_words)]
    for value in chosen:
        parts += [value, draw(_words)]
    return " \n".join(" " + p + " " for p in parts), chosen


def _luhn_complete(body: str) -> str:
    for check in string.digits:
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    brand = draw(st.sampled_from(["visa16", "visa13", "visa19", "mc", "amex", "discover"]))
    prefix, length = {
        "visa16": ("4", 16),
        "visa13": ("4", 13),
        "visa19": ("4", 19),
        "mc": (str(draw(st.integers(51, 55))), 16),
        "amex": (draw(st.sampled_from(["34", "37"])), 15),
        "discover": ("6011", 16),
    }[brand]
    body = prefix + "".join(
        draw(st.lists(st.sampled_from(string.digits), min_size=length - len(prefix) - 1,
                      max_size=length - len(prefix) - 1))
    )
    digits = _luhn_complete(body)
    separator = draw(st.sampled_from(["", " ", "-"]))
    if brand == "amex":
        groups = [digits[:4], digits[4:10], digits[10:]]
    else:
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return separator.join(groups)


_PHONE_TYPES = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
_FOREIGN_REGIONS = ["FR", "ES", "IT", "NL", "CH", "AU", "JP", "BR", "IN", "CA"]


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    """A valid number (randomised from libphonenumber's examples) in a realistic format."""
    domestic = draw(st.booleans())
    region = draw(st.sampled_from(DEFAULT_PHONE_REGIONS if domestic else _FOREIGN_REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(_PHONE_TYPES)))
    assume(example is not None)
    national = phonenumbers.national_significant_number(example)
    tail = draw(st.integers(0, 9999))
    national = national[:-4] + f"{tail:04d}"
    number = phonenumbers.parse(f"+{example.country_code}{national}")
    assume(phonenumbers.is_valid_number(number))
    formats = [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]
    if domestic:
        formats.append(phonenumbers.PhoneNumberFormat.NATIONAL)
    text = phonenumbers.format_number(number, draw(st.sampled_from(formats)))
    if domestic and region == "US" and draw(st.booleans()):
        text = f"{national[:3]}.{national[3:6]}.{national[6:]}"  # dotted
    if domestic and region == "DE" and text.startswith("0") and draw(st.booleans()):
        text = text.replace(" ", "/", 1)  # 030/1234567
    return text


@PROPERTY
@given(embedded(st.emails()))
def test_generated_email_addresses_never_survive(case: tuple[str, list[str]]) -> None:
    text, addresses = case
    out = REDACTOR.redact(text)
    for address in addresses:
        assert address not in out
        assert "@" + address.rsplit("@", 1)[1] not in out


@PROPERTY
@given(embedded(phone_numbers()))
def test_generated_phone_numbers_never_survive(case: tuple[str, list[str]]) -> None:
    text, numbers = case
    out = REDACTOR.redact(text)
    digits_left = "".join(c for c in out if c.isdigit())
    for number in numbers:
        assert number not in out
        assert "".join(c for c in number if c.isdigit()) not in digits_left


@PROPERTY
@given(embedded(card_numbers()))
def test_generated_card_numbers_never_survive(case: tuple[str, list[str]]) -> None:
    text, cards = case
    out = REDACTOR.redact(text)
    for card in cards:
        assert card not in out
    assert not any(c.isdigit() for c in out)  # the words carry no digits, so none may remain


_jira_keys = st.from_regex(r"[A-Z]{2,6}-[1-9][0-9]{0,4}", fullmatch=True)
_versions = st.from_regex(r"[0-9]{1,2}\.[0-9]{1,3}\.[0-9]{1,3}(-rc[0-9])?", fullmatch=True)
_dates = st.dates().map(lambda d: d.isoformat())
_times = st.times().map(lambda t: t.strftime("%H:%M"))
_datetimes = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
_orders = st.integers(1, 999_999).map(lambda n: f"#{n}")
_survivors = st.one_of(
    _jira_keys, _versions, _dates, _times, st.times().map(str), _datetimes, _orders
)


@PROPERTY
@given(st.lists(st.one_of(_survivors, st.text(_WORD_CHARS, min_size=1, max_size=10)), max_size=12))
@example(tokens=["2000-01-01T00:00:00Z", "#301", "2.000.000", "#1000"])  # libphonenumber read a number
def test_identifiers_dates_and_versions_survive(tokens: list[str]) -> None:
    text = " ".join(tokens)
    assert REDACTOR.redact(text) == text


def test_a_phone_number_right_after_an_order_number_is_still_found():
    assert REDACTOR.redact("Order #1 (415) 555-0100 please") == "Order #1 [phone redacted] please"
    assert REDACTOR.redact("ticket #12 call 415-555-0100") == "ticket #12 call [phone redacted]"


_anything = st.one_of(
    st.text(max_size=40),
    st.emails(),
    phone_numbers(),
    card_numbers(),
    st.ip_addresses().map(str),
    _survivors,
)


@PROPERTY
@given(st.lists(_anything, max_size=8), st.sampled_from(["", " ", "\n", ", "]))
def test_redaction_is_idempotent(pieces: list[str], glue: str) -> None:
    redactor = Redactor([("account", r"ACC-\d{4,8}")])
    once = redactor.redact(glue.join(pieces))
    assert redactor.redact(once) == once


@PROPERTY
@given(embedded(st.ip_addresses().map(str)))
def test_generated_ip_addresses_never_survive(case: tuple[str, list[str]]) -> None:
    text, addresses = case
    out = REDACTOR.redact(text)
    for address in addresses:
        if sum(c in string.hexdigits for c in address) < 4:
            continue  # documented: "::1", "a::b" are loopback or scope syntax, left alone
        assert address not in out


# ------------------------------------------------------------- disguised in Unicode

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe\uff20example.com now", "mail [email redacted] now"),  # full-width @
        ("mail jane.doe@example\uff0ecom now", "mail [email redacted] now"),  # full-width dot
        ("mail jane.doe@example\u3002com now", "mail [email redacted] now"),  # ideographic dot
        ("mail jane.doe\u200b@example.com now", "mail [email redacted] now"),  # zero-width space
        ("mail \u202ejane.doe@example.com\u202c now", "mail \u202e[email redacted]\u202c now"),  # bidi marks stay
        ("call +1 415\u200b555 0142 now", "call [phone redacted] now"),
        ("call \uff0b\uff14\uff19 \uff13\uff10 \uff11\uff12\uff13\uff14\uff15\uff16\uff17 now",
         "call [phone redacted] now"),  # full-width digits
        ("card 4111\u20601111\u20601111\u20601111 ok", "card [card redacted] ok"),  # word joiners
    ],
)
def test_unicode_disguises_are_seen_through(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == expected


def test_text_around_a_disguised_finding_reaches_jira_as_written() -> None:
    # Only the finding is replaced: ligatures, full-width words, emoji sequences joined by
    # zero-width joiners and combining accents elsewhere are the customer's text, untouched.
    text = "Gr\u00fc\u00dfe \ufb01le \uff21\uff22\uff23 \U0001F468\u200d\U0001F469\u200d\U0001F467 Jose\u0301 jane\uff20example.com"
    assert REDACTOR.redact(text) == text[: text.index("jane")] + "[email redacted]"


def test_a_combining_accent_joins_its_letter_in_an_address() -> None:
    assert REDACTOR.redact("write jose\u0301@example.com") == "write [email redacted]"


def test_findings_of_disguised_text_are_spans_of_the_text_given() -> None:
    text = "x jane\u200b.doe\uff20example\uff0ecom y"
    [finding] = REDACTOR.findings(text)
    assert text[finding.start:finding.end] == "jane\u200b.doe\uff20example\uff0ecom"


_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in string.ascii_letters + string.digits + "@.+-"}
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


@st.composite
def disguised(draw: st.DrawFn, values: st.SearchStrategy[str]) -> tuple[str, str]:
    """A value and the same value with some characters full-width and invisible format
    characters slipped between others."""
    value = draw(values)
    out = []
    for c in value:
        if c in _FULL_WIDTH and draw(st.booleans()):
            c = _FULL_WIDTH[c]
        out.append(c)
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from(_INVISIBLE)))
    return value, "".join(out)


@PROPERTY
@given(disguised(st.emails() | phone_numbers()), _words, _words)
def test_generated_disguised_addresses_and_phones_never_survive(case: tuple[str, str], before: str,
                                                                after: str) -> None:
    value, masked = case
    out = REDACTOR.redact(f"{before} {masked} {after}")
    assert masked not in out
    # The same finding as undisguised (an invisible character just outside it stays).
    assert "".join(c for c in out if c not in _INVISIBLE) == REDACTOR.redact(f"{before} {value} {after}")


@PROPERTY
@given(st.text(st.characters(codec="utf-8", exclude_categories=["Nd", "Cs"]), max_size=60))
def test_text_without_pii_comes_back_unchanged_whatever_its_script(text: str) -> None:
    assume("@" not in text and "\uff20" not in text and ":" not in text)  # no address, no IPv6
    assert REDACTOR.redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +1 415\n555 0142 now", "call [phone redacted] now"),
        ("call (415)\r\n555-0142 now", "call [phone redacted] now"),
        ("card 4111\n1111 1111 1111 ok", "card [card redacted] ok"),
        ("call \u0664\u0661\u0665 \u0665\u0665\u0665 \u0660\u0661\u0664\u0662 now", "call [phone redacted] now"),
        ("lines 1\n2\n2026-11-20\n10:30\nv2.4.0\nSUP-12\n", "lines 1\n2\n2026-11-20\n10:30\nv2.4.0\nSUP-12\n"),
    ],
)
def test_a_number_wrapped_or_in_another_script_is_one_number(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == expected
