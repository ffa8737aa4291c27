"""The local runtime's processes: how each instance is planned, named and started.

An instance is started as a process of its own, or forked from one of the
runtime's fork servers (chaos.runtime.forks) when its plan names one that runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from chaos.runtime.forks import ForkServer, ForkSpec, fork_server, forks_held
from chaos.runtime.zygote import die_with_parent

__all__ = ["InstancePlan", "LocalProcess", "Starter", "port_in_use", "start_ticks"]


@dataclass(frozen=True)
class InstancePlan:
    """How to start one instance and how to tell it is ready."""

    id: str
    service: str
    program: str
    role: str | None
    host: str
    port: int
    url: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # "http": GET /health answers 200; "tcp": the port accepts a connection.
    ready: str = "http"
    cwd: str | None = None
    # Phase 0 (infrastructure: proxy server, redis) is ready before phase 1 starts.
    phase: int = 1
    # The runtime's fork server that may start this `python -m` command, by name
    # (the runtime's `forks`); None: always a process of its own.
    fork_server: str | None = None


@dataclass
class LocalProcess:
    """One started instance: (pid, start ticks) name it for its whole life."""

    plan: InstancePlan
    pid: int
    start_ticks: int
    # Set when this process started it as its own child (not forked by a server).
    popen: subprocess.Popen[bytes] | None = None


def start_ticks(pid: int) -> int | None:
    """Clock ticks after boot at which `pid` started; None when there is no such process.

    This number never changes for the life of a process, so (pid, ticks) names
    one process. psutil's create_time() adds /proc/stat's btime, which the
    kernel recomputes from the wall clock: under NTP or a VM's clock steps it
    moves by a second, and a match on it once took live instances for dead
    ones (start refused, teardown skipped them, processes leaked).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 22 (starttime); the command name in field 2 may hold spaces or ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class Starter:
    """Starts plans, each logging to `<log_dir>/<id>.log`; `attached`: they die with
    this process. A plan naming a fork server in `forks` is forked from it."""

    def __init__(self, log_dir: Path, *, attached: bool,
                 forks: dict[str, ForkSpec] | None = None) -> None:
        self.log_dir = log_dir
        self.attached = attached
        self.forks = forks or {}

    def log(self, name: str) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{name}.log"

    def warm(self, plans: list[InstancePlan]) -> None:
        """Get the fork servers of `plans` going (their imports run meanwhile)."""
        for name in sorted(set(self.forks) & {p.fork_server for p in plans}):
            self._server(name)

    def _server(self, name: str) -> ForkServer | None:
        spec = self.forks.get(name)
        return fork_server(spec, self.log(f"fork-server-{name}")) if spec else None

    def start(self, plans: list[InstancePlan]) -> list[LocalProcess]:
        """Start `plans`: forks asked of their servers first, answers read after, so
        that a server still importing holds up only its own instances."""
        started: list[LocalProcess] = []
        asked: list[tuple[InstancePlan, ForkServer]] = []
        with forks_held():
            for plan in plans:
                server = self._server(plan.fork_server) if plan.fork_server else None
                if server is not None and server.request(
                        plan.argv, {**os.environ, **plan.env}, plan.cwd or os.getcwd(),
                        self.log(plan.id), die_with_parent=self.attached):
                    asked.append((plan, server))
                else:
                    started.append(self._spawn(plan))
            for plan, server in asked:
                pid = server.reply()
                # Gone already (a server's children are reaped by the kernel): ticks
                # 0, which reads as not alive.
                started.append(self._spawn(plan) if pid is None
                               else LocalProcess(plan, pid, start_ticks(pid) or 0))
        return started

    def _spawn(self, plan: InstancePlan) -> LocalProcess:
        """Start `plan` as a process of its own."""
        with open(self.log(plan.id), "ab") as log:
            popen = subprocess.Popen(
                plan.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **plan.env},
                start_new_session=True,
                preexec_fn=die_with_parent if self.attached else None,
            )
        # The child is ours and not yet reaped, so its /proc entry exists.
        return LocalProcess(plan, popen.pid, start_ticks(popen.pid) or 0, popen)
