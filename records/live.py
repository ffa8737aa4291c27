"""live.json: a run's progress while it goes (rewritten about once a second)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LiveProgress"]


class LiveProgress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    arch: str
    elapsed_s: float
    total_s: float
    requests: int
    rate_rps: float
    failures: int
    active_faults: list[str] = Field(default_factory=list)
    ts: float
