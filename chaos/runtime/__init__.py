"""Runtimes that deploy a stack and act on its instances (processes, containers)."""

from chaos.runtime.base import (
    DeployError,
    InstanceState,
    InstanceStatus,
    Runtime,
    RuntimeFailure,
)

__all__ = ["DeployError", "InstanceState", "InstanceStatus", "Runtime", "RuntimeFailure"]
