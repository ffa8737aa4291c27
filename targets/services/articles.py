"""articles: a read-only catalogue, the same on every replica."""

from __future__ import annotations

import random

from fastapi import FastAPI

from targets.app import create_app
from targets.context import ServiceContext, context_lifespan
from targets.problems import error_response

__all__ = ["CATALOGUE", "build_app"]

CATALOGUE_SIZE = 50
CATALOGUE_SEED = 7
_WORDS = ("GPU", "cache", "token", "prompt", "stream", "batch", "replica", "gateway")


def _catalogue() -> list[dict[str, object]]:
    rng = random.Random(CATALOGUE_SEED)
    return [
        {"id": f"a{i:03d}", "title": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} #{i}",
         "price_cents": rng.randint(100, 10_000), "stock": rng.randint(0, 500)}
        for i in range(CATALOGUE_SIZE)
    ]


CATALOGUE = _catalogue()
_BY_ID = {str(a["id"]): a for a in CATALOGUE}


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @app.get("/v1/articles")
    async def list_articles(limit: int = 20, offset: int = 0) -> dict[str, object]:
        limit = max(1, min(limit, CATALOGUE_SIZE))
        return {"articles": CATALOGUE[offset:offset + limit], "total": CATALOGUE_SIZE}

    @app.get("/v1/articles/{article_id}", response_model=None)
    async def get_article(article_id: str):
        article = _BY_ID.get(article_id)
        if article is None:
            return error_response(404, f"no article {article_id}", "not_found")
        return article

    return app
