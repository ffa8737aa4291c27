"""The fault catalogue (DESIGN.md §8, Toxiproxy's toxics as the model).

A fault is a small typed value holding only its own parameters, registered
by its wire name. What is shared (target, stream, toxicity) lives once in
`FaultSpec`. `chaos.injector.Injector.applied()` applies a fault as a context
manager, reads back a proof that it took effect, and always removes it.

HTTP and stream faults (`chaos.httpfaults`) share the catalogue, the spec and
the life cycle: they are added to the fault layer of each target's hop, proven
present, and removed with their final counters (requests matched, fired,
bytes forwarded) as their traffic proof. A fault's traffic proof says where it
came from; where none could be read it says "unavailable", never an empty pass.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from chaos.errors import ChaosError
from chaos.httpfaults.faults import HTTP_FAULTS, HttpFault, Selector
from chaos.runtime.base import InstanceStatus
from records.events import (
    ParamValue,
)

__all__ = [
    "FAULTS",
    "AnyFault",
    "Fault",
    "FaultError",
    "FaultSpec",
    "TargetSpec",
    "parse_fault",
]

TOXIC_PREFIX = "gatecrash"
STATE_WAIT_S = 5.0


class FaultError(ChaosError):
    """A fault could not be parsed, targeted, applied or removed."""


# -- fault values ---------------------------------------------------------------
class Fault(BaseModel):
    """A fault's own parameters; `params()` is what the run record keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str]
    scope: ClassVar[Literal["instance", "hop"]]

    def params(self) -> dict[str, ParamValue]:
        return self.model_dump()


def _wire(default: int, name: str, wire: str) -> Any:
    """A toxic parameter: named with its unit here, sent to Toxiproxy under its wire
    name, and accepted under both (experiment files written with the wire names load)."""
    return Field(default, ge=0, validation_alias=AliasChoices(name, wire),
                 serialization_alias=wire)


class Kill(Fault):
    """SIGKILL; removal restarts the instance (the recovery the window measures)."""

    kind = "kill"
    scope = "instance"
    restart: bool = True


class Terminate(Fault):
    kind = "terminate"
    scope = "instance"
    restart: bool = True


class Pause(Fault):
    """SIGSTOP: alive, port open, never answers; removal sends SIGCONT."""

    kind = "pause"
    scope = "instance"


class Restart(Fault):
    kind = "restart"
    scope = "instance"


class Toxic(Fault):
    """A Toxiproxy toxic on the hop into each target."""

    scope = "hop"

    def attributes(self) -> dict[str, int]:
        """The toxic's attributes under Toxiproxy's wire names."""
        return {name: int(value) for name, value in self.model_dump(by_alias=True).items()}


class Latency(Toxic):
    kind = "latency"
    latency_ms: int = _wire(1000, "latency_ms", "latency")
    jitter_ms: int = _wire(0, "jitter_ms", "jitter")


class Bandwidth(Toxic):
    kind = "bandwidth"
    rate_kb: int = _wire(100, "rate_kb", "rate")  # KB/s


class SlowClose(Toxic):
    kind = "slow_close"
    delay_ms: int = _wire(1000, "delay_ms", "delay")


class TimeoutToxic(Toxic):
    kind = "timeout"
    # 0 holds the connection (and its data) until the toxic is removed.
    timeout_ms: int = _wire(0, "timeout_ms", "timeout")


class ResetPeer(Toxic):
    kind = "reset_peer"
    timeout_ms: int = _wire(0, "timeout_ms", "timeout")


class Slicer(Toxic):
    kind = "slicer"
    average_size: int = Field(64, ge=0)  # bytes
    size_variation: int = Field(32, ge=0)  # bytes
    delay_us: int = _wire(10, "delay_us", "delay")


class LimitData(Toxic):
    kind = "limit_data"
    bytes: int = Field(1024, ge=0)


class ProxyDown(Fault):
    """Disable the hop's proxy: listener and live connections closed."""

    kind = "proxy_down"
    scope = "hop"


AnyFault = Fault | HttpFault
FAULTS: dict[str, type[Fault] | type[HttpFault]] = {
    **{cls.kind: cls
       for cls in (Kill, Terminate, Pause, Restart, Latency, Bandwidth, SlowClose, TimeoutToxic,
                   ResetPeer, Slicer, LimitData, ProxyDown)},
    **HTTP_FAULTS,
}


def _wire_names(cls: type[Fault] | type[HttpFault]) -> dict[str, str]:
    """Toxiproxy's name of each parameter that has another one, to our name."""
    return {f.serialization_alias: name for name, f in cls.model_fields.items()
            if f.serialization_alias and f.serialization_alias != name}


def parse_fault(kind: str, params: dict[str, Any] | None = None) -> AnyFault:
    cls = FAULTS.get(kind)
    if cls is None:
        raise FaultError(f"unknown fault {kind!r}; allowed: {', '.join(sorted(FAULTS))}")
    params = params or {}
    wire = _wire_names(cls)
    unknown = set(params) - set(cls.model_fields) - set(wire)
    if unknown:
        also = f" (Toxiproxy's names also: {', '.join(sorted(wire))})" if wire else ""
        raise FaultError(f"fault {kind}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(cls.model_fields)) or 'none'}{also}")
    twice = sorted(w for w, name in wire.items() if w in params and name in params)
    if twice:
        raise FaultError(f"fault {kind}: give {twice[0]} or {wire[twice[0]]}, not both "
                         "(the same parameter)")
    try:
        return cls.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FaultError(f"fault {kind}: {where}: {first['msg']}") from None


# -- targets ----------------------------------------------------------------
class TargetSpec(BaseModel):
    """Which instances: one by name, a service's replicas, or a role (`gateway:business`);
    all of them, `count` of them, or `percent` of them, in order or at random."""

    model_config = ConfigDict(extra="forbid")
    instance: str | None = None
    service: str | None = None
    role: str | None = None
    count: int | None = Field(default=None, ge=1)
    percent: float | None = Field(default=None, gt=0, le=100)
    random: bool = False
    seed: int = 0

    @model_validator(mode="after")
    def _one_selector(self) -> TargetSpec:
        chosen = [x for x in (self.instance, self.service, self.role) if x]
        if len(chosen) != 1:
            raise ValueError("give exactly one of instance, service or role")
        if self.count is not None and self.percent is not None:
            raise ValueError("give count or percent, not both")
        return self

    def resolve(self, instances: list[InstanceStatus]) -> list[str]:
        if self.instance:
            pool = [i.id for i in instances if i.id == self.instance]
        elif self.service:
            pool = [i.id for i in instances if i.service == self.service]
        else:
            program, _, role = (self.role or "").partition(":")
            pool = [i.id for i in instances
                    if i.program == program and (not role or i.role == role)]
        if not pool:
            known = ", ".join(sorted({i.service for i in instances}))
            raise FaultError(f"target {self.describe()} matches no instance (services: {known})")
        n = len(pool)
        if self.count is not None:
            n = min(self.count, len(pool))
        elif self.percent is not None:
            n = max(1, round(len(pool) * self.percent / 100))
        if self.random:
            return sorted(random.Random(self.seed).sample(sorted(pool), n))
        return sorted(pool)[:n]

    def describe(self) -> str:
        what = self.instance or (f"service {self.service}" if self.service else f"role {self.role}")
        if self.count:
            what += f" x{self.count}"
        if self.percent:
            what += f" {self.percent:g}%"
        return what + (f" (random, seed {self.seed})" if self.random else "")


class FaultSpec(BaseModel):
    """A fault with the fields every fault shares."""

    model_config = ConfigDict(extra="forbid")
    fault: str
    params: dict[str, Any] = Field(default_factory=dict)
    target: TargetSpec
    stream: Literal["downstream", "upstream"] = "downstream"
    # A toxic's toxicity; an HTTP fault's probability of firing on a matched request.
    toxicity: float = Field(default=1.0, ge=0, le=1)
    # HTTP faults only: which requests (method, path glob, chat model, stream flag).
    match: Selector | None = None

    @model_validator(mode="after")
    def _known(self) -> FaultSpec:
        try:
            parse_fault(self.fault, self.params)
        except FaultError as exc:
            raise ValueError(str(exc)) from None
        if self.match is not None and self.fault not in HTTP_FAULTS:
            raise ValueError(f"match: applies to HTTP faults only "
                             f"({', '.join(sorted(HTTP_FAULTS))}), not {self.fault}")
        return self

    @property
    def value(self) -> AnyFault:
        return parse_fault(self.fault, self.params)
