"""events.jsonl: one event per line, told apart by `kind` (fault, phase, abort)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "EVENT",
    "AbortEvent",
    "Event",
    "FaultEvent",
    "HopTraffic",
    "HttpFaultTraffic",
    "ParamValue",
    "PhaseEvent",
    "PhaseName",
    "Proof",
    "TrafficProof",
    "TrafficSource",
]

ParamValue = int | float | bool | str
PhaseName = Literal[
    "deploy-start", "stack-reused", "deployed", "load-start", "fault-applied", "load-end"
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Proof(_Record):
    """What was read back to show that a fault took effect (or was removed)."""

    model_config = ConfigDict(frozen=True)
    ok: bool
    detail: str


class HopTraffic(_Record):
    """What crossed one faulted hop while the fault was on."""

    model_config = ConfigDict(frozen=True)
    connections: int = 0
    bytes_upstream: int = 0
    bytes_downstream: int = 0

    @property
    def any(self) -> bool:
        return bool(self.connections or self.bytes_downstream)


class HttpFaultTraffic(_Record):
    """What one HTTP fault met on one layer while it was on."""

    model_config = ConfigDict(frozen=True)
    matched: int = 0
    fired: int = 0
    bytes_forwarded: int = 0


# Where a fault's traffic proof came from: the proxies' own counters (the built-in
# Toxiproxy, the HTTP fault layer), a real Toxiproxy's Prometheus metrics, or nowhere.
TrafficSource = Literal["counters", "metrics", "unavailable"]


class TrafficProof(_Record):
    """How the traffic through a faulted hop was known, and what that means."""

    model_config = ConfigDict(frozen=True)
    source: TrafficSource
    detail: str = ""


class FaultEvent(_Record):
    """One applied fault: what was done to whom, when, and the proof it took effect."""

    kind: Literal["fault"] = "fault"
    id: str
    fault: str
    params: dict[str, ParamValue] = Field(default_factory=dict)
    targets: list[str]
    label: str
    start: float
    end: float | None = None
    # When the proof read back that the fault took effect (a container takes a
    # moment to die): requests sent between `start` and this belong to no window.
    effective: float | None = None
    proof: Proof | None = None
    removal_proof: Proof | None = None
    # Per faulted hop; empty for instance faults and when the proof is unavailable.
    traffic: dict[str, HopTraffic] = Field(default_factory=dict)
    # Per faulted layer, for HTTP faults: requests matched, fired, bytes forwarded.
    http_traffic: dict[str, HttpFaultTraffic] = Field(default_factory=dict)
    # None for instance faults; "unavailable" never passes for an empty proof.
    traffic_proof: TrafficProof | None = None


class PhaseEvent(_Record):
    """A step of the run; the optional fields belong to the phases that set them."""

    kind: Literal["phase"] = "phase"
    name: PhaseName
    ts: float
    stack: str | None = None
    entry_url: str | None = None
    instances: list[str] | None = None
    fault: str | None = None
    proof: Proof | None = None


class AbortEvent(_Record):
    """Why the run stopped before its end."""

    kind: Literal["abort"] = "abort"
    reason: str
    ts: float


Event = Annotated[FaultEvent | PhaseEvent | AbortEvent, Field(discriminator="kind")]
EVENT: TypeAdapter[FaultEvent | PhaseEvent | AbortEvent] = TypeAdapter(Event)
