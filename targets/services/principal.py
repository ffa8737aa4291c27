"""The caller as a gateway vouched for it on the internal hop."""

from __future__ import annotations

from fastapi import Request

from targets.headers import HEADER_PRINCIPAL_TENANT, HEADER_PRINCIPAL_USER
from targets.keys import Principal

__all__ = ["ANONYMOUS", "caller"]

ANONYMOUS = "anonymous"


def caller(request: Request) -> Principal:
    """The tenant and user the gateway put on the hop (`anonymous` when absent)."""
    headers = request.headers
    return Principal(tenant=headers.get(HEADER_PRINCIPAL_TENANT, ANONYMOUS),
                     user=headers.get(HEADER_PRINCIPAL_USER, ANONYMOUS), key_id="")
