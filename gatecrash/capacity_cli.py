"""`gatecrash capacity`: sweep one or both architectures until the SLO breaks, print
the knees, and remember them for experiments whose rate is a share of capacity."""

from __future__ import annotations

import argparse
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gatecrash.capacities import Capacities, capacity_key
from gatecrash.capacity import (
    DEFAULT_MIX,
    DEFAULT_SWEEP,
    CapacityResult,
    capacity_experiment,
    measure_capacity,
)
from gatecrash.errors import InputError
from gatecrash.experiment import DeploySpec
from loadtests.spec import Mix, SweepSteps
from records import LiveProgress, Slo
from targets.stack import RuntimeKind

__all__ = [
    "CapacityOptions",
    "add_capacity_parser",
    "capacity_exit_code",
    "capacity_options",
    "parse_mix",
    "run_capacity",
]

EXIT_OK = 0
EXIT_INCONCLUSIVE = 3
ARCHS = {"single": ["single"], "dual": ["dual"], "both": ["single", "dual"]}


def parse_mix(text: str) -> Mix:
    """`identity=1,business=1,chat=0.2` (domains left out weigh 0)."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise InputError(f"--mix {text!r}: {part!r} has no '='")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--mix {text!r}: write domain=weight pairs separated by ',', "
                             "e.g. identity=1,business=1,chat=0") from None
    try:
        return Mix.model_validate({d: weights.get(d, 0.0) for d in ("identity", "business",
                                                                    "chat")} | weights)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "mix"
        raise InputError(f"--mix {text!r}: {where}: {first['msg']}; domains: identity, "
                         "business, chat") from None


def _validated(make: Callable[[], Any], option: str) -> Any:
    try:
        return make()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{option}: {field}: {first['msg'].removeprefix('Value error, ')}") \
            from None


def add_capacity_parser(sub: Any, runtimes: list[str]) -> argparse.ArgumentParser:
    cap = sub.add_parser(
        "capacity", help="find each architecture's knee: the highest open-loop rate "
        "within the SLO (a stepped sweep); exit 0 found, 3 not bounded, 2 error",
        description="Raise the open-loop rate in steps until the SLO breaks; print each "
        "step, the knee, the CPU and memory of every component there, and the generator's "
        "lag. The knee is cached under GATECRASH_HOME for experiments with 'rate: 50%'.")
    cap.add_argument("--arch", choices=list(ARCHS), default="both")
    cap.add_argument("--slo-p95-ms", type=float, default=Slo().p95_ms,
                     help="p95 bound of a passing step, corrected latency (default %(default)g)")
    cap.add_argument("--slo-availability", type=float, default=Slo().availability,
                     help="availability a passing step keeps (default %(default)g)")
    cap.add_argument("--start", type=float, default=DEFAULT_SWEEP.rate_start,
                     help="req/s of the first step (default %(default)g)")
    cap.add_argument("--step", type=float, default=DEFAULT_SWEEP.step_rps,
                     help="req/s added at each step (default %(default)g)")
    cap.add_argument("--step-s", type=float, default=DEFAULT_SWEEP.step_s,
                     help="seconds of each step (default %(default)g)")
    cap.add_argument("--max", type=float, default=DEFAULT_SWEEP.rate_max,
                     help="ceiling, req/s (default %(default)g)")
    cap.add_argument("--mix", type=str, default=None,
                     help="request mix, e.g. identity=1,business=1,chat=0 (the default)")
    cap.add_argument("--replicas", type=int, default=None,
                     help="replicas of every backend service (default: 2)")
    cap.add_argument("--inference-backend", default=DeploySpec().inference)
    cap.add_argument("--no-proxies", action="store_true",
                     help="no hop proxies (their CPU is then not on the host)")
    cap.add_argument("--out", type=Path, default=Path("runs"), help="runs folder")
    cap.add_argument("--runtime", choices=runtimes, default=runtimes[0])
    cap.add_argument("--no-cache", action="store_true",
                     help="do not remember the knees for 'rate: 50%%' experiments")
    return cap


@dataclass(frozen=True)
class CapacityOptions:
    """`gatecrash capacity`'s options, validated."""

    archs: list[str]
    sweep: SweepSteps
    slo: Slo
    deploy: DeploySpec
    mix: Mix
    runtime: RuntimeKind
    out: Path
    cache: bool


def capacity_options(args: argparse.Namespace) -> CapacityOptions:
    """Validate the options before anything starts (InputError naming the option)."""
    return CapacityOptions(
        archs=ARCHS[args.arch],
        slo=_validated(lambda: Slo(p95_ms=args.slo_p95_ms, availability=args.slo_availability),
                       "--slo-p95-ms/--slo-availability"),
        sweep=_validated(lambda: SweepSteps(rate_start=args.start, step_rps=args.step,
                                            step_s=args.step_s, rate_max=args.max),
                         "--start/--step/--step-s/--max"),
        deploy=_validated(lambda: DeploySpec(replicas=args.replicas,
                                             inference=args.inference_backend,
                                             proxies=not args.no_proxies), "--replicas"),
        mix=parse_mix(args.mix) if args.mix else DEFAULT_MIX,
        runtime=RuntimeKind(args.runtime), out=args.out, cache=not args.no_cache)


def run_capacity(options: CapacityOptions, stop: threading.Event,
                 live: Callable[[LiveProgress], None],
                 say: Callable[[str], None]) -> list[CapacityResult]:
    """Sweep each architecture, remembering its knee (unless told not to)."""
    o = options
    capacities = Capacities()
    results: list[CapacityResult] = []
    for arch in o.archs:
        if stop.is_set():
            break
        say(f"== capacity sweep of {arch}: {o.sweep.rate_start:g} to {o.sweep.rate_max:g} "
            f"req/s in steps of {o.sweep.step_rps:g} req/s x {o.sweep.step_s:g} s, SLO {o.slo}")
        result = measure_capacity(arch, o.out, sweep=o.sweep, slo=o.slo, deploy=o.deploy,
                                  mix=o.mix, runtime=o.runtime, stop=stop, live=live)
        results.append(result)
        if o.cache and not stop.is_set():
            experiment = capacity_experiment(arch, sweep=o.sweep, slo=o.slo, deploy=o.deploy,
                                             mix=o.mix)
            capacities.remember(capacity_key(experiment, arch, o.runtime), result)
    return results


def capacity_exit_code(results: list[CapacityResult]) -> int:
    """0 when every knee is bounded on both sides, 3 otherwise."""
    bounded = all(r.bounded and math.isfinite(r.capacity.low) for r in results)
    return EXIT_OK if results and bounded else EXIT_INCONCLUSIVE
