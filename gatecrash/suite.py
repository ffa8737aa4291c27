"""Many experiments in one go (the claims suite, a CI gate): one stack per
architecture and deploy setting, reused from one experiment to the next."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gatecrash.errors import GatecrashError
from gatecrash.experiment import Experiment
from gatecrash.runner import RunResult, deploy_options, run_experiment
from gatecrash.runtimes import deployed_stack, wait_pools_healthy
from gatecrash.verdicts import Verdict, exit_code
from loadtests import RemoteWorkers
from records import LiveProgress
from targets.stack import RuntimeKind

__all__ = ["SuiteResult", "run_suite"]

log = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 20.0


@dataclass
class SuiteResult:
    runs: list[RunResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for r in self.runs for v in r.verdicts]

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else exit_code(self.verdicts)


def _group_key(experiment: Experiment, arch: str) -> tuple[str, str]:
    return arch, repr(sorted(deploy_options(experiment).items()))


def run_suite(experiments: list[Experiment], out: Path, *, arch: str | None = None,
              runtime: RuntimeKind = RuntimeKind.LOCAL, stop: threading.Event | None = None,
              live: Callable[[LiveProgress], None] | None = None,
              announce: Callable[[str], None] | None = None,
              remote: RemoteWorkers | None = None) -> SuiteResult:
    """Run every experiment on its architectures (or `arch`), sharing stacks
    (`remote`: the load of each run comes from workers joining its master)."""
    stop = stop or threading.Event()
    say = announce or log.info
    plan: dict[tuple[str, str], list[Experiment]] = {}
    for experiment in experiments:
        archs = [a.value for a in experiment.architectures] if arch in (None, "auto") \
            else (["single", "dual"] if arch == "both" else [arch])
        for one in archs:
            plan.setdefault(_group_key(experiment, one), []).append(experiment)
    result = SuiteResult()
    for (one, _), group in plan.items():
        if stop.is_set():
            break
        say(f"== deploying {one} for {len(group)} experiment(s)")
        with deployed_stack(one, runtime=runtime, **deploy_options(group[0])) as deployed:
            for experiment in group:
                if stop.is_set():
                    break
                if not wait_pools_healthy(*deployed, SETTLE_TIMEOUT_S):
                    result.errors.append(f"{experiment.name}[{one}]: stack did not settle")
                    continue
                say(f"== {experiment.name} on {one}")
                try:
                    run = run_experiment(experiment, one, out, stop=stop, live=live,
                                         deployed=deployed, remote=remote)
                except GatecrashError as exc:
                    result.errors.append(str(exc))
                    say(f"   error: {exc}")
                    continue
                result.runs.append(run)
                say(f"   {run.run_dir}" + (f" (aborted: {run.aborted})" if run.aborted else ""))
    return result
