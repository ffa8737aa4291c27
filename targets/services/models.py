"""models: chooses the model that serves a request (seed 000 §2 step 8)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.payload import parse_model
from targets.problems import error_response

__all__ = ["build_app", "served_model"]

# Names clients commonly send, all served by the one deployed model.
ALIASES = ("default", "auto", "gpt-4o-mini", "gpt-3.5-turbo", "tiny", "smollm2", "standin")


def served_model(backend: str) -> str:
    """The model id the inference replicas serve for a backend setting."""
    if backend.startswith("path:"):
        return backend.rstrip("/").rsplit("/", 1)[-1]
    if backend.startswith("upstream:"):
        return "upstream"
    return {"tiny": "gatecrash-tiny", "smollm2": "smollm2-135m-instruct",
            "standin": "gatecrash-standin"}.get(backend, backend)


class SelectRequest(BaseModel):
    model: str | None = None


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))
    model_id = served_model(ctx.stack.inference.backend)
    created = int(time.time())

    @app.get("/v1/models")
    async def list_models() -> dict[str, object]:
        return {"object": "list", "data": [
            {"id": model_id, "object": "model", "created": created, "owned_by": "gatecrash"}
        ]}

    @plain_route(app, "POST", "/v1/models/select")
    async def select(request: Request) -> Response:
        body = parse_model(await request.body(), SelectRequest)
        # An upstream engine knows its own names: pass the client's through.
        if model_id == "upstream" and body.model:
            return JSONResponse({"model": body.model})
        if body.model in (None, "", model_id, *ALIASES):
            return JSONResponse({"model": model_id})
        return error_response(404, f"model {body.model!r} does not exist; available: "
                              f"{model_id} (aliases: {', '.join(ALIASES)})", "model_not_found")

    return app
