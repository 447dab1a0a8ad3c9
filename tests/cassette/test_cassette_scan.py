"""Every committed cassette is free of secrets and customer addresses, and the scan would
notice if one were not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.cassettes import CANARY, CASSETTES, SCRUBBED_EMAIL, Scrubber, scan, scrub_text

CONNECTORS = ("zendesk", "freshdesk", "django_helpdesk", "jira", "sentry")


def test_every_connector_has_a_cassette():
    assert {p.stem for p in CASSETTES.glob("*.yaml")} >= {f"{c}_connector" for c in CONNECTORS}


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_cassette_holds_no_secret_and_no_customer_address(path: Path):
    assert scan(path) == []
    text = path.read_text()
    assert "127.0.0.1" not in text and "localhost:" not in text  # origins are canonical


@pytest.mark.parametrize("planted, kind", [
    (CANARY, "known secret or canary"),
    ("sandbox-zendesk-api-token-7f3a", "known secret or canary"),
    ("Authorization: Basic YnJpZGdlQGV4YW1wbGUuY29tOnNlY3JldA==", "authorization value"),
    ('"detail": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc"', "authorization value"),
    ("Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", "authorization value"),
    ("https://example.test/?apikey=abcdef123456", "secret assignment"),
    ('{"password": "hunter2hunter2"}', "secret assignment"),
    ("ceo@bigcorp.com wrote in", "e-mail address outside the reserved domains"),
])
def test_the_scan_fails_a_cassette_with_a_planted_secret(tmp_path: Path, planted: str, kind: str):
    source = CASSETTES / "zendesk_connector.yaml"
    copy = tmp_path / source.name
    shutil.copyfile(source, copy)
    assert scan(copy) == []
    with copy.open("a") as handle:
        handle.write(f"# {planted}\n")
    assert kind in {finding.kind for finding in scan(copy)}


def test_scrubbing_rewrites_what_the_scan_looks_for():
    text = ("GET http://127.0.0.1:5123/api?apikey=abcdef123456 Authorization: Bearer abcdefghijklmnop "
            f"from ceo@bigcorp.com and alice@acme.example, secret {CANARY}")
    scrubbed = scrub_text(text, secrets=[CANARY], origins={"http://127.0.0.1:5123": "http://z.cassette.test"})
    assert "127.0.0.1" not in scrubbed and CANARY not in scrubbed and "bigcorp" not in scrubbed
    assert SCRUBBED_EMAIL in scrubbed and "alice@acme.example" in scrubbed
    assert "Bearer REDACTED" in scrubbed and "apikey=REDACTED" in scrubbed


_LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum())
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)


@given(local=_LOCAL, domain=st.lists(_LABEL, min_size=1, max_size=3),
       tld=st.sampled_from(["com", "de", "io", "net", "org", "co"]))
def test_no_address_outside_the_reserved_domains_survives_scrubbing(local, domain, tld):
    address = f"{local}@{'.'.join(domain)}.{tld}"
    text = f'{{"email": "{address}", "note": "write to {address}"}}'
    scrubbed = scrub_text(text)
    reserved = any(address.endswith(s) for s in (".example.com", ".example.org", ".example.net", "@example.com",
                                                 "@example.org", "@example.net"))
    assert (address in scrubbed) == reserved


def test_the_scrubber_drops_credential_headers():
    class _Request:
        uri = "http://127.0.0.1:1/api/v2/tickets/1"
        body = None
        headers = {"Authorization": "Basic abc", "Cookie": "session=1", "Accept": "application/json"}

    request = Scrubber(origins={"http://127.0.0.1:1": "http://x.cassette.test"}).request(_Request())
    assert request.headers == {"Accept": "application/json"} and request.uri.startswith("http://x.cassette.test")
