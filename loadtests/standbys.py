"""Locust interpreters started ahead of their loads, for loads run back to back.

Inside `standby_generators()`, one interpreter (loadtests.standby) is kept
ready: started on entry, and again each time a load has stopped, while the
conductor analyses that run. `start_load` hands the next load to it instead of
starting Locust cold, which saves the ~1.2 s of imports from each load's
start. It is never started while a load runs, so it takes no CPU from a
measurement. Outside the context nothing changes. On exit the unused standby is
killed; if the conductor dies, the standby reads the end of its stdin and exits.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator

from loadtests.config import PACKAGE_ROOT, StandbyOrders, locust_env

__all__ = ["hand_to_standby", "refill_standby", "standby_generators"]

STANDBY_MODULE = "loadtests.standby"
KILL_WAIT_S = 5.0

_LOCK = threading.Lock()
_POOL: _Pool | None = None


class _Pool:
    def __init__(self, python: str) -> None:
        self.python = python
        self.ready: subprocess.Popen[bytes] | None = None

    def refill(self) -> None:
        if self.ready is not None and self.ready.poll() is None:
            return
        # cwd: the checkout, so `-m`'s first path entry shadows nothing of Locust's.
        self.ready = subprocess.Popen(
            [self.python, "-m", STANDBY_MODULE], cwd=PACKAGE_ROOT, env=locust_env({}),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def take(self, python: str) -> subprocess.Popen[bytes] | None:
        proc, self.ready = self.ready, None
        if proc is not None and (proc.poll() is not None or python != self.python):
            _kill(proc)
            return None
        return proc

    def close(self) -> None:
        if self.ready is not None:
            _kill(self.ready)
            self.ready = None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(KILL_WAIT_S)


@contextlib.contextmanager
def standby_generators(python: str = sys.executable) -> Iterator[None]:
    """Keep one Locust interpreter ready for the loads started inside (see module doc)."""
    global _POOL
    with _LOCK:
        if _POOL is not None:  # nested: the outer context keeps the pool
            outer = True
        else:
            outer = False
            _POOL = _Pool(python)
            _POOL.refill()
    try:
        yield
    finally:
        if not outer:
            with _LOCK:
                pool, _POOL = _POOL, None
                if pool is not None:
                    pool.close()


def refill_standby() -> None:
    """A load has stopped: get the next one's interpreter ready (inside the context)."""
    with _LOCK:
        if _POOL is not None:
            _POOL.refill()


def hand_to_standby(python: str, orders: StandbyOrders) -> subprocess.Popen[bytes] | None:
    """The ready standby, now running the load of `orders`; None if there is none
    (outside the context, or it died): start Locust the usual way then."""
    with _LOCK:
        proc = _POOL.take(python) if _POOL is not None else None
    if proc is None or proc.stdin is None:
        return None
    try:
        proc.stdin.write(orders.model_dump_json().encode() + b"\n")
        proc.stdin.close()
    except OSError:  # it died between the check and the orders
        _kill(proc)
        return None
    return proc
