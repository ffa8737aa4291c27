"""events.jsonl: one event per line, told apart by `kind` (fault, phase, abort, load)."""

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
    "LoadEvent",
    "ParamValue",
    "PhaseEvent",
    "PhaseName",
    "Proof",
    "TrafficProof",
    "TrafficSource",
    "WorkerTally",
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


class WorkerTally(_Record):
    """One load process at the end of the run: what it says it sent, what the run
    folder holds of it, and (open loop) its share of the schedule and its lag."""

    model_config = ConfigDict(frozen=True)
    worker: str
    remote: bool = False
    host: str | None = None
    # Its share of the open-loop schedule (arrivals k with k mod workers = share).
    share: int | None = None
    state: Literal["finished", "lost"] = "finished"
    joined: float | None = None
    lost_at: float | None = None
    lost_why: str | None = None
    # master time = worker time + offset (remote workers, measured at join).
    clock_offset_ms: float | None = None
    clock_rtt_ms: float | None = None
    requests: int
    rows: int
    # requests - rows (a lower bound for a lost worker).
    missing: int = 0
    intended: int | None = None
    dropped: int = 0
    # Send time - intended send time, over its rows (open loop).
    lag_p50_ms: float | None = None
    lag_p99_ms: float | None = None
    lag_max_ms: float | None = None
    # The row channel (remote workers): batches sent again, rows the worker's
    # bounded outbox refused, batches the master received twice.
    retries: int = 0
    refused: int = 0
    duplicates: int = 0


class LoadEvent(_Record):
    """The closing note of the load: every worker's tally, and the totals."""

    kind: Literal["load"] = "load"
    ts: float
    workers: list[WorkerTally]
    requests: int
    rows: int
    missing: int
    # Open loop: arrivals in the plan (the workers' `intended` add up to it).
    planned: int | None = None
    note: str


Event = Annotated[FaultEvent | PhaseEvent | AbortEvent | LoadEvent,
                  Field(discriminator="kind")]
EVENT: TypeAdapter[FaultEvent | PhaseEvent | AbortEvent | LoadEvent] = TypeAdapter(Event)
