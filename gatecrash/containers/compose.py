"""A stack's plan as a Compose project (DESIGN.md §3: one definition, both runtimes).

`compose_document(plan, arch)` renders one Compose service per instance
(`auth-1`, `auth-2`, ...: a fault names one instance, and its container must
be that instance), a Toxiproxy service holding every hop's proxy, Redis, and a
one-shot `stack-init` that writes the stack file when none was given. The
files in `compose/` are its output for the default plan of each topology
(`python -m gatecrash.containers write-compose`), and a test fails when they
drift from the topology.

Networking (DESIGN.md §7): containers talk on the project's network; the
conductor reaches only the entry hop and the Toxiproxy API, published on one
address of the engine's host: its loopback for an engine on this machine, the
address the conductor dials for a remote one (`chaos.runtime.engine.engine_address`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaos.runtime.engine import (
    LABEL_HOME,
    LABEL_INSTANCE,
    LABEL_RUN,
    LABEL_SERVICE,
    LABEL_STACK,
)
from gatecrash.gateways import PRODUCTS, config_file, product_argv
from gatecrash.plan import (
    HTTPFAULTS_API_PORT,
    HTTPFAULTS_ID,
    HTTPFAULTS_SERVICE,
    LOOPBACK,
    TOXIPROXY_API_PORT,
    TOXIPROXY_ID,
    TOXIPROXY_SERVICE,
    ContainerNetwork,
    PlanOptions,
    StackPlan,
    plan_stack,
)
from targets.topology import Arch, Program, Topology, topology_for

__all__ = [
    "COMPOSE_DIR",
    "CONTAINER_WORK_DIR",
    "DEFAULT_ENTRY_PORT",
    "ENV_ENTRY_PORT",
    "ENV_HOME_ID",
    "ENV_HTTPFAULTS_PORT",
    "ENV_IMAGE",
    "ENV_PUBLISH_ADDRESS",
    "ENV_REDIS_IMAGE",
    "ENV_RUN",
    "ENV_STACK",
    "ENV_STACK_DIR",
    "ENV_TOXIPROXY_IMAGE",
    "ENV_TOXIPROXY_PORT",
    "ENV_UID",
    "IMAGE_UID",
    "SERVICE_IMAGE",
    "STACK_FILE_NAME",
    "STACK_INIT_SERVICE",
    "StackFiles",
    "compose_document",
    "compose_plan",
    "entry_port_env",
    "expected_files",
    "render_compose",
    "toxiproxy_config",
    "write_compose",
]

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "compose"
GPU_OVERRIDE = "gpu.yaml"
STACK_INIT_SERVICE = "stack-init"
CONTAINER_DNS = ("127.0.0.1",)
STACK_MOUNT = "/stack"
CONFIG_MOUNT = "/config/toxiproxy.json"
# Compose configs of the conductor's projects (see _Shipping).
STACK_CONFIG = "stack"
TOXIPROXY_CONFIG = "toxiproxy"
# r--r--r--: the service runs as the image's own user, the file is copied in as root.
READ_ONLY_MODE = 0o444
# Where the stack file lives for a plain `docker compose up` (relative to compose/).
DEFAULT_STACK_DIR = "./stack"
STACK_FILE_NAME = "stack.json"
# Where a product (NGINX) keeps its pid and temp files: the stack mount is read-only.
CONTAINER_WORK_DIR = "/tmp"

SERVICE_IMAGE = "gatecrash/service:latest"
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

# Compose variables: the conductor sets them; a plain `docker compose up` gets defaults.
ENV_STACK = "GATECRASH_STACK"
ENV_RUN = "GATECRASH_RUN_ID"
ENV_HOME_ID = "GATECRASH_HOME_ID"
# The address of the engine's host the entry and the proxy API are published on.
ENV_PUBLISH_ADDRESS = "GATECRASH_PUBLISH_ADDRESS"
ENV_STACK_DIR = "GATECRASH_STACK_DIR"
ENV_UID = "GATECRASH_UID"
ENV_ENTRY_PORT = "GATECRASH_ENTRY_PORT"
ENV_TOXIPROXY_PORT = "GATECRASH_TOXIPROXY_PORT"
ENV_HTTPFAULTS_PORT = "GATECRASH_HTTPFAULTS_PORT"
ENV_IMAGE = "GATECRASH_IMAGE"
ENV_TOXIPROXY_IMAGE = "GATECRASH_TOXIPROXY_IMAGE"
ENV_REDIS_IMAGE = "GATECRASH_REDIS_IMAGE"
ENV_GPU = "GATECRASH_INFERENCE_GPU"

HEADER = ("# Generated from targets/topology.py by `python -m gatecrash.containers "
          "write-compose`;\n# do not edit: tests/docker/test_compose.py fails on drift.\n")


def entry_port_env(rank: int) -> str:
    """The variable holding the host port of entry point `rank` (0: the first)."""
    return ENV_ENTRY_PORT if rank == 0 else f"{ENV_ENTRY_PORT}_{rank + 1}"


def _entry_publish(rank: int) -> str:
    """Where entry point `rank` is published; a plain `docker compose up` takes
    DEFAULT_ENTRY_PORT and the ports after it."""
    return (f"${{{ENV_PUBLISH_ADDRESS}:-{LOOPBACK}}}:"
            f"${{{entry_port_env(rank)}:-{DEFAULT_ENTRY_PORT + rank}}}")


def compose_plan(topology: Topology, *, proxies: bool = True) -> StackPlan:
    """The plan of a plain `docker compose up`: host ports at their defaults."""
    return plan_stack(topology, ContainerNetwork(DEFAULT_ENTRY_PORT, TOXIPROXY_API_PORT),
                      PlanOptions(proxies=proxies))


def toxiproxy_config(plan: StackPlan) -> list[dict[str, Any]]:
    """Every hop's proxy as Toxiproxy's `-config` file lists them."""
    return [{"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": p.enabled}
            for p in plan.proxies]


def _stack_labels() -> dict[str, str]:
    return {LABEL_HOME: f"${{{ENV_HOME_ID}:-compose}}", LABEL_STACK: f"${{{ENV_STACK}:-compose}}",
            LABEL_RUN: f"${{{ENV_RUN}:-manual}}"}


def _labels(iid: str, service: str) -> dict[str, str]:
    return {**_stack_labels(), LABEL_SERVICE: service, LABEL_INSTANCE: iid}


def _healthcheck(test: list[str]) -> dict[str, Any]:
    return {"test": test, "interval": HEALTH_INTERVAL, "timeout": "2s", "retries": 3,
            "start_period": HEALTH_START_PERIOD}


def _port_of(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


@dataclass(frozen=True)
class StackFiles:
    """What the conductor hands its containers: the stack file (it holds the signing
    key) and the hop proxies' config, as text."""

    stack: str
    toxiproxy: str
    # Gateway products' native configs (gatecrash.gateways), by instance id.
    products: dict[str, str] = field(default_factory=dict)


def _escape(text: str) -> str:
    return text.replace("$", "$$")  # Compose interpolates `$` everywhere, configs included


class _Shipping:
    """How the stack file and the proxies' config reach the containers.

    The conductor's projects (`files` given) carry them as Compose configs with
    inline content: Compose copies each into its container through the engine's
    API, so nothing is bind-mounted from the conductor's disk and an engine on
    another machine runs the project as well. A plain `docker compose up` of the
    generated compose/ files mounts ./stack, where a one-shot `stack-init` writes
    the stack file.
    """

    def __init__(self, arch: Arch, files: StackFiles | None) -> None:
        self.arch = arch
        self.files = files
        self.stack_dir = f"${{{ENV_STACK_DIR}:-{DEFAULT_STACK_DIR}}}"

    def configs(self) -> dict[str, Any]:
        if self.files is None:
            return {}
        products = {_product_config(iid): {"content": _escape(text)}
                    for iid, text in self.files.products.items()}
        return {STACK_CONFIG: {"content": _escape(self.files.stack)},
                TOXIPROXY_CONFIG: {"content": _escape(self.files.toxiproxy)}, **products}

    def init_service(self) -> dict[str, Any] | None:
        if self.files is not None:
            return None
        return {
            "image": f"${{{ENV_IMAGE}:-{SERVICE_IMAGE}}}",
            # Root, once: it may have to create the stack folder's files for a plain
            # `docker compose up`; it hands them to the uid the services run as.
            "user": "0:0",
            "command": ["python", "-m", "gatecrash.containers", "init-stack", "--arch",
                        self.arch.value, "--dir", STACK_MOUNT, "--owner",
                        f"${{{ENV_UID}:-{IMAGE_UID}}}"],
            "volumes": [f"{self.stack_dir}:{STACK_MOUNT}"],
            "labels": _labels(STACK_INIT_SERVICE, STACK_INIT_SERVICE),
            "restart": "no",
        }

    def toxiproxy(self) -> dict[str, Any]:
        if self.files is None:
            return {"volumes": [f"./toxiproxy-{self.arch.value}.json:{CONFIG_MOUNT}:ro"]}
        return {"configs": [{"source": TOXIPROXY_CONFIG, "target": CONFIG_MOUNT,
                             "mode": READ_ONLY_MODE}]}

    def service(self, instance_id: str, product: str | None) -> dict[str, Any]:
        if self.files is None:
            # The services run as the conductor's uid: the stack file it wrote is 0600.
            return {"user": f"${{{ENV_UID}:-{IMAGE_UID}}}",
                    "volumes": [f"{self.stack_dir}:{STACK_MOUNT}:ro"]}
        configs = [{"source": STACK_CONFIG, "target": f"{STACK_MOUNT}/{STACK_FILE_NAME}",
                    "mode": READ_ONLY_MODE}]
        if product is not None and instance_id in self.files.products:
            configs.append({"source": _product_config(instance_id),
                            "target": f"{STACK_MOUNT}/{config_file(instance_id, product)}",
                            "mode": READ_ONLY_MODE})
        return {"configs": configs}


def _product_config(instance_id: str) -> str:
    return f"product-{instance_id}"


def compose_document(plan: StackPlan, arch: Arch, *,
                     files: StackFiles | None = None) -> dict[str, Any]:
    """The Compose project of a plan; `files`: the conductor's stack file and proxies'
    config, shipped through the engine's API (see `_Shipping`)."""
    ship = _Shipping(arch, files)
    services: dict[str, Any] = {}
    infra: dict[str, dict[str, str]] = {}
    init = ship.init_service()
    if init is not None:
        services[STACK_INIT_SERVICE] = init
        infra[STACK_INIT_SERVICE] = {"condition": "service_completed_successfully"}
    # Every entry point is published: through its hop when there are proxies.
    entry_rank = {e.instance: rank for rank, e in enumerate(plan.entry_points)}
    hops = {p.name: p for p in plan.proxies}
    if plan.toxiproxy is not None:
        api = plan.toxiproxy
        ports = [f"{_entry_publish(rank)}:{_port_of(hops[iid].listen)}"
                 for iid, rank in entry_rank.items() if iid in hops]
        services[TOXIPROXY_SERVICE] = {
            "image": f"${{{ENV_TOXIPROXY_IMAGE}:-{OFFICIAL_TOXIPROXY_IMAGE}}}",
            # Long flags: Go's flag package and argparse (the built-in server) both take them.
            "command": [f"--host={api.host}", f"--port={api.port}", f"--config={CONFIG_MOUNT}"],
            **ship.toxiproxy(),
            # Only the entry hop and the API are published, on one address of the
            # engine's host (its loopback unless the engine is remote).
            "ports": [*ports, f"${{{ENV_PUBLISH_ADDRESS}:-{LOOPBACK}}}:"
                              f"${{{ENV_TOXIPROXY_PORT}:-{TOXIPROXY_API_PORT}}}:{api.port}"],
            # The official image has no shell: `toxiproxy-cli list` is in both images.
            "healthcheck": _healthcheck(["CMD", "/toxiproxy-cli", "list"]),
            "labels": _labels(TOXIPROXY_ID, TOXIPROXY_SERVICE),
        }
        infra[TOXIPROXY_SERVICE] = {"condition": "service_healthy"}
    if plan.httpfaults is not None:
        # The HTTP fault layers (chaos.httpfaults): the service image runs them; the
        # conductor reaches their control API on the host's loopback only.
        layers = plan.httpfaults
        services[HTTPFAULTS_SERVICE] = {
            "image": f"${{{ENV_IMAGE}:-{SERVICE_IMAGE}}}",
            "user": f"${{{ENV_UID}:-{IMAGE_UID}}}",
            "command": ["python", "-m", "chaos.httpfaults", "--host", layers.host,
                        "--port", str(layers.port)],
            "ports": [f"${{{ENV_PUBLISH_ADDRESS}:-{LOOPBACK}}}:"
                      f"${{{ENV_HTTPFAULTS_PORT}:-{HTTPFAULTS_API_PORT}}}:"
                      f"{layers.port}"],
            "healthcheck": _healthcheck(["CMD", "python", "-I", "-S", "-c",
                                         HEALTH_PROBE.replace("/health", "/version")
                                         .format(port=layers.port)]),
            "init": True,
            "labels": _labels(HTTPFAULTS_ID, HTTPFAULTS_SERVICE),
        }
        infra[HTTPFAULTS_SERVICE] = {"condition": "service_healthy"}
    for inst in plan.instances:
        if inst.program is Program.REDIS:
            services[inst.id] = {
                "image": f"${{{ENV_REDIS_IMAGE}:-{OFFICIAL_REDIS_IMAGE}}}",
                # A cache, not a store: nothing persisted, so nothing left in a volume.
                "command": ["redis-server", "--port", str(inst.port), "--bind", inst.host,
                            "--protected-mode", "no", "--save", "", "--appendonly", "no"],
                "tmpfs": ["/data"],
                "init": True,
                "healthcheck": _healthcheck(["CMD", "redis-cli", "-p", str(inst.port),
                                             "ping"]),
                "labels": _labels(inst.id, inst.service),
            }
            infra[inst.id] = {"condition": "service_healthy"}
    for inst in plan.instances:
        if inst.program is Program.REDIS:
            continue
        command = ["python", "-m", "targets", "--stack", f"{STACK_MOUNT}/{STACK_FILE_NAME}",
                   "--instance", inst.id]
        product = plan.products.get(inst.id)
        if product is not None:  # NGINX/HAProxy from the image's Debian packages
            command = product_argv(product, PRODUCTS[product].binary,
                                   f"{STACK_MOUNT}/{config_file(inst.id, product)}", inst)
        service: dict[str, Any] = {
            "image": f"${{{ENV_IMAGE}:-{SERVICE_IMAGE}}}",
            "command": command,
            **ship.service(inst.id, product),
            "environment": dict(plan.env[inst.id]),
            # Like the local runtime's phases: infrastructure first, services together.
            "depends_on": dict(infra),
            "healthcheck": _healthcheck(
                ["CMD", "python", "-I", "-S", "-c", HEALTH_PROBE.format(port=inst.port)]),
            "stop_grace_period": "3s",
            # An init as pid 1: a kill fault kills the program under it, so the kernel
            # closes its sockets (peers see a reset) before the container goes away.
            "init": True,
            "labels": _labels(inst.id, inst.service),
        }
        if inst.id in entry_rank and inst.id not in hops:
            service["ports"] = [f"{_entry_publish(entry_rank[inst.id])}:{inst.port}"]
        services[inst.id] = service
    for service in services.values():
        # Docker's embedded DNS forwards names it does not know (a killed
        # container's) to the containers' own resolvers: point those at each
        # container's loopback so no lookup ever leaves this machine.
        service["dns"] = list(CONTAINER_DNS)
    document: dict[str, Any] = {
        "name": f"gatecrash-{arch.value}",
        "services": services,
        "networks": {"default": {"labels": _stack_labels()}},
    }
    if files is not None:
        document["configs"] = ship.configs()
    return document


def gpu_override(plan: StackPlan) -> dict[str, Any]:
    """Reserve an NVIDIA GPU for every inference replica (they share one by default)."""
    devices = [{"driver": "nvidia", "device_ids": [f"${{{ENV_GPU}:-0}}"],
                "capabilities": ["gpu"]}]
    return {"services": {
        inst.id: {"deploy": {"resources": {"reservations": {"devices": devices}}}}
        for inst in plan.instances if inst.program is Program.INFERENCE
    }}


def render_compose(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=100)


def expected_files() -> dict[str, str]:
    """Every generated file of compose/, by name, with its content."""
    files = {}
    for arch in Arch:
        plan = compose_plan(topology_for(arch))
        files[f"{arch.value}.yaml"] = render_compose(compose_document(plan, arch))
        files[f"toxiproxy-{arch.value}.json"] = json.dumps(toxiproxy_config(plan), indent=2) + "\n"
    # The inference replicas are the same in both architectures: one override serves both.
    files[GPU_OVERRIDE] = render_compose(gpu_override(compose_plan(topology_for(Arch.DUAL))))
    return files


def write_compose(folder: Path) -> list[str]:
    """Regenerate compose/ where it drifted; the names of the files written."""
    written = []
    for name, content in expected_files().items():
        path = folder / name
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            written.append(name)
    return written
