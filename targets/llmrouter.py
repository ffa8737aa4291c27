"""What a LiteLLM proxy says about how it served a chat request, as Gatecrash routes.

LiteLLM (the LLM router of `--llm-router litellm`, docs/gateways.md) answers
with `x-litellm-model-id` (the deployment that answered: its `model_info.id`,
which Gatecrash sets to the inference replica's instance id),
`x-litellm-attempted-retries` and `x-litellm-attempted-fallbacks`. When any of
them is missing the route is `unknown`: never a guess.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from targets.headers import Route

__all__ = ["HEADER_ATTEMPTED_FALLBACKS", "HEADER_ATTEMPTED_RETRIES", "HEADER_MODEL_ID",
           "LlmRoute", "llm_route", "master_key"]

HEADER_MODEL_ID = "x-litellm-model-id"
HEADER_ATTEMPTED_RETRIES = "x-litellm-attempted-retries"
HEADER_ATTEMPTED_FALLBACKS = "x-litellm-attempted-fallbacks"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class LlmRoute:
    route: Route
    # The deployment (inference replica, or the degraded model's) that answered.
    instance: str


def _count(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def llm_route(headers: Mapping[str, str]) -> LlmRoute:
    """The route and answering deployment LiteLLM's headers report."""
    model_id = headers.get(HEADER_MODEL_ID) or UNKNOWN
    retries = _count(headers.get(HEADER_ATTEMPTED_RETRIES))
    fallbacks = _count(headers.get(HEADER_ATTEMPTED_FALLBACKS))
    if retries is None or fallbacks is None or model_id == UNKNOWN:
        return LlmRoute(Route.UNKNOWN, model_id)
    if fallbacks > 0:
        return LlmRoute(Route.FALLBACK_DEGRADED, model_id)
    return LlmRoute(Route.RETRY if retries > 0 else Route.PRIMARY, model_id)


def master_key(signing_key: str) -> str:
    """The LiteLLM proxy's master key, derived from the stack's secret: the proxy
    refuses to start without one, and only the chat service may call it."""
    digest = hmac.new(signing_key.encode(), b"litellm-master-key", hashlib.sha256).hexdigest()
    return f"sk-{digest[:48]}"
