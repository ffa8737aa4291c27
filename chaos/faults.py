"""The fault catalogue (DESIGN.md §8, Toxiproxy's toxics as the model).

A fault is a small typed value holding only its own parameters, registered
by its wire name. What is shared (target, stream, toxicity) lives once in
`FaultSpec`. `Injector.applied()` applies a fault as a context manager,
reads back a proof that it took effect, and always removes it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaos.client import ProxyStats, ToxiproxyClient
from chaos.errors import ChaosError
from chaos.runtime.base import InstanceState, InstanceStatus, Runtime

__all__ = [
    "FAULTS",
    "Fault",
    "FaultError",
    "FaultEvent",
    "FaultSpec",
    "Injector",
    "Proof",
    "TargetSpec",
    "parse_fault",
]

TOXIC_PREFIX = "gatecrash"
STATE_WAIT_S = 5.0


class FaultError(ChaosError):
    """A fault could not be parsed, targeted, applied or removed."""


@dataclass(frozen=True)
class Proof:
    ok: bool
    detail: str


# -- fault values ---------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    kind: ClassVar[str]
    scope: ClassVar[Literal["instance", "hop"]]

    def params(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Kill(Fault):
    """SIGKILL; removal restarts the instance (the recovery the window measures)."""

    kind = "kill"
    scope = "instance"
    restart: bool = True


@dataclass(frozen=True)
class Terminate(Fault):
    kind = "terminate"
    scope = "instance"
    restart: bool = True


@dataclass(frozen=True)
class Pause(Fault):
    """SIGSTOP: alive, port open, never answers; removal sends SIGCONT."""

    kind = "pause"
    scope = "instance"


@dataclass(frozen=True)
class Restart(Fault):
    kind = "restart"
    scope = "instance"


@dataclass(frozen=True)
class Toxic(Fault):
    """A Toxiproxy toxic on the hop into each target; attributes are its fields."""

    scope = "hop"

    def attributes(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Latency(Toxic):
    kind = "latency"
    latency: int = 1000  # ms
    jitter: int = 0  # ms


@dataclass(frozen=True)
class Bandwidth(Toxic):
    kind = "bandwidth"
    rate: int = 100  # KB/s


@dataclass(frozen=True)
class SlowClose(Toxic):
    kind = "slow_close"
    delay: int = 1000  # ms


@dataclass(frozen=True)
class TimeoutToxic(Toxic):
    kind = "timeout"
    timeout: int = 0  # ms; 0 holds the connection forever


@dataclass(frozen=True)
class ResetPeer(Toxic):
    kind = "reset_peer"
    timeout: int = 0  # ms


@dataclass(frozen=True)
class Slicer(Toxic):
    kind = "slicer"
    average_size: int = 64
    size_variation: int = 32
    delay: int = 10  # µs


@dataclass(frozen=True)
class LimitData(Toxic):
    kind = "limit_data"
    bytes: int = 1024


@dataclass(frozen=True)
class ProxyDown(Fault):
    """Disable the hop's proxy: listener and live connections closed."""

    kind = "proxy_down"
    scope = "hop"


FAULTS: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (Kill, Terminate, Pause, Restart, Latency, Bandwidth, SlowClose, TimeoutToxic,
                ResetPeer, Slicer, LimitData, ProxyDown)
}


def parse_fault(kind: str, params: dict[str, Any] | None = None) -> Fault:
    cls = FAULTS.get(kind)
    if cls is None:
        raise FaultError(f"unknown fault {kind!r}; allowed: {', '.join(sorted(FAULTS))}")
    allowed = {f.name for f in fields(cls)}
    unknown = set(params or {}) - allowed
    if unknown:
        raise FaultError(f"fault {kind}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(allowed)) or 'none'}")
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        raise FaultError(f"fault {kind}: {exc}") from exc


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
    toxicity: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _known(self) -> FaultSpec:
        try:
            parse_fault(self.fault, self.params)
        except FaultError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def value(self) -> Fault:
        return parse_fault(self.fault, self.params)


@dataclass
class FaultEvent:
    id: str
    fault: str
    params: dict[str, Any]
    targets: list[str]
    label: str
    start: float
    end: float | None = None
    # When the proof read back that the fault took effect (a container takes a
    # moment to die): requests sent between `start` and this belong to no window.
    effective: float | None = None
    proof: Proof | None = None
    removal_proof: Proof | None = None
    traffic: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = "fault"
        data["target"] = ", ".join(self.targets)
        data["hop"] = self.targets if FAULTS[self.fault].scope == "hop" else None
        return data


# -- applying ---------------------------------------------------------------
class Injector:
    """Applies faults to one deployed stack through its runtime and Toxiproxy API."""

    def __init__(self, runtime: Runtime, toxiproxy: ToxiproxyClient | None) -> None:
        self.runtime = runtime
        self.toxiproxy = toxiproxy
        self.paused: set[str] = set()

    @contextmanager
    def applied(self, spec: FaultSpec, event_id: str) -> Iterator[FaultEvent]:
        fault = spec.value
        targets = spec.target.resolve(self.runtime.statuses())
        label = f"{fault.kind} {', '.join(targets)}"
        event = FaultEvent(event_id, fault.kind, fault.params(), targets, label, time.time())
        # Traffic proves a toxic met live connections; a disabled proxy has none by design.
        counts_traffic = isinstance(fault, Toxic)
        before = self._stats(targets) if counts_traffic else {}
        try:
            event.proof = self._apply(fault, spec, targets, event_id)
            event.effective = time.time()
            yield event
        finally:
            # A caller ending several faults at one moment stamps them first.
            if event.end is None:
                event.end = time.time()
            if counts_traffic:
                event.traffic = self._traffic(before, self._stats(targets))
            event.removal_proof = self._remove(fault, targets, event_id)

    # instance faults -------------------------------------------------------
    def _wait_state(self, targets: list[str], wanted: set[InstanceState]) -> Proof:
        deadline = time.monotonic() + STATE_WAIT_S
        while True:
            states = {s.id: s.state for s in self.runtime.statuses() if s.id in targets}
            if all(states.get(t) in wanted for t in targets):
                return Proof(True, "; ".join(f"{t}: {states[t]}" for t in targets))
            if time.monotonic() > deadline:
                return Proof(False, "; ".join(f"{t}: {states.get(t)}" for t in targets)
                             + f" (wanted {'/'.join(sorted(wanted))})")
            time.sleep(0.05)

    def _apply(self, fault: Fault, spec: FaultSpec, targets: list[str], eid: str) -> Proof:
        gone = {InstanceState.EXITED, InstanceState.MISSING}
        if isinstance(fault, Kill | Terminate):
            for t in targets:
                (self.runtime.kill if isinstance(fault, Kill) else self.runtime.terminate)(t)
            return self._wait_state(targets, gone)
        if isinstance(fault, Pause):
            for t in targets:
                self.runtime.pause(t)
                self.paused.add(t)
            return self._wait_state(targets, {InstanceState.PAUSED})
        if isinstance(fault, Restart):
            for t in targets:
                self.runtime.restart(t, wait_healthy=False)
            return self._wait_state(targets, {InstanceState.RUNNING})
        client = self._client()
        if isinstance(fault, ProxyDown):
            for t in targets:
                client.disable_proxy(t)
            disabled = [t for t in targets if not client.proxy(t).enabled]
            return Proof(disabled == targets, f"disabled proxies: {', '.join(disabled)}")
        assert isinstance(fault, Toxic)
        name = f"{TOXIC_PREFIX}-{eid}"
        for t in targets:
            client.add_toxic(t, fault.kind, fault.attributes(), stream=spec.stream,
                             toxicity=spec.toxicity, name=name)
        present = [t for t in targets if any(x.name == name for x in client.toxics(t))]
        return Proof(present == targets,
                     f"toxic {name} ({fault.kind} {fault.attributes()}, {spec.stream}, "
                     f"toxicity {spec.toxicity}) present on: {', '.join(present)}")

    def _remove(self, fault: Fault, targets: list[str], eid: str) -> Proof:
        try:
            if isinstance(fault, Kill | Terminate):
                if not fault.restart:
                    return Proof(True, "left stopped (restart: false)")
                # All at once: one by one would stretch the outage by a start-up each.
                for t in targets:
                    self.runtime.restart(t, wait_healthy=False)
                return self._wait_state(targets, {InstanceState.RUNNING})
            if isinstance(fault, Pause):
                for t in targets:
                    self.runtime.resume(t)
                    self.paused.discard(t)
                return self._wait_state(targets, {InstanceState.RUNNING})
            if isinstance(fault, Restart):
                return self._wait_state(targets, {InstanceState.RUNNING})
            client = self._client()
            if isinstance(fault, ProxyDown):
                for t in targets:
                    client.enable_proxy(t)
                enabled = [t for t in targets if client.proxy(t).enabled]
                return Proof(enabled == targets, f"enabled again: {', '.join(enabled)}")
            name = f"{TOXIC_PREFIX}-{eid}"
            for t in targets:
                client.remove_toxic(t, name)
            left = [t for t in targets if any(x.name == name for x in client.toxics(t))]
            return Proof(not left, f"toxic {name} removed from: {', '.join(targets)}"
                         + (f"; still on {', '.join(left)}" if left else ""))
        except ChaosError as exc:
            return Proof(False, f"removal failed: {exc}")

    # hop traffic -----------------------------------------------------------
    def _client(self) -> ToxiproxyClient:
        if self.toxiproxy is None:
            raise FaultError("network faults need hop proxies; this stack was deployed "
                             "without them")
        return self.toxiproxy

    def _stats(self, targets: list[str]) -> dict[str, ProxyStats | None]:
        client = self._client()
        return {t: client.stats(t) for t in targets}

    @staticmethod
    def _traffic(before: dict[str, ProxyStats | None],
                 after: dict[str, ProxyStats | None]) -> dict[str, dict[str, int]]:
        """Connections and bytes through each faulted hop while the fault was on:
        the proof that the fault met live traffic (absent on a real Toxiproxy)."""
        out = {}
        for t, b in before.items():
            a = after.get(t)
            if a is None or b is None:
                continue
            out[t] = {"connections": a.connections_total - b.connections_total,
                      "bytes_upstream": a.bytes_upstream - b.bytes_upstream,
                      "bytes_downstream": a.bytes_downstream - b.bytes_downstream}
        return out

    def reset(self) -> None:
        """The last safety net: no toxic, every proxy enabled, nothing left paused."""
        for t in list(self.paused):
            with suppress(ChaosError):
                self.runtime.resume(t)
            self.paused.discard(t)
        if self.toxiproxy is not None:
            self.toxiproxy.reset()
