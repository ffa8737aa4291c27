"""The `gatecrash` command: a thin layer over the library (Locust's style)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from chaos.errors import ChaosError
from dashboards.errors import DashboardsError
from gatecrash import arguments
from gatecrash.arguments import Handler
from gatecrash.capacities import Capacities
from gatecrash.capacity import sweep_results
from gatecrash.capacity_cli import (
    capacity_exit_code,
    capacity_options,
    run_capacity,
)
from gatecrash.capacity_table import capacity_table
from gatecrash.claims import full_suite, quick_suite
from gatecrash.console import LivePrinter, suite_plan_table, verdict_table
from gatecrash.errors import GatecrashError, InputError
from gatecrash.experiment import Experiment, load_experiment
from gatecrash.stack_cli import EXIT_OK, cmd_down, cmd_status, cmd_up
from gatecrash.suite import SuiteResult, run_suite, suite_archs
from loadtests.errors import LoadError
from loadtests.remote import (
    MasterAddress,
    RemoteWorkers,
    exec_worker,
)
from records import RunFolder, write_junit
from records.errors import RecordError
from targets.errors import TargetsError
from targets.stack import RuntimeKind

# The stack commands live in gatecrash.stack_cli; named here, where the parser
# looks every `cmd_<name>` up.
__all__ = ["PACKAGE_ERRORS", "cmd_down", "cmd_status", "cmd_up", "main"]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
# The exception root of every package: each ends as one line and exit 2, never
# a traceback. A new package adds its root here.
PACKAGE_ERRORS: tuple[type[Exception], ...] = (
    GatecrashError, ChaosError, TargetsError, LoadError, DashboardsError, RecordError)


def _stop_event() -> threading.Event:
    """SIGINT/SIGTERM ask the run to stop; it then tears down in order."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        print(f"\n{signal.Signals(signum).name}: stopping the run, removing everything ...",
              file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _warn_undecidable(experiments: list[Experiment], arch: str | None,
                      trials: int | None) -> None:
    """Before a run: each hypothesis that cannot be decided at the planned size."""
    from gatecrash.sizing import plan_samples

    for experiment in experiments:
        try:
            plan = plan_samples(experiment.with_trials(trials), suite_archs(experiment, arch))
        except InputError:
            continue  # rates as a share of a capacity the run will measure first
        for warning in plan.warnings:
            print(f"warning: {experiment.name} {warning}", file=sys.stderr)


def cmd_plan(args: argparse.Namespace) -> int:
    from dashboards.analysis import RunData
    from gatecrash.sizing import RequestRates, plan_samples
    from records import read_run

    experiment = load_experiment(args.file).with_trials(args.trials)
    if args.quick:
        experiment = experiment.quick_form()
    rates: dict[str, RequestRates] = {}
    for run_dir in args.rates_from or []:
        record = read_run(run_dir)
        data = RunData.of(record.rows, record.trials)
        rates[record.arch] = RequestRates.from_run(data, f"{record.run_id} ({record.arch})")
    plan = plan_samples(experiment, suite_archs(experiment, args.arch), rates)
    print(f"plan of {plan.experiment}: {plan.trials} trial(s); {plan.assumption}")
    print("expected samples per window (all trials pooled):")
    header = ("arch", "window", "selector", "n")
    rows = [header, *((w.arch, w.window, w.selector, w.shown) for w in plan.windows)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  " + "  ".join(row[i].ljust(widths[i]) for i in range(4)).rstrip())
    print("hypotheses:")
    for hyp in plan.hypotheses:
        mark = "" if hyp.decidable else "  <- cannot be decided at this size"
        print(f"  [{hyp.arch}] {hyp.hypothesis}{mark}")
        print(f"      {hyp.verdict}")
    return EXIT_OK


def _capacities(args: argparse.Namespace) -> Capacities:
    return Capacities.from_file(args.capacity_from) if args.capacity_from else Capacities()


def cmd_run(args: argparse.Namespace) -> int:
    experiment = load_experiment(args.file).with_products(args.gateway, args.llm_router)
    capacities = _capacities(args)
    _warn_undecidable([experiment], args.arch, args.trials)
    stop = _stop_event()
    result = run_suite([experiment], args.out, arch=args.arch,
                       runtime=RuntimeKind(args.runtime), stop=stop,
                       live=LivePrinter(), announce=_say, trials=args.trials,
                       capacities=capacities, remote=_remote_workers(args))
    code = _finish_suite(result, None, "run")
    runs = result.runs
    if len(runs) == 2:
        from dashboards.report import write_comparison

        out = runs[1].run_dir.parent / f"compare-{runs[1].run_dir.name}.html"
        print(f"comparison: {write_comparison(runs[0].run_dir, runs[1].run_dir, out)}")
    for run in runs:
        if run.load is not None:
            print(f"load: {run.load.note}")
        print(f"report: {RunFolder(run.run_dir).report}")
    return EXIT_INTERRUPTED if stop.is_set() else code


def cmd_worker(args: argparse.Namespace) -> int:
    master = MasterAddress.parse(args.master)
    print(f"joining the run of the master at {master} (Ctrl-C to leave) ...", file=sys.stderr,
          flush=True)
    exec_worker(master, args.name)  # becomes Locust's worker: never returns
    return EXIT_OK


def _remote_workers(args: argparse.Namespace) -> RemoteWorkers | None:
    if not args.remote_workers:
        return None
    bind = MasterAddress.parse(args.master_bind)
    remote = RemoteWorkers(args.remote_workers, bind, args.join_timeout)
    _say(f"the load comes from {remote.count} remote worker(s); start each with: "
         f"gatecrash worker --master {bind}")
    return remote


def cmd_toxiproxy(args: argparse.Namespace) -> int:
    from chaos.toxiproxy import run as run_toxiproxy

    print(f"toxiproxy API on http://{args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
    run_toxiproxy(args.host, args.port, args.config)
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboards.server import serve

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving runs on {args.host}, reachable beyond this machine",
              file=sys.stderr)
    print(f"dashboard of {args.runs.resolve()} on http://{args.host}:{args.port}",
          file=sys.stderr)
    serve(args.runs, host=args.host, port=args.port)
    return EXIT_OK


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _experiment_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    if not files:
        raise InputError(f"no experiment files (*.yaml) in {', '.join(map(str, paths))}")
    return files


def _finish_suite(result: SuiteResult, junit: Path | None, name: str) -> int:
    sweeps = sweep_results(result.runs)
    if sweeps:  # the capacity sweeps' steps, knees and gateway loads, then the verdicts
        print(capacity_table(sweeps) + "\n")
    print(verdict_table(result.verdicts))
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    if junit is not None:
        suites = [(f"{r.run_dir.name}", r.verdicts) for r in result.runs]
        if result.across:
            suites.append(("across-architectures", result.across))
        write_junit(junit, suites)
        print(f"junit: {junit}")
    return result.exit_code


def cmd_gate(args: argparse.Namespace) -> int:
    experiments = [load_experiment(f).with_products(args.gateway, args.llm_router)
                   for f in _experiment_files(args.paths)]
    capacities = _capacities(args)
    _warn_undecidable(experiments, args.arch, args.trials)
    stop = _stop_event()
    result = run_suite(experiments, args.out, arch=args.arch,
                       runtime=RuntimeKind(args.runtime), stop=stop,
                       live=LivePrinter(), announce=_say, trials=args.trials,
                       capacities=capacities)
    code = _finish_suite(result, args.junit, "gate")
    return EXIT_INTERRUPTED if stop.is_set() else code


def cmd_evidence(args: argparse.Namespace) -> int:
    from dashboards.evidence import write_evidence_report

    files = sorted(args.suite.glob("c[0-9]*.yaml"))
    if not files:
        raise InputError(f"no claims suite (c*.yaml) in {args.suite}; pass --suite DIR")
    experiments = [load_experiment(f).with_trials(args.trials) for f in files]
    if args.quick:
        experiments = quick_suite(experiments)
    else:
        sized = full_suite(experiments)
        _say(suite_plan_table(sized))
        experiments = [s.experiment for s in sized.experiments]
    # Several implementations: the same suite once each, side by side in one report.
    experiments = [e.with_products(gateway, args.llm_router)
                   for gateway in (args.gateway or [None]) for e in experiments]
    capacities = _capacities(args)
    _warn_undecidable(experiments, None, args.trials)
    stop = _stop_event()
    started = time.monotonic()
    result = run_suite(experiments, args.out, runtime=RuntimeKind(args.runtime), stop=stop,
                       live=LivePrinter(), announce=_say, trials=args.trials,
                       capacities=capacities)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    code = _finish_suite(result, args.out / f"evidence-{stamp}.junit.xml", "evidence")
    if result.runs:
        report = write_evidence_report([r.run_dir for r in result.runs],
                                       args.out / f"evidence-{stamp}.html")
        print(f"evidence report: {report}")
    print(f"suite wall time: {time.monotonic() - started:.0f}s")
    return EXIT_INTERRUPTED if stop.is_set() else code


def cmd_capacity(args: argparse.Namespace) -> int:
    options = capacity_options(args)
    stop = _stop_event()
    results = run_capacity(options, stop, LivePrinter(), _say)
    print(capacity_table(results))
    return EXIT_INTERRUPTED if stop.is_set() else capacity_exit_code(results)


COMMANDS = ("up", "status", "down", "toxiproxy", "dashboard", "run", "plan", "worker", "gate",
            "evidence", "capacity")


def build_parser() -> argparse.ArgumentParser:
    # Looked up when called: each command is `cmd_<name>` of this module.
    module = sys.modules[__name__]
    handlers: dict[str, Handler] = {n: getattr(module, f"cmd_{n}") for n in COMMANDS}
    return arguments.build_parser(handlers)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PACKAGE_ERRORS as exc:
        print(f"gatecrash: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `gatecrash status | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
