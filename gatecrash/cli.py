"""The `gatecrash` command: a thin layer over the library (Locust's style)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from chaos.errors import ChaosError
from dashboards.errors import DashboardsError
from gatecrash.capacities import Capacities
from gatecrash.capacity import sweep_results
from gatecrash.capacity_cli import (
    add_capacity_parser,
    capacity_exit_code,
    capacity_options,
    run_capacity,
)
from gatecrash.capacity_table import capacity_table
from gatecrash.console import LivePrinter, verdict_table
from gatecrash.errors import GatecrashError, InputError, StackError
from gatecrash.experiment import MAX_ENTRIES, MAX_TRIALS, Experiment, load_experiment
from gatecrash.runtimes import (
    BACKENDS,
    attach,
    backend,
    deploy,
    new_stack,
    remove_stack,
    runtime_for,
    undeploy,
)
from gatecrash.stacks import Stack, find_stack, list_stacks
from gatecrash.suite import SuiteResult, run_suite, suite_archs
from loadtests.errors import LoadError
from loadtests.remote import (
    DEFAULT_JOIN_TIMEOUT_S,
    DEFAULT_MASTER_PORT,
    MasterAddress,
    RemoteWorkers,
    exec_worker,
)
from records import RunFolder, write_junit
from records.errors import RecordError
from targets.errors import TargetsError
from targets.stack import RuntimeKind
from targets.topology import GatewayKind, LlmRouterKind

__all__ = ["PACKAGE_ERRORS", "main"]

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
RUNTIMES = [k.value for k in RuntimeKind]
GATEWAYS = [k.value for k in GatewayKind]
LLM_ROUTERS = [k.value for k in LlmRouterKind]
# The claims suite of a checkout; `--suite` points elsewhere.
DEFAULT_SUITE = Path(__file__).resolve().parent.parent / "experiments"
BEYOND_SEEDS = {"C9"}
FULL_SCALE = 3.0  # the full suite runs every experiment 3x longer than --quick
DEFAULT_STACK = "default"
# The exception root of every package: each ends as one line and exit 2, never
# a traceback. A new package adds its root here.
PACKAGE_ERRORS: tuple[type[Exception], ...] = (
    GatecrashError, ChaosError, TargetsError, LoadError, DashboardsError, RecordError)


class _Stop(Exception):
    """Raised by the signal handlers so that `finally` blocks tear down."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _install_stop_handlers() -> None:
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)


def _print_stack(stack: Stack, elapsed_s: float | None = None) -> None:
    spec = stack.spec
    ready = f" in {elapsed_s:.1f}s" if elapsed_s is not None else ""
    print(f"stack {spec.name!r} ({spec.arch}, {len(spec.instances)} instances) healthy{ready}")
    print(f"  entry URL : {spec.entry_url}")
    for entry in stack.plan.entry_points[1:]:  # `--entries N`: every other way in
        print(f"  also entry: {entry.url} ({entry.instance})")
    print(f"  API key   : {stack.api_key}")
    print(f"  try       : curl -s -H 'Authorization: Bearer {stack.api_key}' "
          f"{spec.entry_url}/v1/articles")


def cmd_up(args: argparse.Namespace) -> int:
    _install_stop_handlers()
    if not 1 <= args.entries <= MAX_ENTRIES:
        raise InputError(f"--entries {args.entries}: choose 1..{MAX_ENTRIES}")
    stack = new_stack(args.name, args.arch, runtime=RuntimeKind(args.runtime),
                      base_port=args.base_port, replicas=args.replicas, entries=args.entries,
                      inference_backend=args.inference_backend,
                      gateway=GatewayKind(args.gateway or GatewayKind.BUILTIN),
                      llm_router=LlmRouterKind(args.llm_router or LlmRouterKind.BUILTIN))
    stack.save()
    runtime = runtime_for(stack, attached=not args.detach)

    def remove() -> None:
        undeploy(stack, runtime)
        stack.remove_files()

    timeout_s = args.timeout or backend(stack.spec.runtime).deploy_timeout_s
    return _hold(args, stack, lambda: deploy(stack, runtime, timeout_s), remove)


def _hold(args: argparse.Namespace, stack: Stack, start: Callable[[], None],
          remove: Callable[[], None]) -> int:
    """Start; with --detach return, else run until Ctrl-C/SIGTERM or `gatecrash down`,
    then remove everything (also when the start fails half-way)."""
    started = time.monotonic()
    try:
        print(f"starting {len(stack.spec.instances)} instances of {args.arch} on "
              f"{args.runtime} (files in {stack.dir}) ...", flush=True)
        start()
        _print_stack(stack, time.monotonic() - started)
        if args.detach:
            print(f"  stop with : gatecrash down --name {stack.name}")
            return EXIT_OK
        print("running; Ctrl-C to stop and remove everything", flush=True)
        # `gatecrash down` from another shell removes the folder: then we leave too.
        while stack.stack_file.exists():
            time.sleep(0.5)
    except _Stop as stop:
        print(f"\n{stop}: tearing down ...", file=sys.stderr)
    except BaseException:
        remove()
        raise
    remove()
    print(f"stack {stack.name!r} removed")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    stacks = list_stacks() if args.all else [find_stack(args.name)]
    reports: list[dict[str, Any]] = []
    for stack in stacks:
        assert stack is not None
        runtime = attach(stack)
        reports.append({
            "name": stack.name, "arch": stack.spec.arch.value, "runtime": runtime.name,
            "entry_url": stack.spec.entry_url, "api_key": stack.api_key,
            "toxiproxy_url": stack.spec.toxiproxy_url,
            "instances": [s.to_dict() for s in runtime.statuses()],
            "proxies": [{"name": c.name, "listen": c.listen, "upstream": c.upstream}
                        for c in stack.plan.proxies],
        })
    if args.json:
        print(json.dumps(reports if args.all else reports[0], indent=2))
        return EXIT_OK
    for rep in reports:
        print(f"stack {rep['name']}: arch={rep['arch']} runtime={rep['runtime']} "
              f"entry={rep['entry_url']}")
        print(f"  api key: {rep['api_key']}")
        print(f"  {'instance':<22} {'service':<18} {'role':<9} {'pid':>7}  {'state':<8} url")
        for inst in rep["instances"]:
            print(f"  {inst['id']:<22} {inst['service']:<18} {inst['role'] or '-':<9} "
                  f"{inst['pid'] or '-':>7}  {inst['state']:<8} {inst['url']}")
        if rep["proxies"]:
            print(f"  hop proxies (Toxiproxy API {rep['toxiproxy_url']}):")
            for proxy in rep["proxies"]:
                print(f"    {proxy['name']:<22} {proxy['listen']:<18} -> {proxy['upstream']}")
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    stacks = list_stacks() if args.all else [find_stack(args.name)]
    for stack in stacks:
        assert stack is not None
        try:
            remove_stack(stack)
        except (ChaosError, StackError) as exc:
            print(f"warning: {exc}", file=sys.stderr)
        print(f"stack {stack.name!r} removed")
    if args.all:
        _sweep_leftovers()
    elif not stacks:
        print("no stack to remove")
    return EXIT_OK


def _sweep_leftovers() -> None:
    """What crashed harnesses of this GATECRASH_HOME left, found by each runtime
    (processes by their marker, containers by their home and stack labels)."""
    for kind, chosen in BACKENDS.items():
        try:
            removed = chosen.sweep()
        except ChaosError as exc:  # e.g. no Docker engine here: the common case
            print(f"(no {kind} sweep: {exc})", file=sys.stderr)
            continue
        for item in removed:
            print(f"removed leftover {item}")


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
    from dashboards.report import write_evidence_report

    files = sorted(args.suite.glob("c[0-9]*.yaml"))
    if not files:
        raise InputError(f"no claims suite (c*.yaml) in {args.suite}; pass --suite DIR")
    experiments = [load_experiment(f) for f in files]
    if args.quick:
        experiments = [e for e in experiments if e.claim_id not in BEYOND_SEEDS]
    else:
        experiments = [e.scaled(FULL_SCALE) for e in experiments]
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


def _trials(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_TRIALS:
        raise argparse.ArgumentTypeError(f"{value}: give 1 to {MAX_TRIALS} trials")
    return value


def _trials_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=_trials, default=None, metavar="N",
                        help="repeat the fault schedule N times on one deployed stack, with "
                        "a recovery gap between trials; rows are pooled per window "
                        "(default: the experiment's `trials`, else 1)")


def _gateway_list(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    wrong = [c for c in chosen if c not in GATEWAYS]
    if wrong or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(GATEWAYS)} "
                                         "(several: comma-separated)")
    return chosen


def _product_options(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """--gateway and --llm-router (docs/gateways.md); unset: what the experiment says."""
    if several:
        parser.add_argument("--gateway", type=_gateway_list, default=None,
                            help="gateway/router implementation(s): builtin, nginx, haproxy; "
                            "several (comma-separated) run the suite once each, side by side")
    else:
        parser.add_argument("--gateway", choices=GATEWAYS, default=None,
                            help="what runs in the gateway and router roles (default: builtin)")
    parser.add_argument("--llm-router", choices=LLM_ROUTERS, default=None,
                        help="what routes chat generation: builtin (chat's own pool) or "
                        "litellm (a LiteLLM proxy)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatecrash",
        description="Chaos-and-load harness for API-gateway architectures serving LLMs.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="deploy an architecture (local processes or containers)")
    up.add_argument("--arch", choices=["single", "dual"], default="dual")
    up.add_argument("--name", default=DEFAULT_STACK, help="stack name (default: %(default)s)")
    up.add_argument("--detach", action="store_true", help="leave it running and return")
    up.add_argument("--base-port", type=int, default=None,
                    help="first port of the stack's block of 100 (default: a free block)")
    up.add_argument("--replicas", type=int, default=None,
                    help="replicas of every backend service (default: 2)")
    up.add_argument("--entries", type=int, default=1,
                    help="instances of the entry service (router/gateway), each its own "
                         "entry point (default: 1)")
    up.add_argument("--inference-backend", default=None,
                    help="tiny (default), smollm2, path:/dir or upstream:URL")
    up.add_argument("--timeout", type=float, default=None,
                    help="seconds to wait for health (default: 120 local, 240 docker)")
    up.add_argument("--runtime", choices=RUNTIMES, default=RuntimeKind.LOCAL.value,
                    help="local processes (default) or Docker containers")
    _product_options(up)
    up.set_defaults(func=cmd_up)

    status = sub.add_parser("status", help="show a stack and its instances")
    status.add_argument("--name", default=DEFAULT_STACK)
    status.add_argument("--all", action="store_true", help="every stack on this machine")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    down = sub.add_parser("down", help="remove a stack and everything it started")
    down.add_argument("--name", default=DEFAULT_STACK)
    down.add_argument("--all", action="store_true",
                      help="every stack of this GATECRASH_HOME, and what crashed runs of it "
                      "left (never another home's: they may share the Docker engine)")
    down.set_defaults(func=cmd_down)

    toxi = sub.add_parser("toxiproxy", help="run the built-in Toxiproxy-API server standalone")
    toxi.add_argument("--host", default="127.0.0.1")
    toxi.add_argument("--port", type=int, default=8474)
    toxi.add_argument("--config", type=Path, default=None,
                      help="JSON list of proxies to create at start (as Toxiproxy's -config)")
    toxi.set_defaults(func=cmd_toxiproxy)

    dash = sub.add_parser("dashboard", help="browse run folders in a web page (read-only)")
    dash.add_argument("--runs", type=Path, default=Path("runs"))
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8765)
    dash.set_defaults(func=cmd_dashboard)

    run = sub.add_parser("run", help="run one experiment file; exit 0 hold, 1 fail, "
                         "2 error, 3 inconclusive")
    run.add_argument("file", type=Path)
    run.add_argument("--arch", choices=["single", "dual", "both", "auto"], default="auto",
                     help="default: the file's architectures")
    run.add_argument("--out", type=Path, default=Path("runs"), help="runs folder")
    run.add_argument("--runtime", choices=RUNTIMES, default=RuntimeKind.LOCAL.value,
                    help="local processes (default) or Docker containers")
    _capacity_from(run)
    _trials_option(run)
    _product_options(run)
    run.add_argument("--remote-workers", type=int, default=0, metavar="N",
                     help="the load comes from N workers started with `gatecrash worker "
                     "--master HOST:PORT` (anywhere); their rows come back to this run")
    run.add_argument("--master-bind", default=f"127.0.0.1:{DEFAULT_MASTER_PORT}",
                     metavar="HOST[:PORT]", help="where the load master listens for workers "
                     "(default %(default)s; bind a reachable address for other machines)")
    run.add_argument("--join-timeout", type=int, default=DEFAULT_JOIN_TIMEOUT_S, metavar="S",
                     help="seconds to wait for every worker to join (default %(default)s)")
    run.set_defaults(func=cmd_run)

    plan = sub.add_parser("plan", help="expected samples per window and what they can decide, "
                          "before deploying anything")
    plan.add_argument("file", type=Path)
    plan.add_argument("--arch", choices=["single", "dual", "both", "auto"], default="auto",
                      help="default: the file's architectures")
    plan.add_argument("--from", dest="rates_from", type=Path, action="append",
                      metavar="RUN_DIR", help="plan from the request rates measured in a "
                      "previous run folder (once per architecture) instead of assuming a "
                      "service time")
    _trials_option(plan)
    plan.set_defaults(func=cmd_plan)

    worker = sub.add_parser("worker", help="generate load for a run started elsewhere with "
                            "--remote-workers (Locust's worker; rows go back to its master)")
    worker.add_argument("--master", required=True, metavar="HOST[:PORT]",
                        help=f"the run's load master (port {DEFAULT_MASTER_PORT} by default)")
    worker.add_argument("--name", default=None,
                        help="this worker's name in the rows (default: host-pid)")
    worker.set_defaults(func=cmd_worker)

    gate = sub.add_parser("gate", help="run experiment files as a CI gate (exit codes as run)")
    gate.add_argument("paths", nargs="+", type=Path, help="experiment files or folders")
    gate.add_argument("--arch", choices=["single", "dual", "both", "auto"], default="auto")
    gate.add_argument("--out", type=Path, default=Path("runs"))
    gate.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    gate.add_argument("--runtime", choices=RUNTIMES, default=RuntimeKind.LOCAL.value,
                    help="local processes (default) or Docker containers")
    _capacity_from(gate)
    _trials_option(gate)
    _product_options(gate)
    gate.set_defaults(func=cmd_gate)

    evidence = sub.add_parser("evidence", help="the claims suite C1-C8 (C9 too without "
                              "--quick) on both architectures, with one evidence report")
    evidence.add_argument("--quick", action="store_true",
                          help="short runs (about 3 minutes on 2 cores)")
    evidence.add_argument("--suite", type=Path, default=DEFAULT_SUITE)
    evidence.add_argument("--out", type=Path, default=Path("runs"))
    evidence.add_argument("--runtime", choices=RUNTIMES, default=RuntimeKind.LOCAL.value,
                    help="local processes (default) or Docker containers")
    _capacity_from(evidence)
    _trials_option(evidence)
    _product_options(evidence, several=True)
    evidence.set_defaults(func=cmd_evidence)

    add_capacity_parser(sub, RUNTIMES).set_defaults(func=cmd_capacity)
    return parser


def _capacity_from(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--capacity-from", type=Path, default=None, metavar="FILE",
                        help='capacities to take "rate: 50%%" of: a JSON object of req/s by '
                        'architecture, e.g. {"single": 60, "dual": 55} (default: measured '
                        "on this machine, cached under GATECRASH_HOME)")


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
