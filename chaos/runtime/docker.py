"""Docker runtime: every instance is a container of one Compose project.

Compose v2 (`docker compose`) brings the stack up and down; the Docker SDK
acts on single containers (kill with a signal, stop, pause, restart) and
reads their state back from the engine, which is the proof a fault took
effect. The engine is found as chaos.runtime.engine says (`DOCKER_HOST`).

Readiness ("is this instance serving?", "GET this path on it") is asked
inside the container, through the engine's exec API. Publishing every
instance's port would also work, but only when the engine runs on this
machine: an exec reaches the instance on any engine, remote ones included,
and keeps the host's ports and loopback out of the stack.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal as _signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.runtime.base import (
    PROBE_TIMEOUT_S,
    DeployError,
    HttpReply,
    InstanceState,
    InstanceStatus,
    InstanceUnreachable,
    RuntimeFailure,
    by_id,
)
from chaos.runtime.engine import (
    COMPOSE_PROJECT_LABEL,
    LABEL_INSTANCE,
    compose_command,
    docker_client,
    exec_http_get,
    local_engine,
    program_pid,
    remove_labelled,
)

if TYPE_CHECKING:  # the SDK is only imported when a runtime is used
    from docker import DockerClient
    from docker.models.containers import Container

__all__ = ["HTTP_READY", "ContainerInstance", "DockerRuntime"]

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
HTTP_READY = "http"


@dataclass(frozen=True)
class ContainerInstance:
    """One instance as the runtime knows it: its container is found by label."""

    id: str
    service: str
    program: str
    role: str | None
    url: str
    # The Compose service that runs it (the instance id, but `toxiproxy` for the proxies).
    unit: str = ""
    # The port it listens on inside its container.
    port: int = 0
    # "http": serving when GET /health answers 200 inside the container (the
    # image has Python); "health": when the engine's healthcheck says healthy.
    ready: str = HTTP_READY
    # Phase 0 (infrastructure: proxy server, Redis) is ready before phase 1 starts.
    phase: int = 1

    @property
    def compose_service(self) -> str:
        return self.unit or self.id


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
    def deploy(self, timeout_s: float = 180.0,
               between_phases: Callable[[], None] | None = None) -> None:
        """`compose up` (no build, no pull) phase by phase, then wait until all are healthy.

        Compose orders the start inside a phase (depends_on: service_healthy);
        images must be here already: nothing is pulled (DESIGN.md §7) nor built.
        """
        deadline = time.monotonic() + timeout_s

        def up(ids: list[str]) -> None:
            units = sorted({self.instances[i].compose_service for i in ids})
            self.compose("up", "--detach", "--no-build", "--pull", "never",
                         "--remove-orphans", *units,
                         timeout_s=max(1.0, deadline - time.monotonic()))
            self._wait_healthy(ids, max(1.0, deadline - time.monotonic()))

        try:
            infra = [i.id for i in self.instances.values() if i.phase == 0]
            if between_phases is not None:
                if infra:
                    up(infra)
                between_phases()
            up(list(self.instances))
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

    def _instance(self, instance_id: str) -> ContainerInstance:
        return by_id(self.instances, instance_id)

    def _container(self, instance_id: str) -> Container:
        self._instance(instance_id)
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
        if not local_engine():
            return {}
        out = {}
        for iid, row in self._containers().items():
            if row.get("State") != "running":
                continue
            with contextlib.suppress(Exception):  # gone between list and inspect
                pid = self.client.api.inspect_container(row["Id"])["State"]["Pid"]
                if pid:
                    out[iid] = program_pid(int(pid))
        return out

    def health(self, instance_id: str) -> str | None:
        """The engine's health status (`starting`, `healthy`, `unhealthy`) or None."""
        attrs = self.client.api.inspect_container(self._container(instance_id).id)
        return (attrs["State"].get("Health") or {}).get("Status")

    # -- readiness ---------------------------------------------------------
    def serving(self, instance_id: str) -> bool:
        inst = self._instance(instance_id)
        row = self._containers().get(instance_id)
        if row is None or row.get("State") != "running":
            return False
        if inst.ready != HTTP_READY:
            return "(healthy)" in row.get("Status", "")
        try:
            return self.http_get(instance_id, "/health").status == 200
        except InstanceUnreachable:
            return False

    def http_get(self, instance_id: str, path: str,
                 timeout_s: float = PROBE_TIMEOUT_S) -> HttpReply:
        inst = self._instance(instance_id)
        if inst.ready != HTTP_READY:
            raise RuntimeFailure(f"instance {instance_id} ({inst.program}) does not speak HTTP")
        try:
            container = self._container(instance_id)
        except RuntimeFailure as exc:
            raise InstanceUnreachable(str(exc)) from exc
        status, body = exec_http_get(container, inst.port, path, timeout_s, instance_id)
        return HttpReply(status, body)

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
        """Until the engine's healthcheck says healthy: one API call for every instance."""
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
                if state == "running" and "(healthy)" in row.get("Status", ""):
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
        if local_engine():
            pid = self.client.api.inspect_container(container.id)["State"]["Pid"]
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(program_pid(int(pid)), _signal.SIGKILL)
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

    @staticmethod
    def _raise_from_engine(instance_id: str, what: str, action: Any) -> None:
        from docker.errors import DockerException

        try:
            action()
        except DockerException as exc:
            raise RuntimeFailure(f"instance {instance_id}: {what} failed: {exc}") from exc
