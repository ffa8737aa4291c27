"""Signed API keys: the auth service checks them against Redis, and any
gateway or router can check the signature locally.

Why signed: a business request must not need the identity gateway alive
(DESIGN.md §1), and the router must authenticate a request before it serves
an identity fallback from the cache. The trade-off is the usual one for
signed credentials: a local check cannot see a revocation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

__all__ = ["KEY_PREFIX", "Principal", "bearer_key", "issue_key", "new_signing_key", "verify_key"]

KEY_PREFIX = "gck"
SIGNATURE_BYTES = 24


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str
    key_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_signing_key() -> str:
    return secrets.token_hex(32)


def _sign(signing_key: str, payload: str) -> str:
    digest = hmac.new(signing_key.encode(), payload.encode(), hashlib.sha256).digest()
    return _b64(digest[:SIGNATURE_BYTES])


def issue_key(signing_key: str, tenant: str, user: str) -> str:
    body = {"t": tenant, "u": user, "k": secrets.token_hex(6)}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{KEY_PREFIX}.{payload}.{_sign(signing_key, payload)}"


def verify_key(signing_key: str, api_key: str) -> Principal | None:
    """The key's principal if the signature holds, else None (never raises)."""
    parts = api_key.split(".")
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    payload, signature = parts[1], parts[2]
    if not hmac.compare_digest(_sign(signing_key, payload), signature):
        return None
    try:
        body = json.loads(_unb64(payload))
        return Principal(tenant=str(body["t"]), user=str(body["u"]), key_id=str(body["k"]))
    except (ValueError, KeyError, TypeError):
        return None


def bearer_key(authorization: str | None) -> str | None:
    """The key from an `Authorization: Bearer <key>` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
