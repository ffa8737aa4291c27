"""Time from `gatecrash up` to healthy, process count and memory, per architecture.

    python benchmarks/stack_up.py [--repeat 3] [--backend standin|tiny] [--json PATH]

Memory is the peak, sampled every 0.2 s from the start, of the summed RSS of
the stack's processes (found by their stack marker, as the leak tests do).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from gatecrash.local import STACK_MARKER_ENV


def stack_processes(home: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(STACK_MARKER_ENV, "").startswith(home) or \
                    p.cwd().startswith(home):
                found.append(p)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def measure(arch: str, backend: str) -> dict[str, float]:
    home = tempfile.mkdtemp(prefix="gc-bench-")
    env = {**__import__("os").environ, "GATECRASH_HOME": home}
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(stack_processes(home)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    up = subprocess.run([sys.executable, "-m", "gatecrash.cli", "up", "--arch", arch,
                         "--detach", "--inference-backend", backend], env=env,
                        capture_output=True, text=True)
    healthy_s = time.monotonic() - started
    if up.returncode != 0:
        done.set()
        raise SystemExit(f"up failed: {up.stderr}")
    time.sleep(2.0)  # settled: idle memory after start-up
    procs = stack_processes(home)
    idle = rss_mb(procs)
    done.set()
    sampler.join()
    subprocess.run([sys.executable, "-m", "gatecrash.cli", "down"], env=env, check=True,
                   capture_output=True)
    left = len(stack_processes(home))
    return {"healthy_s": healthy_s, "processes": len(procs), "peak_rss_mb": peak,
            "idle_rss_mb": idle, "left_after_down": left}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="tiny")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for arch in ("single", "dual"):
        results[arch] = [measure(arch, args.backend) for _ in range(args.repeat)]
    print(f"inference backend: {args.backend}; {psutil.cpu_count()} CPUs; "
          f"load average {psutil.getloadavg()[0]:.1f}")
    print(f"{'arch':<7} {'up→healthy s (median, runs)':<34} {'processes':>9} "
          f"{'peak RSS MB':>12} {'idle RSS MB':>12} {'left':>5}")
    for arch, runs in results.items():
        times = ", ".join(f"{r['healthy_s']:.1f}" for r in runs)
        print(f"{arch:<7} {statistics.median(r['healthy_s'] for r in runs):6.1f} ({times})"
              f"{'':<{max(0, 20 - len(times))}} {runs[0]['processes']:>9.0f} "
              f"{max(r['peak_rss_mb'] for r in runs):>12.0f} "
              f"{statistics.median(r['idle_rss_mb'] for r in runs):>12.0f} "
              f"{max(r['left_after_down'] for r in runs):>5.0f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
