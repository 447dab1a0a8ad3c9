"""What an error shows of an unexpected answer: one short printable line, never our secrets."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from bridge.connectors.http import EXCERPT_BYTES, excerpt

secrets = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8, max_size=40)


@given(before=st.binary(max_size=300), secret=secrets, after=st.binary(max_size=300))
def test_never_longer_than_the_limit_one_line_and_without_the_secret(before, secret, after):
    shown = excerpt(before + secret.encode() + after, (secret,))
    assert len(shown) <= EXCERPT_BYTES
    assert "\n" not in shown and "\r" not in shown
    assert all(c.isprintable() for c in shown)
    assert secret not in shown


CREDENTIAL_SHAPES = ("Authorization: Bearer {}", "password={}", "https://u:{}@h/", "/x?api_token={}")


@given(token=secrets)
def test_credentials_that_look_like_credentials_go_even_unnamed(token):
    # A token that is part of the words around it ("api_toke") would be found in them.
    assume(not any(token in shape.format("") for shape in CREDENTIAL_SHAPES))
    for shape in CREDENTIAL_SHAPES:
        assert token not in excerpt(shape.format(token).encode())


def test_a_secret_cut_by_the_scanned_window_does_not_leak_in_part():
    # Whitespace collapses, so text far into a large body can still reach the excerpt;
    # a secret straddling the end of what is scanned must not show its first half.
    from bridge.connectors.http import _SCAN_BYTES

    secret = "tok-3f9a1c7e5b2d9e8f"
    for padding in range(_SCAN_BYTES - len(secret) - 2, _SCAN_BYTES + 2):
        shown = excerpt(b" " * padding + secret.encode() + b" tail", (secret,))
        assert secret[:4] not in shown, padding
