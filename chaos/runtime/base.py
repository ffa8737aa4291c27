"""The one interface every runtime implements (testcontainers' style Protocol).

Callers (the conductor, the fault catalogue) hold a `Runtime` and never know
whether instances are local processes or containers: the runtime also answers
"is this instance serving?" and "what does GET this path answer on it?", since
only it knows how to reach its instances (a container's listen address means
nothing on the host).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

from chaos.errors import ChaosError

__all__ = [
    "DeployError",
    "HttpReply",
    "InstanceState",
    "InstanceStatus",
    "InstanceUnreachable",
    "Runtime",
    "RuntimeFailure",
    "by_id",
]

_T = TypeVar("_T")

# A probe answers in milliseconds; an instance silent this long is not serving.
PROBE_TIMEOUT_S = 2.0


class RuntimeFailure(ChaosError):
    """A runtime could not do what was asked; the message says what to do."""


class DeployError(RuntimeFailure):
    """A stack did not come up; whatever had started was torn down."""


def by_id(table: dict[str, _T], instance_id: str) -> _T:
    """A runtime's entry for an instance, or an error listing the instances it has."""
    try:
        return table[instance_id]
    except KeyError:
        known = ", ".join(sorted(table))
        raise RuntimeFailure(f"no instance {instance_id!r}; instances: {known}") from None


class InstanceUnreachable(RuntimeFailure):
    """An instance did not answer a request sent to it directly."""


@dataclass(frozen=True)
class HttpReply:
    """What an instance answered to a GET sent straight to it (no hop proxy)."""

    status: int
    body: bytes


class InstanceState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    EXITED = "exited"
    MISSING = "missing"


@dataclass(frozen=True)
class InstanceStatus:
    id: str
    service: str
    program: str
    role: str | None
    pid: int | None
    url: str
    state: InstanceState
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


@runtime_checkable
class Runtime(Protocol):
    """Deploys one stack and acts on its instances by id."""

    name: str

    def deploy(self, timeout_s: float,
               between_phases: Callable[[], None] | None = None) -> None:
        """Start every instance and wait until all are healthy, or tear down and raise.

        Infrastructure (proxy server, Redis) first; once it is ready
        `between_phases` runs (it creates the hop proxies), then every service.
        """

    def teardown(self) -> None:
        """Remove every instance; safe to call twice and after a partial deploy."""

    def statuses(self) -> list[InstanceStatus]: ...

    def pids(self) -> dict[str, int]:
        """Host process id of each running instance (for CPU sampling)."""

    def kill(self, instance_id: str) -> None:
        """SIGKILL: the instance dies at once."""

    def terminate(self, instance_id: str) -> None:
        """SIGTERM, then SIGKILL after a grace period."""

    def pause(self, instance_id: str) -> None:
        """SIGSTOP: alive but silent (connections hang)."""

    def resume(self, instance_id: str) -> None:
        """SIGCONT."""

    def restart(self, instance_id: str, wait_healthy: bool = True) -> None:
        """Stop (if running) and start the instance again."""

    def serving(self, instance_id: str) -> bool:
        """Whether the instance answers now (HTTP: /health is 200; else it accepts)."""

    def http_get(self, instance_id: str, path: str,
                 timeout_s: float = PROBE_TIMEOUT_S) -> HttpReply:
        """GET `path` on the instance itself; InstanceUnreachable if it does not answer."""
