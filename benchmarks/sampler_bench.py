"""What the CPU sampler costs the conductor a sample, on a deployed local stack.

    python benchmarks/sampler_bench.py [--arch single] [--rounds 30]

Baseline, in the same run: walking each instance's process tree with psutil's
`children(recursive=True)`, as the sampler did (one pass over the whole process
table per call, so per instance). Against it: one whole sample of the sampler
now (`gatecrash.sampler._Usage`: one pass per sample, then CPU and memory of
every process of every tree). CPU is this process's time (time.process_time).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import psutil

from gatecrash.runtimes import deployed_stack
from gatecrash.sampler import _Usage


def _cost_ms(sample: Callable[[], None], rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        sample()
    return (time.process_time() - started) / rounds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="single", choices=["single", "dual"])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with deployed_stack(args.arch, inference_backend="standin") as (_, runtime):
        pids = runtime.pids()
        usage = _Usage()

        def per_instance_walks() -> None:
            for pid in pids.values():
                psutil.Process(pid).children(recursive=True)

        def one_sample() -> None:
            usage.begin_sample()
            for pid in pids.values():
                usage.of_tree(pid)
            usage.end_sample()

        for _ in range(2):
            before = _cost_ms(per_instance_walks, args.rounds)
            now = _cost_ms(one_sample, args.rounds)
            print(f"{len(pids)} instances, {len(psutil.pids())} processes on the host: "
                  f"tree walks alone {before:.1f} ms CPU a sample, the whole sample now "
                  f"{now:.1f} ms (x{before / now:.1f} less)")


if __name__ == "__main__":
    main()
