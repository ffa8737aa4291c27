"""The row channel between remote workers and their master (Locust processes only).

Why Locust's own messaging: a remote worker must reach its master anyway (the
ZeroMQ connection of Locust's master/worker mode), so its rows ride that
connection and the worker needs no shared folder, no other port and no other
service. The master is a process the conductor starts beside the run folder,
so it writes each batch there as a Parquet part as soon as it arrives, and
acknowledges it only once written. Redis would be one more service for every
worker to reach and secure, and the stack's own Redis belongs to the system
under test (loading it with rows would perturb what is measured).

Locust's master only aggregates statistics (response times in buckets, every
few seconds); per-request rows are ours to carry: bounded, retried and
counted by `loadtests.channel`, timestamps moved to the master's clock by the
offset measured at join (`loadtests.clock`). What the master saw of each
worker is written to `load/workers.json` (`loadtests.fleet`).

This module holds the worker's end (`WorkerRelay`) and what both ends share;
the master's end is `loadtests.master` (`MasterRelay`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

import gevent
from gevent.queue import Empty, Queue
from locust.runners import MasterRunner, WorkerRunner

from loadtests.channel import (
    ACK_MSG,
    CLOCK_MSG,
    CONFIG_MSG,
    DRAIN_MSG,
    FINAL_MSG,
    HELLO_MSG,
    LIVE_MSG,
    REFUSED_MSG,
    ROWS_MSG,
    Outbox,
)
from loadtests.clock import ClockSample, estimate_offset
from loadtests.config import LaunchConfig
from loadtests.live import WorkerLive

__all__ = ["SCHEDULE_DONE_MSG", "Reporter", "WorkerRelay", "send"]

log = logging.getLogger(__name__)

# Worker → master: "my share of the open-loop schedule is sent and answered".
SCHEDULE_DONE_MSG = "gatecrash-schedule-done"
CLOCK_PINGS = 8
PING_TIMEOUT_S = 2.0
JOIN_TIMEOUT_S = 30.0
PUMP_S = 0.2


class Reporter(Protocol):
    """What the relay needs from the worker's agent at the end of the run."""

    def flush_rows(self) -> None: ...

    def live_snapshot(self, final: bool) -> WorkerLive: ...


def send(runner: WorkerRunner | MasterRunner, msg_type: str, data: dict[str, Any],
         client_id: str | None = None) -> None:
    runner.send_message(msg_type, data, client_id)


# -- the worker's end ---------------------------------------------------------------


class WorkerRelay:
    """A remote worker: joins (clock, hello, config), sends rows and counters, drains."""

    def __init__(self, runner: WorkerRunner, name: str,
                 on_config: Callable[[LaunchConfig, str, WorkerRelay], None]) -> None:
        self.runner = runner
        self.name = name
        self.share: int | None = None
        self.outbox = Outbox()
        self.reporter: Reporter | None = None
        self._on_config_cb = on_config
        self._pongs: Queue[dict[str, float]] = Queue()
        self._draining = False
        runner.register_message(CLOCK_MSG, lambda msg, **_: self._pongs.put(msg.data))
        runner.register_message(CONFIG_MSG, self._on_config)
        runner.register_message(REFUSED_MSG, self._on_refused)
        runner.register_message(ACK_MSG, lambda msg, **_: self.outbox.ack(int(msg.data["seq"])))
        runner.register_message(DRAIN_MSG, self._on_drain, concurrent=True)
        gevent.spawn(self._join)
        gevent.spawn(self._pump_forever)

    def _join(self) -> None:
        samples = []
        for _ in range(CLOCK_PINGS):
            send(self.runner, CLOCK_MSG, {"sent": time.time()})
            try:
                pong = self._pongs.get(timeout=PING_TIMEOUT_S)
            except Empty:
                continue
            # The answer echoes its own ping's send time: a late answer only looks slower.
            samples.append(ClockSample(pong["sent"], pong["master"], time.time()))
        if not samples:
            log.error("the master answered no clock ping; leaving")
            gevent.spawn(self.runner.quit)
            return
        offset = estimate_offset(samples)
        log.info("clock offset to the master %+.4f s (±%.4f s, %d pings)", offset.offset_s,
                 offset.error_s, offset.samples)
        send(self.runner, HELLO_MSG, {
            "name": self.name, "host": socket.gethostname(), "pid": os.getpid(),
            "offset_s": offset.offset_s, "rtt_s": offset.rtt_s})

    def _on_config(self, msg: Any, **_: Any) -> None:
        data = msg.data
        self.share, self.name = int(data["share"]), str(data["name"])
        config = LaunchConfig.model_validate_json(data["config"])
        self._on_config_cb(config, str(data["api_key"]), self)

    def _on_refused(self, msg: Any, **_: Any) -> None:
        log.error("the master refused this worker: %s", msg.data["reason"])
        gevent.spawn(self.runner.quit)

    def send_due(self) -> None:
        for batch in self.outbox.due(time.monotonic()):
            send(self.runner, ROWS_MSG, {"seq": batch.seq, "rows": batch.rows})

    def _pump_forever(self) -> None:
        while True:
            gevent.sleep(PUMP_S)
            try:
                self.send_due()
            except Exception:  # a broken connection: Locust reconnects, we resend
                log.exception("sending rows to the master failed; will retry")

    def _channel(self) -> dict[str, int]:
        return {"rows_refused": self.outbox.rows_refused, "retries": self.outbox.retries,
                "rows_unacked": self.outbox.pending_rows}

    def send_live(self, live: WorkerLive) -> None:
        send(self.runner, LIVE_MSG, {"live": asdict(live), "channel": self._channel()})

    def _on_drain(self, msg: Any, **_: Any) -> None:
        """The run ends: stop the users, then send every row before saying FINAL."""
        if self._draining or self.reporter is None:
            return
        self._draining = True
        deadline = time.monotonic() + float(msg.data["timeout_s"])
        self.runner.stop()  # in-flight requests get the run's stop timeout
        self.reporter.flush_rows()
        while not self.outbox.empty and time.monotonic() < deadline:
            self.send_due()
            gevent.sleep(PUMP_S / 4)
        live = self.reporter.live_snapshot(final=True)
        send(self.runner, FINAL_MSG, {"live": asdict(live), "channel": self._channel()})
