"""`gatecrash up`, `status` and `down`: a stack's life from the command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from chaos.errors import ChaosError
from gatecrash.errors import InputError, StackError
from gatecrash.experiment import MAX_ENTRIES
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
from targets.stack import RuntimeKind
from targets.topology import GatewayKind, LlmRouterKind

__all__ = ["EXIT_OK", "cmd_down", "cmd_status", "cmd_up"]

EXIT_OK = 0


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
