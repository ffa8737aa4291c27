"""One instance plan: a topology and a network in, every address of a stack out.

`plan_stack(topology, network, options)` is the only place that decides
instance ids, where each instance listens, the hop proxy in front of it
(DESIGN.md §4: every hop goes through a Toxiproxy-API proxy), the Redis URL,
the entry URL, the Toxiproxy URL and each instance's environment. Both
runtimes deploy from its result, and the Compose files are rendered from it.

HTTP fault layers (issue 15, `chaos.httpfaults`) are chained on the hops of
the services named in `PlanOptions.http_faults`: caller -> hop proxy -> layer
-> instance. Callers keep their addresses; only the proxy's upstream moves to
the layer, so any Toxiproxy serves the TCP part. Locally a layer listens on
the instance's port on another loopback address (LAYER_HOST); in containers
the layers live in the `httpfaults` container, one port per instance.

The runtimes differ only in their network, a small value given to the plan:
- `LocalNetwork`: processes on 127.0.0.1, ports from the stack's block of
  PORT_BLOCK ports (instances at base+0.., hop proxies at base+PROXY_OFFSET..,
  the proxy API at base+PORT_BLOCK-1);
- `ContainerNetwork`: one network namespace per container, so every service
  listens on one port and is named by its instance id; the hop proxies live
  in the `toxiproxy` container; the conductor reaches only the entry hop and
  the proxy API, on ports published on the host's loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from chaos.client import ProxyConfig
from chaos.httpfaults.server import LayerConfig
from gatecrash.errors import InputError
from gatecrash.gateways import products_of
from targets.stack import InstanceSpec
from targets.topology import GatewayKind, LlmRouterKind, Program, Topology

__all__ = [
    "CONTAINER_LAYER_PORT_BASE",
    "CONTAINER_PROXY_PORT_BASE",
    "CONTAINER_REDIS_PORT",
    "CONTAINER_SERVICE_PORT",
    "HTTPFAULTS_API_PORT",
    "HTTPFAULTS_ID",
    "HTTPFAULTS_SERVICE",
    "INSTANCE_ENV",
    "LOOPBACK",
    "PORT_BLOCK",
    "PROXY_OFFSET",
    "TOXIPROXY_API_PORT",
    "TOXIPROXY_ID",
    "TOXIPROXY_SERVICE",
    "ContainerNetwork",
    "Endpoint",
    "EntryPoint",
    "LocalNetwork",
    "Network",
    "PlanOptions",
    "StackPlan",
    "plan_stack",
]

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"
# Local port block of a stack; blocks of stacks on one machine never overlap.
PORT_BLOCK = 100
PROXY_OFFSET = 50
# Inside containers every service listens on one port: each has its own namespace.
CONTAINER_SERVICE_PORT = 8000
CONTAINER_REDIS_PORT = 6379
# Hop proxies listen in the Toxiproxy container from here, one port per instance.
CONTAINER_PROXY_PORT_BASE = 10000
TOXIPROXY_API_PORT = 8474
# The proxy server is an instance of its own (it can be killed like any other).
TOXIPROXY_SERVICE = "toxiproxy"
TOXIPROXY_ID = f"{TOXIPROXY_SERVICE}-1"
# The HTTP fault layers of a stack: one server (an instance of its own), one port each.
HTTPFAULTS_SERVICE = "httpfaults"
HTTPFAULTS_ID = f"{HTTPFAULTS_SERVICE}-1"
HTTPFAULTS_API_PORT = 8475
CONTAINER_LAYER_PORT_BASE = 11000
# Locally a layer takes its instance's port on this loopback address: the stack's
# block of ports on 127.0.0.1 stays as it is (127.0.0.0/8 is all loopback).
LAYER_HOST = "127.0.0.2"
# Every Python service: no model download ever, logs as they come.
INSTANCE_ENV = {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


class EntryPoint(BaseModel):
    """One way in for clients: an instance of the entry service, at the URL the
    conductor (load, probes) reaches it by."""

    instance: str
    url: str


@dataclass(frozen=True)
class Endpoint:
    """Where something listens (`host`, `port`) and the address others reach it by."""

    host: str
    port: int
    address: str

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"


class Network(Protocol):
    """How one runtime's instances are addressed; the plan asks, never assumes."""

    def instance(self, index: int, instance_id: str, program: Program) -> Endpoint:
        """The instance itself (`index`: its rank among the stack's instances)."""

    def hop(self, index: int) -> Endpoint:
        """The proxy on the hop into instance `index`, as its callers reach it."""

    def toxiproxy(self) -> Endpoint:
        """The stack's own proxy server's API, as the stack sees it."""

    def layer(self, index: int) -> Endpoint:
        """The HTTP fault layer in front of instance `index`, as its hop proxy reaches it."""

    def httpfaults(self) -> Endpoint:
        """The fault layers' server (its control API), as the stack sees it."""

    def httpfaults_url(self) -> str:
        """The fault layers' control API's URL from the conductor."""

    def entry_url(self, entry: Endpoint, rank: int = 0) -> str:
        """The URL the conductor (load, probes) sends to, given how peers reach the entry
        (`rank`: which entry point, 0 the first, when the entry service has several)."""

    def toxiproxy_url(self) -> str:
        """The proxy API's URL from the conductor."""


@dataclass(frozen=True)
class LocalNetwork:
    """Processes on this machine's loopback, in one block of ports from `base_port`."""

    base_port: int

    def _at(self, port: int) -> Endpoint:
        return Endpoint(LOOPBACK, port, f"{LOOPBACK}:{port}")

    def instance(self, index: int, instance_id: str, program: Program) -> Endpoint:
        return self._at(self.base_port + index)

    def hop(self, index: int) -> Endpoint:
        return self._at(self.base_port + PROXY_OFFSET + index)

    def toxiproxy(self) -> Endpoint:
        return self._at(self.base_port + PORT_BLOCK - 1)

    def layer(self, index: int) -> Endpoint:
        port = self.base_port + index
        return Endpoint(LAYER_HOST, port, f"{LAYER_HOST}:{port}")

    def httpfaults(self) -> Endpoint:
        port = self.base_port + PORT_BLOCK - 1
        return Endpoint(LAYER_HOST, port, f"{LAYER_HOST}:{port}")

    def httpfaults_url(self) -> str:
        return f"http://{self.httpfaults().address}"

    def entry_url(self, entry: Endpoint, rank: int = 0) -> str:
        return f"http://{entry.address}"

    def toxiproxy_url(self) -> str:
        return f"http://{self.toxiproxy().address}"


@dataclass(frozen=True)
class ContainerNetwork:
    """One container per instance on the project's network, named by instance id.

    `entry_port` and `toxiproxy_port` are the ports the entry hop and the proxy
    API are published on, at `address` on the engine's host: its loopback for an
    engine on this machine (DESIGN.md §7), the address the conductor dials for a
    remote engine. `more_entry_ports`: the ports of the second, third... entry
    points, when the entry service has several instances.
    """

    entry_port: int
    toxiproxy_port: int
    httpfaults_port: int = HTTPFAULTS_API_PORT
    address: str = LOOPBACK
    more_entry_ports: tuple[int, ...] = ()

    def instance(self, index: int, instance_id: str, program: Program) -> Endpoint:
        port = CONTAINER_REDIS_PORT if program is Program.REDIS else CONTAINER_SERVICE_PORT
        return Endpoint(ALL_INTERFACES, port, f"{instance_id}:{port}")

    def hop(self, index: int) -> Endpoint:
        port = CONTAINER_PROXY_PORT_BASE + index
        return Endpoint(ALL_INTERFACES, port, f"{TOXIPROXY_SERVICE}:{port}")

    def toxiproxy(self) -> Endpoint:
        return Endpoint(ALL_INTERFACES, TOXIPROXY_API_PORT,
                        f"{TOXIPROXY_SERVICE}:{TOXIPROXY_API_PORT}")

    def layer(self, index: int) -> Endpoint:
        port = CONTAINER_LAYER_PORT_BASE + index
        return Endpoint(ALL_INTERFACES, port, f"{HTTPFAULTS_SERVICE}:{port}")

    def httpfaults(self) -> Endpoint:
        return Endpoint(ALL_INTERFACES, HTTPFAULTS_API_PORT,
                        f"{HTTPFAULTS_SERVICE}:{HTTPFAULTS_API_PORT}")

    def httpfaults_url(self) -> str:
        return f"http://{self._host}:{self.httpfaults_port}"

    @property
    def _host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address  # IPv6 in a URL

    def entry_url(self, entry: Endpoint, rank: int = 0) -> str:
        ports = (self.entry_port, *self.more_entry_ports)
        if rank >= len(ports):
            raise InputError(f"entry point {rank + 1}: the container network publishes "
                             f"{len(ports)} entry port(s)")
        return f"http://{self._host}:{ports[rank]}"

    def toxiproxy_url(self) -> str:
        return f"http://{self._host}:{self.toxiproxy_port}"


@dataclass(frozen=True)
class PlanOptions:
    """What a stack has beyond its topology and network."""

    # Hop proxies in front of every instance (network faults need them).
    proxies: bool = True
    # A Redis of the user's instead of the stack's own (then no Redis instance).
    redis_url: str | None = None
    # A Toxiproxy of the user's instead of the stack's own proxy server.
    toxiproxy_url: str | None = None
    # Services whose hops pass through an HTTP fault layer (HTTP/stream faults need one).
    http_faults: tuple[str, ...] = ()
    # Real products in the gateway/router roles and on the LLM path (docs/gateways.md);
    # the topology given to `plan_stack` already has them (`Topology.with_products`).
    gateway: GatewayKind = GatewayKind.BUILTIN
    llm_router: LlmRouterKind = LlmRouterKind.BUILTIN


class StackPlan(BaseModel):
    """Every address of one stack, as `plan_stack` decided them."""

    instances: list[InstanceSpec]
    proxies: list[ProxyConfig]
    redis_url: str
    # The instance id clients enter by, and the URL the conductor reaches it at
    # (the first entry point: what needs only one reads these).
    entry: str
    entry_url: str
    # Every entry point, the first one included (C9: several routers, the client
    # fails over between them). Empty in a plan written before: `entry_points`.
    entries: list[EntryPoint] = []
    # The API holding the hop proxies (None: no proxies), and where the stack's
    # own proxy server listens (None: no proxies, or the user's Toxiproxy).
    toxiproxy_url: str | None
    toxiproxy: Endpoint | None
    # Environment of each instance's program, by instance id.
    env: dict[str, dict[str, str]]
    # The HTTP fault layers (name: the instance id) and their server (none: empty/None).
    layers: list[LayerConfig] = []
    httpfaults_url: str | None = None
    httpfaults: Endpoint | None = None
    # The product that runs an instance (nginx, haproxy, litellm), by instance id;
    # every other instance runs Gatecrash's own program.
    products: dict[str, str] = {}

    def instance(self, instance_id: str) -> InstanceSpec:
        return next(i for i in self.instances if i.id == instance_id)

    @property
    def entry_points(self) -> list[EntryPoint]:
        return self.entries or [EntryPoint(instance=self.entry, url=self.entry_url)]


def plan_stack(topology: Topology, network: Network,
               options: PlanOptions | None = None) -> StackPlan:
    """Instances (in topology order: ports are stable), their hop proxies, and URLs."""
    options = options or PlanOptions()
    unknown = sorted(set(options.http_faults) - {s.name for s in topology.services})
    if unknown:
        raise InputError(f"http_faults: no service {', '.join(unknown)} in the "
                         f"{topology.arch} topology")
    instances: list[InstanceSpec] = []
    proxies: list[ProxyConfig] = []
    layers: list[LayerConfig] = []
    env: dict[str, dict[str, str]] = {}
    reach: dict[str, Endpoint] = {}
    for svc in topology.services:
        if svc.program is Program.REDIS and options.redis_url:
            continue  # the user's Redis replaces the stack's own
        for n in range(1, svc.replicas + 1):
            iid = f"{svc.name}-{n}"
            index = len(instances)
            own = network.instance(index, iid, svc.program)
            reach[iid] = own
            if svc.name in options.http_faults and svc.program is not Program.REDIS:
                layer = network.layer(index)
                layers.append(LayerConfig(name=iid, listen=layer.listen, upstream=own.address))
                reach[iid] = layer
            if options.proxies:
                hop = network.hop(index)
                proxies.append(ProxyConfig(name=iid, listen=hop.listen,
                                           upstream=reach[iid].address))
                reach[iid] = hop
            instances.append(InstanceSpec(
                id=iid, service=svc.name, program=svc.program, role=svc.role,
                host=own.host, port=own.port, address=reach[iid].address))
            env[iid] = {} if svc.program is Program.REDIS else dict(INSTANCE_ENV)
    redis = next((i for i in instances if i.program is Program.REDIS), None)
    redis_url = options.redis_url or f"redis://{redis.address if redis else ''}/0"
    # Every instance of the entry service is an entry point of its own, in rank order.
    entry_ids = [f"{topology.entry}-{n}"
                 for n in range(1, topology.service(topology.entry).replicas + 1)]
    entries = [EntryPoint(instance=iid, url=network.entry_url(reach[iid], rank))
               for rank, iid in enumerate(entry_ids)]
    toxiproxy_url, toxiproxy = None, None
    if options.proxies:
        toxiproxy_url = options.toxiproxy_url
        if toxiproxy_url is None:
            toxiproxy, toxiproxy_url = network.toxiproxy(), network.toxiproxy_url()
    httpfaults = network.httpfaults() if layers else None
    products = products_of(options.gateway, options.llm_router,
                           [(i.id, i.program) for i in instances])
    return StackPlan(instances=instances, proxies=proxies, redis_url=redis_url,
                     entry=entries[0].instance, entry_url=entries[0].url, entries=entries,
                     toxiproxy_url=toxiproxy_url,
                     toxiproxy=toxiproxy, env=env, layers=layers,
                     httpfaults_url=network.httpfaults_url() if layers else None,
                     httpfaults=httpfaults, products=products)
