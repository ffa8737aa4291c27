"""What a run prints: a live line while it goes, a verdict table at the end."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from gatecrash.claims import SuitePlan
from gatecrash.runner import summarize
from records import LiveProgress, Verdict

__all__ = ["LivePrinter", "verdict_table"]

BAR_WIDTH = 24
MARKS = {"holds": "HOLDS", "fails": "FAILS", "inconclusive": "INCONCLUSIVE"}


class LivePrinter:
    """One refreshed line on a terminal; one line per update elsewhere (CI logs)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, line: LiveProgress) -> None:
        done = min(1.0, line.elapsed_s / line.total_s) if line.total_s else 1.0
        bar = "#" * int(done * BAR_WIDTH) + "-" * (BAR_WIDTH - int(done * BAR_WIDTH))
        fault = ", ".join(line.active_faults) or "none"
        text = (f"[{line.arch:<6}] [{bar}] {line.elapsed_s:5.1f}/{line.total_s:.0f}s "
                f"{line.rate_rps:6.1f} req/s  {line.requests:6d} sent  "
                f"{line.failures:5d} failed  fault: {fault}")
        if self.tty:
            self.stream.write("\r" + text[:160].ljust(160))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _interval(v: Verdict) -> str:
    if v.value is None and v.low is None:
        return "n/a"
    return f"{summarize(v.value)} [{summarize(v.low)}, {summarize(v.high)}]"


def verdict_table(verdicts: Sequence[Verdict]) -> str:
    """One line per verdict: what it was decided on (quantity = value [interval], n),
    then why, for every verdict that does not hold."""
    rows = [("arch", "verdict", "estimate [interval]", "n", "hypothesis")]
    rows += [(v.arch, MARKS.get(v.verdict, v.verdict), _interval(v),
              "n/a" if v.n is None else f"{v.n:,}", v.hypothesis) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    details = [f"  [{v.arch}] {v.hypothesis}: {v.detail}" for v in verdicts
               if v.verdict != "holds"]
    return "\n".join(lines + (["", "why:", *details] if details else []))


def suite_plan_table(plan: SuitePlan) -> str:
    """What a full claims suite will run, how long, and what it cannot decide even so."""
    lines = ["full claims suite, sized to decide the seeds' claims at the planned rates:",
             f"  {'experiment':<34} {'x':>5} {'runs':>4} {'load':>7}"]
    for sized in plan.experiments:
        lines.append(f"  {sized.experiment.name:<34} {sized.factor:>5g} {sized.runs:>4} "
                     f"{sized.load_s:>6.0f}s")
        lines += [f"      still undecidable: {u}" for u in sized.undecided]
    minutes = plan.wall_s / 60
    lines.append(f"expected wall time: ~{minutes:.0f} min ({plan.stacks} stack(s); the load "
                 "alone is " + f"{sum(s.load_s for s in plan.experiments) / 60:.0f} min)")
    return "\n".join(lines)
