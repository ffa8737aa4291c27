"""Which request to send next, and how it looks (pure: no Locust, no I/O).

The mix is drawn per request, not per user: a Locust user class per domain
would fix the domain split to whole users (3 users cannot be split 50/30/20),
and the open-loop pool must serve any arrival. Each Locust user owns a seeded
`random.Random`, so a run's sequence of choices is reproducible from the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from loadtests.spec import LoadSpec

__all__ = [
    "CACHEABLE_PROMPTS",
    "ENDPOINTS",
    "Endpoint",
    "MixPicker",
    "RequestPlan",
    "plan_request",
    "user_rng",
]

# (name, domain, method, weight inside its domain). Reads dominate writes, as
# in the seeds' order/catalogue flows; login is rare (a session logs in once).
ENDPOINTS_TABLE: tuple[tuple[str, str, str, float], ...] = (
    ("identity.login", "identity", "POST", 1.0),
    ("identity.profile", "identity", "GET", 3.0),
    ("identity.quota", "identity", "GET", 2.0),
    ("orders.list", "business", "GET", 3.0),
    ("orders.create", "business", "POST", 1.0),
    ("articles.list", "business", "GET", 3.0),
    ("articles.get", "business", "GET", 3.0),
    ("analytics.summary", "business", "GET", 1.0),
    ("chat.completions", "chat", "POST", 1.0),
)
# Matches the targets' seeded catalogue (a000..a049); ids outside it would 404.
ARTICLE_IDS = tuple(f"a{i:03d}" for i in range(50))
MAX_ORDER_QUANTITY = 5
# A small fixed prompt set: cacheable requests repeat these with temperature 0.
CACHEABLE_PROMPTS = (
    "What is an API gateway?",
    "Explain replication in one sentence.",
    "Name three causes of latency.",
    "What does a circuit breaker do?",
)
UNCACHEABLE_TEMPERATURE = 0.8
# Knuth's multiplicative constant spreads neighbouring (seed, worker, user) triples.
_SEED_MIX = 2654435761


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    domain: str
    method: str
    weight: float


ENDPOINTS: tuple[Endpoint, ...] = tuple(Endpoint(*row) for row in ENDPOINTS_TABLE)


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """One request to send: the recorder's `endpoint`/`domain` come from here."""

    endpoint: str
    domain: str
    method: str
    path: str
    body: dict[str, Any] | None
    stream: bool
    timeout_s: float
    headers: dict[str, str] | None = None


def user_rng(seed: int, worker_index: int, user_index: int) -> random.Random:
    """The RNG of one Locust user: same seed, worker and user number → same choices."""
    return random.Random((seed * _SEED_MIX) ^ (worker_index << 20) ^ user_index)


class MixPicker:
    """Draws endpoints with P(endpoint) = P(domain) · P(endpoint | domain)."""

    def __init__(self, domain_weights: dict[str, float]) -> None:
        by_domain: dict[str, float] = {}
        for ep in ENDPOINTS:
            by_domain[ep.domain] = by_domain.get(ep.domain, 0.0) + ep.weight
        total = sum(domain_weights.values())
        self.endpoints = [ep for ep in ENDPOINTS if domain_weights.get(ep.domain, 0.0) > 0]
        probs = [domain_weights[ep.domain] / total * ep.weight / by_domain[ep.domain]
                 for ep in self.endpoints]
        self.cum_weights = list(accumulate(probs))

    def pick(self, rng: random.Random) -> Endpoint:
        return rng.choices(self.endpoints, cum_weights=self.cum_weights)[0]


def _chat_body(spec: LoadSpec, rng: random.Random) -> dict[str, Any]:
    chat = spec.chat
    if rng.random() < chat.cacheable_ratio:
        prompt, temperature = rng.choice(CACHEABLE_PROMPTS), 0.0
    else:
        # A nonce makes the prompt unique, so a miss is a real miss.
        prompt = f"Write a short note #{rng.getrandbits(48):x} about gateways."
        temperature = UNCACHEABLE_TEMPERATURE
    return {
        "model": chat.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": chat.max_tokens,
        "temperature": temperature,
        "stream": chat.stream,
    }


def plan_request(ep: Endpoint, spec: LoadSpec, rng: random.Random) -> RequestPlan:
    """Concrete path and body for one draw of `ep`."""
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    timeout = spec.request_timeout_s
    stream = False
    name = ep.name
    if name == "identity.login":
        path, body = "/v1/identity/login", {}
    elif name == "identity.profile":
        path = "/v1/identity/profile"
    elif name == "identity.quota":
        path = "/v1/identity/quota"
    elif name == "orders.list":
        path = "/v1/orders"
    elif name == "orders.create":
        path = "/v1/orders"
        body = {"article_id": rng.choice(ARTICLE_IDS),
                "quantity": rng.randint(1, MAX_ORDER_QUANTITY)}
        # Lets a gateway retry the POST on another replica without a double order.
        headers = {"Idempotency-Key": f"gc-{rng.getrandbits(64):016x}"}
    elif name == "articles.list":
        path = "/v1/articles"
    elif name == "articles.get":
        path = f"/v1/articles/{rng.choice(ARTICLE_IDS)}"
    elif name == "analytics.summary":
        path = "/v1/analytics/summary"
    else:  # chat.completions
        path, body, timeout = "/v1/chat/completions", _chat_body(spec, rng), spec.chat.timeout_s
        stream = spec.chat.stream
        name = "chat.stream" if stream else "chat.complete"
    return RequestPlan(name, ep.domain, ep.method, path, body, stream, timeout, headers)
