"""From measurements to verdicts: holds, fails, or inconclusive.

A hypothesis is judged only on a valid measurement: an aborted run, a fault
without its proof, a network fault that met no traffic, or a saturated host
or load generator makes it inconclusive, never passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from dashboards.analysis import evaluate
from dashboards.errors import DashboardsError
from dashboards.outcomes import prepare_rows
from gatecrash.experiment import Experiment, HypothesisSpec
from records import FAILS, HOLDS, INCONCLUSIVE, FaultEvent, Span, Verdict, VerdictWord

# Verdict is re-exported: the conductor's callers take verdicts from here.
__all__ = ["HOLDS", "Verdict", "exit_code", "judge", "validity_problems"]


def _mean_in(cpu: pd.DataFrame, column: str, start: float, end: float) -> float:
    if cpu.empty or column not in cpu:
        return math.nan
    inside = cpu[(cpu["ts"] >= start) & (cpu["ts"] <= end)]
    return float(inside[column].mean()) if len(inside) else math.nan


def validity_problems(experiment: Experiment, windows: Mapping[str, Span],
                      fault_events: Sequence[FaultEvent], cpu: pd.DataFrame,
                      aborted: str | None) -> list[str]:
    """Why this run's measurements cannot decide anything (empty: they can)."""
    problems = []
    if aborted:
        problems.append(f"run aborted: {aborted}")
    if len(fault_events) < len(experiment.faults):
        problems.append(f"{len(experiment.faults) - len(fault_events)} planned fault(s) "
                        "never applied")
    for event in fault_events:
        if event.proof is None or not event.proof.ok:
            why = event.proof.detail if event.proof else "missing"
            problems.append(f"fault {event.label}: no proof it took effect ({why})")
        if event.traffic and not any(t.any for t in event.traffic.values()):
            problems.append(f"fault {event.label}: no traffic crossed the faulted hop")
    if windows and experiment.require_unsaturated:
        start = min(a for a, _ in windows.values())
        end = max(b for _, b in windows.values())
        host = _mean_in(cpu, "host_pct", start, end)
        gen = _mean_in(cpu, "generator_max_pct", start, end)
        if host >= experiment.saturation_pct:
            problems.append(f"host saturated: mean CPU {host:.0f}% ≥ "
                            f"{experiment.saturation_pct:g}%")
        if gen >= experiment.saturation_pct:
            problems.append(f"load generator saturated: mean {gen:.0f}% of a core")
    return problems


def _judge_one(experiment: Experiment, arch: str, spec: HypothesisSpec, rows: pd.DataFrame,
               windows: Mapping[str, Span], problems: list[str]) -> Verdict:
    comparison = spec.comparison
    text = spec.name or spec.expr

    def lookup(name: str, selector: dict[str, str], window: str | None) -> float:
        return evaluate(rows, windows, name, selector, window)

    def verdict(word: VerdictWord, measured: float | None, threshold: float | None,
                detail: str) -> Verdict:
        return Verdict(experiment=experiment.name, claim=experiment.claim,
                       claim_id=experiment.claim_id, arch=arch, hypothesis=text, verdict=word,
                       measured=measured, threshold=threshold, detail=detail)

    try:
        outcome = comparison.evaluate(lookup)
    except DashboardsError as exc:
        return verdict(INCONCLUSIVE, None, None, f"cannot measure: {exc}")
    if problems:
        return verdict(INCONCLUSIVE, outcome.measured, outcome.threshold, "; ".join(problems))
    if outcome.holds is None:
        return verdict(INCONCLUSIVE, outcome.measured, outcome.threshold,
                       "a side of the comparison has no data in its window")
    word: VerdictWord = HOLDS if outcome.holds else FAILS
    return verdict(word, outcome.measured, outcome.threshold,
                   f"{outcome.measured:.4g} {comparison.op} {outcome.threshold:.4g}")


def _in_windows(spec: HypothesisSpec, window_problems: Mapping[str, Sequence[str]]) -> list[str]:
    """The problems of the windows a hypothesis reads (a metric without a window reads
    them all)."""
    used = {ref.window for ref in spec.comparison.metrics()}
    return [p for name, found in window_problems.items()
            if None in used or name in used for p in found]


def judge(experiment: Experiment, arch: str, rows: pd.DataFrame,
          windows: Mapping[str, Span], problems: list[str],
          window_problems: Mapping[str, Sequence[str]] | None = None) -> list[Verdict]:
    """`window_problems`: what makes one window's measurements incomplete (e.g. a load
    worker lost in it); only the hypotheses reading that window become inconclusive."""
    prepared = prepare_rows(rows)
    return [_judge_one(experiment, arch, spec, prepared, windows,
                       problems + _in_windows(spec, window_problems or {}))
            for spec in experiment.hypotheses if spec.applies_to(arch)]  # type: ignore[arg-type]


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """0 all hold, 1 one fails, 3 inconclusive (a failure outranks inconclusive)."""
    if any(v.verdict == FAILS for v in verdicts):
        return 1
    if any(v.verdict == INCONCLUSIVE for v in verdicts) or not verdicts:
        return 3
    return 0
