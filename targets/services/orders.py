"""orders: a tenant's orders in Redis, with idempotent creation."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from targets.app import create_app
from targets.context import Ctx, ServiceContext, context_lifespan
from targets.problems import error_response
from targets.services.principal import Caller
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]

KEEP_ORDERS = 100
IDEMPOTENCY_TTL_S = 3600


class NewOrder(BaseModel):
    article_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1000)


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @app.get("/v1/orders", response_model=None)
    async def list_orders(caller: Caller, ctx: Ctx):
        try:
            raw = await ctx.store.lrange(f"gc:orders:{caller.tenant}", 0, 19)
        except REDIS_ERRORS:
            return error_response(503, "order store unavailable", "store_unavailable")
        return {"orders": [json.loads(r) for r in raw]}

    @app.post("/v1/orders", response_model=None)
    async def create_order(
        body: NewOrder, caller: Caller, ctx: Ctx,
        idempotency_key: Annotated[str | None, Header()] = None,
    ):
        order = {"id": uuid.uuid4().hex[:12], "tenant": caller.tenant, "user": caller.user,
                 "article_id": body.article_id, "quantity": body.quantity,
                 "created": time.time(), "status": "accepted"}
        try:
            if idempotency_key:
                idem = f"gc:idem:{caller.tenant}:{idempotency_key}"
                stored = await ctx.store.set(idem, json.dumps(order), nx=True,
                                             ex=IDEMPOTENCY_TTL_S)
                if not stored:
                    previous = await ctx.store.get(idem)
                    return JSONResponse(json.loads(previous or "{}"), status_code=200)
            pipe = ctx.store.pipeline()
            pipe.lpush(f"gc:orders:{caller.tenant}", json.dumps(order))
            pipe.ltrim(f"gc:orders:{caller.tenant}", 0, KEEP_ORDERS - 1)
            pipe.incr(f"gc:orders-count:{caller.tenant}")
            await pipe.execute()
        except REDIS_ERRORS:
            return error_response(503, "order store unavailable", "store_unavailable")
        return JSONResponse(order, status_code=201)

    return app
