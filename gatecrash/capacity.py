"""Capacity measured, not assumed: an open-loop sweep in rising steps on a deployed
architecture, until its SLO breaks (DESIGN.md §5, *capacity*).

A sweep is an experiment run like any other (one run folder, the CPU sampler,
teardown on every exit) whose load is in `sweep` mode; `gatecrash.sweep` stops
it at the knee and judges its steps (dashboards.sweep has the rules).

`measure_capacity` is the library entry point (`gatecrash capacity` and the
benchmarks call it); `gatecrash.capacities` keeps what it measured per machine.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos.runtime.base import Runtime
from dashboards.intervals import Estimate
from gatecrash.deployment import deploy_options
from gatecrash.errors import GatecrashError
from gatecrash.experiment import DeploySpec, Experiment
from gatecrash.runner import RunResult, run_experiment
from gatecrash.runtimes import deployed_stack, wait_pools_healthy
from gatecrash.stacks import Stack
from gatecrash.sweep import pool_size
from loadtests.spec import ChatOptions, LoadSpec, Mix, SweepSteps
from records import CapacityRecord, LiveProgress, Slo, read_capacity
from records.capacity import ComponentLoad
from targets.stack import RuntimeKind

__all__ = [
    "CAPACITY_CLAIM",
    "DEFAULT_MIX",
    "DEFAULT_SWEEP",
    "CapacityResult",
    "capacity_experiment",
    "measure_capacity",
    "sweep_results",
]

CAPACITY_CLAIM = ("capacity (the knee): the highest open-loop rate at which p95 and "
                  "availability stay within the SLO, found by a stepped sweep (DESIGN.md §5)")
# Up to 400 req/s in 20 req/s steps of 5 s: a built-in stack on 2 cores knees well below.
DEFAULT_SWEEP = SweepSteps(rate_start=20, step_rps=20, step_s=5, rate_max=400)
# C5's mix: identity and business. A chat answer's latency is the model's, not the
# gateways'; give a mix with chat to measure that instead.
DEFAULT_MIX = Mix(identity=1, business=1, chat=0)


def capacity_experiment(arch: str, *, sweep: SweepSteps = DEFAULT_SWEEP, slo: Slo | None = None,
                        deploy: DeploySpec | None = None, mix: Mix = DEFAULT_MIX,
                        chat: ChatOptions | None = None, max_users: int | None = None,
                        seed: int = 1) -> Experiment:
    """The capacity sweep as an experiment: the sweep load, no fault, and the one
    hypothesis that holds by construction unless the run was unsound: below the
    knee, the architecture kept its availability SLO."""
    slo = slo or Slo()
    load = LoadSpec.model_validate({"mode": "sweep", "sweep": sweep, "mix": mix,
                                    "chat": chat or ChatOptions(), "seed": seed,
                                    "max_users": max_users or pool_size(sweep)})
    return Experiment(name="capacity", claim=CAPACITY_CLAIM, architectures=[arch],  # type: ignore[list-item]
                      seed=seed, deploy=deploy or DeploySpec(), load=load, slo=slo,
                      warmup_s=0, recovery_s=0,
                      hypotheses=[f"availability@baseline >= {slo.availability:g}"])  # type: ignore[list-item]


@dataclass
class CapacityResult:
    """One architecture's sweep: its run folder and its judged steps."""

    arch: str
    run_dir: Path
    record: CapacityRecord

    @property
    def knee_rps(self) -> float | None:
        return self.record.knee_rps

    @property
    def capacity(self) -> Estimate:
        c = self.record.capacity
        return Estimate(c.value, c.low, c.high, c.n, c.method, c.confidence)

    @property
    def at_knee(self) -> list[ComponentLoad]:
        """Per-component CPU and memory over the knee step (empty without a knee)."""
        knee = self.record.knee
        return knee.components if knee is not None else []

    @property
    def bounded(self) -> bool:
        """The knee is known on both sides (a step passed, and a sound failure above it)."""
        return self.record.knee_step is not None and math.isfinite(self.record.capacity.high)


def measure_capacity(arch: str, out_root: Path, *, sweep: SweepSteps = DEFAULT_SWEEP,
                     slo: Slo | None = None, deploy: DeploySpec | None = None,
                     mix: Mix = DEFAULT_MIX, chat: ChatOptions | None = None,
                     max_users: int | None = None, runtime: RuntimeKind = RuntimeKind.LOCAL,
                     deployed: tuple[Stack, Runtime] | None = None,
                     stop: threading.Event | None = None,
                     live: Callable[[LiveProgress], None] | None = None,
                     report: bool = True) -> CapacityResult:
    """Sweep `arch` (deployed for the sweep, or on `deployed`) until the SLO breaks.

    The run folder (under `out_root`) keeps the rows, the CPU samples and
    capacity.json. Raises GatecrashError when the run fails or is stopped before
    any step could be judged.
    """
    experiment = capacity_experiment(arch, sweep=sweep, slo=slo, deploy=deploy, mix=mix,
                                     chat=chat, max_users=max_users)
    if deployed is None:
        with deployed_stack(arch, runtime=runtime, **deploy_options(experiment)) as own:
            if not wait_pools_healthy(*own):
                raise GatecrashError(f"{arch}: the stack did not settle (its gateways do "
                                     "not see every replica healthy)")
            return measure_capacity(arch, out_root, sweep=sweep, slo=slo, deploy=deploy,
                                    mix=mix, chat=chat, max_users=max_users, deployed=own,
                                    stop=stop, live=live, report=report)
    result = run_experiment(experiment, arch, out_root, stop=stop, live=live, report=report,
                            deployed=deployed)
    record = read_capacity(result.run_dir)
    if record is None:
        raise GatecrashError(f"capacity sweep of {arch} ({result.run_dir}) judged no step: "
                             f"{result.aborted or 'no rows'}")
    return CapacityResult(arch, result.run_dir, record)


def sweep_results(runs: Sequence[RunResult]) -> list[CapacityResult]:
    """The sweeps among finished runs, with their judged steps."""
    found = []
    for run in runs:
        record = read_capacity(run.run_dir)
        if record is not None:
            found.append(CapacityResult(run.arch, run.run_dir, record))
    return found
