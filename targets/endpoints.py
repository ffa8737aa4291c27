"""The public API as data: which domain, which service, whether safe to retry.

Gateways and the router route from this one table (docs/contracts.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ENDPOINTS", "PUBLIC_METHODS", "ROLE_DOMAINS", "Domain", "Endpoint", "match"]


class Domain(StrEnum):
    IDENTITY = "identity"
    BUSINESS = "business"
    CHAT = "chat"


@dataclass(frozen=True)
class Endpoint:
    name: str
    domain: Domain
    method: str
    pattern: str
    service: str
    idempotent: bool

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[A-Za-z0-9_.-]{1,64})",
                                       self.pattern) + "$")



# The domains a gateway serves, by its role (`ServiceDef.role` in the topology).
ROLE_DOMAINS: dict[str, frozenset[Domain]] = {
    "single": frozenset(Domain),
    "identity": frozenset({Domain.IDENTITY}),
    "business": frozenset({Domain.BUSINESS, Domain.CHAT}),
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("identity.login", Domain.IDENTITY, "POST", "/v1/identity/login", "auth", True),
    Endpoint("identity.profile", Domain.IDENTITY, "GET", "/v1/identity/profile", "users", True),
    Endpoint("identity.quota", Domain.IDENTITY, "GET", "/v1/identity/quota", "quota", True),
    Endpoint("orders.list", Domain.BUSINESS, "GET", "/v1/orders", "orders", True),
    # Creating an order is retried only with an Idempotency-Key (see gateway).
    Endpoint("orders.create", Domain.BUSINESS, "POST", "/v1/orders", "orders", False),
    Endpoint("articles.list", Domain.BUSINESS, "GET", "/v1/articles", "articles", True),
    Endpoint("articles.get", Domain.BUSINESS, "GET", "/v1/articles/{article_id}", "articles",
             True),
    Endpoint("analytics.summary", Domain.BUSINESS, "GET", "/v1/analytics/summary",
             "analytics", True),
    # Generation has no side effect, so it is safe to retry before the first byte.
    Endpoint("chat.completions", Domain.CHAT, "POST", "/v1/chat/completions", "chat", True),
    Endpoint("chat.models", Domain.CHAT, "GET", "/v1/models", "chat", True),
)

# Every method reaches the gateways and the router, so that a wrong one gets
# their 405 (`match`), not the framework's.
PUBLIC_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

_COMPILED = [(e, e.regex) for e in ENDPOINTS]


def match(method: str, path: str) -> tuple[Endpoint | None, bool]:
    """(endpoint, path_known): path_known without endpoint means a wrong method."""
    path_known = False
    for endpoint, regex in _COMPILED:
        if regex.match(path):
            path_known = True
            if endpoint.method == method:
                return endpoint, True
    return None, path_known
