"""orders: a tenant's orders in Redis, with idempotent creation."""

from __future__ import annotations

import json
import time
import uuid
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.payload import parse_model
from targets.problems import error_response
from targets.services.principal import caller
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]

KEEP_ORDERS = 100
LIST_ORDERS = 20
IDEMPOTENCY_TTL_S = 3600


class NewOrder(BaseModel):
    article_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1000)


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @plain_route(app, "GET", "/v1/orders")
    async def list_orders(request: Request) -> Response:
        try:
            raw = await ctx.store.lrange(f"gc:orders:{caller(request).tenant}", 0,
                                         LIST_ORDERS - 1)
        except REDIS_ERRORS:
            return error_response(503, "order store unavailable", "store_unavailable")
        # Each item is the JSON this service stored: joined as is, not parsed again
        # (decode_responses=True: str, whatever redis' stubs say).
        items = ",".join(cast(list[str], raw))
        return Response(f'{{"orders":[{items}]}}', media_type="application/json")

    @plain_route(app, "POST", "/v1/orders")
    async def create_order(request: Request) -> Response:
        body = parse_model(await request.body(), NewOrder)
        who = caller(request)
        idempotency_key = request.headers.get("idempotency-key")
        order = {"id": uuid.uuid4().hex[:12], "tenant": who.tenant, "user": who.user,
                 "article_id": body.article_id, "quantity": body.quantity,
                 "created": time.time(), "status": "accepted"}
        encoded = json.dumps(order, separators=(",", ":"))  # once, for Redis and the answer
        try:
            if idempotency_key:
                idem = f"gc:idem:{who.tenant}:{idempotency_key}"
                stored = await ctx.store.set(idem, encoded, nx=True,
                                             ex=IDEMPOTENCY_TTL_S)
                if not stored:
                    previous = await ctx.store.get(idem)
                    return Response(previous or "{}", media_type="application/json")
            pipe = ctx.store.pipeline()
            pipe.lpush(f"gc:orders:{who.tenant}", encoded)
            pipe.ltrim(f"gc:orders:{who.tenant}", 0, KEEP_ORDERS - 1)
            pipe.incr(f"gc:orders-count:{who.tenant}")
            await pipe.execute()
        except REDIS_ERRORS:
            return error_response(503, "order store unavailable", "store_unavailable")
        return Response(encoded, 201, media_type="application/json")

    return app
