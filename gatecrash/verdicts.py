"""From measurements to verdicts: holds, fails, or inconclusive.

Each hypothesis is decided on an interval (`gatecrash.judgement`) and worded
with it (`gatecrash.reasons`). It is judged only on a valid measurement: an
aborted run, a fault without its proof, a network fault that met no traffic,
or a saturated host or load generator makes it inconclusive, never passed —
the numbers are still recorded beside the reason. One exception: a host whose CPU
ran out while the generator kept its schedule starved the system under test, and
starvation only makes a service slower and less available (STARVATION_PUSH); a
verdict it could only have pushed the other way (a latency bound that held, an
availability floor that held, a SPOF's outage bound that failed) stands, and says
what it stood through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from dashboards.analysis import RunData
from dashboards.errors import DashboardsError
from dashboards.estimates import RUN_METRIC_WINDOWS
from dashboards.intervals import Decision
from dashboards.saturation import HOST, STARVATION_PUSH, SaturationBounds, saturation_findings
from gatecrash.experiment import Experiment, HypothesisSpec
from gatecrash.hypothesis import Comparison
from gatecrash.judgement import Judgement, judge_comparison
from gatecrash.reasons import reason
from records import FAILS, HOLDS, INCONCLUSIVE, FaultEvent, Span, Verdict, VerdictWord

# Verdict is re-exported: the conductor's callers take verdicts from here.
__all__ = ["HOLDS", "Verdict", "across_label", "exit_code", "judge", "judge_across",
           "proof_notes", "saturation_by_window", "validity_problems"]


def validity_problems(experiment: Experiment, fault_events: Sequence[FaultEvent],
                      aborted: str | None) -> list[str]:
    """Why this run's measurements cannot decide anything (empty: they can).
    Saturation is a window's own problem: `saturation_by_window`."""
    problems = []
    if aborted:
        problems.append(f"run aborted: {aborted}")
    planned = len(experiment.faults) * experiment.trials
    if len(fault_events) < planned:
        problems.append(f"{planned - len(fault_events)} planned fault(s) never applied")
    for event in fault_events:
        if event.proof is None or not event.proof.ok:
            why = event.proof.detail if event.proof else "missing"
            problems.append(f"fault {event.label}: no proof it took effect ({why})")
        if event.traffic and not any(t.any for t in event.traffic.values()):
            problems.append(f"fault {event.label}: no traffic crossed the faulted hop")
        if event.http_traffic:
            matched = sum(c.matched for c in event.http_traffic.values())
            fired = sum(c.fired for c in event.http_traffic.values())
            if not matched:
                problems.append(f"fault {event.label}: no request matched its selector")
            elif not fired:
                problems.append(f"fault {event.label}: matched {matched} request(s) but "
                                "never fired")
    return problems


def saturation_by_window(experiment: Experiment,
                         windows: Mapping[str, Span] | Sequence[Mapping[str, Span]],
                         cpu: pd.DataFrame, rows: pd.DataFrame | None,
                         t0: float | None) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(problems, starved), each window name -> findings: the seconds of it in which
    the generator was saturated or behind (problems: no verdict reading it stands),
    and those in which the host alone was (starved: only the verdicts starvation
    could not have brought about stand), for every trial's span of that window,
    judged second by second (dashboards.saturation). `rows` give the generator's
    schedule lag, `t0` (the load's start) names the seconds. Only the hypotheses
    reading a window are touched: a restart burst in the recovery does not void what
    the fault showed.
    """
    trials = [windows] if isinstance(windows, Mapping) else list(windows)
    # A sweep judges its own seconds, step by step (dashboards.sweep).
    if not experiment.require_unsaturated or experiment.load.mode == "sweep" or not trials:
        return {}, {}
    bounds = SaturationBounds(host_pct=experiment.saturation_pct,
                              generator_pct=experiment.saturation_pct,
                              send_lag_ms=experiment.max_send_lag_ms,
                              pool=experiment.load.max_users)
    origin = t0 if t0 is not None else min(a for trial in trials for a, _ in trial.values())
    problems: dict[str, list[str]] = {}
    starved: dict[str, list[str]] = {}
    for name in dict.fromkeys(n for trial in trials for n in trial):
        spans = [trial[name] for trial in trials if name in trial]
        found = saturation_findings(cpu, rows, spans, origin, bounds)
        texts = [f"{name}: {text}" for _, text in found]
        if found and all(kind == HOST for kind, _ in found):
            starved[name] = texts
        elif found:
            problems[name] = texts
    return problems, starved


def stands_starved(comparison: Comparison, decision: Decision) -> bool:
    """Whether `decision` stands on a CPU-starved system: its one metric's bound is
    one starvation could only have pushed toward the other decision."""
    found = comparison.bound()
    if found is None or decision is Decision.INCONCLUSIVE:
        return False
    ref, op, _ = found
    push = STARVATION_PUSH.get(ref.name)
    if push is None or op not in ("<", "<=", ">", ">="):
        return False
    # Starvation breaks an upper bound on a metric it raises, a lower bound on one
    # it lowers; a bound it would break that held anyway, or one it would keep that
    # failed anyway, is no work of starvation.
    breaks = (push > 0) == (op in ("<", "<="))
    return breaks == (decision is Decision.HOLDS)


def proof_notes(fault_events: Sequence[FaultEvent]) -> list[str]:
    """What a verdict must say beside itself: faults whose traffic proof could not
    be read (a real Toxiproxy without stats or metrics). Not a failure, and never
    taken for a proof either."""
    return [f"traffic proof unavailable for fault {e.label}: {e.traffic_proof.detail}"
            for e in fault_events
            if e.traffic_proof is not None and e.traffic_proof.source == "unavailable"]


def _verdict(experiment: Experiment, arch: str, spec: HypothesisSpec,
             judgement: Judgement | None, detail: str, word: VerdictWord,
             samples_needed: int | None = None) -> Verdict:
    common = Verdict(experiment=experiment.name, claim=experiment.claim,
                     claim_id=experiment.claim_id, arch=arch,
                     hypothesis=spec.name or spec.expr, verdict=word, detail=detail)
    if judgement is None:
        return common
    estimate = judgement.estimate
    # Validated again (not model_copy): NaN becomes null on the way in.
    return Verdict(**common.model_dump(exclude_defaults=True), measured=judgement.left,
                   threshold=judgement.right,
                   quantity=judgement.quantity, op=judgement.op, bound=judgement.bound,
                   value=estimate.value, low=estimate.low, high=estimate.high, n=estimate.n,
                   samples=judgement.samples, method=estimate.method,
                   confidence=estimate.confidence, samples_needed=samples_needed,
                   trials=list[float | None](judgement.trials))


WORDS: dict[Decision, VerdictWord] = {Decision.HOLDS: HOLDS, Decision.FAILS: FAILS,
                                      Decision.INCONCLUSIVE: INCONCLUSIVE}


def _judge_one(experiment: Experiment, arch: str, spec: HypothesisSpec,
               runs: Mapping[str, RunData], default_arch: str,
               problems: list[str], starved: Sequence[str] = ()) -> Verdict:
    try:
        judgement = judge_comparison(spec.comparison, runs, default_arch,
                                     experiment.interval_options)
    except DashboardsError as exc:
        return _verdict(experiment, arch, spec, None, f"cannot measure: {exc}", INCONCLUSIVE)
    if starved and not problems and stands_starved(spec.comparison, judgement.decision):
        detail, needed = reason(judgement, [])
        detail += (f"; stands on a starved host ({'; '.join(starved)}): starvation only "
                   "slows a service and makes it less available, which would have "
                   "pushed the other way")
        return _verdict(experiment, arch, spec, judgement, detail,
                        WORDS[judgement.decision], needed)
    problems = [*problems, *starved]
    detail, needed = reason(judgement, problems)
    word = INCONCLUSIVE if problems else WORDS[judgement.decision]
    # Samples would not decide a run whose measurement is not valid.
    return _verdict(experiment, arch, spec, judgement, detail, word,
                    None if problems else needed)


def _in_windows(spec: HypothesisSpec, window_problems: Mapping[str, Sequence[str]]) -> list[str]:
    """The problems of the windows a hypothesis reads (a metric without a window reads
    them all; a run-level one, the windows it rests on)."""
    used: set[str | None] = set()
    for ref in spec.comparison.metrics():
        fixed = RUN_METRIC_WINDOWS.get(ref.name) if ref.window is None else None
        used |= set(fixed) if fixed else {ref.window}
    return [p for name, found in window_problems.items()
            if None in used or name in used for p in found]


def judge(experiment: Experiment, arch: str, data: RunData, problems: list[str],
          window_problems: Mapping[str, Sequence[str]] | None = None,
          starved: Mapping[str, Sequence[str]] | None = None) -> list[Verdict]:
    """The verdicts of one run: every hypothesis of `arch` that names no architecture.

    `window_problems`: what makes one window's measurements incomplete (e.g. a load
    worker lost in it); only the hypotheses reading that window become inconclusive.
    `starved`: windows in which the host alone was saturated (saturation_by_window);
    a hypothesis reading one stands only where starvation could not have decided it."""
    return [_judge_one(experiment, arch, spec, {arch: data}, arch,
                       problems + _in_windows(spec, window_problems or {}),
                       _in_windows(spec, starved or {}))
            for spec in experiment.hypotheses if spec.applies_to(arch)]  # type: ignore[arg-type]


def across_label(archs: Sequence[str]) -> str:
    """The `arch` of a verdict across runs: "dual vs single"."""
    return " vs ".join(archs)


def judge_across(experiment: Experiment, runs: Mapping[str, RunData],
                 problems: Mapping[str, list[str]]) -> list[Verdict]:
    """The hypotheses across architectures, once the runs they name exist.

    `runs` and `problems` are keyed by architecture; a hypothesis naming a run
    that is missing, or one whose measurement is not valid, is inconclusive.
    """
    verdicts = []
    for spec in experiment.hypotheses:
        archs = spec.across
        if not archs:
            continue
        missing = [a for a in archs if a not in runs]
        found = [f"{a}: {p}" for a in archs for p in problems.get(a, [])]
        if missing:
            found.append(f"no completed {' or '.join(missing)} run to compare")
            verdicts.append(_verdict(experiment, across_label(archs), spec, None,
                                     "not judged: " + "; ".join(found), INCONCLUSIVE))
            continue
        verdicts.append(_judge_one(experiment, across_label(archs), spec, runs, archs[0],
                                   found))
    return verdicts


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """0 all hold, 1 one fails, 3 inconclusive (a failure outranks inconclusive)."""
    if any(v.verdict == FAILS for v in verdicts):
        return 1
    if any(v.verdict == INCONCLUSIVE for v in verdicts) or not verdicts:
        return 3
    return 0
