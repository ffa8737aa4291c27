"""The built-in architectures' knee and CPU cost per request, now and at another commit.

    python benchmarks/knee_bench.py [--against REV] [--arch single,dual] [--repeat 1]
                                    [--fixed-rps 40] [--start 20] [--step 20] [--step-s 5]
                                    [--max 600] [--json out.json]

Per architecture it measures, with `gatecrash.capacity.measure_capacity` (the
capacity sweep: stepped open-loop rate, knee = the last step before two failing
ones, SLO p95 <= 250 ms and availability >= 99 % by default):
- the knee and its interval;
- CPU-ms per request of every component (all its instances, idle work such as
  health checks included) over a fixed-rate step of `--fixed-rps` req/s held for
  `--fixed-s` seconds, before the sweep, on the same deployed stack.

With `--against REV`, REV is checked out into a temporary git worktree and
measured in the same run, alternating with the working tree architecture by
architecture (these machines are noisy), and the ratios are printed. Only the
system under test (`targets/`) is taken from REV: the harness, the load
generator and the hop proxies are the working tree's on both sides, so the two
sides differ by the services alone. Each measurement runs in its own process
whose PYTHONPATH puts that side's `targets/` first; the stack's instances
inherit it.

Every figure is printed with the load average around it: other processes on
the machine take CPU from the stack, which lowers the knee far more than it
changes CPU-ms per request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# No sys.path change here: each measurement's process gets its side's PYTHONPATH.
ROOT = Path(__file__).resolve().parents[1]

# The packages that make the system under test; everything else is the harness.
SUT_PACKAGES = ("targets",)
HARNESS_PACKAGES = ("gatecrash", "chaos", "loadtests", "dashboards", "records")
DEFAULT_FIXED_RPS = 40.0  # the old built-in single sustained ~56 req/s: both sides hold 40
DEFAULT_FIXED_S = 15.0
DEFAULT_SWEEP = {"start": 20.0, "step": 20.0, "step_s": 5.0, "max": 600.0}
# Issue 12's goals, checked on the working tree's figures.
GOAL_SINGLE_KNEE_RPS = 150.0
GOAL_GATEWAY_CPU_MS = 4.0
MEASURE_TIMEOUT_S = 1800
STOP_GRACE_S = 60  # for a stopped measurement to remove its stack
WORKING_TREE = "working tree"
# The gateways and the router (by component name prefix): their CPU per request
# is printed for every step of the sweep.
ENTRY_COMPONENTS = ("gateway", "router")


def _loadavg() -> float:
    return os.getloadavg()[0]


# -- one measurement (runs in its own process, on one side's PYTHONPATH) ------
def measure_one(arch: str, fixed_rps: float, fixed_s: float, sweep_args: dict[str, float],
                out: Path) -> dict[str, Any]:
    """Deploy `arch` once; a fixed-rate step for the component costs, then the sweep."""
    from gatecrash.capacity import capacity_experiment, measure_capacity
    from gatecrash.experiment import DeploySpec
    from gatecrash.runner import deploy_options
    from gatecrash.runtimes import deployed_stack
    from loadtests.spec import SweepSteps

    deploy = DeploySpec(inference="standin")  # no model: the mix has no chat
    fixed = SweepSteps(rate_start=fixed_rps, step_rps=fixed_rps, step_s=fixed_s,
                       rate_max=fixed_rps)
    sweep = SweepSteps(rate_start=sweep_args["start"], step_rps=sweep_args["step"],
                       step_s=sweep_args["step_s"], rate_max=sweep_args["max"])
    options = deploy_options(capacity_experiment(arch, sweep=sweep, deploy=deploy))
    import targets

    load = {"before": _loadavg()}
    with deployed_stack(arch, **options) as deployed:
        steady = measure_capacity(arch, out, sweep=fixed, deploy=deploy, deployed=deployed,
                                  report=False)
        load["fixed"] = _loadavg()
        knee = measure_capacity(arch, out, sweep=sweep, deploy=deploy, deployed=deployed,
                                report=False)
        load["after"] = _loadavg()
    step = steady.record.steps[0]
    return {
        "arch": arch,
        "targets": str(Path(targets.__file__).resolve().parent),
        "knee_rps": knee.knee_rps,
        "capacity": knee.record.capacity.model_dump(),
        "sweep_ended": knee.record.ended,
        "sweep_host_max_pct": max((s.host_max_pct for s in knee.record.steps), default=0.0),
        "fixed": {"rate_rps": step.rate_rps, "outcome": step.outcome,
                  "p95_ms": step.p95_corrected_ms.value,
                  "availability": step.availability.value, "host_max_pct": step.host_max_pct,
                  "components": {c.component: c.cpu_ms_per_request for c in step.components}},
        "loadavg": load,
        "steps": [{"rate_rps": s.rate_rps, "outcome": s.outcome,
                   "p95_ms": s.p95_corrected_ms.value, "host_max_pct": s.host_max_pct,
                   "components": {c.component: c.cpu_ms_per_request for c in s.components}}
                  for s in knee.record.steps],
        "runs": [str(steady.run_dir), str(knee.run_dir)],
    }


# -- the sides ------------------------------------------------------------------
@contextmanager
def side_roots(against: str | None, scratch: Path) -> Iterator[dict[str, Path]]:
    """PYTHONPATH roots: the working tree, and REV's `targets/` with today's harness."""
    roots = {WORKING_TREE: ROOT}
    if against is None:
        yield roots
        return
    checkout = scratch / "rev"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                    str(checkout), against], check=True)
    try:
        hybrid = scratch / "rev-sut"
        hybrid.mkdir()
        for name in SUT_PACKAGES:
            (hybrid / name).symlink_to(checkout / name)
        for name in HARNESS_PACKAGES:
            (hybrid / name).symlink_to(ROOT / name)
        roots[against] = hybrid
        yield roots
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(checkout)], check=False)


def run_side(root: Path, arch: str, args: argparse.Namespace, scratch: Path,
             tag: str) -> dict[str, Any]:
    result = scratch / f"{tag}.json"
    home = scratch / f"home-{tag}"  # stacks of this measurement only
    env = {**os.environ, "PYTHONPATH": str(root), "GATECRASH_HOME": str(home)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-one", arch,
           "--result", str(result), "--out", str(args.out), "--fixed-rps", str(args.fixed_rps),
           "--fixed-s", str(args.fixed_s), "--start", str(args.start), "--step", str(args.step),
           "--step-s", str(args.step_s), "--max", str(args.max)]
    # Run from a folder without packages: `python -m targets` puts its working
    # folder first on sys.path, ahead of PYTHONPATH, and the instances inherit it.
    proc = subprocess.Popen(cmd, env=env, cwd=scratch, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=MEASURE_TIMEOUT_S)
    except BaseException:
        # Ctrl-C, SIGTERM or the timeout: ask the measurement to stop the way Ctrl-C
        # does, so that it removes its stack; only then kill it.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    if proc.returncode != 0 or not result.exists():
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SystemExit(f"measuring {arch} at {tag} failed (exit {proc.returncode}):\n{tail}")
    measured: dict[str, Any] = json.loads(result.read_text())
    if Path(measured["targets"]) != (root / "targets").resolve():
        raise SystemExit(f"measuring {arch} at {tag} imported {measured['targets']}, "
                         f"not the targets/ of {root}")
    return measured


# -- printing -------------------------------------------------------------------
def _knee(m: dict[str, Any]) -> str:
    c = m["capacity"]
    knee = m["knee_rps"]
    head = f"{knee:.0f}" if knee is not None else "none"
    return f"{head} [{c['low']:.0f}, {c['high']:.0f}]"


def _entry_cpu(components: dict[str, float]) -> str:
    """CPU-ms per request of the components requests enter by (gateway or router)."""
    entry = [f"{components[c]:.1f}" for c in sorted(components)
             if c.startswith(ENTRY_COMPONENTS)]
    return "/".join(entry) or "-"


def _ratio(new: float | None, old: float | None) -> str:
    if new is None or old is None or old == 0:
        return "-"
    return f"{new / old:.2f}x"


def report(results: dict[str, dict[str, list[dict[str, Any]]]], sides: list[str]) -> list[str]:
    lines: list[str] = []
    for arch, by_side in results.items():
        lines.append(f"== {arch}")
        for side in sides:
            for m in by_side.get(side, []):
                f = m["fixed"]
                load = m["loadavg"]
                lines.append(
                    f"  {side:<14} knee {_knee(m):<18} fixed {f['rate_rps']:.0f} req/s: "
                    f"{f['outcome']}, p95 {f['p95_ms']:.0f} ms, host max {f['host_max_pct']:.0f} %"
                    f" | load avg {load['before']:.1f} / {load['fixed']:.1f} / "
                    f"{load['after']:.1f}")
                lines.append("    sweep (req/s: outcome, p95 ms, entry CPU-ms/req): " + ", ".join(
                    f"{st['rate_rps']:.0f}: {st['outcome']} {st['p95_ms']:.0f} "
                    f"{_entry_cpu(st['components'])}" for st in m["steps"]))
        components = sorted({c for ms in by_side.values() for m in ms
                             for c in m["fixed"]["components"]})
        header = "  CPU-ms/request" + "".join(f"{s[:14]:>16}" for s in sides)
        if len(sides) == 2:
            header += f"{'ratio':>10}"
        lines.append(header)
        for comp in components:
            values = [_median([m["fixed"]["components"].get(comp) for m in by_side.get(s, [])])
                      for s in sides]
            row = f"  {comp:<14}" + "".join(
                f"{v:>16.2f}" if v is not None else f"{'-':>16}" for v in values)
            if len(sides) == 2:
                row += f"{_ratio(values[0], values[1]):>10}"
            lines.append(row)
    return lines


def _median(values: list[float | None]) -> float | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    mid = len(present) // 2
    return present[mid] if len(present) % 2 else (present[mid - 1] + present[mid]) / 2


def goals(results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Issue 12's goals, on the working tree's medians."""
    def knee(arch: str) -> float | None:
        return _median([m["knee_rps"] for m in results.get(arch, {}).get(WORKING_TREE, [])])

    lines = ["== goals (working tree)"]
    single, dual = knee("single"), knee("dual")
    if "single" in results:
        ok = single is not None and single >= GOAL_SINGLE_KNEE_RPS
        lines.append(f"  single knee >= {GOAL_SINGLE_KNEE_RPS:.0f} req/s: "
                     f"{'met' if ok else 'NOT met'} ({single})")
        gw = _median([m["fixed"]["components"].get("gateway")
                      for m in results["single"].get(WORKING_TREE, [])])
        ok = gw is not None and gw <= GOAL_GATEWAY_CPU_MS
        lines.append(f"  gateway-1 <= {GOAL_GATEWAY_CPU_MS:.0f} ms CPU per request: "
                     f"{'met' if ok else 'NOT met'} ({gw})")
    if "single" in results and "dual" in results:
        ok = single is not None and dual is not None and dual >= single
        lines.append(f"  dual knee >= single knee: {'met' if ok else 'NOT met'} "
                     f"(dual {dual}, single {single})")
    return lines


# -- entry ------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", metavar="REV", help="also measure REV's targets/")
    ap.add_argument("--arch", default="single,dual", help="comma-separated (default both)")
    ap.add_argument("--repeat", type=int, default=1, help="measurements per side and arch")
    ap.add_argument("--fixed-rps", type=float, default=DEFAULT_FIXED_RPS)
    ap.add_argument("--fixed-s", type=float, default=DEFAULT_FIXED_S)
    ap.add_argument("--start", type=float, default=DEFAULT_SWEEP["start"])
    ap.add_argument("--step", type=float, default=DEFAULT_SWEEP["step"])
    ap.add_argument("--step-s", type=float, default=DEFAULT_SWEEP["step_s"])
    ap.add_argument("--max", type=float, default=DEFAULT_SWEEP["max"])
    ap.add_argument("--out", type=Path, default=None, help="runs folder (default: temporary)")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--measure-one", help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sweep_args = {"start": args.start, "step": args.step, "step_s": args.step_s,
                  "max": args.max}

    if args.measure_one:
        measured = measure_one(args.measure_one, args.fixed_rps, args.fixed_s, sweep_args,
                               args.out)
        args.result.write_text(json.dumps(measured))
        return 0

    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    unknown = [a for a in archs if a not in ("single", "dual")]
    if unknown or args.repeat < 1:
        print(f"knee_bench: --arch takes single and/or dual (got {args.arch}); "
              f"--repeat >= 1", file=sys.stderr)
        return 2
    # SIGTERM ends the run like Ctrl-C: the measurement in flight removes its stack.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    scratch = Path(tempfile.mkdtemp(prefix="knee-bench-"))
    args.out = (args.out or scratch / "runs").resolve()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {a: {} for a in archs}
    started = time.monotonic()
    try:
        with side_roots(args.against, scratch) as roots:
            sides = list(roots)
            for arch in archs:
                for r in range(args.repeat):
                    order = sides if r % 2 == 0 else sides[::-1]  # alternate who goes first
                    for side in order:
                        tag = f"{arch}-{r}-{'rev' if side != WORKING_TREE else 'wt'}"
                        print(f"measuring {arch} ({side}), round {r + 1}/{args.repeat}, "
                              f"load avg {_loadavg():.1f} ...", flush=True)
                        m = run_side(roots[side], arch, args, scratch, tag)
                        results[arch].setdefault(side, []).append(m)
    finally:
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        shutil.rmtree(scratch, ignore_errors=True)  # run folders too, unless --out
    print()
    for line in [*report(results, sides), *goals(results)]:
        print(line)
    print(f"({time.monotonic() - started:.0f} s; knee = capacity sweep "
          f"{args.start:g}..{args.max:g} req/s step {args.step:g} x {args.step_s:g} s; "
          f"component CPU at {args.fixed_rps:g} req/s for {args.fixed_s:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
