"""verdicts.json: the verdict of each hypothesis, as the verdict engine returns it.

To carry more about a measurement (its interval, n, method), add a field with a
default here; the writer, the reader and the dashboards all use this one model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator

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
    """One hypothesis judged on one run; `measured`/`threshold` None when not measured."""

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

    @field_validator("measured", "threshold")
    @classmethod
    def _nan_is_missing(cls, value: float | None) -> float | None:
        return None if value is not None and math.isnan(value) else value


VERDICTS: TypeAdapter[list[Verdict]] = TypeAdapter(list[Verdict])


def overall_verdict(verdicts: Iterable[Verdict]) -> str:
    """fails if any fails, else inconclusive if any is, else holds; `NO_VERDICT` without any."""
    words = {v.verdict for v in verdicts}
    for word in (FAILS, INCONCLUSIVE, HOLDS):
        if word in words:
            return word
    return NO_VERDICT
