"""Per-process wiring inside a Locust process: recorder, live stats, schedule.

Imported only by the locustfile (it imports gevent and locust). Installed on
Locust's `init` event, which fires in every process after `--processes`
forks, so each worker owns its recorder, its live file and its share of the
open-loop schedule; the master only checks the target and generates nothing.

A remote worker (`gatecrash worker`) has no run folder: it gets its config from
the master when it joins, and its rows and live counters travel to the master
over the row channel (`loadtests.relay`), which writes them into the run folder.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from gevent.threadpool import ThreadPoolExecutor
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.config import REMOTE_WORKER_ENV, LaunchConfig, load_launch_config
from loadtests.entries import EntryPool
from loadtests.errors import LoadError
from loadtests.hostguard import check_host
from loadtests.layout import RunPaths
from loadtests.live import WorkerLive, write_worker_live
from loadtests.master import MasterRelay
from loadtests.plans import MixPicker
from loadtests.recorder import RowRecorder
from loadtests.relay import SCHEDULE_DONE_MSG, WorkerRelay
from loadtests.remote import WORKER_NAME_ENV
from loadtests.shapes import ArrivalSchedule, Ramp
from loadtests.spec import LoadSpec

__all__ = ["AgentState", "install", "state"]

log = logging.getLogger(__name__)

LIVE_INTERVAL_S = 1.0
# A remote worker's users wait this long for the master's config (sent at join).
CONFIG_WAIT_S = 60.0

_STATE: AgentState | None = None
_READY = gevent.event.Event()


@dataclass
class AgentState:
    """What the users of one load process share."""

    config: LaunchConfig
    api_key: str
    environment: Environment
    recorder: RowRecorder
    # One per rate stage (LoadSpec.stage_mixes); closed loop: one.
    pickers: list[MixPicker]
    # Where this process's live counters go: its live file, or its master (remote).
    publish: Callable[[WorkerLive], None]
    relay: WorkerRelay | None = None
    # The stack's entry points and the ones cooling down (None: the host is the only one).
    entries: EntryPool | None = None
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
        """This process's share of the open-loop schedule (and its seeds' worker number).

        A remote worker's share is given by its master's relay; a forked worker
        learns its index from the master's ack, before any user spawns.
        """
        if self.relay is not None and self.relay.share is not None:
            return self.relay.share
        return max(int(getattr(self.environment.runner, "worker_index", 0)), 0)

    def next_user_index(self) -> int:
        self._users += 1
        return self._users

    @property
    def schedule(self) -> ArrivalSchedule:
        """This process's share of the open-loop arrivals (built at first use)."""
        if self._schedule is None:
            self._schedule = self._new_schedule()
        return self._schedule

    def _new_schedule(self) -> ArrivalSchedule:
        distributed = isinstance(self.environment.runner, WorkerRunner)
        ramps = [Ramp(s.duration_s, *s.rates()) for s in self.spec.rate_stages()]
        return ArrivalSchedule(
            ramps, max_lag_s=self.spec.max_lag_s,
            stride=self.config.generators if distributed else 1,
            offset=self.worker_index if distributed else 0,
        )

    # -- what the relay asks at the end (loadtests.relay.Reporter) ------------------
    def flush_rows(self) -> None:
        self.recorder.flush(inline=True)

    def live_snapshot(self, final: bool) -> WorkerLive:
        """This process's counters now (rows flushed first)."""
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
        if self.spec.mode == "open":
            # The whole share, claimed or not yet: intended = sent + dropped once done.
            schedule = self._schedule or self._new_schedule()
            c.intended = schedule.intended
        if self._schedule is not None:
            if final:
                self._schedule.close(now)
            c.dropped = self._schedule.dropped
            c.dropped_per_s = {str(k): v for k, v in self._schedule.dropped_per_s.items()}
        return c

    # -- live stats -----------------------------------------------------------
    def tick(self, final: bool = False) -> None:
        """Flush rows and publish this process's live counters."""
        self.publish(self.live_snapshot(final))
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
            except Exception:  # a full disk, a broken connection: say so, keep the run
                log.exception("live stats / row flush failed")

    def close(self) -> None:
        """Last flush and final live file; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.kill(block=False)
        self.recorder.close()  # inline, never yields (see RowRecorder.close)
        if self.relay is None:  # a remote worker said FINAL when its master drained it
            self.tick(final=True)
        if self.recorder.executor is not None:
            # Idle pool threads would otherwise hold the interpreter's exit for seconds.
            self.recorder.executor.shutdown(wait=False)


def state() -> AgentState:
    """This process's state; a remote worker's users wait here for its master's config."""
    if _STATE is None and os.environ.get(REMOTE_WORKER_ENV):
        _READY.wait(CONFIG_WAIT_S)
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


def _check_targets(environment: Environment, config: LaunchConfig) -> None:
    """The host guard on every URL this process may send to (Locust's --host first)."""
    for url in (environment.host or config.host, *config.target_urls[1:]):
        check_host(url, config.allowed_hosts)


def install(environment: Environment) -> AgentState | None:
    """Set up this process (None on a master, which generates no load, and on a remote
    worker until its master's config arrives)."""
    # A conductor started in the background inherits SIGINT ignored, and so would
    # Locust; LoadRun.stop() relies on SIGINT for the graceful stop.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    runner = environment.runner
    if isinstance(runner, WorkerRunner) and os.environ.get(REMOTE_WORKER_ENV):
        name = os.environ.get(WORKER_NAME_ENV) or f"{socket.gethostname()}-{os.getpid()}"
        WorkerRelay(runner, name, lambda config, key, relay: _start_remote(
            environment, config, key, relay))
        return None
    config, api_key = load_launch_config()
    _check_targets(environment, config)
    if isinstance(runner, MasterRunner):
        if config.remote_workers:
            MasterRelay(runner, config, api_key, RunPaths(Path(config.run_dir)).make())
        else:
            _quit_when_workers_done(runner, config.spec.processes)
        gevent.get_hub().loop.update_now()  # see the end of _start
        return None
    paths = RunPaths(Path(config.run_dir)).make()
    worker = f"{socket.gethostname()}-{os.getpid()}"
    # One writer thread: parts are written in order and pyarrow runs off the event loop.
    recorder = RowRecorder(paths.rows_dir, worker, executor=ThreadPoolExecutor(max_workers=1))

    def to_file(live: WorkerLive) -> None:
        write_worker_live(paths.live_dir / f"{worker}.json", live)

    return _start(environment, config, api_key, recorder, to_file)


def _start_remote(environment: Environment, config: LaunchConfig, api_key: str,
                  relay: WorkerRelay) -> None:
    """A remote worker's config arrived: check the target, then start recording."""
    try:
        _check_targets(environment, config)
    except LoadError as exc:
        log.error("%s", exc)
        gevent.spawn(relay.runner.quit)
        return
    recorder = RowRecorder(None, relay.name, sink=relay.outbox.put)
    st = _start(environment, config, api_key, recorder, relay.send_live, relay)
    relay.reporter = st
    _READY.set()


def _start(environment: Environment, config: LaunchConfig, api_key: str,
           recorder: RowRecorder, publish: Callable[[WorkerLive], None],
           relay: WorkerRelay | None = None) -> AgentState:
    global _STATE
    recorder.warm_up()
    st = AgentState(config, api_key, environment, recorder,
                    [MixPicker(m.weights()) for m in config.spec.stage_mixes()], publish,
                    relay, EntryPool(config.entries) if config.entries else None)
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
