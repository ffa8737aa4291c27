"""The fault catalogue (DESIGN.md §8, Toxiproxy's toxics as the model).

A fault is a small typed value holding only its own parameters, registered
by its wire name. What is shared (target, stream, toxicity) lives once in
`FaultSpec`. `Injector.applied()` applies a fault as a context manager,
reads back a proof that it took effect, and always removes it.

HTTP and stream faults (`chaos.httpfaults`) share the catalogue, the spec and
the life cycle: they are added to the fault layer of each target's hop, proven
present, and removed with their final counters (requests matched, fired,
bytes forwarded) as their traffic proof. A fault's traffic proof says where it
came from; where none could be read it says "unavailable", never an empty pass.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from chaos.client import ProxyStats, ToxiproxyClient
from chaos.errors import ChaosError
from chaos.httpfaults.client import HttpFaultsClient
from chaos.httpfaults.faults import HTTP_FAULTS, FaultRule, HttpFault, Selector
from chaos.runtime.base import InstanceState, InstanceStatus, Runtime
from records.events import (
    FaultEvent,
    HopTraffic,
    HttpFaultTraffic,
    ParamValue,
    Proof,
    TrafficProof,
    TrafficSource,
)

__all__ = [
    "FAULTS",
    "AnyFault",
    "Fault",
    "FaultError",
    "FaultSpec",
    "Injector",
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


# -- applying ---------------------------------------------------------------
class Injector:
    """Applies faults to one deployed stack through its runtime and Toxiproxy API."""

    def __init__(self, runtime: Runtime, toxiproxy: ToxiproxyClient | None,
                 layers: HttpFaultsClient | None = None) -> None:
        self.runtime = runtime
        self.toxiproxy = toxiproxy
        self.layers = layers
        self.paused: set[str] = set()

    @contextmanager
    def applied(self, spec: FaultSpec, event_id: str) -> Iterator[FaultEvent]:
        fault = spec.value
        targets = spec.target.resolve(self.runtime.statuses())
        label = f"{fault.kind} {', '.join(targets)}"
        event = FaultEvent(id=event_id, fault=fault.kind, params=fault.params(), targets=targets,
                           label=label, start=time.time())
        # Traffic proves a toxic met live connections; a disabled proxy has none by design.
        counts_traffic = isinstance(fault, Toxic)
        before = self._hop_counts(targets) if counts_traffic else None
        try:
            if isinstance(fault, HttpFault):
                event.proof = self._apply_http(fault, spec, targets, event_id)
            else:
                event.proof = self._apply(fault, spec, targets, event_id)
            event.effective = time.time()
            yield event
        finally:
            # A caller ending several faults at one moment stamps them first.
            if event.end is None:
                event.end = time.time()
            if counts_traffic:
                event.traffic, event.traffic_proof = self._traffic(
                    before, self._hop_counts(targets))
            if isinstance(fault, HttpFault):
                event.removal_proof = self._remove_http(targets, event_id, event)
            else:
                event.removal_proof = self._remove(fault, targets, event_id)

    # instance faults -------------------------------------------------------
    def _wait_state(self, targets: list[str], wanted: set[InstanceState]) -> Proof:
        deadline = time.monotonic() + STATE_WAIT_S
        while True:
            states = {s.id: s.state for s in self.runtime.statuses() if s.id in targets}
            if all(states.get(t) in wanted for t in targets):
                return Proof(ok=True, detail="; ".join(f"{t}: {states[t]}" for t in targets))
            if time.monotonic() > deadline:
                seen = "; ".join(f"{t}: {states.get(t)}" for t in targets)
                return Proof(ok=False, detail=f"{seen} (wanted {'/'.join(sorted(wanted))})")
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
            return Proof(ok=disabled == targets,
                         detail=f"disabled proxies: {', '.join(disabled)}")
        assert isinstance(fault, Toxic)
        name = f"{TOXIC_PREFIX}-{eid}"
        for t in targets:
            client.add_toxic(t, fault.kind, fault.attributes(), stream=spec.stream,
                             toxicity=spec.toxicity, name=name)
        present = [t for t in targets if any(x.name == name for x in client.toxics(t))]
        return Proof(ok=present == targets,
                     detail=f"toxic {name} ({fault.kind} {fault.attributes()}, {spec.stream}, "
                            f"toxicity {spec.toxicity}) present on: {', '.join(present)}")

    def _remove(self, fault: Fault, targets: list[str], eid: str) -> Proof:
        try:
            if isinstance(fault, Kill | Terminate):
                if not fault.restart:
                    return Proof(ok=True, detail="left stopped (restart: false)")
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
                return Proof(ok=enabled == targets,
                             detail=f"enabled again: {', '.join(enabled)}")
            name = f"{TOXIC_PREFIX}-{eid}"
            for t in targets:
                client.remove_toxic(t, name)
            left = [t for t in targets if any(x.name == name for x in client.toxics(t))]
            still = f"; still on {', '.join(left)}" if left else ""
            return Proof(ok=not left,
                         detail=f"toxic {name} removed from: {', '.join(targets)}{still}")
        except ChaosError as exc:
            return Proof(ok=False, detail=f"removal failed: {exc}")

    # hop traffic -----------------------------------------------------------
    def _client(self) -> ToxiproxyClient:
        if self.toxiproxy is None:
            raise FaultError("network faults need hop proxies; this stack was deployed "
                             "without them")
        return self.toxiproxy

    def _hop_counts(self, targets: list[str]) -> tuple[TrafficSource, dict[str, ProxyStats]]:
        """Each hop's counters: the server's own stats, else a real Toxiproxy's
        Prometheus proxy metrics, else nothing ("unavailable")."""
        client = self._client()
        stats = {t: client.stats(t) for t in targets}
        if all(s is not None for s in stats.values()):
            return "counters", {t: s for t, s in stats.items() if s is not None}
        metrics = client.metrics_bytes()
        if metrics is None:
            return "unavailable", {}
        return "metrics", {t: metrics.get(t, ProxyStats()) for t in targets}

    def _traffic(self, before: tuple[TrafficSource, dict[str, ProxyStats]] | None,
                 after: tuple[TrafficSource, dict[str, ProxyStats]]
                 ) -> tuple[dict[str, HopTraffic], TrafficProof]:
        """Connections and bytes through each faulted hop while the fault was on:
        the proof that the fault met live traffic, and where it came from."""
        url = self._client().url
        if before is None or before[0] != after[0] or after[0] == "unavailable":
            return {}, TrafficProof(source="unavailable", detail=(
                f"the Toxiproxy at {url} has no per-proxy stats and serves no proxy "
                "metrics (start it with -proxy-metrics): whether the fault met traffic "
                "is unknown"))
        out = {}
        for t, b in before[1].items():
            a = after[1].get(t, ProxyStats())
            out[t] = HopTraffic(connections=a.connections_total - b.connections_total,
                                bytes_upstream=a.bytes_upstream - b.bytes_upstream,
                                bytes_downstream=a.bytes_downstream - b.bytes_downstream)
        if after[0] == "counters":
            return out, TrafficProof(source="counters", detail="the proxy server's own stats")
        if not any(h.bytes_upstream or h.bytes_downstream for h in out.values()):
            # Toxiproxy adds a connection's bytes when it closes: kept-alive
            # connections through the whole fault never show. Zero proves nothing.
            return {}, TrafficProof(source="unavailable", detail=(
                f"Toxiproxy's proxy metrics at {url} moved by 0 bytes; they count a "
                "connection only when it closes, so traffic on connections kept alive "
                "through the fault is not seen"))
        return out, TrafficProof(source="metrics", detail=(
            f"Toxiproxy's Prometheus proxy metrics at {url} (bytes of the connections "
            "that closed while the fault was on; connections are not counted)"))

    # HTTP faults --------------------------------------------------------------
    def _layers(self) -> HttpFaultsClient:
        if self.layers is None:
            raise FaultError("HTTP faults need fault layers on the targets' hops; this stack "
                             "was deployed without them (the runner adds them for the "
                             "services an experiment's HTTP faults target)")
        return self.layers

    def _apply_http(self, fault: HttpFault, spec: FaultSpec, targets: list[str],
                    eid: str) -> Proof:
        layers = self._layers()
        rule = FaultRule(name=f"{TOXIC_PREFIX}-{eid}", type=fault.kind,
                         probability=spec.toxicity, match=spec.match or Selector(),
                         attributes=fault.model_dump())
        for t in targets:
            layers.add_fault(t, rule)
        present = [t for t in targets if any(f.name == rule.name for f in layers.layer(t).faults)]
        match = rule.match.model_dump(exclude_none=True) or "every request"
        return Proof(ok=present == targets,
                     detail=f"HTTP fault {rule.name} ({fault.kind} {fault.params()}, probability "
                            f"{rule.probability}, match {match}) present on the layers of: "
                            f"{', '.join(present)}")

    def _remove_http(self, targets: list[str], eid: str, event: FaultEvent) -> Proof:
        """Remove the rule from every layer; its final counters become the traffic proof."""
        name = f"{TOXIC_PREFIX}-{eid}"
        try:
            layers = self._layers()
            for t in targets:
                c = layers.remove_fault(t, name).counters
                event.http_traffic[t] = HttpFaultTraffic(
                    matched=c.matched, fired=c.fired, bytes_forwarded=c.bytes_forwarded)
            event.traffic_proof = TrafficProof(source="counters",
                                               detail="the fault layers' own counters")
            left = [t for t in targets if any(f.name == name for f in layers.layer(t).faults)]
        except ChaosError as exc:
            event.traffic_proof = TrafficProof(source="unavailable",
                                               detail=f"counters lost: {exc}")
            return Proof(ok=False, detail=f"removal failed: {exc}")
        still = f"; still on {', '.join(left)}" if left else ""
        return Proof(ok=not left, detail=f"HTTP fault {name} removed from: "
                                         f"{', '.join(targets)}{still}")

    def reset(self) -> None:
        """The last safety net: no toxic, every proxy enabled, nothing left paused."""
        for t in list(self.paused):
            with suppress(ChaosError):
                self.runtime.resume(t)
            self.paused.discard(t)
        if self.toxiproxy is not None:
            self.toxiproxy.reset()
        if self.layers is not None:
            self.layers.reset()
