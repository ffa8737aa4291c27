"""The master's end of the row channel (Locust processes only): `MasterRelay`.

It answers each remote worker's join (clock pings, then its share of the
schedule and the launch config, or a refusal), writes the rows it receives
into the run folder as Parquet parts moved to the master's clock, and
acknowledges each batch only once written. It keeps the workers' live
counters, marks a worker it no longer hears from as lost, and drains every
worker when the run stops. Why the rows ride Locust's connection, and the
worker's end: `loadtests.relay`. What the master saw of each worker is written
to `load/workers.json` (`loadtests.fleet`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import gevent
from gevent.threadpool import ThreadPoolExecutor
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner

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
    Ledger,
)
from loadtests.config import LaunchConfig
from loadtests.fleet import Fleet, RemoteWorker, WorkerState, write_fleet
from loadtests.layout import RunPaths
from loadtests.live import WorkerLive, read_worker_live, write_worker_live
from loadtests.relay import PUMP_S, SCHEDULE_DONE_MSG, send
from records.layout import part_name
from records.rows import rows_table, write_rows_part

__all__ = ["MasterRelay"]

log = logging.getLogger(__name__)

WATCH_S = 1.0
# On top of the run's stop timeout: time for a drained worker's last batches.
DRAIN_MARGIN_S = 8.0
# How long the drain waits for a lost worker to be heard again (heartbeats: 1 s).
LOST_GRACE_S = 4.0
# ts_send, ts_intended, ts_end: the row columns on the worker's clock.
TIME_COLUMNS = 3


class MasterRelay:
    """The master: answers joins, writes rows into the run folder, watches the workers."""

    def __init__(self, runner: MasterRunner, config: LaunchConfig, api_key: str,
                 paths: RunPaths) -> None:
        self.runner = runner
        self.config = config
        self.api_key = api_key
        self.paths = paths
        self.fleet = Fleet(expected=config.remote_workers)
        self.by_client: dict[str, RemoteWorker] = {}
        self.ledger = Ledger()
        # One writer thread: pyarrow stays off the event loop, parts land in order.
        self.pool = ThreadPoolExecutor(max_workers=1)
        self._done_shares: set[int] = set()
        self._finals: set[str] = set()
        self._quitting = False
        self._drained = False
        for msg_type, handler in ((CLOCK_MSG, self._on_clock), (HELLO_MSG, self._on_hello),
                                  (ROWS_MSG, self._on_rows), (LIVE_MSG, self._on_live),
                                  (FINAL_MSG, self._on_final),
                                  (SCHEDULE_DONE_MSG, self._on_schedule_done)):
            runner.register_message(msg_type, handler)
        events = runner.environment.events
        # `test_stopping` fires inside every way a run stops (its end, Ctrl-C, the
        # schedule done) before Locust tells workers to quit: the moment to drain.
        events.test_stopping.add_listener(self._drain)
        events.quitting.add_listener(lambda **_: self._write())
        self.save()
        gevent.spawn(self._watch_forever)

    @property
    def stop_timeout_s(self) -> float:
        return float(self.config.spec.stop_timeout_s)

    # -- joining ------------------------------------------------------------------
    def _on_clock(self, msg: Any, **_: Any) -> None:
        send(self.runner, CLOCK_MSG, {"sent": msg.data["sent"], "master": time.time()},
             msg.node_id)

    def _on_hello(self, msg: Any, **_: Any) -> None:
        data, now = msg.data, time.time()
        taken = {w.share for w in self.fleet.workers}
        free = [s for s in range(self.fleet.expected) if s not in taken]
        if msg.node_id in self.by_client or not free:
            reason = (f"this run takes {self.fleet.expected} worker(s) and has them; start "
                      "`gatecrash run` with more --remote-workers")
            self.fleet.refused.append(str(data["name"]))
            send(self.runner, REFUSED_MSG, {"reason": reason}, msg.node_id)
            return
        names = {w.name for w in self.fleet.workers}
        name = str(data["name"])
        if name in names:  # two hosts of one name, or a reused pid
            name = f"{name}-{free[0]}"
        worker = RemoteWorker(
            name=name, host=str(data["host"]), pid=int(data["pid"]), client_id=msg.node_id,
            share=free[0], clock_offset_s=float(data["offset_s"]),
            clock_rtt_s=float(data["rtt_s"]), joined=now, last_seen=now)
        self.fleet.workers.append(worker)
        self.by_client[msg.node_id] = worker
        log.info("worker %s joined (share %d, clock %+.4f s)", name, worker.share,
                 worker.clock_offset_s)
        send(self.runner, CONFIG_MSG, {
            "config": self.config.model_dump_json(), "api_key": self.api_key,
            "share": worker.share, "name": name}, msg.node_id)
        self.save()

    def _worker(self, msg: Any) -> RemoteWorker | None:
        worker = self.by_client.get(msg.node_id)
        if worker is not None:
            worker.last_seen = time.time()
        return worker

    # -- rows ---------------------------------------------------------------------
    def _on_rows(self, msg: Any, **_: Any) -> None:
        worker = self._worker(msg)
        if worker is None:
            return  # not joined (or refused): no share, no rows
        seq, rows = int(msg.data["seq"]), msg.data["rows"]
        if not self.ledger.claim(worker.name, seq):
            if self.ledger.is_written(worker.name, seq):
                send(self.runner, ACK_MSG, {"seq": seq}, worker.client_id)  # the ack was lost
            return
        future = self.pool.submit(self._write_part, worker.name, worker.clock_offset_s, seq,
                                  rows)
        gevent.spawn(self._ack_when_written, worker, seq, len(rows), future)

    def _write_part(self, name: str, offset_s: float, seq: int,
                    rows: Sequence[Sequence[Any]]) -> None:
        # Rows leave the worker on its clock; the run's time axis is the master's.
        moved = [(r[0] + offset_s, None if r[1] is None else r[1] + offset_s, r[2] + offset_s,
                  *r[TIME_COLUMNS:]) for r in rows]
        write_rows_part(self.paths.rows_dir / part_name(name, seq), rows_table(moved))

    def _ack_when_written(self, worker: RemoteWorker, seq: int, count: int,
                          future: Any) -> None:
        try:
            future.result()
        except Exception:
            # Not acknowledged: the worker sends it again, and it is written then.
            log.exception("could not write batch %d of %s", seq, worker.name)
            self.ledger.release(worker.name, seq)
            return
        self.ledger.written(worker.name, seq, count)
        account = self.ledger.account(worker.name)
        worker.rows_received, worker.batches = account.rows, account.batches
        worker.duplicates = account.duplicates
        send(self.runner, ACK_MSG, {"seq": seq}, worker.client_id)

    # -- counters -----------------------------------------------------------------
    def _take_live(self, worker: RemoteWorker, data: dict[str, Any]) -> WorkerLive:
        live = WorkerLive(**data["live"])
        live.worker = worker.name
        live.ts += worker.clock_offset_s
        live.started += worker.clock_offset_s
        worker.requests_reported, worker.dropped = live.requests, live.dropped
        worker.intended = live.intended
        worker.rows_refused = int(data["channel"]["rows_refused"])
        worker.retries = int(data["channel"]["retries"])
        worker.duplicates = self.ledger.account(worker.name).duplicates
        write_worker_live(self.paths.live_dir / f"{worker.name}.json", live)
        return live

    def _on_live(self, msg: Any, **_: Any) -> None:
        worker = self._worker(msg)
        if worker is not None:
            self._take_live(worker, msg.data)

    def _on_final(self, msg: Any, **_: Any) -> None:
        worker = self._worker(msg)
        if worker is None:
            return
        self._take_live(worker, msg.data)
        self._finals.add(worker.name)
        unacked = int(msg.data["channel"]["rows_unacked"])
        if unacked:
            self._lose(worker, f"ended with {unacked} row(s) not delivered")
        elif worker.state is WorkerState.LOST:
            # Silent for a while (a stalled host), then back with every row: nothing is
            # missing, so its windows stand; the stall stays on record.
            worker.state, worker.lost_at = WorkerState.FINISHED, None
            worker.lost_why = f"recovered after: {worker.lost_why}"
        else:
            worker.state = WorkerState.FINISHED
        self.save()

    # -- the end of the schedule, lost workers, the drain ---------------------------------
    def _on_schedule_done(self, msg: Any, **_: Any) -> None:
        worker = self._worker(msg)
        if worker is not None:
            self._done_shares.add(worker.share)
            self._maybe_quit()

    def _maybe_quit(self) -> None:
        lost = {w.share for w in self.fleet.workers if w.state is WorkerState.LOST}
        every = set(range(self.fleet.expected))
        joined = {w.share for w in self.fleet.workers}
        all_lost = bool(joined) and joined <= lost
        schedule_over = self.config.spec.mode == "open" and every <= self._done_shares | lost
        if (schedule_over or all_lost) and not self._quitting:
            self._quitting = True
            gevent.spawn(self.runner.quit)

    def _lose(self, worker: RemoteWorker, why: str) -> None:
        if worker.state is WorkerState.LOST:
            return
        worker.state, worker.lost_at, worker.lost_why = WorkerState.LOST, time.time(), why
        log.warning("worker %s lost: %s", worker.name, why)
        # Its last counters stand; it no longer adds users or rate to the live view.
        path = self.paths.live_dir / f"{worker.name}.json"
        live = read_worker_live(path)
        if live is None:
            return
        live.final, live.users, live.rate_rps = True, 0, 0.0
        write_worker_live(path, live)

    def _heard(self, worker: RemoteWorker) -> bool:
        """Whether Locust still hears the worker's heartbeat (missing after ~3 s)."""
        node = self.runner.clients.get(worker.client_id)
        return node is not None and node.state != STATE_MISSING

    def check_lost(self) -> None:
        """Running workers Locust no longer hears from are lost."""
        for worker in self.fleet.workers:
            if worker.state is WorkerState.RUNNING and not self._heard(worker):
                seen = time.strftime("%H:%M:%S", time.localtime(worker.last_seen))
                self._lose(worker, f"no heartbeat since {seen}")

    def _watch_forever(self) -> None:
        while True:
            gevent.sleep(WATCH_S)
            try:
                self.check_lost()
                self._maybe_quit()
                self.save()
            except OSError:
                log.exception("could not write %s", self.paths.fleet_file)

    def _drain(self, environment: Environment | None = None, **_: Any) -> None:
        if self._drained:
            return
        self._drained = True
        timeout_s = self.stop_timeout_s + DRAIN_MARGIN_S
        # Lost ones too: one only stalled for a while may still deliver everything.
        draining = [w for w in self.fleet.workers if w.state is not WorkerState.FINISHED]
        for worker in draining:
            send(self.runner, DRAIN_MSG, {"timeout_s": timeout_s}, worker.client_id)
        start = time.monotonic()
        deadline = start + timeout_s + PUMP_S * 5

        def pending(w: RemoteWorker) -> bool:
            if w.name in self._finals:
                return False
            # A lost worker is waited for a little: a stalled host heard again is drained.
            return (w.state is WorkerState.RUNNING or self._heard(w)
                    or time.monotonic() - start < LOST_GRACE_S)

        while time.monotonic() < deadline and any(pending(w) for w in draining):
            gevent.sleep(PUMP_S / 2)
            self.check_lost()
        for worker in draining:
            if worker.state is WorkerState.RUNNING:
                self._lose(worker, f"did not deliver its rows within {timeout_s:g} s of the end")
        self._write()

    def _write(self) -> None:
        self.fleet.ended = self._drained
        self.save()

    def save(self) -> None:
        write_fleet(self.paths.fleet_file, self.fleet)
