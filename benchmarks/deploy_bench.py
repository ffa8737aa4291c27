"""Local deploy and teardown times, instances forked (now) against started cold (before).

    python benchmarks/deploy_bench.py [--order single,dual,single]

One process deploys the stacks in `--order` twice: first with every instance a
fresh interpreter (the baseline: the local runtime without fork servers), then
with the fork servers (chaos.runtime.forks), which the first stack of a process
starts and the next ones reuse. Inference is the stand-in, as in the claims
suite. Prints seconds per deploy and teardown (the teardown is today's in both:
every instance signalled at once).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager

from chaos.runtime.forks import close_fork_servers
from chaos.runtime.local import LocalRuntime
from gatecrash import local
from gatecrash.runtimes import deployed_stack
from gatecrash.stacks import Stack


@contextmanager
def _cold() -> Iterator[None]:
    """The local backend as it was: no fork servers."""
    forked = local.LocalBackend.runtime

    def cold(self: local.LocalBackend, stack: Stack, *, attached: bool) -> LocalRuntime:
        return LocalRuntime(local.plans_for(stack), stack.dir, attached=attached)

    local.LocalBackend.runtime = cold  # type: ignore[method-assign]
    try:
        yield
    finally:
        local.LocalBackend.runtime = forked  # type: ignore[method-assign]


def _deploys(order: list[str]) -> list[tuple[str, float, float]]:
    times = []
    for arch in order:
        started = time.monotonic()
        with deployed_stack(arch, inference_backend="standin"):
            up = time.monotonic() - started
            down_started = time.monotonic()
        times.append((arch, up, time.monotonic() - down_started))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--order", default="single,dual,single")
    order = parser.parse_args().order.split(",")
    close_fork_servers()
    with _cold():
        cold = _deploys(order)
    forked = _deploys(order)
    for label, times in (("cold", cold), ("forked", forked)):
        for arch, up, down in times:
            print(f"{label:7s} {arch:7s} deploy {up:5.1f} s   teardown {down:4.1f} s")


if __name__ == "__main__":
    main()
