"""The caller as a gateway vouched for it on the internal hop."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from targets.keys import Principal

__all__ = ["Caller"]


async def _caller(  # async: a plain `def` dependency would run in a worker thread
    x_gatecrash_tenant: Annotated[str, Header()] = "anonymous",
    x_gatecrash_user: Annotated[str, Header()] = "anonymous",
) -> Principal:
    return Principal(tenant=x_gatecrash_tenant, user=x_gatecrash_user, key_id="")


Caller = Annotated[Principal, Depends(_caller)]
