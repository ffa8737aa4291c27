"""The runtime registry: every runtime behind one contract, chosen by `RuntimeKind`.

A backend plans a stack on its network, gives the `Runtime` that deploys it
(or attaches to one another process deployed), and finds or sweeps what
crashed runs left. Everything else (the deploy phases, hop proxies,
readiness, teardown) is written once here for every backend.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

from chaos.client import ToxiproxyClient
from chaos.errors import ChaosError
from chaos.httpfaults.client import HttpFaultsClient
from chaos.runtime.base import Runtime
from gatecrash.containers.backend import DockerBackend
from gatecrash.gateways.haproxy import READY_PATH
from gatecrash.local import LocalBackend
from gatecrash.plan import Network, PlanOptions
from gatecrash.stacks import Stack, create_stack
from targets.stack import Limits, RuntimeKind
from targets.topology import GatewayKind, LlmRouterKind, Program, topology_for

__all__ = [
    "BACKENDS",
    "Backend",
    "attach",
    "backend",
    "deploy",
    "deployed_stack",
    "new_stack",
    "own_hosts",
    "remove_stack",
    "runtime_for",
    "undeploy",
    "wait_pools_healthy",
]

PROXY_API_READY_S = 10.0
# How long a deployed stack may take until every gateway sees every replica healthy.
POOLS_SETTLE_S = 20.0
POOLS_POLL_S = 0.2


class Backend(Protocol):
    """What differs between runtimes, beside the `Runtime` itself."""

    kind: RuntimeKind
    deploy_timeout_s: float
    # The inference backend a stack gets when the caller names none (None: the spec's).
    default_inference: str | None

    def network(self, instance_count: int, base_port: int | None,
                entries: int = 1) -> Network:
        """Where a new stack's instances will be (ports picked now); `entries`: how many
        entry points the stack has (instances of its entry service)."""

    def options(self, proxies: bool) -> PlanOptions: ...

    def check_products(self, gateway: GatewayKind, llm_router: LlmRouterKind) -> None:
        """InputError when this runtime cannot run the chosen products (not installed)."""

    def runtime(self, stack: Stack, *, attached: bool) -> Runtime:
        """The runtime that deploys a new stack (`attached`: dies with this process)."""

    def attach(self, stack: Stack) -> Runtime:
        """The runtime of a stack deployed by another process."""

    def leftovers(self, stack: Stack) -> list[str]:
        """What of this stack still exists (processes, containers, networks)."""

    def sweep(self) -> list[str]:
        """Remove what crashed runs left behind; what was removed."""


BACKENDS: dict[RuntimeKind, Backend] = {
    RuntimeKind.LOCAL: LocalBackend(),
    RuntimeKind.DOCKER: DockerBackend(),
}


def backend(kind: RuntimeKind) -> Backend:
    return BACKENDS[kind]


def new_stack(name: str, arch: str, *, runtime: RuntimeKind = RuntimeKind.LOCAL,
              base_port: int | None = None, replicas: int | None = None,
              inference_backend: str | None = None, limits: Limits | None = None,
              proxies: bool = True, http_faults: tuple[str, ...] = (),
              gateway: GatewayKind = GatewayKind.BUILTIN,
              llm_router: LlmRouterKind = LlmRouterKind.BUILTIN, entries: int = 1) -> Stack:
    """Plan `arch` for `runtime` into a stack with ports and fresh secrets (not saved yet);
    `http_faults`: the services whose hops pass through an HTTP fault layer; `entries`:
    instances of the entry service, each an entry point of its own (C9).

    A product (`gateway`, `llm_router`) that is not installed fails here, before
    anything starts.
    """
    chosen = backend(runtime)
    chosen.check_products(gateway, llm_router)
    topology = topology_for(arch).with_products(gateway, llm_router)
    if replicas is not None:
        topology = topology.with_replicas(replicas)
    topology = topology.with_entries(entries)
    count = sum(s.replicas for s in topology.services)
    options = replace(chosen.options(proxies), gateway=gateway, llm_router=llm_router)
    return create_stack(name, topology, chosen.network(count, base_port, entries),
                        runtime=runtime,
                        options=replace(options, http_faults=tuple(http_faults)),
                        inference_backend=inference_backend or chosen.default_inference,
                        limits=limits)


def runtime_for(stack: Stack, *, attached: bool) -> Runtime:
    return backend(stack.spec.runtime).runtime(stack, attached=attached)


def attach(stack: Stack) -> Runtime:
    return backend(stack.spec.runtime).attach(stack)


def deploy(stack: Stack, runtime: Runtime, timeout_s: float) -> None:
    """Infrastructure first, then the hop proxies, then every service."""

    def create_proxies() -> None:
        # The layers first: a hop proxy forwards to its layer from the first byte.
        if stack.plan.httpfaults_url is not None:
            with HttpFaultsClient(stack.plan.httpfaults_url) as layers:
                layers.wait_ready(timeout_s=PROXY_API_READY_S)
                layers.populate(stack.plan.layers)
        if stack.spec.toxiproxy_url is None:
            return
        with ToxiproxyClient(stack.spec.toxiproxy_url) as client:
            client.wait_ready(timeout_s=PROXY_API_READY_S)
            client.populate(stack.plan.proxies)

    runtime.deploy(timeout_s, between_phases=create_proxies)


def undeploy(stack: Stack, runtime: Runtime) -> None:
    """Remove every instance, and our proxies from a Toxiproxy we do not own."""
    if stack.spec.toxiproxy_url is not None and stack.plan.toxiproxy is None:
        with ToxiproxyClient(stack.spec.toxiproxy_url) as client:
            for config in stack.plan.proxies:
                with contextlib.suppress(ChaosError):
                    client.delete_proxy(config.name)
    runtime.teardown()


def remove_stack(stack: Stack) -> None:
    """`gatecrash down`: remove what the stack runs, then its folder (also when the
    runtime fails: its error is raised after the folder is gone)."""
    try:
        undeploy(stack, attach(stack))
    finally:
        stack.remove_files()


def own_hosts(stack: Stack) -> tuple[str, ...]:
    """Where the load may go beyond 127.0.0.0/8: a Docker stack's entry points, published
    by containers the stack created, on a remote engine's host (DESIGN.md §7)."""
    if stack.spec.runtime is not RuntimeKind.DOCKER:
        return ()
    hosts = (urlsplit(e.url).hostname for e in stack.plan.entry_points)
    return tuple(dict.fromkeys(h for h in hosts if h))


def wait_pools_healthy(stack: Stack, runtime: Runtime,
                       timeout_s: float = POOLS_SETTLE_S) -> bool:
    """Until every gateway and router sees every upstream replica healthy, breaker closed.

    The runtime asks each instance itself: only it knows how to reach them.
    """
    routing = [i.id for i in stack.spec.instances if i.program in (Program.GATEWAY, Program.ROUTER)]
    # A product (NGINX, HAProxy) has no such report: it is asked whether it serves.
    ids = [i for i in routing if i not in stack.plan.products]
    products = [i for i in routing if i in stack.plan.products]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not all(runtime.serving(iid) and _product_ready(runtime, iid) for iid in products):
            time.sleep(POOLS_POLL_S)
            continue
        try:
            pools = [pool for iid in ids
                     for pool in json.loads(runtime.http_get(iid, "/upstreams").body).values()]
            if all(r["healthy"] and r["breaker"] == "closed" for pool in pools for r in pool):
                return True
        except (ChaosError, ValueError, KeyError, TypeError):
            pass  # an instance restarting, or answering something else: ask again
        time.sleep(POOLS_POLL_S)
    return False


def _product_ready(runtime: Runtime, instance_id: str) -> bool:
    """A product that reports its upstreams (HAProxy's `/ready`) sees them all up; one
    that does not (a 404) is ready once it serves."""
    try:
        return runtime.http_get(instance_id, READY_PATH).status != HTTPStatus.SERVICE_UNAVAILABLE
    except ChaosError:
        return False


@contextmanager
def deployed_stack(arch: str, *, runtime: RuntimeKind = RuntimeKind.LOCAL,
                   name: str | None = None, timeout_s: float | None = None,
                   replicas: int | None = None, inference_backend: str | None = None,
                   limits: Limits | None = None, proxies: bool = True,
                   http_faults: tuple[str, ...] = (),
                   gateway: GatewayKind = GatewayKind.BUILTIN,
                   llm_router: LlmRouterKind = LlmRouterKind.BUILTIN, entries: int = 1,
                   ) -> Iterator[tuple[Stack, Runtime]]:
    """Deploy a stack for the length of a `with` block; always removed after."""
    stack = new_stack(name or f"{arch}-{secrets.token_hex(3)}", arch, runtime=runtime,
                      replicas=replicas, inference_backend=inference_backend, limits=limits,
                      proxies=proxies, http_faults=http_faults, gateway=gateway,
                      llm_router=llm_router, entries=entries)
    stack.save()
    try:
        deployed = runtime_for(stack, attached=True)
        try:
            deploy(stack, deployed, timeout_s or backend(runtime).deploy_timeout_s)
            yield stack, deployed
        finally:
            undeploy(stack, deployed)
    finally:
        stack.remove_files()
