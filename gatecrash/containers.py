"""Stacks as containers: Compose files from the one topology, and their deployment.

`compose_document(topology)` turns a topology (DESIGN.md §3) into a Compose
project: one Compose service per instance (`auth-1`, `auth-2`, ...: a fault
names one instance, and its container must be that instance), a Toxiproxy
service holding every hop's proxy, Redis, and a one-shot `stack-init` that
writes the stack file when none was given. The files in `compose/` are this
function's output (`python -m gatecrash.containers write-compose`), and a test
fails when they drift from the topology.

Networking (DESIGN.md §7): containers talk on the project's network; the host
reaches only the entry proxy and the Toxiproxy API, published on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from chaos.runtime.docker import (
    COMPOSE_PROJECT_LABEL,
    LABEL_INSTANCE,
    LABEL_RUN,
    LABEL_SERVICE,
    LABEL_STACK,
    ContainerInstance,
    DockerRuntime,
    docker_client,
    remove_labelled,
)
from gatecrash.errors import StackError
from gatecrash.stacks import Stack, new_stack
from targets.stack import InstanceSpec, Limits, StackSpec
from targets.topology import Arch, Program, Topology, topology_for

__all__ = [
    "COMPOSE_DIR",
    "compose_document",
    "docker_deployed_stack",
    "docker_runtime_for",
    "find_leftovers",
    "remove_leftovers",
    "render_compose",
    "toxiproxy_config",
    "undeploy_docker_stack",
]

log = logging.getLogger(__name__)

COMPOSE_DIR = Path(__file__).resolve().parents[1] / "compose"
GPU_OVERRIDE = "gpu.yaml"
# Inside containers every service listens on one port: each has its own network namespace.
SERVICE_PORT = 8000
REDIS_PORT = 6379
TOXIPROXY_API_PORT = 8474
# Hop proxies listen in the Toxiproxy container from here, one port per instance.
PROXY_PORT_BASE = 10000
TOXIPROXY_SERVICE = "toxiproxy"
STACK_INIT_SERVICE = "stack-init"
CONTAINER_DNS = ("127.0.0.1",)
STACK_MOUNT = "/stack"
CONFIG_MOUNT = "/config/toxiproxy.json"
# Where the stack file lives for a plain `docker compose up` (relative to compose/).
DEFAULT_STACK_DIR = "./stack"

SERVICE_IMAGE = "gatecrash/service:latest"
BUILTIN_TOXIPROXY_IMAGE = "gatecrash/toxiproxy:latest"
BUILTIN_REDIS_IMAGE = "gatecrash/redis:latest"
OFFICIAL_TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
OFFICIAL_REDIS_IMAGE = "redis:7.4-bookworm"
# The uid the image's `app` user has; the conductor runs services as itself instead,
# so they can read the stack file it wrote (mode 0600).
IMAGE_UID = "10001"
DEFAULT_ENTRY_PORT = 8080
# Healthchecks run every few seconds in every container of a 2-core machine: a raw
# socket probe in an isolated, site-less interpreter costs ~10 ms, urllib ~4x that.
HEALTH_INTERVAL = "2s"
HEALTH_START_PERIOD = "60s"
HEALTH_PROBE = (
    "import socket,sys;s=socket.create_connection(('127.0.0.1',{port}),1);"
    "s.sendall(b'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n');"
    "sys.exit(0 if s.recv(16).split()[1:2]==[b'200'] else 1)"
)
STACK_FILE_NAME = "stack.json"
COMPOSE_FILE_NAME = "compose.yaml"
TOXIPROXY_FILE_NAME = "toxiproxy.json"
STATE_FILE = "docker.json"
DEPLOY_TIMEOUT_S = 240.0
# The image carries no torch (see compose/README.md): the stand-in answers for inference
# unless an experiment names a backend (and an image that has what it needs).
DEFAULT_INFERENCE = "standin"

# Compose variables: the conductor sets them; a plain `docker compose up` gets defaults.
ENV_STACK = "GATECRASH_STACK"
ENV_RUN = "GATECRASH_RUN_ID"
ENV_STACK_DIR = "GATECRASH_STACK_DIR"
ENV_UID = "GATECRASH_UID"
ENV_ENTRY_PORT = "GATECRASH_ENTRY_PORT"
ENV_TOXIPROXY_PORT = "GATECRASH_TOXIPROXY_PORT"
ENV_IMAGE = "GATECRASH_IMAGE"
ENV_TOXIPROXY_IMAGE = "GATECRASH_TOXIPROXY_IMAGE"
ENV_REDIS_IMAGE = "GATECRASH_REDIS_IMAGE"
ENV_GPU = "GATECRASH_INFERENCE_GPU"


# -- the topology as a Compose project ------------------------------------------
def _instances(topology: Topology) -> list[tuple[str, Any, int]]:
    """(instance id, service def, proxy port) in topology order: ports are stable."""
    out: list[tuple[str, Any, int]] = []
    for svc in topology.services:
        for n in range(1, svc.replicas + 1):
            out.append((f"{svc.name}-{n}", svc, PROXY_PORT_BASE + len(out)))
    return out


def _port(program: Program) -> int:
    return REDIS_PORT if program is Program.REDIS else SERVICE_PORT


def toxiproxy_config(topology: Topology) -> list[dict[str, Any]]:
    """Every hop's proxy, named after the instance it leads to (as in the local runtime)."""
    return [{"name": iid, "listen": f"0.0.0.0:{proxy_port}",
             "upstream": f"{iid}:{_port(svc.program)}", "enabled": True}
            for iid, svc, proxy_port in _instances(topology)]


def _labels(iid: str, service: str) -> dict[str, str]:
    return {LABEL_STACK: f"${{{ENV_STACK}:-compose}}", LABEL_RUN: f"${{{ENV_RUN}:-manual}}",
            LABEL_SERVICE: service, LABEL_INSTANCE: iid}


def _healthcheck(test: list[str]) -> dict[str, Any]:
    return {"test": test, "interval": HEALTH_INTERVAL, "timeout": "2s", "retries": 3,
            "start_period": HEALTH_START_PERIOD}


def compose_document(topology: Topology, *, proxies: bool = True,
                     toxiproxy_file: str | None = None) -> dict[str, Any]:
    """The Compose project of a topology; `toxiproxy_file` is relative to the compose file."""
    arch = topology.arch.value
    stack_dir = f"${{{ENV_STACK_DIR}:-{DEFAULT_STACK_DIR}}}"
    services: dict[str, Any] = {}
    infra: dict[str, dict[str, str]] = {
        STACK_INIT_SERVICE: {"condition": "service_completed_successfully"}}
    services[STACK_INIT_SERVICE] = {
        "image": f"${{{ENV_IMAGE}:-{SERVICE_IMAGE}}}",
        # Root, once: it may have to create the stack folder's files for a plain
        # `docker compose up`; it hands them to the uid the services run as.
        "user": "0:0",
        "command": ["python", "-m", "gatecrash.containers", "init-stack", "--arch", arch,
                    "--dir", STACK_MOUNT, "--owner", f"${{{ENV_UID}:-{IMAGE_UID}}}"],
        "volumes": [f"{stack_dir}:{STACK_MOUNT}"],
        "labels": _labels(STACK_INIT_SERVICE, STACK_INIT_SERVICE),
        "restart": "no",
    }
    entry_iid = next(iid for iid, svc, _ in _instances(topology) if svc.name == topology.entry)
    entry_publish = f"127.0.0.1:${{{ENV_ENTRY_PORT}:-{DEFAULT_ENTRY_PORT}}}"
    if proxies:
        entry_port = next(p for iid, _, p in _instances(topology) if iid == entry_iid)
        services[TOXIPROXY_SERVICE] = {
            "image": f"${{{ENV_TOXIPROXY_IMAGE}:-{OFFICIAL_TOXIPROXY_IMAGE}}}",
            # Long flags: Go's flag package and argparse (the built-in server) both take them.
            "command": ["--host=0.0.0.0", f"--port={TOXIPROXY_API_PORT}",
                        f"--config={CONFIG_MOUNT}"],
            "volumes": [f"{toxiproxy_file or f'./toxiproxy-{arch}.json'}:{CONFIG_MOUNT}:ro"],
            # Only the entry hop and the API reach the host, and only its loopback.
            "ports": [f"{entry_publish}:{entry_port}",
                      f"127.0.0.1:${{{ENV_TOXIPROXY_PORT}:-{TOXIPROXY_API_PORT}}}:"
                      f"{TOXIPROXY_API_PORT}"],
            # The official image has no shell: `toxiproxy-cli list` is in both images.
            "healthcheck": _healthcheck(["CMD", "/toxiproxy-cli", "list"]),
            "labels": _labels(f"{TOXIPROXY_SERVICE}-1", TOXIPROXY_SERVICE),
        }
        infra[TOXIPROXY_SERVICE] = {"condition": "service_healthy"}
    for iid, svc, _ in _instances(topology):
        if svc.program is Program.REDIS:
            services[iid] = {
                "image": f"${{{ENV_REDIS_IMAGE}:-{OFFICIAL_REDIS_IMAGE}}}",
                # A cache, not a store: nothing persisted, so nothing left in a volume.
                "command": ["redis-server", "--port", str(REDIS_PORT), "--bind", "0.0.0.0",
                            "--protected-mode", "no", "--save", "", "--appendonly", "no"],
                "tmpfs": ["/data"],
                "init": True,
                "healthcheck": _healthcheck(["CMD", "redis-cli", "-p", str(REDIS_PORT),
                                             "ping"]),
                "labels": _labels(iid, svc.name),
            }
            infra[iid] = {"condition": "service_healthy"}
    for iid, svc, _ in _instances(topology):
        if svc.program is Program.REDIS:
            continue
        entry: dict[str, Any] = {
            "image": f"${{{ENV_IMAGE}:-{SERVICE_IMAGE}}}",
            "user": f"${{{ENV_UID}:-{IMAGE_UID}}}",
            "command": ["python", "-m", "targets", "--stack", f"{STACK_MOUNT}/{STACK_FILE_NAME}",
                        "--instance", iid],
            "volumes": [f"{stack_dir}:{STACK_MOUNT}:ro"],
            "environment": {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"},
            # Like the local runtime's phases: infrastructure first, services together.
            "depends_on": dict(infra),
            "healthcheck": _healthcheck(
                ["CMD", "python", "-I", "-S", "-c", HEALTH_PROBE.format(port=SERVICE_PORT)]),
            "stop_grace_period": "3s",
            # An init as pid 1: a kill fault kills the program under it, so the kernel
            # closes its sockets (peers see a reset) before the container goes away.
            "init": True,
            "labels": _labels(iid, svc.name),
        }
        if not proxies and iid == entry_iid:
            entry["ports"] = [f"{entry_publish}:{SERVICE_PORT}"]
        services[iid] = entry
    for service in services.values():
        # Docker's embedded DNS forwards names it does not know (a killed
        # container's) to the containers' own resolvers: point those at each
        # container's loopback so no lookup ever leaves this machine.
        service["dns"] = list(CONTAINER_DNS)
    return {
        "name": f"gatecrash-{arch}",
        "services": services,
        "networks": {"default": {"labels": {LABEL_STACK: f"${{{ENV_STACK}:-compose}}",
                                            LABEL_RUN: f"${{{ENV_RUN}:-manual}}"}}},
    }


def gpu_override(topology: Topology) -> dict[str, Any]:
    """Reserve an NVIDIA GPU for every inference replica (they share one by default)."""
    devices = [{"driver": "nvidia", "device_ids": [f"${{{ENV_GPU}:-0}}"],
                "capabilities": ["gpu"]}]
    return {"services": {
        iid: {"deploy": {"resources": {"reservations": {"devices": devices}}}}
        for iid, svc, _ in _instances(topology) if svc.program is Program.INFERENCE
    }}


HEADER = ("# Generated from targets/topology.py by `python -m gatecrash.containers "
          "write-compose`;\n# do not edit: tests/docker/test_compose.py fails on drift.\n")


def render_compose(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=100)


def expected_files() -> dict[str, str]:
    """Every generated file of compose/, by name, with its content."""
    files = {}
    for arch in Arch:
        topology = topology_for(arch)
        files[f"{arch.value}.yaml"] = render_compose(compose_document(topology))
        files[f"toxiproxy-{arch.value}.json"] = \
            json.dumps(toxiproxy_config(topology), indent=2) + "\n"
    # The inference replicas are the same in both architectures: one override serves both.
    files[GPU_OVERRIDE] = render_compose(gpu_override(topology_for(Arch.DUAL)))
    return files


# -- stack specs for containers ------------------------------------------------------
def container_spec(spec: StackSpec, topology: Topology, *, proxies: bool, entry_port: int,
                   toxiproxy_port: int) -> StackSpec:
    """Rewrite a local spec for containers: listen on all interfaces of the container,
    call through the Toxiproxy container, and reach the entry from the host's loopback."""
    proxy_ports = {iid: port for iid, _, port in _instances(topology)}
    instances = []
    for inst in spec.instances:
        port = _port(inst.program)
        address = f"{TOXIPROXY_SERVICE}:{proxy_ports[inst.id]}" if proxies \
            else f"{inst.id}:{port}"
        instances.append(InstanceSpec(id=inst.id, service=inst.service, program=inst.program,
                                      role=inst.role, host="0.0.0.0", port=port,
                                      address=address))
    redis = next(i for i in instances if i.program is Program.REDIS)
    return spec.model_copy(update={
        "runtime": "docker", "instances": instances, "redis_url": f"redis://{redis.address}/0",
        "entry_url": f"http://127.0.0.1:{entry_port}",
        "toxiproxy_url": f"http://127.0.0.1:{toxiproxy_port}" if proxies else None,
    })


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _image_present(name: str) -> bool:
    from docker.errors import DockerException

    try:
        docker_client().images.get(name)
    except DockerException:
        return False
    return True


def _image(env: str, official: str, builtin: str) -> str:
    """The image the user named; else the official one if here; else our built-in one.

    Nothing is pulled (DESIGN.md §7), so an official image that is not here is
    replaced by the built-in alternative from scripts/build-images.sh.
    """
    if os.environ.get(env):
        return os.environ[env]
    if _image_present(official) or not _image_present(builtin):
        return official
    log.info("%s not present: using the built-in %s", official, builtin)
    return builtin


def new_docker_stack(name: str, arch: str, *, replicas: int | None = None,
                     inference_backend: str | None = None, limits: Limits | None = None,
                     proxies: bool = True) -> tuple[Stack, Topology]:
    stack = new_stack(name, arch, replicas=replicas,
                      inference_backend=inference_backend or DEFAULT_INFERENCE,
                      limits=limits, proxies=proxies)
    topology = topology_for(arch)
    if replicas is not None:
        topology = topology.with_replicas(replicas)
    stack.spec = container_spec(stack.spec, topology, proxies=proxies,
                                entry_port=_free_port(), toxiproxy_port=_free_port())
    return stack, topology


def _port_of(url: str | None) -> int:
    return int((url or "").rsplit(":", 1)[1])


def docker_runtime_for(stack: Stack, topology: Topology | None = None) -> DockerRuntime:
    """The runtime of a Docker stack; writes its compose files on first use."""
    state = stack.dir / STATE_FILE
    if state.exists():
        data = json.loads(state.read_text())
        instances = [ContainerInstance(**i) for i in data["instances"]]
        return DockerRuntime(data["project"], Path(data["compose_file"]), instances,
                             data["env"])
    if topology is None:
        raise StackError(f"stack {stack.name} has no Docker state ({state})")
    proxies = stack.spec.toxiproxy_url is not None
    compose_file = stack.dir / COMPOSE_FILE_NAME
    compose_file.write_text(render_compose(
        compose_document(topology, proxies=proxies, toxiproxy_file=f"./{TOXIPROXY_FILE_NAME}")))
    (stack.dir / TOXIPROXY_FILE_NAME).write_text(json.dumps(toxiproxy_config(topology)))
    env = {
        ENV_STACK: stack.name, ENV_RUN: stack.spec.stack_id, ENV_STACK_DIR: str(stack.dir),
        ENV_UID: f"{os.getuid()}:{os.getgid()}",
        ENV_ENTRY_PORT: str(_port_of(stack.spec.entry_url)),
        ENV_IMAGE: os.environ.get(ENV_IMAGE, SERVICE_IMAGE),
        ENV_TOXIPROXY_IMAGE: _image(ENV_TOXIPROXY_IMAGE, OFFICIAL_TOXIPROXY_IMAGE,
                                    BUILTIN_TOXIPROXY_IMAGE),
        ENV_REDIS_IMAGE: _image(ENV_REDIS_IMAGE, OFFICIAL_REDIS_IMAGE, BUILTIN_REDIS_IMAGE),
    }
    if proxies:
        env[ENV_TOXIPROXY_PORT] = str(_port_of(stack.spec.toxiproxy_url))
    instances = [ContainerInstance(i.id, i.service, i.program.value, i.role, i.url)
                 for i in stack.spec.instances]
    project = f"gatecrash-{stack.name.lower()}"
    state.write_text(json.dumps({"project": project, "compose_file": str(compose_file),
                                 "env": env,
                                 "instances": [i.__dict__ for i in instances]}, indent=2))
    return DockerRuntime(project, compose_file, instances, env)


def undeploy_docker_stack(stack: Stack) -> None:
    """`gatecrash down` for a Docker stack: remove its project, then its files."""
    docker_runtime_for(stack).teardown()
    stack.remove_files()


@contextmanager
def docker_deployed_stack(arch: str, *, name: str | None = None,
                          timeout_s: float = DEPLOY_TIMEOUT_S, replicas: int | None = None,
                          inference_backend: str | None = None, limits: Limits | None = None,
                          proxies: bool = True) -> Iterator[tuple[Stack, DockerRuntime]]:
    """Deploy a stack as containers for a `with` block; always removed after.

    Yields what `run_experiment(..., deployed=...)` takes, like `deployed_stack`.
    """
    stack, topology = new_docker_stack(name or f"{arch}-{secrets.token_hex(3)}", arch,
                                       replicas=replicas, inference_backend=inference_backend,
                                       limits=limits, proxies=proxies)
    stack.save()
    try:
        runtime = docker_runtime_for(stack, topology)
        runtime.deploy(timeout_s=timeout_s)
    except BaseException:
        stack.remove_files()
        raise
    try:
        yield stack, runtime
    finally:
        runtime.teardown()
        stack.remove_files()


# -- leftovers -------------------------------------------------------------------------
def find_leftovers(stack: str | None = None) -> list[str]:
    """Containers, networks and volumes of Gatecrash stacks (one stack, or all)."""
    client = docker_client()
    selector = [f"{LABEL_STACK}={stack}" if stack else LABEL_STACK]
    found = [f"container {c.name}" for c in
             client.containers.list(all=True, filters={"label": selector})]
    found += [f"network {n.name}" for n in client.networks.list(filters={"label": selector})]
    found += [f"volume {v.name}" for v in client.volumes.list(filters={"label": selector})]
    return found


def remove_leftovers(stack: str | None = None) -> list[str]:
    """Remove what a crashed conductor left: by our stack label, then by project."""
    client = docker_client()
    removed = remove_labelled(client, {LABEL_STACK: stack})
    if stack:
        removed += remove_labelled(client, {COMPOSE_PROJECT_LABEL: f"gatecrash-{stack.lower()}"})
    return removed


# -- in-container helper and generator CLI ------------------------------------------
def init_stack(arch: str, folder: Path, owner: str) -> bool:
    """Write a stack file for a plain `docker compose up` unless the conductor wrote one.

    Runs inside the `stack-init` container. Returns True when it wrote one.
    """
    if (folder / STACK_FILE_NAME).exists():
        return False
    topology = topology_for(arch)
    # new_stack keeps its folder under GATECRASH_HOME; only the spec is wanted here.
    os.environ.setdefault("GATECRASH_HOME", "/tmp/gatecrash")
    stack = new_stack(f"compose-{arch}", arch)
    stack.spec = container_spec(stack.spec, topology, proxies=True,
                                entry_port=DEFAULT_ENTRY_PORT, toxiproxy_port=TOXIPROXY_API_PORT)
    stack.dir = folder
    stack.save()
    uid, _, gid = owner.partition(":")
    for file in folder.iterdir():
        os.chown(file, int(uid), int(gid or uid))
    return True


def _write_compose(folder: Path) -> list[str]:
    written = []
    for name, content in expected_files().items():
        path = folder / name
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatecrash.containers")
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write-compose", help="regenerate compose/ from the topology")
    write.add_argument("--dir", type=Path, default=COMPOSE_DIR)
    init = sub.add_parser("init-stack", help="(in a container) write a stack file if missing")
    init.add_argument("--arch", required=True, choices=[a.value for a in Arch])
    init.add_argument("--dir", type=Path, required=True)
    init.add_argument("--owner", default=IMAGE_UID)
    sweep = sub.add_parser("leftovers", help="list (or --remove) containers left by runs")
    sweep.add_argument("--stack")
    sweep.add_argument("--remove", action="store_true")
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.command == "write-compose":
        written = _write_compose(args.dir)
        out.write(f"written: {', '.join(written) or 'nothing (up to date)'}\n")
    elif args.command == "init-stack":
        wrote = init_stack(args.arch, args.dir, args.owner)
        out.write(f"{'wrote' if wrote else 'kept'} {args.dir / STACK_FILE_NAME} "
                  f"({time.strftime('%H:%M:%S')})\n")
    else:
        items = remove_leftovers(args.stack) if args.remove else find_leftovers(args.stack)
        out.write("\n".join(items) + ("\n" if items else "nothing left\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
