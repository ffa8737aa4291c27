"""A hypothesis as an experiment file states it (`hypotheses:`): its expression,
validated against the metrics, windows and architectures that exist, the
architectures it applies to, and the looser `quick` form the quick suite judges.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dashboards.analysis import METRICS
from gatecrash.hypothesis import Comparison, parse
from records.meta import WINDOW_NAMES
from targets.topology import Arch

__all__ = ["HypothesisSpec"]

ARCH_NAMES = tuple(a.value for a in Arch)


class HypothesisSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expr: str
    arch: list[Arch] | None = Field(default=None, description="only on these architectures")
    name: str | None = None
    # The weaker bound the quick suite judges where its samples cannot decide `expr`
    # (e.g. >= 0.99 for >= 0.999): the same metrics and operator, a looser constant.
    quick: str | None = None

    @model_validator(mode="after")
    def _parses(self) -> HypothesisSpec:
        comparison = parse(self.expr)
        refs = comparison.metrics()
        if not refs:
            raise ValueError(f"{self.expr!r} compares no metric: name one, e.g. "
                             "availability@fault >= 0.99")
        for ref in refs:
            if ref.name not in METRICS:
                raise ValueError(f"unknown metric {ref.name!r} in {self.expr!r}; allowed: "
                                 f"{', '.join(sorted(METRICS))}")
            if ref.window is not None and ref.window not in WINDOW_NAMES:
                raise ValueError(f"unknown window {ref.window!r} in {self.expr!r}; allowed: "
                                 f"{', '.join(WINDOW_NAMES)}")
            if ref.arch is not None and ref.arch not in ARCH_NAMES:
                raise ValueError(f"unknown architecture [{ref.arch}] in {self.expr!r}; "
                                 f"allowed: {', '.join(ARCH_NAMES)}")
        named = [r for r in refs if r.arch is not None]
        if named and len(named) < len(refs):
            unnamed = next(str(r) for r in refs if r.arch is None)
            raise ValueError(f"{self.expr!r} compares architectures: every metric names its "
                             f"run, e.g. {unnamed}[single] (missing on {unnamed})")
        if named and self.arch is not None:
            raise ValueError(f"{self.expr!r} names its architectures in brackets; drop "
                             "'arch:' (it limits a hypothesis to one architecture's run)")
        if self.quick is not None:
            _check_weaker(comparison, parse(self.quick), self.expr, self.quick)
        return self

    @property
    def comparison(self) -> Comparison:
        return parse(self.expr)

    @property
    def across(self) -> list[str]:
        """The architectures a hypothesis across runs compares (empty: one run's)."""
        return self.comparison.archs()

    def applies_to(self, arch: Arch) -> bool:
        return not self.across and (self.arch is None or arch in self.arch)


def _check_weaker(strong: Comparison, quick: Comparison, strong_text: str,
                  quick_text: str) -> None:
    """`quick` must state the same thing as `strong`, only less of it."""
    if sorted(map(str, quick.metrics())) != sorted(map(str, strong.metrics())):
        raise ValueError(f"quick form {quick_text!r} must compare the same metrics as "
                         f"{strong_text!r}, only with a looser constant")
    a, b = strong.bound(), quick.bound()
    if a is None or b is None or a[1] != b[1]:
        raise ValueError(f"quick form {quick_text!r}: give it as `metric op constant` with "
                         f"the same operator as {strong_text!r}")
    op, strong_at, quick_at = a[1], a[2], b[2]
    looser = quick_at <= strong_at if op in (">=", ">") else quick_at >= strong_at
    if op not in (">=", ">", "<=", "<") or not looser:
        raise ValueError(f"quick form {quick_text!r} is not looser than {strong_text!r}: "
                         "the quick suite may claim less than the full one, never more")
