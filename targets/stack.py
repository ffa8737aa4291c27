"""A deployed stack as data: what every instance reads at start-up.

The conductor resolves a `Topology` into a `StackSpec` (ports, addresses,
secrets, limits) and writes it to a file readable only by its owner; each
service process is started with that file and its own instance id.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from targets.errors import ConfigError
from targets.inference.settings import InferenceSettings
from targets.topology import Arch, GatewayKind, LlmRouterKind, Program, Topology, topology_for

__all__ = [
    "ENV_INSTANCE",
    "ENV_STACK_FILE",
    "QUOTA_SCOPES",
    "InferenceSettings",
    "InstanceSpec",
    "Limits",
    "RuntimeKind",
    "StackSpec",
    "TenantSpec",
    "load_stack",
    "quota_scope",
]

ENV_STACK_FILE = "GATECRASH_STACK_FILE"
ENV_INSTANCE = "GATECRASH_INSTANCE"


class RuntimeKind(StrEnum):
    """What deploys a stack: local processes or containers (services never ask)."""

    LOCAL = "local"
    DOCKER = "docker"


class InstanceSpec(BaseModel):
    """One instance: where it listens (`host`, `port`), and the address its callers
    use: its hop's proxy when there is one, else the instance itself."""

    id: str
    service: str
    program: Program
    role: str | None = None
    host: str = "127.0.0.1"
    port: int
    address: str

    @property
    def url(self) -> str:
        """Base URL callers use (through the hop's proxy when there is one)."""
        return f"http://{self.address}"


# The entry points that count a quota of their own: the domain gateways of `dual`
# (their roles). `single`'s one gateway has no scope: one counter per tenant.
QUOTA_SCOPES = ("identity", "business")


def quota_scope(role: str | None) -> str | None:
    """The quota scope of a gateway role: its domain in `dual`, None for `single`."""
    return role if role in QUOTA_SCOPES else None


class TenantSpec(BaseModel):
    """A tenant and its plan: requests per minute.

    Where one gateway serves every domain (`single`), that gateway counts the tenant
    once across domains against `quota_per_minute`: it has one counter to keep, and
    a business burst spends the identity traffic's quota too. Each domain gateway of
    `dual` enforces its own rule (seed 000 §3, "règles spécifiques par domaine"): a
    counter per tenant per domain, against `domain_quota_per_minute[domain]`, by
    default the tenant's whole plan (a tenant that uses one domain only gets the same
    limit as behind one gateway; the gateways need not coordinate to enforce it).
    """

    name: str
    quota_per_minute: int = Field(ge=1)
    domain_quota_per_minute: dict[str, int] = Field(default_factory=dict)

    @field_validator("domain_quota_per_minute")
    @classmethod
    def _known_domains(cls, value: dict[str, int]) -> dict[str, int]:
        for scope, limit in value.items():
            if scope not in QUOTA_SCOPES:
                raise ValueError(f"domain_quota_per_minute: unknown domain {scope!r}; "
                                 f"allowed: {', '.join(QUOTA_SCOPES)}")
            if limit < 1:
                raise ValueError(f"domain_quota_per_minute.{scope} = {limit}: must be >= 1")
        return value

    def limit(self, scope: str | None) -> int:
        """Requests per minute at an entry point: `scope` is a domain gateway's role,
        None for the one gateway of `single`."""
        if scope is None:
            return self.quota_per_minute
        return self.domain_quota_per_minute.get(scope, self.quota_per_minute)


class Limits(BaseModel):
    """Gateway protections and per-hop resilience knobs."""

    max_body_bytes: int = 64 * 1024
    max_messages: int = 64
    max_message_chars: int = 16_000
    # A hop answers in milliseconds; a replica silent this long is treated as gone
    # and the request retried elsewhere, well before a client gives up (streams
    # are bounded by their first byte instead).
    hop_timeout_s: float = 1.5
    connect_timeout_s: float = 0.5
    # Streams may take a while to finish; only their first byte is bounded.
    stream_first_byte_timeout_s: float = 30.0
    health_interval_s: float = 0.5
    health_timeout_s: float = 0.4
    breaker_failures: int = 5
    breaker_open_s: float = 2.0
    cache_ttl_s: int = 3600


class StackSpec(BaseModel):
    name: str
    stack_id: str
    arch: Arch
    runtime: RuntimeKind = RuntimeKind.LOCAL
    instances: list[InstanceSpec]
    redis_url: str
    signing_key: str = Field(repr=False)
    tenants: list[TenantSpec]
    limits: Limits = Limits()
    inference: InferenceSettings = InferenceSettings()
    entry_url: str
    # The Toxiproxy API that holds this stack's hop proxies (None: no proxies).
    toxiproxy_url: str | None = None
    # What runs in the gateway/router roles and on the LLM path (docs/gateways.md).
    gateway: GatewayKind = GatewayKind.BUILTIN
    llm_router: LlmRouterKind = LlmRouterKind.BUILTIN

    @property
    def topology(self) -> Topology:
        """The topology as deployed: the architecture's, with the products chosen."""
        return topology_for(self.arch).with_products(self.gateway, self.llm_router)

    def instance(self, instance_id: str) -> InstanceSpec:
        for inst in self.instances:
            if inst.id == instance_id:
                return inst
        raise ConfigError(f"stack {self.name}: no instance {instance_id!r}")

    def replicas(self, service: str) -> list[InstanceSpec]:
        return [i for i in self.instances if i.service == service]

    def upstreams(self, caller: str, callee: str) -> list[InstanceSpec]:
        """Replicas of `callee` as `caller` reaches them; the hop must be in the topology."""
        svc = self.topology.service(caller)
        if callee not in svc.calls:
            raise ConfigError(
                f"{caller} does not call {callee} in the {self.arch} topology "
                f"(it calls: {', '.join(svc.calls) or 'nothing'})"
            )
        found = self.replicas(callee)
        if not found:
            raise ConfigError(f"stack {self.name}: no instance of {callee}")
        return found

    def tenant(self, name: str) -> TenantSpec | None:
        return next((t for t in self.tenants if t.name == name), None)

    def write(self, path: Path) -> None:
        """Write the spec readable by its owner only: it holds the signing key."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.model_dump_json(indent=2))


def load_stack(path: str | Path) -> StackSpec:
    try:
        return StackSpec.model_validate_json(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"stack file {path} not found; start the stack with `gatecrash up`"
        ) from None
    except ValidationError as exc:
        raise ConfigError(f"stack file {path} is invalid: {exc}") from exc
