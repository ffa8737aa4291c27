"""meta.json: what was run, where, when, how it ended, and its time windows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from records.layout import RECORD_VERSION

__all__ = [
    "BASELINE",
    "FAULT",
    "RECOVERY",
    "WINDOW_NAMES",
    "LoadMode",
    "RunMeta",
    "RunStatus",
    "RunWindows",
    "Span",
]

# The windows of DESIGN.md §5, in time order.
BASELINE, FAULT, RECOVERY = "baseline", "fault", "recovery"
WINDOW_NAMES = (BASELINE, FAULT, RECOVERY)

Span = tuple[float, float]
RunStatus = Literal["running", "completed", "aborted", "error"]
# sweep: open loop in steps of rising rate, to find the capacity (the knee).
LoadMode = Literal["closed", "open", "sweep"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunWindows(_Record):
    """Unix-second spans; a run without faults has only a baseline."""

    model_config = ConfigDict(frozen=True)
    baseline: Span
    fault: Span | None = None
    recovery: Span | None = None

    def spans(self) -> dict[str, Span]:
        """The windows that exist, by name, in time order."""
        found = {name: getattr(self, name) for name in WINDOW_NAMES}
        return {name: span for name, span in found.items() if span is not None}


class RunMeta(_Record):
    """One run of one experiment on one architecture.

    A run may repeat its fault schedule (`trials`): `windows` then holds one
    `RunWindows` per trial, in time order. A lone `RunWindows` given (or assigned)
    is taken as the only trial's.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    record_version: int = RECORD_VERSION
    run_id: str
    experiment: str
    claim: str = Field(description="the claim, quoted from the seeds")
    claim_id: str | None = None
    arch: str
    seed: int
    load_mode: LoadMode
    # What ran in the gateway/router roles and on the LLM path (docs/gateways.md).
    gateway: str = "builtin"
    llm_router: str = "builtin"
    hypotheses: list[str] = Field(default_factory=list)
    status: RunStatus = "running"
    started: float
    ended: float | None = None
    # When the load generator reported its first user running (the time axis's 0).
    t0: float | None = None
    # Set once the load starts: planned from t0, then moved to the faults' actual times.
    windows: list[RunWindows] = Field(default_factory=list)
    planned_windows: list[RunWindows] = Field(default_factory=list)
    trials: int = Field(default=1, ge=1)
    abort_reason: str | None = None
    error: str | None = None
    # The experiment as validated, kept for people reproducing the run; code reads
    # the typed fields above, never this.
    spec: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("windows", "planned_windows", mode="before")
    @classmethod
    def _one_trial(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, RunWindows | dict):
            return [value]
        return value

    def window_spans(self) -> dict[str, Span]:
        """The first trial's windows (to place things on the time axis); measure on
        `trial_spans`, which has every trial's."""
        return self.windows[0].spans() if self.windows else {}

    def trial_spans(self) -> list[dict[str, Span]]:
        return [w.spans() for w in self.windows]
