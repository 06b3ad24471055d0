"""auth-service's tokens and password checks."""

from __future__ import annotations

import pytest

from traceway.demo import seed
from traceway.demo.services.tokens import Credentials, TokenError, TokenSigner

SECRET = b"0123456789abcdef-demo"


def test_a_token_carries_its_user_and_tenant_until_it_expires() -> None:
    now = [1_000_000.0]
    signer = TokenSigner(SECRET, ttl_s=60, clock=lambda: now[0])
    token, expires_at = signer.issue("7", "acme")

    claims = signer.verify(token)
    now[0] += 60

    assert (claims.user_id, claims.tenant_id, claims.expires_at) == ("7", "acme", expires_at)
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token)


def test_a_token_signed_with_another_secret_or_changed_is_refused() -> None:
    token, _ = TokenSigner(b"another secret of 16+ bytes").issue("7", "acme")
    mine, _ = TokenSigner(SECRET).issue("7", "acme")
    payload, _, signature = mine.partition(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature

    with pytest.raises(TokenError, match="signature"):
        TokenSigner(SECRET).verify(token)
    with pytest.raises(TokenError):
        TokenSigner(SECRET).verify(forged)
    for garbage in ("", "no-dot", "a.b.c!", "!!!.???"):
        with pytest.raises(TokenError):
            TokenSigner(SECRET).verify(garbage)


def test_passwords_are_checked() -> None:
    credentials = Credentials(seed.ACCOUNTS)
    alice = seed.ACCOUNTS[0]

    assert credentials.check(alice.username, alice.password) == alice
    assert credentials.check(alice.username, "wrong") is None
    assert credentials.check("mallory", alice.password) is None
