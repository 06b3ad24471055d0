"""Passwords and bearer tokens for auth-service, with the standard library only.

A token is ``base64url(claims JSON) "." base64url(HMAC-SHA256(secret, claims))``; its
claims are the user, the tenant and the expiry. Passwords are kept as salted PBKDF2
hashes and compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from traceway.demo.seed import Account

__all__ = ["Claims", "Credentials", "TokenError", "TokenSigner"]

PBKDF2_ITERATIONS = 20_000
"""Low for a password store, and deliberately so: the demo checks passwords often."""


class TokenError(ValueError):
    """A token that is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class Claims:
    user_id: str
    tenant_id: str
    expires_at: int


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies HMAC-signed tokens."""

    def __init__(
        self, secret: bytes, ttl_s: int = 3600, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("a token secret needs at least 16 bytes")
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def issue(self, user_id: str, tenant_id: str) -> tuple[str, int]:
        """A token for the user and when it expires (Unix seconds)."""
        expires_at = int(self._clock()) + self._ttl_s
        claims = {"sub": user_id, "tenant": tenant_id, "exp": expires_at}
        payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
        return f"{_encode(payload)}.{_encode(self._signature(payload))}", expires_at

    def verify(self, token: str) -> Claims:
        """The token's claims, if its signature is ours and it has not expired."""
        encoded_payload, dot, encoded_signature = token.strip().partition(".")
        if not dot or not encoded_payload or not encoded_signature:
            raise TokenError("malformed token: expected PAYLOAD.SIGNATURE")
        try:
            payload = _decode(encoded_payload)
            signature = _decode(encoded_signature)
        except (binascii.Error, ValueError):
            raise TokenError("malformed token: not base64url") from None
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise TokenError("invalid token signature")
        try:
            claims = json.loads(payload)
            result = Claims(str(claims["sub"]), str(claims["tenant"]), int(claims["exp"]))
        except (ValueError, KeyError, TypeError):
            raise TokenError("malformed token claims") from None
        if result.expires_at <= self._clock():
            raise TokenError("token expired")
        return result


@dataclass(frozen=True)
class _StoredAccount:
    account: Account
    salt: bytes
    digest: bytes


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)


class Credentials:
    """Usernames and salted password hashes."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._accounts: dict[str, _StoredAccount] = {}
        for account in accounts:
            salt = os.urandom(16)
            self._accounts[account.username] = _StoredAccount(
                account, salt, _hash(account.password, salt)
            )
        # A username that does not exist costs as much as a wrong password.
        self._decoy = _StoredAccount(Account("", "", "", ""), os.urandom(16), b"")

    def check(self, username: str, password: str) -> Account | None:
        """The account, if the password is right."""
        stored = self._accounts.get(username, self._decoy)
        digest = _hash(password, stored.salt)
        if stored is self._decoy or not hmac.compare_digest(digest, stored.digest):
            return None
        return stored.account
