"""articles: a read-only catalogue, the same on every replica."""

from __future__ import annotations

import random

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.payload import Rejected
from targets.problems import error_response

__all__ = ["CATALOGUE", "build_app"]

CATALOGUE_SIZE = 50
CATALOGUE_SEED = 7
DEFAULT_PAGE = 20
_WORDS = ("GPU", "cache", "token", "prompt", "stream", "batch", "replica", "gateway")


def _catalogue() -> list[dict[str, object]]:
    rng = random.Random(CATALOGUE_SEED)
    return [
        {"id": f"a{i:03d}", "title": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} #{i}",
         "price_cents": rng.randint(100, 10_000), "stock": rng.randint(0, 500)}
        for i in range(CATALOGUE_SIZE)
    ]


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise Rejected(422, f"query parameter {name} must be an integer, not {raw!r}",
                       "invalid_query") from None


CATALOGUE = _catalogue()
_BY_ID = {str(a["id"]): a for a in CATALOGUE}


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @plain_route(app, "GET", "/v1/articles")
    async def list_articles(request: Request) -> Response:
        limit = _int_param(request, "limit", DEFAULT_PAGE)
        offset = _int_param(request, "offset", 0)
        limit = max(1, min(limit, CATALOGUE_SIZE))
        return JSONResponse({"articles": CATALOGUE[offset:offset + limit],
                             "total": CATALOGUE_SIZE})

    @plain_route(app, "GET", "/v1/articles/{article_id}")
    async def get_article(request: Request) -> Response:
        article_id = request.path_params["article_id"]
        article = _BY_ID.get(article_id)
        if article is None:
            return error_response(404, f"no article {article_id}", "not_found")
        return JSONResponse(article)

    return app
