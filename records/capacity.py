"""capacity.json: a capacity sweep's steps, each judged against the SLO, and the knee.

Written once the sweep has ended, by the analysis that judged it
(dashboards.sweep); a sweep run's `capacity_rps` is read from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CapacityRecord",
    "ComponentLoad",
    "GeneratorLag",
    "Interval",
    "Slo",
    "StepOutcome",
    "SweepStep",
]

# pass / fail against the SLO; cut: the sweep stopped before the step was over.
StepOutcome = Literal["pass", "fail", "cut"]
DEFAULT_SLO_P95_MS = 250.0
DEFAULT_SLO_AVAILABILITY = 0.99


class _Record(BaseModel):
    # NaN (nothing measured) and ±inf (an unbounded side) are written as the
    # strings "NaN", "Infinity", "-Infinity": JSON has no literal for them.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")


class Slo(_Record):
    """The service level a step must keep to pass: corrected p95 and availability."""

    p95_ms: float = Field(default=DEFAULT_SLO_P95_MS, gt=0)
    availability: float = Field(default=DEFAULT_SLO_AVAILABILITY, gt=0, le=1)

    def __str__(self) -> str:
        return f"p95 <= {self.p95_ms:g} ms, availability >= {self.availability:g}"


class Interval(_Record):
    """An estimate with its interval (dashboards.intervals.Estimate, as recorded)."""

    value: float
    low: float
    high: float
    n: int = Field(ge=0)
    method: str
    confidence: float = Field(gt=0, lt=1)


class ComponentLoad(_Record):
    """What one component (all its instances together) used over a span."""

    component: str
    instances: list[str]
    cpu_pct: float = Field(description="mean percent of one core")
    cpu_ms_per_request: float
    rss_mb: float = Field(description="mean resident memory, MiB")


class GeneratorLag(_Record):
    """How well the load generator kept its schedule over a step."""

    # Send lag (ts_send - ts_intended) of the requests sent; NaN without any.
    p50_ms: float
    p95_ms: float
    max_ms: float
    late: int = Field(ge=0, description="sent later than the lag bound")
    missing: int = Field(ge=0, description="scheduled but without a row: dropped by the "
                         "generator, or not answered before the sweep ended")


class SweepStep(_Record):
    index: int = Field(ge=0)
    rate_rps: float
    # The step's scheduled span, unix seconds (rows belong to it by intended send).
    start: float
    end: float
    scheduled: int = Field(ge=0)
    sent: int = Field(ge=0)
    p95_corrected_ms: Interval
    availability: Interval
    outcome: StepOutcome
    detail: str
    lag: GeneratorLag
    host_max_pct: float
    generator_max_pct: float
    # Seconds since the load started in which the generator was saturated or behind
    # its schedule (generator_bound), the host's CPU saturated, or saturated by
    # processes outside the run (contended).
    generator_bound_s: list[int] = Field(default_factory=list)
    host_saturated_s: list[int] = Field(default_factory=list)
    contended_s: list[int] = Field(default_factory=list)
    components: list[ComponentLoad] = Field(default_factory=list)


class CapacityRecord(_Record):
    """The sweep of one run: its steps, the knee and the capacity estimate."""

    arch: str
    slo: Slo
    step_rps: float
    step_s: float
    warmup_s: float = Field(default=0.0, ge=0)
    # When the steps were judged, and when the load stopped sending (what decides
    # which steps are cut): the capacity can be estimated again from the rows.
    judged_at: float
    sent_until: float
    steps: list[SweepStep]
    # The last passing step before the first pair of failing ones; None when no
    # step passed before them.
    knee_step: int | None = None
    knee_rps: float | None = None
    capacity: Interval
    ended: str = Field(description="why the sweep ended")
    notes: list[str] = Field(default_factory=list)

    @property
    def knee(self) -> SweepStep | None:
        return self.steps[self.knee_step] if self.knee_step is not None else None
