"""Load generator scaling: request rate with 1 remote worker vs 2, recorder on, in one run.

    python benchmarks/generator_scaling.py [--rounds 3] [--duration 12] [--users 32] [--json PATH]

Each arm is a real remote-worker run: a Locust master started by `start_load`
with `RemoteWorkers(n)`, and n `gatecrash worker` processes, each in its own
empty folder, joining over 127.0.0.1; every row comes back to the master's run
folder over the row channel. The same closed-loop users (no think time,
identity + business) hit the trivial endpoint of benchmarks/trivial_target.py,
which shares the cores. Arms alternate (1, 2, 1, 2, ...) so drift in the
shared host's load hits both; each arm's rate is the growth of the workers'
reported requests over the steady part of the run (after a warm-up), read from
the live files the master writes for its workers.

Goal (issue 13): rate(2 workers) / rate(1 worker) >= 1.5 on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from benchmarks.trivial_target import free_port, start_target  # noqa: E402
from loadtests import LoadSpec, MasterAddress, Mix, RemoteWorkers, start_load  # noqa: E402
from loadtests.live import read_live  # noqa: E402
from records import read_rows  # noqa: E402

GOAL = 1.5
WARMUP_S = 3.0
SAMPLE_S = 0.25
JOIN_TIMEOUT_S = 60
WORKER_EXIT_S = 30.0


@dataclass
class Arm:
    workers: int
    rate_rps: float
    requests: int
    rows: int
    missing: int
    failures: int
    generator_cpu_pct: float
    master_cpu_pct: float
    target_cpu_pct: float
    host_cpu_pct: float
    # Host CPU not ours (workers, master, target), in % of one core: the neighbours.
    others_cpu_pct: float


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _workers(master: MasterAddress, n: int, root: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        home = root / f"worker-{i}"  # its own empty folder: nothing shared with the master
        home.mkdir()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gatecrash.cli", "worker", "--master", str(master),
             "--name", f"gen-{i}"], cwd=home, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    return procs


def run_arm(url: str, n: int, users: int, duration: int, target: psutil.Process) -> Arm:
    spec = LoadSpec(mode="closed", users=users, duration_s=duration, mix=Mix(chat=0), seed=1)
    master = MasterAddress("127.0.0.1", free_port())
    samples: list[tuple[float, int, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="gc-scaling-") as tmp:
        out, hosts = Path(tmp) / "run", Path(tmp) / "hosts"
        hosts.mkdir()
        with start_load(spec, url, "bench-key", out,
                        remote=RemoteWorkers(n, master, JOIN_TIMEOUT_S)) as run:
            workers = _workers(master, n, hosts)
            try:
                run.wait_started(JOIN_TIMEOUT_S)
                gens = [psutil.Process(w.pid) for w in workers]
                master_proc = psutil.Process(run.pid)
                psutil.cpu_percent(None)
                while run.poll() is None:
                    live = read_live(run.paths.live_dir)
                    if (live.workers == n and not live.final and live.started
                            and live.ts - live.started >= WARMUP_S
                            and (not samples or live.ts > samples[-1][0])):
                        samples.append((live.ts, live.requests, _cpu_s(gens),
                                        _cpu_s([target]), _cpu_s([master_proc])))
                        if len(samples) == 1:
                            psutil.cpu_percent(None)
                    time.sleep(SAMPLE_S)
                host_pct = psutil.cpu_percent(None)
                run.wait()
            finally:
                for w in workers:
                    try:
                        w.wait(WORKER_EXIT_S)
                    except subprocess.TimeoutExpired:
                        w.kill()
                        w.wait()
        rows = read_rows(out)
        note = run.tally(rows)
        final = read_live(run.paths.live_dir)
    if len(samples) < 2:
        raise RuntimeError("run too short to measure; raise --duration")
    (t0, n0, g0, s0, m0), (t1, n1, g1, s1, m1) = samples[0], samples[-1]
    wall = t1 - t0
    ours = 100 * ((g1 - g0) + (s1 - s0) + (m1 - m0)) / wall
    cores = psutil.cpu_count() or 1
    return Arm(workers=n, rate_rps=(n1 - n0) / wall, requests=note.requests, rows=note.rows,
               missing=note.missing, failures=final.failures,
               generator_cpu_pct=100 * (g1 - g0) / wall, master_cpu_pct=100 * (m1 - m0) / wall,
               target_cpu_pct=100 * (s1 - s0) / wall, host_cpu_pct=host_pct,
               others_cpu_pct=max(host_pct * cores - ours, 0.0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="pairs of arms (1 worker, 2 workers)")
    ap.add_argument("--duration", type=int, default=12, help="seconds per arm")
    ap.add_argument("--users", type=int, default=32, help="closed-loop users, all workers")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()
    proc, url = start_target()
    arms: list[Arm] = []
    try:
        target = psutil.Process(proc.pid)
        for r in range(args.rounds):
            for n in (1, 2):
                arm = run_arm(url, n, args.users, args.duration, target)
                arms.append(arm)
                print(f"round {r + 1} workers={n} {arm.rate_rps:8.0f} req/s  "
                      f"workers {arm.generator_cpu_pct:5.1f}% master {arm.master_cpu_pct:4.1f}% "
                      f"target {arm.target_cpu_pct:5.1f}% others {arm.others_cpu_pct:5.1f}% "
                      f"(of a core)  "
                      f"rows {arm.rows} = requests {arm.requests} (missing {arm.missing})  "
                      f"failures {arm.failures}", flush=True)
    finally:
        proc.terminate()
        proc.wait(5)

    one = statistics.median(a.rate_rps for a in arms if a.workers == 1)
    two = statistics.median(a.rate_rps for a in arms if a.workers == 2)
    pairs = list(zip(arms[0::2], arms[1::2], strict=True))
    pair_ratio = statistics.median(b.rate_rps / a.rate_rps for a, b in pairs)
    rows_ok = all(a.rows == a.requests and a.missing == 0 for a in arms)
    print()
    print(f"{'workers':<10}{'median req/s':>14}")
    print(f"{'1':<10}{one:>14.0f}")
    print(f"{'2':<10}{two:>14.0f}")
    print(f"{'ratio':<10}{two / one:>14.3f}   goal >= {GOAL}: "
          f"{'MET' if two / one >= GOAL else 'NOT MET'}")
    print(f"{'rounds':<10}{pair_ratio:>14.3f}   (median of each round's own ratio)")
    print(f"rows in the run folder == requests reported in every arm: {rows_ok}")
    print(f"host: {psutil.cpu_count()} CPUs, load average before "
          f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({
            "goal": GOAL, "ratio": two / one, "median_round_ratio": pair_ratio,
            "median_rps_1_worker": one, "median_rps_2_workers": two,
            "rows_match_requests": rows_ok, "users": args.users, "duration_s": args.duration,
            "arms": [asdict(a) for a in arms], "cpus": psutil.cpu_count(),
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
