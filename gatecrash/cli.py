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
from chaos.runtime.local import LocalRuntime
from gatecrash.console import LivePrinter, verdict_table
from gatecrash.errors import GatecrashError
from gatecrash.experiment import Experiment, load_experiment
from gatecrash.runner import RunResult, run_experiment
from gatecrash.stacks import (
    Stack,
    deploy,
    find_stack,
    list_stacks,
    new_stack,
    proxy_configs,
    runtime_for,
    undeploy,
)
from gatecrash.verdicts import Verdict, exit_code
from targets.errors import TargetsError

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
DEFAULT_STACK = "default"
UP_TIMEOUT_S = 120.0


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
    print(f"  API key   : {stack.api_key}")
    print(f"  try       : curl -s -H 'Authorization: Bearer {stack.api_key}' "
          f"{spec.entry_url}/v1/articles")


def cmd_up(args: argparse.Namespace) -> int:
    _install_stop_handlers()
    stack = new_stack(args.name, args.arch, base_port=args.base_port, replicas=args.replicas,
                      inference_backend=args.inference_backend)
    stack.save()
    runtime = runtime_for(stack, attached=not args.detach)
    started = time.monotonic()
    try:
        print(f"starting {len(stack.spec.instances)} instances of {args.arch} "
              f"(logs in {stack.dir / 'logs'}) ...", flush=True)
        deploy(stack, runtime, args.timeout)
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
        undeploy(stack, runtime)
        stack.remove_files()
        raise
    undeploy(stack, runtime)
    stack.remove_files()
    print(f"stack {stack.name!r} removed")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    stacks = list_stacks() if args.all else [find_stack(args.name)]
    reports: list[dict[str, Any]] = []
    for stack in stacks:
        assert stack is not None
        runtime = LocalRuntime.attach(stack.dir)
        reports.append({
            "name": stack.name, "arch": stack.spec.arch.value, "runtime": runtime.name,
            "entry_url": stack.spec.entry_url, "api_key": stack.api_key,
            "toxiproxy_url": stack.spec.toxiproxy_url,
            "instances": [s.to_dict() for s in runtime.statuses()],
            "proxies": [{"name": c.name, "listen": c.listen, "upstream": c.upstream}
                        for c in proxy_configs(stack)],
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
            undeploy(stack, LocalRuntime.attach(stack.dir))
        except ChaosError as exc:
            print(f"warning: {exc}", file=sys.stderr)
        stack.remove_files()
        print(f"stack {stack.name!r} removed")
    if not stacks:
        print("no stack to remove")
    return EXIT_OK


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


def _archs(option: str | None, experiment: Experiment) -> list[str]:
    if option in (None, "auto"):
        return [a.value for a in experiment.architectures]
    return ["single", "dual"] if option == "both" else [option]


def run_files(paths: list[Path], arch: str | None, out: Path, stop: threading.Event,
              *, quiet: bool = False) -> tuple[int, list[Verdict], list[RunResult]]:
    """Validate every file first, then run each on its architectures."""
    experiments = [(p, load_experiment(p)) for p in paths]
    verdicts: list[Verdict] = []
    results: list[RunResult] = []
    printer = LivePrinter()
    for path, experiment in experiments:
        for one in _archs(arch, experiment):
            if stop.is_set():
                break
            print(f"== {experiment.name} on {one} ({path})", file=sys.stderr)
            result = run_experiment(experiment, one, out, stop=stop,
                                    live=None if quiet else printer)
            printer.done()
            results.append(result)
            verdicts += result.verdicts
            print(f"   run folder: {result.run_dir}"
                  + (f"  (aborted: {result.aborted})" if result.aborted else ""),
                  file=sys.stderr)
    code = exit_code(verdicts)
    if stop.is_set():
        code = EXIT_INTERRUPTED
    return code, verdicts, results


def cmd_run(args: argparse.Namespace) -> int:
    stop = _stop_event()
    code, verdicts, results = run_files([args.file], args.arch, args.out, stop)
    print(verdict_table(verdicts))
    if len(results) == 2:
        from dashboards.report import write_comparison

        out = results[1].run_dir.parent / f"compare-{results[1].run_dir.name}.html"
        path = write_comparison(results[0].run_dir, results[1].run_dir, out)
        print(f"comparison: {path}")
    for result in results:
        print(f"report: {result.run_dir / 'report.html'}")
    return code


def cmd_toxiproxy(args: argparse.Namespace) -> int:
    from chaos.toxiproxy import run as run_toxiproxy

    print(f"toxiproxy API on http://{args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
    run_toxiproxy(args.host, args.port, args.config)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatecrash",
        description="Chaos-and-load harness for API-gateway architectures serving LLMs.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="deploy an architecture as local processes")
    up.add_argument("--arch", choices=["single", "dual"], default="dual")
    up.add_argument("--name", default=DEFAULT_STACK, help="stack name (default: %(default)s)")
    up.add_argument("--detach", action="store_true", help="leave it running and return")
    up.add_argument("--base-port", type=int, default=None,
                    help="first port of the stack's block of 100 (default: a free block)")
    up.add_argument("--replicas", type=int, default=None,
                    help="replicas of every backend service (default: 2)")
    up.add_argument("--inference-backend", default=None,
                    help="tiny (default), smollm2, path:/dir or upstream:URL")
    up.add_argument("--timeout", type=float, default=UP_TIMEOUT_S,
                    help="seconds to wait for health (default: %(default)s)")
    up.set_defaults(func=cmd_up)

    status = sub.add_parser("status", help="show a stack and its instances")
    status.add_argument("--name", default=DEFAULT_STACK)
    status.add_argument("--all", action="store_true", help="every stack on this machine")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    down = sub.add_parser("down", help="remove a stack and everything it started")
    down.add_argument("--name", default=DEFAULT_STACK)
    down.add_argument("--all", action="store_true")
    down.set_defaults(func=cmd_down)

    toxi = sub.add_parser("toxiproxy", help="run the built-in Toxiproxy-API server standalone")
    toxi.add_argument("--host", default="127.0.0.1")
    toxi.add_argument("--port", type=int, default=8474)
    toxi.add_argument("--config", type=Path, default=None,
                      help="JSON list of proxies to create at start (as Toxiproxy's -config)")
    toxi.set_defaults(func=cmd_toxiproxy)

    run = sub.add_parser("run", help="run one experiment file; exit 0 hold, 1 fail, "
                         "2 error, 3 inconclusive")
    run.add_argument("file", type=Path)
    run.add_argument("--arch", choices=["single", "dual", "both", "auto"], default="auto",
                     help="default: the file's architectures")
    run.add_argument("--out", type=Path, default=Path("runs"), help="runs folder")
    run.set_defaults(func=cmd_run)
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (GatecrashError, ChaosError, TargetsError) as exc:
        print(f"gatecrash: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `gatecrash status | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
