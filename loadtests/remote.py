"""Load workers on other hosts: the master's address, and `gatecrash worker` (no Locust import).

`gatecrash run ... --remote-workers N` starts Locust's master, which waits for N
workers; each `gatecrash worker --master HOST[:PORT]` is Locust's own worker
underneath (this process becomes it), with no run folder: its config comes from
the master when it joins, and its rows go back over the row channel
(`loadtests.relay`).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass

from loadtests.config import LOCUSTFILE, REMOTE_WORKER_ENV, locust_env
from loadtests.errors import LoadError

__all__ = ["DEFAULT_MASTER_PORT", "MasterAddress", "RemoteWorkers", "exec_worker",
           "worker_command", "worker_env"]

# Locust's own default master port.
DEFAULT_MASTER_PORT = 5557
IPV6 = 6
# Long enough for someone to start the workers by hand on other machines.
DEFAULT_JOIN_TIMEOUT_S = 300
# Set from `gatecrash worker --name`; read by the worker's agent (loadtests.agent).
WORKER_NAME_ENV = "GATECRASH_WORKER_NAME"


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == IPV6
    except ValueError:
        return False


@dataclass(frozen=True)
class MasterAddress:
    host: str
    port: int = DEFAULT_MASTER_PORT

    @classmethod
    def parse(cls, text: str) -> MasterAddress:
        """`HOST[:PORT]` (an IPv6 host in brackets: `[::1]:5557`)."""
        host, port = text.strip(), str(DEFAULT_MASTER_PORT)
        if host.startswith("["):
            inner, _, rest = host[1:].partition("]")
            host, port = inner, rest.lstrip(":") or port
        elif host.count(":") == 1:
            host, port = host.split(":")
        elif ":" in host and not _is_ipv6(host):
            host = ""  # neither host:port nor a bare IPv6 address
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise LoadError(f"master address {text!r}: expected HOST[:PORT], e.g. "
                            f"127.0.0.1:{DEFAULT_MASTER_PORT}")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RemoteWorkers:
    """A run's master waits for `count` workers on `bind` (127.0.0.1 by default:
    bind a reachable address to take workers from other machines)."""

    count: int
    bind: MasterAddress = MasterAddress("127.0.0.1")
    join_timeout_s: int = DEFAULT_JOIN_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.count < 1:
            raise LoadError(f"--remote-workers {self.count}: give at least 1")

    def master_args(self) -> list[str]:
        return ["--master", "--expect-workers", str(self.count),
                "--master-bind-host", self.bind.host, "--master-bind-port", str(self.bind.port),
                "--expect-workers-max-wait", str(self.join_timeout_s)]


def worker_command(master: MasterAddress, python: str = sys.executable) -> list[str]:
    return [python, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
            "--master-host", master.host, "--master-port", str(master.port),
            # Failures of the system under test are data, not a harness error.
            "--exit-code-on-error", "0", "--loglevel", "INFO"]


def worker_env(name: str | None = None) -> dict[str, str]:
    return locust_env({REMOTE_WORKER_ENV: "1", **({WORKER_NAME_ENV: name} if name else {})})


def exec_worker(master: MasterAddress, name: str | None = None) -> None:
    """Become Locust's worker for the run of the master at `master` (never returns).

    exec, not a child process: signals (Ctrl-C, a kill) reach Locust itself, and
    no wrapper outlives it.
    """
    argv = worker_command(master)
    os.execve(argv[0], argv, worker_env(name))
