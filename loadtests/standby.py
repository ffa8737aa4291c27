"""A Locust interpreter started ahead of its load: `python -m loadtests.standby`.

Starting Locust costs about 1.2 s of CPU before the first request, most of it
imports (locust and gevent, then pyarrow and numpy for the recorder). A suite
runs a dozen loads back to back; started while the previous load's run is being
analysed, that cost overlaps work the conductor does anyway.

The process imports what `python -m locust -f loadtests/locustfile.py` would,
then waits for its orders: one JSON line on stdin (loadtests.config.StandbyOrders).
It then becomes that Locust process: same working folder, log, environment and
arguments. Without orders it exits: end of stdin (the conductor is gone or let it
go) or ORDERS_TIMEOUT_S. The conductor never imports this module.
"""

from __future__ import annotations

import os
import select
import sys

# Locust's own entry first: its import monkey-patches the standard library, as
# `python -m locust` does before anything else.
import locust.main
from setproctitle import setproctitle

from loadtests import agent, users  # noqa: F401  (the locustfile's imports, warmed)
from loadtests.config import StandbyOrders

# A standby nobody uses is not left behind for long.
ORDERS_TIMEOUT_S = 1800.0


def _orders() -> StandbyOrders | None:
    ready, _, _ = select.select([sys.stdin], [], [], ORDERS_TIMEOUT_S)
    line = sys.stdin.readline() if ready else ""
    return StandbyOrders.model_validate_json(line) if line.strip() else None


def _become(orders: StandbyOrders) -> None:
    """Take on the working folder, environment and files of a launched Locust."""
    os.chdir(orders.cwd)
    os.environ.update(orders.env)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # as launched: Locust's key listener must not read the pipe
    log = os.open(orders.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    sys.argv = ["locust", *orders.args]
    setproctitle(" ".join([sys.executable, "-m", "locust", *orders.args]))  # for `ps`


def main() -> None:
    orders = _orders()
    if orders is None:
        return
    _become(orders)
    locust.main.main()


if __name__ == "__main__":
    main()
