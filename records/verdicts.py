"""verdicts.json: the verdict of each hypothesis, as the verdict engine returns it.

A verdict carries the interval it was decided on (DESIGN.md §5): the quantity
judged (the side of the comparison holding the metric, or ``left - right`` when
metrics are on both sides), its value and interval at `confidence`, n, the
method, what it was compared with, and — when inconclusive — about how many
samples would decide it. The writer, the reader and the dashboards all use
this one model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "FAILS",
    "HOLDS",
    "INCONCLUSIVE",
    "NO_VERDICT",
    "VERDICTS",
    "Verdict",
    "VerdictWord",
    "overall_verdict",
]

HOLDS: Final = "holds"
FAILS: Final = "fails"
INCONCLUSIVE: Final = "inconclusive"
# The overall word of a run that has no verdict (aborted early, or still going).
NO_VERDICT = "none"
VerdictWord = Literal["holds", "fails", "inconclusive"]


class Verdict(BaseModel):
    """One hypothesis judged on one run (or on two: `arch` "dual vs single");
    `measured`/`threshold` (the two sides' points) None when not measured."""

    # Infinite values are legitimate (a failover that never happened) and JSON has
    # no literal for them: they are written as the strings "Infinity"/"-Infinity".
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")
    experiment: str
    claim: str
    claim_id: str | None = None
    arch: str
    hypothesis: str
    verdict: VerdictWord
    measured: float | None = None
    threshold: float | None = None
    detail: str = ""
    # The interval the verdict was decided on: `quantity op bound`.
    quantity: str | None = None
    op: str | None = None
    bound: float | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    # n of each metric reference (its non-rejected rows, or the requests it rests on).
    samples: dict[str, int] = Field(default_factory=dict)
    method: str | None = None
    confidence: float | None = None
    samples_needed: int | None = None
    # The quantity's value in each trial, when the run had more than one.
    trials: list[float | None] = Field(default_factory=list)

    @field_validator("measured", "threshold", "bound", "value", "low", "high")
    @classmethod
    def _nan_is_missing(cls, value: float | None) -> float | None:
        return None if value is not None and math.isnan(value) else value


    @field_validator("trials")
    @classmethod
    def _nan_trials(cls, values: list[float | None]) -> list[float | None]:
        return [None if v is not None and math.isnan(v) else v for v in values]


VERDICTS: TypeAdapter[list[Verdict]] = TypeAdapter(list[Verdict])


def overall_verdict(verdicts: Iterable[Verdict]) -> str:
    """fails if any fails, else inconclusive if any is, else holds; `NO_VERDICT` without any."""
    words = {v.verdict for v in verdicts}
    for word in (FAILS, INCONCLUSIVE, HOLDS):
        if word in words:
            return word
    return NO_VERDICT
