"""Response headers that say how a request was served (DESIGN.md §1)."""

from enum import StrEnum

__all__ = [
    "HEADER_CACHE_AGE",
    "HEADER_GATEWAY",
    "HEADER_INSTANCE",
    "HEADER_ROUTE",
    "HEADER_ROUTER",
    "HEADER_TENANT",
    "Route",
]

HEADER_INSTANCE = "X-Gatecrash-Instance"
HEADER_GATEWAY = "X-Gatecrash-Gateway"
HEADER_ROUTE = "X-Gatecrash-Route"
HEADER_ROUTER = "X-Gatecrash-Router"
HEADER_CACHE_AGE = "X-Gatecrash-Cache-Age"
HEADER_TENANT = "X-Tenant"


class Route(StrEnum):
    """Which path served a request; `available` means any of these with a 2xx."""

    PRIMARY = "primary"
    RETRY = "retry"
    CACHE_HIT = "cache-hit"
    FALLBACK_CACHE = "fallback-cache"
    FALLBACK_DEGRADED = "fallback-degraded"
    # A product that cannot say how it served a request (docs/gateways.md): never a guess.
    UNKNOWN = "unknown"


# Routes a proxying hop keeps from the hop behind it: they say more than its own
# primary/retry (the answer came from a cache or a fallback, or no one knows).
_KEPT_ROUTES = frozenset({Route.CACHE_HIT, Route.FALLBACK_CACHE, Route.FALLBACK_DEGRADED,
                          Route.UNKNOWN})


def combine_route(retried: bool, upstream_route: str | None) -> Route:
    """The route of an answer relayed from a hop: the hop's own cache/fallback/unknown
    route wins; else a retry here or behind makes it a retry; else primary."""
    if upstream_route in _KEPT_ROUTES:
        return Route(upstream_route)
    return Route.RETRY if retried or upstream_route == Route.RETRY else Route.PRIMARY


# Set by a gateway on the hop to a backend once it has authenticated the
# caller; backends trust them because only gateways reach them.
HEADER_PRINCIPAL_TENANT = "X-Gatecrash-Tenant"
HEADER_PRINCIPAL_USER = "X-Gatecrash-User"
# Which inference replica generated a chat answer (the chat replica is the instance).
HEADER_INFERENCE = "X-Gatecrash-Inference"
# On a gateway product's authorization request: the domain gateway whose quota
# counts the request (targets.stack.TenantSpec); absent for `single`.
HEADER_QUOTA_SCOPE = "X-Gatecrash-Quota-Scope"
__all__ += ["HEADER_INFERENCE", "HEADER_PRINCIPAL_TENANT", "HEADER_PRINCIPAL_USER",
            "HEADER_QUOTA_SCOPE", "combine_route"]
