"""The two architectures, each defined once as data (DESIGN.md §1, §3).

A topology lists services (program, role, replica count) and the hops
between them (`calls`). Both runtimes deploy from this one definition, and
every hop named here is the one a proxy can be put on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from targets.errors import ConfigError

__all__ = [
    "BACKEND_REPLICAS",
    "FALLBACK_SERVICE",
    "LLM_ROUTER_SERVICE",
    "TOPOLOGIES",
    "Arch",
    "GatewayKind",
    "LlmRouterKind",
    "Program",
    "ServiceDef",
    "Topology",
    "topology_for",
]

# Every backend service is replicated ("services parallèles", seed 000 §3);
# two is the least that can show a take-over.
BACKEND_REPLICAS = 2


class Arch(StrEnum):
    SINGLE = "single"
    DUAL = "dual"


class Program(StrEnum):
    """The programs that instances run; a gateway has a role."""

    ROUTER = "router"
    GATEWAY = "gateway"
    AUTH = "auth"
    USERS = "users"
    QUOTA = "quota"
    CHAT = "chat"
    MODELS = "models"
    INFERENCE = "inference"
    ORDERS = "orders"
    ARTICLES = "articles"
    ANALYTICS = "analytics"
    MONITORING = "monitoring"
    REDIS = "redis"
    # Only with a real gateway product or LiteLLM (`Topology.with_products`).
    FALLBACK = "fallback"
    LLM_ROUTER = "llm-router"


class GatewayKind(StrEnum):
    """What runs in the gateway and router roles (docs/gateways.md)."""

    BUILTIN = "builtin"
    NGINX = "nginx"
    HAPROXY = "haproxy"


class LlmRouterKind(StrEnum):
    """What routes chat's generation over the inference replicas: the chat service's
    own pool (`builtin`) or a LiteLLM proxy (seed 003's "Inference Router")."""

    BUILTIN = "builtin"
    LITELLM = "litellm"


# A product cannot read Redis or compose a degraded answer: a small service does
# the dedicated fallbacks for it (and serves LiteLLM's degraded model).
FALLBACK_SERVICE = "fallback"
LLM_ROUTER_SERVICE = "llm-router"


@dataclass(frozen=True)
class ServiceDef:
    """One service of a topology: `replicas` instances of one program."""

    name: str
    program: Program
    replicas: int = BACKEND_REPLICAS
    role: str | None = None
    calls: tuple[str, ...] = ()
    # Gateways and routers are the architecture under test, not replicated
    # backends: killing one is how C1/C2/C9 are measured.
    replicated: bool = True

    @property
    def selector(self) -> str:
        """`program:role` for gateways (e.g. `gateway:business`), else the name."""
        return f"{self.program}:{self.role}" if self.role else self.name


@dataclass(frozen=True)
class Topology:
    arch: Arch
    entry: str
    services: tuple[ServiceDef, ...] = field(default_factory=tuple)

    def service(self, name: str) -> ServiceDef:
        for svc in self.services:
            if svc.name == name:
                return svc
        known = ", ".join(s.name for s in self.services)
        raise ConfigError(f"topology {self.arch}: no service {name!r} (services: {known})")

    def hops(self) -> list[tuple[str, str]]:
        """Every (caller service, callee service) edge, entry hop first."""
        edges = [("client", self.entry)]
        edges += [(svc.name, callee) for svc in self.services for callee in svc.calls]
        return edges

    def with_replicas(self, replicas: int) -> Topology:
        """The same topology with every replicated backend at `replicas` instances."""
        if replicas < 1:
            raise ConfigError(f"replicas must be >= 1, got {replicas}")
        services = tuple(
            ServiceDef(s.name, s.program, replicas if s.replicated else s.replicas, s.role,
                       s.calls, s.replicated)
            for s in self.services
        )
        return Topology(self.arch, self.entry, services)

    def with_entries(self, entries: int) -> Topology:
        """The same topology with `entries` instances of the entry service, each its own
        entry point (C9: two routers, the client failing over between them)."""
        if entries < 1:
            raise ConfigError(f"entries must be >= 1, got {entries}")
        services = tuple(
            ServiceDef(s.name, s.program, entries, s.role, s.calls, s.replicated)
            if s.name == self.entry else s
            for s in self.services
        )
        return Topology(self.arch, self.entry, services)

    def with_products(self, gateway: GatewayKind = GatewayKind.BUILTIN,
                      llm_router: LlmRouterKind = LlmRouterKind.BUILTIN) -> Topology:
        """The topology as deployed with real products in the gateway/router roles
        and on the LLM path; the same topology when both are built in.

        A product gateway (or router) calls the fallback service for its dedicated
        fallback; chat then does the Redis cache step the product cannot (seed 000
        §2 steps 6 and 10). With LiteLLM, chat calls the LLM router, which calls
        the inference replicas and, for its degraded model, the fallback service.
        """
        products = gateway is not GatewayKind.BUILTIN
        litellm = llm_router is LlmRouterKind.LITELLM
        if not products and not litellm:
            return self
        services: list[ServiceDef] = []
        for svc in self.services:
            calls = list(svc.calls)
            if products and svc.program in (Program.GATEWAY, Program.ROUTER):
                calls.append(FALLBACK_SERVICE)
            if svc.program is Program.CHAT:
                if products:
                    calls.append("redis")
                if litellm:
                    calls = [LLM_ROUTER_SERVICE if c == "inference" else c for c in calls]
            services.append(ServiceDef(svc.name, svc.program, svc.replicas, svc.role,
                                       tuple(calls), svc.replicated))
        # Before redis: redis stays the last instance, as in every other stack.
        extra = [ServiceDef(FALLBACK_SERVICE, Program.FALLBACK, calls=("redis",))]
        if litellm:
            extra.append(ServiceDef(LLM_ROUTER_SERVICE, Program.LLM_ROUTER, replicas=1,
                                    replicated=False, calls=("inference", FALLBACK_SERVICE)))
        at = next(i for i, s in enumerate(services) if s.program is Program.REDIS)
        return Topology(self.arch, self.entry, (*services[:at], *extra, *services[at:]))


def _backends() -> tuple[ServiceDef, ...]:
    """The services both architectures share: only who calls them differs."""
    return (
        ServiceDef("auth", Program.AUTH, calls=("redis",)),
        ServiceDef("users", Program.USERS, calls=("redis",)),
        ServiceDef("quota", Program.QUOTA, calls=("redis",)),
        ServiceDef("chat", Program.CHAT, calls=("models", "inference")),
        ServiceDef("models", Program.MODELS),
        ServiceDef("inference", Program.INFERENCE),
        ServiceDef("orders", Program.ORDERS, calls=("redis",)),
        ServiceDef("articles", Program.ARTICLES),
        ServiceDef("analytics", Program.ANALYTICS, calls=("redis",)),
        ServiceDef("monitoring", Program.MONITORING),
        ServiceDef("redis", Program.REDIS, replicas=1, replicated=False),
    )


# Seed 000 §1-2: one gateway in front of everything (the 12-step flow).
SINGLE = Topology(
    arch=Arch.SINGLE,
    entry="gateway",
    services=(
        ServiceDef(
            "gateway", Program.GATEWAY, replicas=1, role="single", replicated=False,
            calls=("auth", "users", "quota", "chat", "orders", "articles", "analytics",
                   "monitoring", "redis"),
        ),
        *_backends(),
    ),
)

# Seed 000 §3-4: a middleware router, two domain gateways with their own
# fallbacks. The business gateway checks signed API keys locally and never
# calls the identity gateway; it asks the quota service directly, failing open.
DUAL = Topology(
    arch=Arch.DUAL,
    entry="router",
    services=(
        ServiceDef(
            "router", Program.ROUTER, replicas=1, replicated=False,
            calls=("gateway-identity", "gateway-business", "redis"),
        ),
        ServiceDef(
            "gateway-identity", Program.GATEWAY, replicas=1, role="identity", replicated=False,
            calls=("auth", "users", "quota", "monitoring", "redis"),
        ),
        ServiceDef(
            "gateway-business", Program.GATEWAY, replicas=1, role="business", replicated=False,
            calls=("quota", "chat", "orders", "articles", "analytics", "monitoring", "redis"),
        ),
        *_backends(),
    ),
)

TOPOLOGIES: dict[Arch, Topology] = {Arch.SINGLE: SINGLE, Arch.DUAL: DUAL}


def topology_for(arch: str) -> Topology:
    try:
        return TOPOLOGIES[Arch(arch)]
    except ValueError:
        allowed = ", ".join(a.value for a in Arch)
        raise ConfigError(f"unknown architecture {arch!r}; allowed: {allowed}") from None
