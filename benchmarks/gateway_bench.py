"""What each gateway implementation costs against the built-in one, in one run.

    python benchmarks/gateway_bench.py [--rate 40] [--seconds 15] [--json out.json]

For each implementation (builtin, nginx, haproxy; those installed), the same
`single` stack (stand-in inference) gets the same open-loop load: GET
/v1/articles at `--rate` requests per second, each sent at its planned time
by a pool of threads (latency measured from the planned send:
coordinated-omission corrected). Measured:
- p50 latency, and the p50 *added* against builtin: the bootstrap interval of
  the difference of medians (dashboards.intervals), with a Mann-Whitney test;
- CPU-ms per answered request of the gateway instance (its process and its
  children: NGINX's worker), from /proc through psutil, over the load.
The implementations run one after another on a quiet machine; the whole
stack shares the cores, as in a real run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psutil

from dashboards.intervals import bootstrap_estimate, rank_compare
from gatecrash.runtimes import deployed_stack, wait_pools_healthy
from targets.topology import GatewayKind

DEFAULT_RATE = 40.0
DEFAULT_SECONDS = 15.0
WARMUP_REQUESTS = 50
THREADS = 16
HEALTHY_S = 30.0
PATH = "/v1/articles?limit=5"


def _cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (NGINX's master and worker)."""
    total = 0.0
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def _measure(gateway: GatewayKind, rate: float, seconds: float) -> dict[str, object]:
    with deployed_stack("single", gateway=gateway, inference_backend="standin",
                        name=f"bench-gw-{gateway}") as (stack, runtime):
        if not wait_pools_healthy(stack, runtime, HEALTHY_S):
            raise SystemExit(f"{gateway}: pools did not settle")
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=stack.spec.entry_url, headers=headers,
                                            timeout=10, trust_env=False)
            return local.client

        def send(planned: float) -> tuple[float, int]:
            delay = planned - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                status = client().get(PATH).status_code
            except httpx.HTTPError:
                status = 0
            return (time.perf_counter() - planned) * 1000, status

        pid = runtime.pids()["gateway-1"]
        with ThreadPoolExecutor(THREADS) as pool:
            now = time.perf_counter()
            list(pool.map(send, [now + i / rate for i in range(WARMUP_REQUESTS)]))
            count = int(rate * seconds)
            start = time.perf_counter() + 0.2
            cpu_before = _cpu_s(pid)
            results = list(pool.map(send, [start + i / rate for i in range(count)]))
            cpu_after = _cpu_s(pid)
    latencies = np.array([ms for ms, status in results if status == 200])
    return {"gateway": gateway.value, "requests": count, "answered": int(latencies.size),
            "p50_ms": float(np.median(latencies)) if latencies.size else float("nan"),
            "p99_ms": float(np.percentile(latencies, 99)) if latencies.size else float("nan"),
            "cpu_ms_per_request": (cpu_after - cpu_before) * 1000 / max(1, latencies.size),
            "latencies_ms": latencies.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()
    kinds = [k for k in GatewayKind if k is GatewayKind.BUILTIN or shutil.which(k.value)]
    results = {k.value: _measure(k, args.rate, args.seconds) for k in kinds}
    base = np.array(results[GatewayKind.BUILTIN.value]["latencies_ms"])
    print(f"open loop {args.rate:g} req/s for {args.seconds:g}s, GET {PATH}, single, "
          f"{psutil.cpu_count()} cores")
    print(f"{'gateway':<9} {'answered':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'added p50 ms vs builtin (95% CI)':>34} {'CPU-ms/req':>11}")
    for name, row in results.items():
        other = np.array(row["latencies_ms"])
        added = bootstrap_estimate([other, base], lambda a, b: float(np.median(a)
                                                                      - np.median(b)))
        rank = rank_compare(other, base)
        row["added_p50_ms"] = {"value": added.value, "low": added.low, "high": added.high,
                               "mann_whitney_p": rank.p_value}
        shown = "—" if name == GatewayKind.BUILTIN.value else \
            f"{added.value:+.2f} [{added.low:+.2f}, {added.high:+.2f}] p={rank.p_value:.2g}"
        print(f"{name:<9} {row['answered']:>5}/{row['requests']:<4} {row['p50_ms']:>7.2f} "
              f"{row['p99_ms']:>8.2f} {shown:>34} {row['cpu_ms_per_request']:>11.3f}")
    if args.json:
        for row in results.values():
            row.pop("latencies_ms")
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
