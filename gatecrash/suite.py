"""Many experiments in one go (the claims suite, a CI gate): one stack per
architecture and deploy setting, reused from one experiment to the next.

Hypotheses across architectures (``p95_ms@fault[dual] <= p95_ms@fault[single]``)
are judged once every run of the suite is done, on the two runs' rows; their
verdicts are added to both runs' records (verdicts, JUnit, report)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos.runtime.base import Runtime
from dashboards.analysis import RunData
from gatecrash.capacities import Capacities
from gatecrash.deployment import deploy_options
from gatecrash.errors import GatecrashError
from gatecrash.experiment import Experiment
from gatecrash.runner import RunResult, run_experiment
from gatecrash.runtimes import deployed_stack, wait_pools_healthy
from gatecrash.stacks import Stack
from gatecrash.verdicts import Verdict, exit_code, judge_across
from loadtests import RemoteWorkers, standby_generators
from records import LiveProgress, RecordError, RunWriter, read_verdicts
from targets.stack import RuntimeKind

__all__ = ["SuiteResult", "run_suite"]

log = logging.getLogger(__name__)


@dataclass
class SuiteResult:
    runs: list[RunResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Verdicts of hypotheses across architectures (also written into their runs).
    across: list[Verdict] = field(default_factory=list)

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for r in self.runs for v in r.verdicts] + self.across

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else exit_code(self.verdicts)


def _group_key(experiment: Experiment, arch: str) -> tuple[str, str]:
    return arch, repr(sorted(deploy_options(experiment, arch).items()))


def stack_groups(experiments: list[Experiment],
                 arch: str | None) -> dict[tuple[str, str], list[Experiment]]:
    """The stacks a suite deploys (by architecture and deploy options), each with the
    experiments that share it. An architecture whose capacity other runs' rates are
    shares of (`capacity_of`) goes first: its sweep measures it for them."""
    groups: dict[tuple[str, str], list[Experiment]] = {}
    for experiment in experiments:
        for one in suite_archs(experiment, arch):
            groups.setdefault(_group_key(experiment, one), []).append(experiment)
    bases = {e.capacity_of for e in experiments if e.capacity_of is not None}
    return dict(sorted(groups.items(), key=lambda item: item[0][0] not in bases))


def suite_archs(experiment: Experiment, arch: str | None) -> list[str]:
    """The architectures an experiment runs on: its own, or `arch` (single, dual, both)."""
    if arch in (None, "auto"):
        return [a.value for a in experiment.architectures]
    return ["single", "dual"] if arch == "both" else [arch]


def _record_across(run: RunResult, experiment: Experiment, verdicts: list[Verdict]) -> None:
    """Add verdicts across architectures to a run's folder (its report comes after)."""
    writer = RunWriter(run.run_dir)
    try:
        kept = [v for v in read_verdicts(run.run_dir) if v not in verdicts]
        writer.write_verdicts(kept + verdicts)
        writer.write_junit(f"{experiment.name}[{run.arch}]", kept + verdicts)
    except RecordError as exc:
        raise GatecrashError(f"run {run.run_dir.name}: {exc}") from exc


def _judge_across(experiment: Experiment, runs: dict[str, RunResult],
                  archs: list[str]) -> list[Verdict]:
    across = [h for h in experiment.hypotheses if h.across]
    if not across or not any(all(a in archs for a in h.across) for h in across):
        return []
    data: dict[str, RunData] = {a: r.data for a, r in runs.items() if r.data is not None}
    problems = {a: r.problems for a, r in runs.items()}
    verdicts = judge_across(experiment, data, problems)
    for run in runs.values():
        _record_across(run, experiment, verdicts)
    return verdicts


@dataclass
class _Conductor:
    """How a suite runs its experiments, and what it has run so far."""

    out: Path
    runtime: RuntimeKind
    stop: threading.Event
    live: Callable[[LiveProgress], None] | None
    say: Callable[[str], None]
    capacities: Capacities
    remote: RemoteWorkers | None
    # Called before each load: the report writers' imports must not take its CPU.
    ready: Callable[[], None]
    result: SuiteResult = field(default_factory=SuiteResult)
    # experiment name -> architecture -> its run
    done: dict[str, dict[str, RunResult]] = field(default_factory=dict)

    def on_stack(self, one: str, group: list[Experiment]) -> None:
        """Deploy `one` and run the group on it; the capacity sweeps go first."""
        group = sorted(group, key=lambda e: e.load.mode != "sweep")
        self.say(f"== deploying {one} for {len(group)} experiment(s)")
        with deployed_stack(one, runtime=self.runtime,
                            **deploy_options(group[0], one)) as deployed:
            for experiment in group:
                if self.stop.is_set():
                    break
                self.run(experiment, one, deployed)

    def run(self, experiment: Experiment, one: str, deployed: tuple[Stack, Runtime]) -> None:
        if not wait_pools_healthy(*deployed):
            self.result.errors.append(f"{experiment.name}[{one}]: stack did not settle")
            return
        self.say(f"== {experiment.name} on {one}")
        self.ready()
        try:
            resolved = self.capacities.resolve(experiment, one, self.runtime, deployed,
                                               self.out, self.say)
            if resolved is not experiment and not wait_pools_healthy(*deployed):
                raise GatecrashError(f"{experiment.name}[{one}]: stack did not settle "
                                     "after its capacity was measured")
            run = run_experiment(resolved, one, self.out, stop=self.stop, live=self.live,
                                 deployed=deployed, remote=self.remote, report=False)
        except GatecrashError as exc:
            self.result.errors.append(str(exc))
            self.say(f"   error: {exc}")
            return
        self.result.runs.append(run)
        self.done.setdefault(experiment.name, {})[one] = run
        if run.status == "completed":
            self.capacities.learn(resolved, one, self.runtime, run.run_dir)
        self.say(f"   {run.run_dir}" + (f" (aborted: {run.aborted})" if run.aborted else ""))


def run_suite(experiments: list[Experiment], out: Path, *, arch: str | None = None,
              runtime: RuntimeKind = RuntimeKind.LOCAL, stop: threading.Event | None = None,
              live: Callable[[LiveProgress], None] | None = None,
              announce: Callable[[str], None] | None = None,
              trials: int | None = None,
              capacities: Capacities | None = None,
              remote: RemoteWorkers | None = None) -> SuiteResult:
    """Run every experiment on its architectures (or `arch`), sharing stacks.

    `trials`: repeat each experiment's fault schedule that many times (None: as filed).
    Rates given as a share of the capacity are resolved first (gatecrash.capacities).
    On each stack the capacity sweeps run first, and their knees are remembered:
    the experiments after them take their shares of what was just measured.
    `remote`: the load of each run comes from workers joining its master.
    """
    from dashboards.run_reports import report_writers

    stop = stop or threading.Event()
    experiments = [e.with_trials(trials) for e in experiments]
    planned = sum(len(suite_archs(e, arch)) for e in experiments)
    # The runs' reports are written once every verdict (across architectures too) is
    # known, by workers whose imports overlap the first deploy.
    with report_writers(min(planned, os.cpu_count() or 1)) as reports:
        conductor = _Conductor(out, runtime, stop, live, announce or log.info,
                               capacities or Capacities(), remote, reports.wait_ready)
        # Each load's Locust interpreter starts while the previous run is analysed.
        with standby_generators():
            for (one, _), group in stack_groups(experiments, arch).items():
                if stop.is_set():
                    break
                conductor.on_stack(one, group)
        result = conductor.result
        for experiment in experiments:
            if stop.is_set():
                break
            try:
                result.across += _judge_across(experiment,
                                               conductor.done.get(experiment.name, {}),
                                               suite_archs(experiment, arch))
            except GatecrashError as exc:
                result.errors.append(str(exc))
        reports.write([run.run_dir for run in result.runs])
    return result
