"""The one interface every runtime implements (testcontainers' style Protocol).

Callers (the conductor, the fault catalogue) hold a `Runtime` and never know
whether instances are local processes or containers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from chaos.errors import ChaosError

__all__ = ["DeployError", "InstanceState", "InstanceStatus", "Runtime", "RuntimeFailure"]


class RuntimeFailure(ChaosError):
    """A runtime could not do what was asked; the message says what to do."""


class DeployError(RuntimeFailure):
    """A stack did not come up; whatever had started was torn down."""


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

    def deploy(self, timeout_s: float) -> None:
        """Start every instance and wait until all are healthy, or tear down and raise."""

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
