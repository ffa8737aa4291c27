"""Cost of the per-request recorder: max request rate with and without it, in one run.

    python benchmarks/recorder_bench.py [--rounds 3] [--duration 10] [--users 20] [--json PATH]

The same Locust users (loadtests' ClosedLoopUser, no think time, business +
identity mix) hit the same trivial endpoint: a tiny raw-asyncio HTTP server in
its own process that answers every request with a fixed JSON body and the
X-Gatecrash-* headers. Arms alternate (off, on, off, on, ...) so that drift in
the shared host's load hits both; the rate of each arm is measured from the
live-stats files over the steady part of the run (after a warm-up). The
"without" arm does not install the recorder hook at all (LoadSpec.record_rows
= False); its count comes from Locust's own stats.

Goal (issue 5): rate(with) / rate(without) >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from benchmarks.trivial_target import start_target  # noqa: E402
from loadtests import LoadSpec, Mix, start_load  # noqa: E402
from loadtests.layout import RunPaths  # noqa: E402
from loadtests.live import read_workers  # noqa: E402
from records import read_rows  # noqa: E402

GOAL = 0.95
WARMUP_S = 2.0
SAMPLE_S = 0.25
# -- one arm -------------------------------------------------------------------------


@dataclass
class Arm:
    recorder: bool
    rate_rps: float
    requests_per_cpu_s: float
    requests: int
    rows: int
    failures: int
    generator_cpu_pct: float
    server_cpu_pct: float


def _cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


def run_arm(url: str, recorder: bool, users: int, duration: int, server: psutil.Process) -> Arm:
    spec = LoadSpec(mode="closed", users=users, duration_s=duration, mix=Mix(chat=0),
                    record_rows=recorder, seed=1)
    # (live ts, requests, generator CPU s, server CPU s) over the steady window
    samples: list[tuple[float, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="gc-bench-") as tmp:
        out = Path(tmp)
        with start_load(spec, url, "bench-key", out) as run:
            run.wait_started(timeout_s=30)
            gen = psutil.Process(run.pid)
            while run.poll() is None:
                live = read_workers(run.paths.live_dir)
                if live and not live[0].final:
                    w = live[0]
                    if w.ts - w.started >= WARMUP_S and (not samples or w.ts > samples[-1][0]):
                        try:
                            samples.append((w.ts, w.requests, _cpu_s(gen), _cpu_s(server)))
                        except psutil.Error:
                            break
                time.sleep(SAMPLE_S)
            run.wait()
        rows = len(read_rows(out)) if recorder else 0
        final = read_workers(RunPaths(out).live_dir)
    if len(samples) < 2:
        raise RuntimeError("run too short to measure; raise --duration")
    (t0, n0, g0, s0), (t1, n1, g1, s1) = samples[0], samples[-1]
    wall = t1 - t0
    return Arm(
        recorder=recorder, rate_rps=(n1 - n0) / wall,
        requests_per_cpu_s=(n1 - n0) / max(g1 - g0, 1e-9),
        requests=final[0].requests if final else n1, rows=rows,
        failures=final[0].failures if final else -1,
        generator_cpu_pct=100 * (g1 - g0) / wall, server_cpu_pct=100 * (s1 - s0) / wall,
    )


# -- the whole benchmark -----------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="pairs of arms (off, on)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per arm")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    proc, url = start_target()
    arms: list[Arm] = []
    try:
        server = psutil.Process(proc.pid)
        for r in range(args.rounds):
            for recorder in (False, True):
                arm = run_arm(url, recorder, args.users, args.duration, server)
                arms.append(arm)
                print(f"round {r + 1} recorder={'on ' if recorder else 'off'} "
                      f"{arm.rate_rps:8.0f} req/s  {arm.requests_per_cpu_s:8.0f} req/CPU-s  "
                      f"generator {arm.generator_cpu_pct:5.1f}% CPU  "
                      f"server {arm.server_cpu_pct:5.1f}% CPU  rows {arm.rows}  "
                      f"failures {arm.failures}", flush=True)
    finally:
        proc.terminate()
        proc.wait(5)

    off = statistics.median(a.rate_rps for a in arms if not a.recorder)
    on = statistics.median(a.rate_rps for a in arms if a.recorder)
    ratio = on / off
    # Requests per CPU-second of the generator: what the rate would be on a core of
    # its own. On a shared host the raw rate also moves with the neighbours' load.
    off_cpu = statistics.median(a.requests_per_cpu_s for a in arms if not a.recorder)
    on_cpu = statistics.median(a.requests_per_cpu_s for a in arms if a.recorder)
    ratio_cpu = on_cpu / off_cpu
    # Each round's own on/off ratio: neighbours' load drifts slower than one round.
    pairs = list(zip(arms[0::2], arms[1::2], strict=True))
    pair_ratio = statistics.median(b.rate_rps / a.rate_rps for a, b in pairs)
    pair_ratio_cpu = statistics.median(b.requests_per_cpu_s / a.requests_per_cpu_s
                                       for a, b in pairs)
    rows_ok = all(a.rows == a.requests for a in arms if a.recorder)
    clean = all(a.failures == 0 for a in arms)
    print()
    print(f"{'arm':<18}{'median req/s':>14}{'median req/CPU-s':>18}")
    print(f"{'without recorder':<18}{off:>14.0f}{off_cpu:>18.0f}")
    print(f"{'with recorder':<18}{on:>14.0f}{on_cpu:>18.0f}")
    print(f"{'ratio':<18}{ratio:>14.3f}{ratio_cpu:>18.3f}   goal >= {GOAL}: "
          f"{'MET' if ratio >= GOAL else 'NOT MET'} (rate), "
          f"{'MET' if ratio_cpu >= GOAL else 'NOT MET'} (per CPU-s)")
    print(f"{'median of rounds':<18}{pair_ratio:>14.3f}{pair_ratio_cpu:>18.3f}")
    print(f"rows written == requests in every recorder arm: {rows_ok}")
    print(f"no failed request in any arm: {clean}")
    print(f"host: {psutil.cpu_count()} CPUs, load average {psutil.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({
            "goal": GOAL, "ratio": ratio, "median_rps_without": off, "median_rps_with": on,
            "ratio_per_cpu_s": ratio_cpu, "median_round_ratio": pair_ratio,
            "median_round_ratio_per_cpu_s": pair_ratio_cpu, "median_req_per_cpu_s_without": off_cpu,
            "median_req_per_cpu_s_with": on_cpu,
            "rows_match_requests": rows_ok, "no_failures": clean,
            "users": args.users, "duration_s": args.duration,
            "arms": [asdict(a) for a in arms], "cpus": psutil.cpu_count(),
            "load_average_1m": psutil.getloadavg()[0],
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
