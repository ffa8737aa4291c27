"""The Docker backend: a planned stack as one Compose project, and its runtime.

The stack's folder holds the compose file rendered from the stack's plan (it
carries the stack file and the hop proxies' config as Compose configs, so the
engine needs none of our files: `DOCKER_HOST` may name an engine on another
machine) and `docker.json`, from which another process attaches to the
running project (`gatecrash status/down`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from chaos.runtime.docker import HTTP_READY, ContainerInstance, DockerRuntime
from chaos.runtime.engine import (
    COMPOSE_PROJECT_LABEL,
    LABEL_HOME,
    LABEL_STACK,
    docker_client,
    engine_address,
    find_labelled,
    remove_labelled,
)
from gatecrash.containers.compose import (
    CONTAINER_WORK_DIR,
    ENV_HOME_ID,
    ENV_HTTPFAULTS_PORT,
    ENV_IMAGE,
    ENV_PUBLISH_ADDRESS,
    ENV_REDIS_IMAGE,
    ENV_RUN,
    ENV_STACK,
    ENV_TOXIPROXY_IMAGE,
    ENV_TOXIPROXY_PORT,
    OFFICIAL_REDIS_IMAGE,
    OFFICIAL_TOXIPROXY_IMAGE,
    SERVICE_IMAGE,
    StackFiles,
    compose_document,
    entry_port_env,
    render_compose,
    toxiproxy_config,
)
from gatecrash.errors import InputError, StackError
from gatecrash.gateways import render_config
from gatecrash.plan import (
    HTTPFAULTS_ID,
    HTTPFAULTS_SERVICE,
    LOOPBACK,
    TOXIPROXY_ID,
    TOXIPROXY_SERVICE,
    ContainerNetwork,
    PlanOptions,
)
from gatecrash.stacks import Stack, home_id
from targets.stack import RuntimeKind
from targets.topology import GatewayKind, LlmRouterKind, Program

__all__ = ["DockerBackend", "docker_runtime_for", "find_leftovers", "remove_leftovers"]

log = logging.getLogger(__name__)

BUILTIN_TOXIPROXY_IMAGE = "gatecrash/toxiproxy:latest"
BUILTIN_REDIS_IMAGE = "gatecrash/redis:latest"
COMPOSE_FILE_NAME = "compose.yaml"
STATE_FILE = "docker.json"
DEPLOY_TIMEOUT_S = 240.0
# The image carries no torch (see compose/README.md): the stand-in answers for inference
# unless an experiment names a backend (and an image that has what it needs).
DEFAULT_INFERENCE = "standin"
# Infrastructure's readiness is the engine's healthcheck: the official Redis and
# Toxiproxy images have no Python to probe from inside.
ENGINE_HEALTH = "health"
PROJECT_HOME_CHARS = 8


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports of the host's loopback (held together while picked)."""
    with ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
    return ports


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


def _port_of(url: str | None) -> int:
    return int(urlsplit(url or "").port or 0)


def _publish_address(stack: Stack) -> str:
    """The engine host's address the stack's ports are published on (as planned)."""
    return urlsplit(stack.spec.entry_url).hostname or LOOPBACK


def container_instances(stack: Stack) -> list[ContainerInstance]:
    """Every container the runtime acts on: the stack's instances and its proxy server."""
    out = []
    for inst in stack.spec.instances:
        infra = inst.program is Program.REDIS
        out.append(ContainerInstance(
            inst.id, inst.service, inst.program.value, inst.role, inst.url, unit=inst.id,
            port=inst.port, ready=ENGINE_HEALTH if infra else HTTP_READY, phase=0 if infra else 1))
    server = stack.plan.toxiproxy
    if server is not None:
        out.append(ContainerInstance(
            TOXIPROXY_ID, TOXIPROXY_SERVICE, TOXIPROXY_SERVICE, None,
            stack.spec.toxiproxy_url or "", unit=TOXIPROXY_SERVICE, port=server.port,
            ready=ENGINE_HEALTH, phase=0))
    layers = stack.plan.httpfaults
    if layers is not None:
        out.append(ContainerInstance(
            HTTPFAULTS_ID, HTTPFAULTS_SERVICE, HTTPFAULTS_SERVICE, None,
            stack.plan.httpfaults_url or "", unit=HTTPFAULTS_SERVICE, port=layers.port,
            ready=ENGINE_HEALTH, phase=0))
    return out


def project_name(stack_name: str) -> str:
    """The Compose project of a stack of this home: two homes on one engine may both
    have a stack `default`, and must never share (or `--remove-orphans`) a project."""
    return f"gatecrash-{stack_name.lower()}-{home_id()[:PROJECT_HOME_CHARS]}"


def docker_runtime_for(stack: Stack, *, create: bool = True) -> DockerRuntime:
    """The runtime of a Docker stack; writes its Compose files on first use."""
    state = stack.dir / STATE_FILE
    if state.exists():
        data = json.loads(state.read_text())
        instances = [ContainerInstance(**i) for i in data["instances"]]
        return DockerRuntime(data["project"], Path(data["compose_file"]), instances,
                             data["env"])
    if not create:
        raise StackError(f"stack {stack.name} has no Docker state ({state})")
    # Products' configs go with the project, as the stack file does (no bind mount:
    # a remote engine runs it as well).
    products = {inst.id: render_config(stack.spec, inst, product, CONTAINER_WORK_DIR)
                for inst in stack.spec.instances
                if (product := stack.plan.products.get(inst.id)) is not None}
    compose_file = stack.dir / COMPOSE_FILE_NAME
    files = StackFiles(stack=stack.spec.model_dump_json(indent=2),
                       toxiproxy=json.dumps(toxiproxy_config(stack.plan)), products=products)
    # The project carries the stack file (its signing key): readable by us only.
    fd = os.open(compose_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(render_compose(compose_document(stack.plan, stack.spec.arch, files=files)))
    env = {
        ENV_HOME_ID: home_id(), ENV_STACK: stack.name, ENV_RUN: stack.spec.stack_id,
        ENV_PUBLISH_ADDRESS: _publish_address(stack),
        **{entry_port_env(rank): str(_port_of(e.url))
           for rank, e in enumerate(stack.plan.entry_points)},
        ENV_IMAGE: os.environ.get(ENV_IMAGE, SERVICE_IMAGE),
        ENV_TOXIPROXY_IMAGE: _image(ENV_TOXIPROXY_IMAGE, OFFICIAL_TOXIPROXY_IMAGE,
                                    BUILTIN_TOXIPROXY_IMAGE),
        ENV_REDIS_IMAGE: _image(ENV_REDIS_IMAGE, OFFICIAL_REDIS_IMAGE, BUILTIN_REDIS_IMAGE),
    }
    if stack.spec.toxiproxy_url is not None:
        env[ENV_TOXIPROXY_PORT] = str(_port_of(stack.spec.toxiproxy_url))
    if stack.plan.httpfaults_url is not None:
        env[ENV_HTTPFAULTS_PORT] = str(_port_of(stack.plan.httpfaults_url))
    instances = container_instances(stack)
    project = project_name(stack.name)
    state.write_text(json.dumps({"project": project, "compose_file": str(compose_file),
                                 "env": env,
                                 "instances": [i.__dict__ for i in instances]}, indent=2))
    return DockerRuntime(project, compose_file, instances, env)


def _ours(stack: str | None) -> dict[str, str | None]:
    """The labels of this home's stacks (one stack, or all of them): never another home's."""
    return {LABEL_HOME: home_id(), LABEL_STACK: stack}


def find_leftovers(stack: str | None = None) -> list[str]:
    """Containers, networks and volumes of this home's stacks (one stack, or all)."""
    client = docker_client()
    try:
        return find_labelled(client, _ours(stack))
    finally:
        client.close()


def remove_leftovers(stack: str | None = None) -> list[str]:
    """Remove what a crashed conductor of this home left: by our labels, then by project
    (its name carries the home too)."""
    client = docker_client()
    try:
        removed = remove_labelled(client, _ours(stack))
        if stack:
            removed += remove_labelled(client, {COMPOSE_PROJECT_LABEL: project_name(stack)})
    finally:
        client.close()
    return removed


class DockerBackend:
    """Plans, starts, finds and sweeps stacks of containers (the registry's entry)."""

    kind = RuntimeKind.DOCKER
    deploy_timeout_s = DEPLOY_TIMEOUT_S
    default_inference: str | None = DEFAULT_INFERENCE

    def network(self, instance_count: int, base_port: int | None,
                entries: int = 1) -> ContainerNetwork:
        if base_port is not None:
            raise InputError("--base-port applies to the local runtime: containers publish "
                             "only the entry and the proxy API, on free ports")
        # Free here; on a remote engine, a clash on its host fails the deploy loudly.
        entry_port, toxiproxy_port, httpfaults_port, *more = _free_ports(2 + entries)
        return ContainerNetwork(entry_port, toxiproxy_port, httpfaults_port,
                                address=engine_address(), more_entry_ports=tuple(more))

    def options(self, proxies: bool) -> PlanOptions:
        # The stack's own Redis and Toxiproxy: REDIS_URL/TOXIPROXY_URL name services on
        # the host, which containers do not reach.
        return PlanOptions(proxies=proxies)

    def check_products(self, gateway: GatewayKind, llm_router: LlmRouterKind) -> None:
        # NGINX and HAProxy are in the images (scripts/build-images.sh); LiteLLM's 754 MB
        # are not: it runs with the local runtime only (docs/gateways.md).
        if llm_router is LlmRouterKind.LITELLM:
            raise InputError("--llm-router litellm runs on the local runtime only (the "
                             "images do not carry LiteLLM); use --runtime local")

    def runtime(self, stack: Stack, *, attached: bool) -> DockerRuntime:
        # Containers outlive the conductor either way: `attached` changes nothing here.
        return docker_runtime_for(stack)

    def attach(self, stack: Stack) -> DockerRuntime:
        return docker_runtime_for(stack, create=False)

    def leftovers(self, stack: Stack) -> list[str]:
        return find_leftovers(stack.name)

    def sweep(self) -> list[str]:
        return remove_leftovers()
