"""The claims suite of `gatecrash evidence`: which experiments, at what size.

`--quick`: the seeds' claims at their filed length (minutes on a laptop), each
hypothesis in its `quick` form where it has one: the bound its few samples can
decide (>= 0.99 where a window holds ~100 requests), never more than the seed says.

Full: every claim, the seeds' strong forms, each experiment lengthened until each
of its hypotheses can be decided at the planned request rates (`gatecrash plan`),
with the expected wall time said before anything starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gatecrash.errors import InputError
from gatecrash.experiment import Experiment
from gatecrash.sizing import plan_samples
from gatecrash.suite import stack_groups, suite_archs

__all__ = ["BEYOND_SEEDS", "FULL_SCALE", "MAX_FULL_SCALE", "SizedExperiment", "SuitePlan",
           "full_suite", "quick_suite"]

# Claims the seeds do not make (DESIGN.md §2): in the full suite only.
BEYOND_SEEDS = frozenset({"C9", "C12"})
# The full suite runs every experiment at least this much longer than --quick.
FULL_SCALE = 3.0
# ... and at most this much: past it, the run says what stays undecided instead of
# growing without bound (a 99.9 % bound needs ~3,000 requests of the one selector).
MAX_FULL_SCALE = 60.0
# Planned samples rest on an assumed service time: aim this far above what is needed.
SIZING_MARGIN = 1.25
# Wall time around the load itself, for the estimate printed before a full suite:
# deploying a stack and settling its pools, and per run the pools' settle, the
# analysis and the report (measured with `evidence --quick` on a 2-core host).
DEPLOY_S = 25.0
RUN_OVERHEAD_S = 6.0


@dataclass(frozen=True)
class SizedExperiment:
    experiment: Experiment
    factor: float
    # Hypotheses still undecidable at that size ("[arch] text: why").
    undecided: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return len(suite_archs(self.experiment, None))

    @property
    def load_s(self) -> float:
        return self.runs * float(self.experiment.trials_load().duration_s)


@dataclass(frozen=True)
class SuitePlan:
    experiments: list[SizedExperiment]
    stacks: int

    @property
    def wall_s(self) -> float:
        runs = sum(s.runs for s in self.experiments)
        return (sum(s.load_s for s in self.experiments) + self.stacks * DEPLOY_S
                + runs * RUN_OVERHEAD_S)


def quick_suite(experiments: list[Experiment]) -> list[Experiment]:
    """The seeds' claims, each hypothesis as its quick form where it has one."""
    return [e.quick_form() for e in experiments if e.claim_id not in BEYOND_SEEDS]


def _undecided(experiment: Experiment) -> list[str]:
    try:
        return plan_samples(experiment, suite_archs(experiment, None)).warnings
    except InputError:  # rates as a share of a capacity the suite measures first
        return []


def size_experiment(experiment: Experiment) -> SizedExperiment:
    """`experiment` lengthened (FULL_SCALE to MAX_FULL_SCALE) so that every hypothesis
    can be decided at the planned rates, if any length allows it."""
    at_floor = experiment.scaled(FULL_SCALE)
    try:
        plan = plan_samples(at_floor, suite_archs(experiment, None))
    except InputError:
        return SizedExperiment(at_floor, FULL_SCALE)
    factor = FULL_SCALE
    for hypothesis in plan.hypotheses:
        if not hypothesis.decidable and hypothesis.needed and hypothesis.n:
            factor = max(factor, FULL_SCALE * hypothesis.needed / hypothesis.n * SIZING_MARGIN)
    factor = min(float(math.ceil(factor)), MAX_FULL_SCALE)
    sized = experiment.scaled(factor)
    return SizedExperiment(sized, factor, _undecided(sized))


def full_suite(experiments: list[Experiment]) -> SuitePlan:
    """Every claim, sized to decide the seeds' strong forms."""
    sized = [size_experiment(e) for e in experiments]
    return SuitePlan(sized, len(stack_groups([s.experiment for s in sized], None)))
