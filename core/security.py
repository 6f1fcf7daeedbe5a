"""Passwords (argon2), signed customer tokens, CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def sign_token(key: bytes, claims: dict[str, Any], ttl: int) -> str:
    """A compact HMAC-signed token (payload.signature) carrying claims and an expiry."""
    body = dict(claims, exp=int(time.time()) + ttl)
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def verify_token(key: bytes, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token; None for anything forged, malformed or expired."""
    try:
        payload, signature = token.split(".", 1)
        expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        claims = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
        return None
    return claims


MAX_ID = 2**63 - 1
"""The largest id any table holds (BIGINT); a larger number in a request can name nothing."""


def storable_text(value: str) -> str:
    """``value`` without NUL characters and with lone surrogates replaced ("?", as the store does).

    PostgreSQL text refuses NUL, and a lone surrogate cannot be encoded to UTF-8 at all: either would make
    a later write or read fail. Customer text is cleaned the same way in ``core.store.clean_text``.
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def storable(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) made storable (see :func:`storable_text`)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable_text(str(k)): storable(v) for k, v in value.items()}
    return value
