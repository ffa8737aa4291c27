"""The parts of an experiment file (gatecrash.experiment): where it deploys, its
fault steps, the window of a load that disturbs by itself, and when to abort."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaos.faults import FaultSpec, TargetSpec
from chaos.httpfaults.faults import Selector
from gatecrash.errors import InputError
from targets.topology import Arch, GatewayKind, LlmRouterKind

__all__ = ["MAX_ENTRIES", "AbortSpec", "AbortWatch", "DeploySpec", "FaultStep", "LoadWindow",
           "Strict"]

# Entry points of one stack: enough to show a client-side failover, and they all
# share the stack's port block.
MAX_ENTRIES = 4


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploySpec(Strict):
    replicas: int | None = Field(default=None, ge=1, le=8)
    # Instances of the entry service (dual: the router; single: the gateway), each an
    # entry point of its own; the load generator fails over between them (C9).
    entries: int = Field(default=1, ge=1, le=MAX_ENTRIES)
    inference: str = Field(default="standin",
                           description="tiny, smollm2, standin, path:/dir or upstream:URL")
    proxies: bool = True
    # Real products in the gateway/router roles and on the LLM path (docs/gateways.md).
    gateway: GatewayKind = GatewayKind.BUILTIN
    llm_router: LlmRouterKind = LlmRouterKind.BUILTIN


class FaultStep(Strict):
    """One entry of the timeline: at `at_s` after load start, for `for_s` seconds."""

    at_s: float = Field(ge=0)
    for_s: float = Field(gt=0)
    fault: str
    params: dict[str, Any] = Field(default_factory=dict)
    target: TargetSpec | None = None
    # The same fault aimed per architecture (e.g. "the gateway that serves
    # business": gateway-1 in single, gateway-business-1 in dual).
    target_by_arch: dict[Arch, TargetSpec] | None = None
    stream: str = "downstream"
    toxicity: float = Field(default=1.0, ge=0, le=1)
    # HTTP faults: which requests they apply to (see chaos.httpfaults.Selector).
    match: Selector | None = None

    @model_validator(mode="after")
    def _valid_fault(self) -> FaultStep:
        if (self.target is None) == (self.target_by_arch is None):
            raise ValueError("give target or target_by_arch (one of them)")
        for arch in Arch:
            if self.target is not None or arch in (self.target_by_arch or {}):
                self.spec(arch)  # raises with the allowed faults / parameters
        return self

    def target_for(self, arch: str) -> TargetSpec:
        if self.target is not None:
            return self.target
        target = (self.target_by_arch or {}).get(Arch(arch))
        if target is None:
            raise InputError(f"fault {self.fault} has no target for the {arch} architecture; "
                             "add it under target_by_arch")
        return target

    def spec(self, arch: str) -> FaultSpec:
        return FaultSpec(fault=self.fault, params=self.params, target=self.target_for(arch),
                         stream=self.stream, toxicity=self.toxicity,  # type: ignore[arg-type]
                         match=self.match)

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s


class LoadWindow(Strict):
    """The fault window of a run whose disturbance is its own load, not a fault: a
    stage with its own rate and mix (e.g. a tenant's flood of one domain, C11)."""

    at_s: float = Field(ge=0)
    for_s: float = Field(gt=0)

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s


class AbortSpec(Strict):
    """Stop the run when it hurts more than planned: outside every fault window and
    the recovery that follows it."""

    max_failure_rate: float = Field(default=0.5, gt=0, le=1)
    over_s: float = Field(default=3.0, gt=0)


class AbortWatch:
    """An `AbortSpec` applied while a run goes: why to stop it once failures stay
    above the bound outside fault windows."""

    def __init__(self, max_rate: float, over_s: float) -> None:
        self.max_rate = max_rate
        self.over_s = over_s
        self.since: float | None = None
        self.last: tuple[int, int] = (0, 0)

    def check(self, now: float, requests: int, failures: int, in_fault: bool) -> str | None:
        d_req, d_fail = requests - self.last[0], failures - self.last[1]
        self.last = (requests, failures)
        if in_fault or d_req <= 0 or d_fail / d_req <= self.max_rate:
            self.since = None
            return None
        self.since = self.since or now
        if now - self.since >= self.over_s:
            return (f"failure rate {d_fail / d_req:.0%} above {self.max_rate:.0%} for "
                    f"{self.over_s:g}s outside any fault window")
        return None
