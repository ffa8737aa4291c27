"""One run: deploy → load → faults on schedule → teardown → analysis → verdicts.

Everything the run starts is removed at the end, on errors and on a stop
request (Ctrl-C, SIGTERM) too; rows flushed so far are kept and the run is
marked aborted (DESIGN.md §4).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.client import ToxiproxyClient
from chaos.errors import ChaosError
from chaos.httpfaults.client import HttpFaultsClient
from chaos.injector import Injector
from chaos.runtime.base import Runtime
from dashboards.analysis import RunData
from gatecrash.deployment import deploy_options
from gatecrash.errors import GatecrashError, InputError
from gatecrash.experiment import Experiment, FaultStep
from gatecrash.loadcheck import load_problems
from gatecrash.runtimes import deployed_stack, own_hosts
from gatecrash.sampler import CpuSampler
from gatecrash.stacks import Stack
from gatecrash.steps import AbortWatch
from gatecrash.sweep import SweepRun
from gatecrash.verdicts import (
    exit_code,
    judge,
    proof_notes,
    saturation_by_window,
    validity_problems,
)
from loadtests import EntryTarget, LoadError, LoadRun, LoadSpec, RemoteWorkers, start_load
from records import (
    AbortEvent,
    FaultEvent,
    LiveProgress,
    LoadEvent,
    PhaseEvent,
    RecordError,
    RunMeta,
    RunStatus,
    RunWindows,
    RunWriter,
    Verdict,
    read_cpu,
    read_rows,
)
from records.events import PhaseName

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunResult", "run_experiment"]

# Fine enough that a fault lands within ~50 ms of its planned time.
TICK_S = 0.05
LIVE_EVERY_S = 1.0
LOAD_START_TIMEOUT_S = 60.0
# Locust stops by itself at duration_s; past this margin the run is stuck.
END_MARGIN_S = 30.0


@dataclass
class RunResult:
    run_dir: Path
    arch: str
    status: RunStatus
    verdicts: list[Verdict] = field(default_factory=list)
    aborted: str | None = None
    # What the verdicts were measured on, for hypotheses across architectures.
    data: RunData | None = None
    problems: list[str] = field(default_factory=list)
    # The load's closing note: rows in the folder against requests reported, per worker.
    load: LoadEvent | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "error":
            return 2
        return exit_code(self.verdicts)


class _Run:
    def __init__(self, experiment: Experiment, arch: str, run_dir: Path,
                 stop: threading.Event, live: Callable[[LiveProgress], None] | None,
                 remote: RemoteWorkers | None = None) -> None:
        self.exp = experiment
        self.remote = remote
        self.load: LoadRun | None = None
        self.load_note: LoadEvent | None = None
        self.arch = arch
        self.run_dir = run_dir
        self.stop = stop
        self.live = live
        self.meta = RunMeta(
            run_id=run_dir.name, experiment=experiment.name, claim=experiment.claim,
            claim_id=experiment.claim_id, arch=arch, seed=experiment.seed,
            load_mode=experiment.load.mode, started=time.time(),
            gateway=experiment.deploy.gateway.value,
            llm_router=experiment.deploy.llm_router.value,
            hypotheses=[h.expr for h in experiment.hypotheses], trials=experiment.trials,
            spec=experiment.model_dump(mode="json"))
        self.record = RunWriter.create(run_dir, self.meta)
        self.faults: list[FaultEvent] = []
        # The trial and planned start (at_s) of each fault event, in the order of `faults`.
        self.fault_plans: list[tuple[int, float]] = []
        self.aborted: str | None = None
        self.t0: float | None = None
        self.sweep: SweepRun | None = None
        self.load_end: float | None = None

    def save_meta(self) -> None:
        self.record.write_meta(self.meta)

    def phase(self, name: PhaseName, **extra: Any) -> None:
        self.record.event(PhaseEvent(name=name, ts=extra.pop("ts", time.time()), **extra))

    def abort(self, reason: str, now: float) -> None:
        self.aborted = reason
        self.record.event(AbortEvent(reason=reason, ts=now))

    def execute(self, deployed: tuple[Stack, Runtime] | None) -> None:
        if deployed is not None:
            self.phase("stack-reused", stack=deployed[0].name)
            self._on_stack(*deployed)
            return
        self.phase("deploy-start")
        with deployed_stack(self.arch, name=f"run-{self.run_dir.name[-24:]}",
                            **deploy_options(self.exp, self.arch)) as (stack, runtime):
            self._on_stack(stack, runtime)

    def _on_stack(self, stack: Stack, runtime: Runtime) -> None:
        self.phase("deployed", entry_url=stack.spec.entry_url,
                   instances=[i.id for i in stack.spec.instances])
        if self.stop.is_set():
            self.aborted = "stopped before the load started"
            return
        with ExitStack() as cleanup:
            toxiproxy = None
            if stack.spec.toxiproxy_url:
                toxiproxy = cleanup.enter_context(ToxiproxyClient(stack.spec.toxiproxy_url))
            layers = None
            if stack.plan.httpfaults_url:
                layers = cleanup.enter_context(HttpFaultsClient(stack.plan.httpfaults_url))
            injector = Injector(runtime, toxiproxy, layers)
            # Last safety net, after every fault context has removed its own.
            cleanup.callback(self._reset, injector)
            spec = self.exp.trials_load().model_copy(update={"seed": self.exp.seed})
            self.sweep = SweepRun.of(spec, self.exp.slo, self.run_dir)
            if stack.spec.tenant(self.exp.tenant) is None:
                raise InputError(f"stack {stack.name} has no tenant {self.exp.tenant!r} (an "
                                 "older stack?); deploy a new one for this experiment")
            # Every entry point of the stack, as planned: users fail over between them.
            entries = [EntryTarget(name=e.instance, url=e.url) for e in stack.plan.entry_points]
            load = start_load(spec, entries[0].url, stack.api_key_for(self.exp.tenant),
                              self.run_dir, allowed_hosts=own_hosts(stack), remote=self.remote,
                              entries=entries)
            self.load = load
            cleanup.callback(load.stop)
            sampler = CpuSampler(self.record, runtime.pids, lambda: load.pids)
            sampler.start()
            cleanup.callback(sampler.stop)
            started = load.wait_started(
                LOAD_START_TIMEOUT_S + (self.remote.join_timeout_s if self.remote else 0))
            self.t0 = started.started or time.time()
            self.meta.t0 = self.t0
            self.meta.windows = self.exp.all_windows(self.t0)
            self.save_meta()
            self.phase("load-start", ts=self.t0)
            self._drive(load, injector, spec)
            self.phase("load-end")
            self._windows_from_faults()
        self.load_end = time.time()  # the load stopped: its last rows are on disk

    def _windows_from_faults(self) -> None:
        """Windows on the faults' actual times (`fault_span`). A trial whose faults
        never came (a run stopped early) has no windows."""
        if not self.faults or self.t0 is None:
            return
        windows = []
        for trial in sorted({t for t, _ in self.fault_plans}):
            faults = [(f, at) for f, (t, at) in zip(self.faults, self.fault_plans, strict=True)
                      if t == trial]
            issued, effective, end = fault_span(faults)
            baseline_start = self.t0 + trial * self.exp.trial_period_s + self.exp.warmup_s
            windows.append(RunWindows(
                baseline=(baseline_start, max(baseline_start, issued)),
                fault=(effective, end),
                recovery=(end, end + self.exp.recovery_s),
            ))
        self.meta.planned_windows = self.meta.windows
        self.meta.windows = windows
        self.save_meta()

    @staticmethod
    def _reset(injector: Injector) -> None:
        with contextlib.suppress(ChaosError):  # the stack is being removed anyway
            injector.reset()

    def _drive(self, load: LoadRun, injector: Injector, spec: LoadSpec) -> None:
        assert self.t0 is not None
        pending = sorted(enumerate(self.exp.schedule()), key=lambda p: p[1][1].at_s)
        active: dict[int, tuple[int, FaultStep, ExitStack, FaultEvent]] = {}
        abort = AbortWatch(self.exp.abort.max_failure_rate, self.exp.abort.over_s)
        settled_after = 0.0
        deadline = self.t0 + spec.duration_s + spec.stop_timeout_s + END_MARGIN_S
        last_live = 0.0
        try:
            while load.poll() is None and not self.stop.is_set():
                now = time.time()
                elapsed = now - self.t0
                while pending and pending[0][1][1].at_s <= elapsed:
                    index, (trial, step) = pending.pop(0)
                    stack = ExitStack()
                    event = stack.enter_context(
                        injector.applied(step.spec(self.arch), f"f{index + 1}"))
                    active[index] = (trial, step, stack, event)
                    self.phase("fault-applied", fault=event.label, proof=event.proof)
                due = [i for i, (_, s, _, _) in active.items() if s.end_s <= elapsed]
                for index in due:  # faults planned to end together end at one moment
                    active[index][3].end = now
                if due:
                    settled_after = now + self.exp.recovery_s
                for index in due:
                    self._end_fault(active.pop(index))
                if now - last_live >= LIVE_EVERY_S:
                    last_live = now
                    stats = load.live()
                    # Faults and their recovery are the planned disturbance; the
                    # bound guards everything else.
                    # A sweep overloads on purpose past its knee.
                    disturbed = bool(active) or now < settled_after or self.sweep is not None \
                        or self.exp.load_disturbed(elapsed)
                    reason = abort.check(now, stats.requests, stats.failures, disturbed)
                    if reason:
                        self.abort(reason, now)
                        break
                    if self.sweep is not None and self.sweep.check(now):
                        break  # the knee is found: no need to overload it further
                    line = LiveProgress(
                        arch=self.arch, elapsed_s=elapsed, total_s=float(spec.duration_s),
                        requests=stats.requests, rate_rps=stats.rate_rps,
                        failures=stats.failures,
                        active_faults=[e.label for _, _, _, e in active.values()], ts=now)
                    # The dashboard polls this file to show a run while it goes.
                    self.record.write_live(line)
                    if self.live:
                        self.live(line)
                if now > deadline:
                    raise GatecrashError(f"load still running {END_MARGIN_S:g}s after its end; "
                                         f"log: {load.log_path}")
                time.sleep(TICK_S)
            if self.stop.is_set() and not self.aborted:
                self.abort("stopped by signal", time.time())
        finally:
            for item in list(active.values()):
                self._end_fault(item)

    def _end_fault(self, item: tuple[int, FaultStep, ExitStack, FaultEvent]) -> None:
        trial, step, stack, event = item
        stack.close()
        self.faults.append(event)
        self.fault_plans.append((trial, step.at_s))
        self.record.event(event)

    def analyse(self) -> tuple[list[Verdict], RunData, list[str]]:
        """This run's verdicts, what they were measured on, and why it may not be valid."""
        problems: list[str] = []
        rows = read_rows(self.run_dir, problems)
        cpu = read_cpu(self.run_dir, problems)
        if self.sweep is not None and self.t0 is not None:
            self.meta.windows = [self.sweep.finish(self.record, self.arch, rows, cpu, self.t0,
                                                   self.load_end or time.time())]
            self.save_meta()
        trials = self.meta.trial_spans()
        problems += validity_problems(self.exp, self.faults, self.aborted)
        if rows.empty:
            problems.append("no request was recorded")
        data = RunData.of(rows, trials, cpu, self.sweep.record if self.sweep else None)
        note = self.close_load(rows)
        window_problems, starved = saturation_by_window(self.exp, trials, cpu, rows, self.t0)
        for spans in trials:
            for name, found in load_problems(note, spans).items():
                window_problems.setdefault(name, []).extend(found)
        verdicts = judge(self.exp, self.arch, data, problems, window_problems=window_problems,
                         starved=starved)
        notes = proof_notes(self.faults)
        if notes:
            # An unavailable proof is said next to every verdict, never passed over.
            verdicts = [v.model_copy(update={"detail": "; ".join([v.detail, *notes])})
                        for v in verdicts]
        # Hypotheses across runs read every window of this one; a starved window voids
        # them too (a comparison of two runs has no one direction starvation pushes).
        every = [p for found in [*window_problems.values(), *starved.values()] for p in found]
        return verdicts, data, problems + list(dict.fromkeys(every))

    def close_load(self, rows: pd.DataFrame) -> LoadEvent | None:
        """The load's closing note (rows in the folder against requests reported, per
        worker, lost workers named), recorded as the load's last event."""
        if self.load is None:
            return None
        self.load_note = self.load.tally(rows)
        self.record.event(self.load_note)
        return self.load_note


def fault_span(faults: list[tuple[FaultEvent, float]]) -> tuple[float, float, float]:
    """(issued, effective, end) of one trial's faults, each with its planned at_s.

    A fault lands a moment after it is issued (a killed process must be reaped),
    and a request sent in between must not count as sent under the fault. Faults
    planned for one moment are applied one after another: the fault window starts
    once the last of the first moment's faults is in effect (before, a service
    whose replicas were still alive answered as if no fault were planned). It ends
    when the last fault ends."""
    first = min(at for _, at in faults)
    issued = min(f.start for f, _ in faults)
    effective = max(f.effective or f.start for f, at in faults if at == first)
    end = max(f.end or f.start for f, _ in faults)
    return issued, effective, end


def run_experiment(experiment: Experiment, arch: str, out_root: Path, *,
                   stop: threading.Event | None = None,
                   live: Callable[[LiveProgress], None] | None = None,
                   report: bool = True,
                   deployed: tuple[Stack, Runtime] | None = None,
                   remote: RemoteWorkers | None = None) -> RunResult:
    """Run one experiment on one architecture; the run folder keeps everything.

    `deployed`: a stack to run on (left running after); by default the run
    deploys its own and removes it at the end. `remote`: the load comes from
    workers that join with `gatecrash worker`.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = out_root / f"{stamp}-{experiment.name}-{arch}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = out_root / f"{stamp}-{experiment.name}-{arch}-{suffix}"
    try:
        run = _Run(experiment, arch, run_dir, stop or threading.Event(), live, remote)
    except RecordError as exc:
        raise GatecrashError(f"cannot start the run record: {exc}") from exc
    status: RunStatus = "completed"
    error: str | None = None
    try:
        run.execute(deployed)
    except (GatecrashError, ChaosError, LoadError, RecordError) as exc:
        status, error = "error", str(exc)
    finally:
        if run.aborted and status != "error":
            status = "aborted"
        run.meta = run.meta.model_copy(update={
            "ended": time.time(), "status": status, "abort_reason": run.aborted, "error": error})
        run.save_meta()
    result = RunResult(run_dir, arch, status, aborted=run.aborted)
    if status == "error":
        raise GatecrashError(f"run {run_dir.name} failed: {error}")
    try:
        result.verdicts, result.data, result.problems = run.analyse()
        result.load = run.load_note
        run.record.write_verdicts(result.verdicts)
        run.record.write_junit(f"{experiment.name}[{arch}]", result.verdicts)
    except RecordError as exc:
        raise GatecrashError(f"run {run_dir.name}: {exc}") from exc
    if report:
        from dashboards.report import write_run_report

        write_run_report(run_dir)
    return result


def summarize(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"
