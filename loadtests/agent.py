"""Per-process wiring inside a Locust process: recorder, live stats, schedule.

Imported only by the locustfile (it imports gevent and locust). Installed on
Locust's `init` event, which fires in every process after `--processes`
forks, so each worker owns its recorder, its live file and its share of the
open-loop schedule; the master only checks the target and generates nothing.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent.threadpool import ThreadPoolExecutor
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.config import LaunchConfig, load_launch_config
from loadtests.errors import LoadError
from loadtests.hostguard import check_host
from loadtests.layout import RunPaths
from loadtests.live import write_worker_live
from loadtests.plans import MixPicker
from loadtests.recorder import RowRecorder
from loadtests.shapes import ArrivalSchedule, Ramp
from loadtests.spec import LoadSpec

__all__ = ["AgentState", "install", "state"]

log = logging.getLogger(__name__)

LIVE_INTERVAL_S = 1.0
# Worker → master: "my share of the open-loop schedule is sent and answered".
SCHEDULE_DONE_MSG = "gatecrash-schedule-done"

_STATE: AgentState | None = None


@dataclass
class AgentState:
    """What the users of one load process share."""

    config: LaunchConfig
    api_key: str
    environment: Environment
    recorder: RowRecorder
    picker: MixPicker
    paths: RunPaths
    _schedule: ArrivalSchedule | None = None
    _users: int = 0
    _ticker: Any = None
    _last: tuple[float, int] = (0.0, 0)
    _closed: bool = False
    _done_signalled: bool = False
    started: float = field(default_factory=time.time)

    @property
    def spec(self) -> LoadSpec:
        return self.config.spec

    @property
    def worker_index(self) -> int:
        # A worker learns its index from the master's ack, before any user spawns.
        return max(int(getattr(self.environment.runner, "worker_index", 0)), 0)

    def next_user_index(self) -> int:
        self._users += 1
        return self._users

    @property
    def schedule(self) -> ArrivalSchedule:
        """This process's share of the open-loop arrivals (built at first use)."""
        if self._schedule is None:
            distributed = isinstance(self.environment.runner, WorkerRunner)
            ramps = [Ramp(s.duration_s, *s.rates()) for s in self.spec.rate_stages()]
            self._schedule = ArrivalSchedule(
                ramps, max_lag_s=self.spec.max_lag_s,
                stride=self.spec.processes if distributed else 1,
                offset=self.worker_index if distributed else 0,
            )
        return self._schedule

    # -- live stats -----------------------------------------------------------
    def tick(self, final: bool = False) -> None:
        """Flush rows and rewrite this process's live file."""
        now = time.time()
        self.recorder.flush()
        c = self.recorder.snapshot()
        if not self.spec.record_rows:  # benchmark arm without the hook: Locust's own counts
            total = self.environment.stats.total
            c.requests, c.failures = total.num_requests, total.num_failures
        last_ts, last_n = self._last
        c.rate_rps = (c.requests - last_n) / (now - last_ts) if last_ts and now > last_ts else 0.0
        self._last = (now, c.requests)
        runner = self.environment.runner
        c.users = runner.user_count if runner is not None else 0
        c.ts, c.started, c.final = now, self.started, final
        if self._schedule is not None:
            c.dropped = self._schedule.dropped
            c.dropped_per_s = {str(k): v for k, v in self._schedule.dropped_per_s.items()}
        write_worker_live(self.paths.live_dir / f"{self.recorder.worker}.json", c)
        if not final:
            self._end_when_schedule_done()

    def _end_when_schedule_done(self) -> None:
        """Open loop: end the run once every arrival is answered.

        The schedule starts at the first claim, not at Locust's start, so Locust's
        --run-time is only an upper bound (LoadSpec.run_time_limit_s); ending here
        keeps a slow start from cutting off the last arrivals.
        """
        if self._done_signalled or self._schedule is None or not self._schedule.done:
            return
        self._done_signalled = True
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message(SCHEDULE_DONE_MSG, {"worker_index": self.worker_index})
        elif runner is not None:
            gevent.spawn(runner.quit)

    def _tick_forever(self) -> None:
        while True:
            gevent.sleep(LIVE_INTERVAL_S)
            try:
                self.tick()
            except OSError:
                log.exception("live stats / row flush failed")

    def close(self) -> None:
        """Last flush and final live file; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.kill(block=False)
        self.recorder.close()  # inline, never yields (see RowRecorder.close)
        self.tick(final=True)
        if self.recorder.executor is not None:
            # Idle pool threads would otherwise hold the interpreter's exit for seconds.
            self.recorder.executor.shutdown(wait=False)


def state() -> AgentState:
    if _STATE is None:
        raise LoadError("loadtests agent not installed: run Locust with loadtests/locustfile.py")
    return _STATE


def _quit_when_workers_done(runner: MasterRunner, workers: int) -> None:
    done: set[int] = set()

    def on_done(msg: Any, **_: Any) -> None:
        done.add(int(msg.data["worker_index"]))
        if len(done) >= workers:
            gevent.spawn(runner.quit)

    runner.register_message(SCHEDULE_DONE_MSG, on_done)


def install(environment: Environment) -> AgentState | None:
    """Set up this process (None on a master, which generates no load)."""
    global _STATE
    # A conductor started in the background inherits SIGINT ignored, and so would
    # Locust; LoadRun.stop() relies on SIGINT for the graceful stop.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config, api_key = load_launch_config()
    check_host(environment.host or config.host, config.allowed_hosts)
    if isinstance(environment.runner, MasterRunner):
        _quit_when_workers_done(environment.runner, config.spec.processes)
        gevent.get_hub().loop.update_now()  # see the end of this function
        return None
    paths = RunPaths(Path(config.run_dir)).make()
    worker = f"{socket.gethostname()}-{os.getpid()}"
    # One writer thread: parts are written in order and pyarrow runs off the event loop.
    recorder = RowRecorder(paths.rows_dir, worker, executor=ThreadPoolExecutor(max_workers=1))
    recorder.warm_up()
    st = AgentState(config, api_key, environment, recorder,
                    MixPicker(config.spec.mix.weights()), paths)
    if config.spec.record_rows:
        environment.events.request.add_listener(recorder.on_request)
    # `quitting` fires before Locust stops the users (in-flight requests still
    # finish within --stop-timeout), `quit` after: flush on the first, close on
    # the second. On SIGTERM Locust runs two shutdowns that race and `quit` may
    # never reach us: atexit is the backstop.
    environment.events.quitting.add_listener(lambda **_: st.recorder.flush(inline=True))
    environment.events.quit.add_listener(lambda **_: st.close())
    atexit.register(st.close)
    st.tick()
    st._ticker = gevent.spawn(st._tick_forever)
    _STATE = st
    # Last: gevent's loop caches "now" from before the (slow) imports and the
    # warm-up above; Locust schedules its --run-time timer right after `init`,
    # relative to that stale time, and the run would end early by that much
    # (seen: 3 s of a 3 s run).
    gevent.get_hub().loop.update_now()
    return st
