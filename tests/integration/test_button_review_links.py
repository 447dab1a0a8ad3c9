"""Review of the Escalate link itself through `bridge serve` on loopback: one link is one
press however it is spelled, two tabs of one link both confirm, and malformed or hostile
requests are refused with a 4xx that shows and logs no secret."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import requests

from bridge.escalate_links import escalate_link
from tests.fixtures.button import button_items, form_of, on, services  # noqa: F401 - a fixture
from tests.fixtures.serve import SECRETS, serving

KEY = SECRETS["BRIDGE_SERVE_SECRET_KEY"]


def test_one_link_spelled_differently_is_still_one_press(services):
    """The signature's base64 ignores its last character's spare bits and characters outside
    its alphabet, so the same signed link has unboundedly many spellings; each must not be a
    press of its own (an inbox row and a worker pass per spelling)."""
    link = escalate_link("zendesk", "101", config=services.config)
    token = link.split("t=")[1]
    stem, last = token[:-1], token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The other characters that differ from the last one only in its two unused bits.
    base = alphabet.index(last) & ~3
    spellings = [token] + [stem + alphabet[base + n] for n in range(4) if alphabet[base + n] != last]
    spellings += [token + "~~~~", token + "~~~~~~~~"]
    with serving(services, workers=0) as running:
        for spelled in spellings:
            browser = requests.Session()
            action, fields = form_of(browser.get(f"{running.url}/escalate/101?t={spelled}", timeout=10))
            assert fields["t"] == spelled
            assert browser.post(running.url + action, data=fields, timeout=10).status_code == 202
    assert len(button_items(services)) == 1


def test_the_same_link_open_in_two_tabs_confirms_from_either(services):
    """Each opening of the link set a new cookie, so the form of the tab opened first no
    longer matched it: the customer pressing there was told the confirmation was not theirs."""
    link = escalate_link("zendesk", "101", config=services.config)
    with serving(services, workers=0) as running:
        browser = requests.Session()
        first = form_of(browser.get(on(running, link), timeout=10))
        second = form_of(browser.get(on(running, link), timeout=10))
        pressed_first = browser.post(running.url + first[0], data=first[1], timeout=10)
        pressed_second = browser.post(running.url + second[0], data=second[1], timeout=10)
        assert (pressed_first.status_code, pressed_second.status_code) == (202, 202), pressed_first.text
        # A page elsewhere still cannot press: no cookie, no press.
        assert requests.post(running.url + first[0], data=first[1], timeout=10).status_code == 400
    assert len(button_items(services)) == 1


def test_hostile_and_malformed_requests_are_refused_with_a_4xx_and_no_secret(services, caplog):
    caplog.set_level(logging.DEBUG)
    token = escalate_link("zendesk", "101", config=services.config).split("t=")[1]
    with serving(services, workers=0) as running:
        base = f"{running.url}/escalate"
        answers = {
            "no token": requests.get(f"{base}/101", timeout=10),
            "NUL in id": requests.get(f"{base}/10%001?t={token}", timeout=10),
            "NUL token": requests.get(f"{base}/101?t=%00", timeout=10),
            "non-ASCII": requests.get(f"{base}/%C3%A9?t=%C3%A9{token}", timeout=10),
            "not UTF-8": requests.get(f"{base}/%FF?t=%FF", timeout=10),
            "id >= 2**63": requests.get(f"{base}/{2 ** 64}?t={token}", timeout=10),
            "long id": requests.get(f"{base}/{'9' * 8000}?t={token}", timeout=10),
            "long token": requests.get(f"{base}/101?t={'A' * 60000}", timeout=10),
            "POST nothing": requests.post(f"{base}/101", timeout=10),
            "POST JSON": requests.post(f"{base}/101", json={"t": token}, timeout=10),
            "POST huge": requests.post(f"{base}/101", data={"t": "A" * 70000}, timeout=10),
            "PUT": requests.put(f"{base}/101?t={token}", timeout=10),
        }
        host, port = urlsplit(running.url).netloc.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"GET /escalate/\xff\x00?t=\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw_status = raw.recv(64).split(b" ")[1]
    for name, answer in answers.items():
        assert 400 <= answer.status_code < 500, name
        assert KEY not in answer.text, name
    assert raw_status.startswith(b"4")
    assert not any(KEY in r.getMessage() for r in caplog.records)
    assert button_items(services) == []
