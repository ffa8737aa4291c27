"""What a product instance must do, read from the stack: no second source of truth.

`site_for(spec, instance)` gives one gateway or router instance's job as data:
where it listens, the upstream groups it balances (each replica by instance
id and by the address of its hop proxy), the routes of the public API it
serves (from `targets.endpoints`, the table the built-in gateway routes by)
and what stands in when it cannot serve. The NGINX and HAProxy renderers
turn a `Site` into their own syntax and decide nothing of the topology.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from targets.endpoints import ENDPOINTS, ROLE_DOMAINS, Domain, Endpoint
from targets.router import gateways_by_domain
from targets.stack import InstanceSpec, Limits, StackSpec, TenantSpec
from targets.topology import FALLBACK_SERVICE, Program

__all__ = ["Route", "Server", "Site", "error_body", "ms", "site_for"]

ROUTER_ROLE = "router"
# The service that checks API keys for a gateway role (NGINX `auth_request`): the
# auth service, except for business, which must not need the identity side.
AUTH_SERVICE = {"single": "auth", "identity": "auth", "business": FALLBACK_SERVICE}


@dataclass(frozen=True)
class Server:
    """One replica of an upstream group, as its callers reach it (its hop proxy)."""

    id: str
    address: str

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Route:
    """One path of the public API and what serves it."""

    path: str
    # A regular expression when the path has parameters (`/v1/articles/{id}`).
    regex: str | None
    methods: tuple[str, ...]
    # Methods that are safe to send twice (to another replica after a failure).
    idempotent: tuple[str, ...]
    domain: Domain
    # The upstream group (a service name) that serves it.
    group: str
    # Whether the answer may stream (long reads: bounded by the first byte only).
    streams: bool


@dataclass(frozen=True)
class Site:
    stack: str
    arch: str
    instance: str
    service: str
    # single, identity, business, or router.
    role: str
    host: str
    port: int
    groups: dict[str, tuple[Server, ...]]
    routes: tuple[Route, ...]
    limits: Limits
    tenants: tuple[TenantSpec, ...]
    signing_key: str
    # The group that checks keys (None: the router, which leaves that to gateways).
    auth_group: str | None
    # The group of the fallback service (None: no dedicated fallback: `single`).
    fallback_group: str | None

    @property
    def is_router(self) -> bool:
        return self.role == ROUTER_ROLE

    def server_ids(self) -> dict[str, str]:
        """Every server of every group by its address (a replica is in one group)."""
        return {s.address: s.id for servers in self.groups.values() for s in servers}


def _routes(endpoints: list[Endpoint], group_of: dict[Domain, str]) -> tuple[Route, ...]:
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.pattern, []).append(endpoint)
    routes = []
    for pattern, same in by_path.items():
        first = same[0]
        regex = first.regex.pattern if "{" in pattern else None
        routes.append(Route(
            path=pattern, regex=regex, methods=tuple(e.method for e in same),
            idempotent=tuple(e.method for e in same if e.idempotent), domain=first.domain,
            group=group_of.get(first.domain, first.service),
            streams=first.name == "chat.completions"))
    return tuple(routes)


def _servers(spec: StackSpec, caller: str, callee: str) -> tuple[Server, ...]:
    return tuple(Server(i.id, i.address) for i in spec.upstreams(caller, callee))


def site_for(spec: StackSpec, instance: InstanceSpec) -> Site:
    """The job of one gateway or router instance of `spec`."""
    topology = spec.topology
    service = topology.service(instance.service)
    callees = [c for c in service.calls if topology.service(c).program is not Program.REDIS]
    groups = {callee: _servers(spec, service.name, callee) for callee in callees}
    if service.program is Program.ROUTER:
        role = ROUTER_ROLE
        by_domain = gateways_by_domain(topology, service.name)
        routes = _routes([e for e in ENDPOINTS if e.domain in by_domain], by_domain)
        auth_group = None
        fallback_group: str | None = FALLBACK_SERVICE
    else:
        role = instance.role or "single"
        routes = _routes([e for e in ENDPOINTS if e.domain in ROLE_DOMAINS[role]], {})
        auth_group = AUTH_SERVICE[role]
        fallback_group = None if role == "single" else FALLBACK_SERVICE
    used = {r.group for r in routes} | {auth_group, fallback_group} - {None}
    return Site(
        stack=spec.name, arch=spec.arch.value, instance=instance.id, service=service.name,
        role=role, host=instance.host, port=instance.port,
        groups={name: servers for name, servers in groups.items() if name in used},
        routes=routes, limits=spec.limits, tenants=tuple(spec.tenants),
        signing_key=spec.signing_key, auth_group=auth_group, fallback_group=fallback_group)


def ms(seconds: float) -> str:
    """A duration as both products write it."""
    return f"{round(seconds * 1000)}ms"


def error_body(status: int, message: str, code: str) -> str:
    """The JSON error a product answers itself, in the services' shape (OpenAI's)."""
    kind = "invalid_request_error" if status < 500 else "service_unavailable"
    return json.dumps({"error": {"message": message, "type": kind, "code": code,
                                 "param": None}})
