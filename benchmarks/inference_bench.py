"""Inference throughput and latency at 1, 4 and 16 concurrent streams, in one run.

    python benchmarks/inference_bench.py --backend tiny
    python benchmarks/inference_bench.py --backend smollm2 --json runs/bench.json
    python benchmarks/inference_bench.py --url http://127.0.0.1:8100   # a running server

Starts `python -m targets.inference` (unless --url), warms it up, then for each
concurrency level runs that many closed-loop streaming clients for --duration
seconds. Reports aggregate output tokens/s, TTFT p50/p95 (first content chunk - send,
DESIGN.md §5), TPOT p50, and batching efficiency = tokens/s at the highest level ÷
tokens/s at 1 stream. Every request asks for exactly --max-tokens tokens
(`ignore_eos`), so levels compare like with like.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

DEFAULT_LEVELS = (1, 4, 16)
DEFAULT_MAX_TOKENS = 128
DEFAULT_DURATION_S = 8.0
WARMUP_REQUESTS = 2
STARTUP_TIMEOUT_S = 600.0  # a first smollm2 start converts the GGUF (~30 s, more when busy)
REQUEST_TIMEOUT_S = 300.0
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
# Cheap checks on the raw SSE line: no JSON parsing per token on the client side.
_CONTENT_MARK = '"delta":{"content":'
_METRIC_RE = r"^{name} (\S+)$"


@dataclass
class RequestResult:
    ttft_s: float
    e2e_s: float
    tokens: int
    chunks: int


@dataclass
class LevelResult:
    concurrency: int
    requests: int
    output_tokens: int
    wall_s: float
    tokens_per_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    tpot_p50_ms: float
    mean_batch: float | None = None  # server side: tokens per decode step
    errors: int = 0


@dataclass
class BenchReport:
    backend: str
    url: str
    model: str
    device: str
    max_tokens: int
    duration_s: float
    levels: list[LevelResult] = field(default_factory=list)
    batching_efficiency: float | None = None
    host: dict[str, Any] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def one_request(client: httpx.AsyncClient, url: str, max_tokens: int,
                      seed: int) -> RequestResult:
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
        "temperature": 1.0,
        "seed": seed,
    }
    sent = time.perf_counter()
    first: float | None = None
    chunks = 0
    tokens = 0
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            detail = (await response.aread()).decode(errors="replace")[:200]
            raise RuntimeError(f"HTTP {response.status_code}: {detail}")
        async for line in response.aiter_lines():
            if _CONTENT_MARK in line:
                chunks += 1
                if first is None and '"content":""' not in line:
                    first = time.perf_counter()
            elif '"usage":{' in line:
                tokens = int(json.loads(line[len("data: "):])["usage"]["completion_tokens"])
    done = time.perf_counter()
    first = first if first is not None else done
    return RequestResult(ttft_s=first - sent, e2e_s=done - sent, tokens=tokens or chunks,
                         chunks=chunks)


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    names = ("gatecrash_inference_generated_tokens_total",
             "gatecrash_inference_decode_steps_total")
    try:
        text = (await client.get(f"{url}/metrics")).text
    except httpx.HTTPError:
        return {}
    found = {}
    for name in names:
        match = re.search(_METRIC_RE.format(name=name), text, re.MULTILINE)
        if match:
            found[name] = float(match.group(1))
    return found


async def run_level(url: str, concurrency: int, max_tokens: int,
                    duration_s: float) -> LevelResult:
    limits = httpx.Limits(max_connections=concurrency + 2,
                          max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        before = await scrape(client, url)
        results: list[RequestResult] = []
        errors = 0
        start = time.perf_counter()
        stop_at = start + duration_s

        async def worker(index: int) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < stop_at:
                try:
                    results.append(await one_request(client, url, max_tokens,
                                                     seed=index * 100_000 + n))
                except (httpx.HTTPError, RuntimeError) as exc:
                    errors += 1
                    print(f"  request failed: {exc}", file=sys.stderr)
                    await asyncio.sleep(0.1)
                n += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - start
        after = await scrape(client, url)

    tokens = sum(r.tokens for r in results)
    tpots = [(r.e2e_s - r.ttft_s) / (r.chunks - 1) for r in results if r.chunks > 1]
    mean_batch = None
    steps_key, tokens_key = ("gatecrash_inference_decode_steps_total",
                             "gatecrash_inference_generated_tokens_total")
    if steps_key in before and steps_key in after:
        steps = after[steps_key] - before[steps_key]
        if steps > 0:
            mean_batch = (after[tokens_key] - before[tokens_key]) / steps
    return LevelResult(
        concurrency=concurrency,
        requests=len(results),
        output_tokens=tokens,
        wall_s=wall,
        tokens_per_s=tokens / wall if wall > 0 else 0.0,
        ttft_p50_ms=1000 * percentile([r.ttft_s for r in results], 0.50),
        ttft_p95_ms=1000 * percentile([r.ttft_s for r in results], 0.95),
        tpot_p50_ms=1000 * statistics.median(tpots) if tpots else float("nan"),
        mean_batch=mean_batch,
        errors=errors,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, max_level: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "targets.inference", "--host", "127.0.0.1", "--port",
           str(port), "--instance", "inference-bench", "--backend", args.backend,
           "--max-batch-size", str(args.max_batch_size or max_level),
           "--max-queue", str(max(64, 2 * max_level)),
           "--device", args.device, "--log-level", "warning"]
    if args.cpu_threads:
        cmd += ["--cpu-threads", str(args.cpu_threads)]
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(cmd, cwd=repo, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the inference server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit(f"the inference server did not start in {STARTUP_TIMEOUT_S:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def warm_up(url: str, max_level: int, max_tokens: int) -> None:
    """First calls pay for lazy imports, allocator growth and CUDA kernel selection."""
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
        for _ in range(WARMUP_REQUESTS):
            await one_request(client, url, max_tokens, seed=0)
        await asyncio.gather(*(one_request(client, url, max_tokens, seed=i)
                               for i in range(max_level)))


def host_info() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                            "platform": platform.platform()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def render(report: BenchReport) -> str:
    head = (f"inference benchmark: backend={report.backend} model={report.model} "
            f"device={report.device} max_tokens={report.max_tokens} "
            f"duration={report.duration_s:g}s per level")
    rows = [head, "",
            f"{'streams':>7} {'requests':>8} {'out tok':>8} {'tok/s':>9} {'TTFT p50':>9} "
            f"{'TTFT p95':>9} {'TPOT p50':>9} {'batch':>6} {'errors':>6}"]
    for lv in report.levels:
        batch = f"{lv.mean_batch:.1f}" if lv.mean_batch is not None else "-"
        rows.append(f"{lv.concurrency:>7} {lv.requests:>8} {lv.output_tokens:>8} "
                    f"{lv.tokens_per_s:>9.1f} {lv.ttft_p50_ms:>7.1f}ms {lv.ttft_p95_ms:>7.1f}ms "
                    f"{lv.tpot_p50_ms:>7.2f}ms {batch:>6} {lv.errors:>6}")
    if report.batching_efficiency is not None:
        top = report.levels[-1].concurrency
        rows += ["", f"batching efficiency = tok/s at {top} / tok/s at 1 = "
                     f"{report.batching_efficiency:.2f}x"]
    return "\n".join(rows)


async def bench(url: str, args: argparse.Namespace, levels: list[int]) -> BenchReport:
    health = httpx.get(f"{url}/health", timeout=10).json()
    await warm_up(url, max(levels), min(args.max_tokens, 32))
    report = BenchReport(backend=str(health.get("backend", args.backend)), url=url,
                         model=str(health.get("model", "?")),
                         device=str(health.get("device", "?")), max_tokens=args.max_tokens,
                         duration_s=args.duration, host=host_info())
    for level in levels:
        result = await run_level(url, level, args.max_tokens, args.duration)
        report.levels.append(result)
        print(f"  {level:>3} streams: {result.tokens_per_s:8.1f} tok/s, "
              f"TTFT p50 {result.ttft_p50_ms:.1f} ms", file=sys.stderr)
    by_level = {lv.concurrency: lv.tokens_per_s for lv in report.levels}
    if 1 in by_level and by_level[1] > 0 and len(levels) > 1:
        report.batching_efficiency = by_level[max(levels)] / by_level[1]
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="tiny",
                   help="tiny | smollm2 | path:/dir | upstream:URL (ignored with --url)")
    p.add_argument("--url", default=None, help="benchmark this running server instead")
    p.add_argument("--levels", default=",".join(map(str, DEFAULT_LEVELS)),
                   help="concurrent streams per level, comma-separated (include 1)")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    p.add_argument("--duration", type=float, default=DEFAULT_DURATION_S,
                   help="seconds of closed-loop load per level")
    p.add_argument("--max-batch-size", type=int, default=0,
                   help="server batch size (default: the highest level)")
    p.add_argument("--device", default="auto")
    p.add_argument("--cpu-threads", type=int, default=0,
                   help="torch threads on CPU (default: the server's, all cores but one)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    levels = sorted({int(x) for x in args.levels.split(",") if x.strip()})
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args, max(levels))
    try:
        report = asyncio.run(bench(url.rstrip("/"), args, levels))
    finally:
        if proc is not None:
            stop_server(proc)
    print(render(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(report), indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
