"""The row channel's bookkeeping (pure: no Locust, no gevent, no I/O).

A remote worker's rows travel to its master in numbered batches. The worker's
`Outbox` keeps every batch until the master acknowledges it (the master
acknowledges a batch once its rows are written into the run folder), sends it
again when no acknowledgement came within `retry_s`, and holds at most
`capacity_rows`: rows beyond that are refused and counted, never silently lost.
The master's `Ledger` takes each batch once (a batch sent twice is counted as
a duplicate, not written twice) and counts what each worker delivered, to be
compared with the requests the worker says it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from records.rows import Row

__all__ = [
    "ACK_MSG",
    "CLOCK_MSG",
    "CONFIG_MSG",
    "DRAIN_MSG",
    "FINAL_MSG",
    "HELLO_MSG",
    "LIVE_MSG",
    "REFUSED_MSG",
    "ROWS_MSG",
    "Batch",
    "Ledger",
    "Outbox",
    "WorkerAccount",
]

# Locust custom message types (worker → master, then master → worker).
CLOCK_MSG = "gatecrash-clock"        # ping {"sent"}; the answer adds {"master"}
HELLO_MSG = "gatecrash-hello"        # name, host, pid, clock offset
CONFIG_MSG = "gatecrash-config"      # the launch config, the API key, the worker's share
REFUSED_MSG = "gatecrash-refused"    # every share of the schedule is taken
ROWS_MSG = "gatecrash-rows"          # {"seq", "rows"}
ACK_MSG = "gatecrash-ack"            # {"seq"}: written into the run folder
LIVE_MSG = "gatecrash-live"          # the worker's live counters, about once a second
DRAIN_MSG = "gatecrash-drain"        # the run ends: stop, send every row, then FINAL
FINAL_MSG = "gatecrash-final"        # the worker's last counters; every row was acknowledged

# ~1000 rows is ~200 kB of msgpack: small enough that Locust's heartbeats on the
# same connection never wait long behind a batch.
BATCH_ROWS = 1000
# A minute of rows at 3k req/s: a master that stopped acknowledging is noticed
# (counted, reported) long before the worker runs out of memory.
CAPACITY_ROWS = 200_000
RETRY_S = 2.0
# Batches sent but not yet acknowledged: bounded, so a slow master slows the
# channel instead of filling ZeroMQ's queues.
WINDOW_BATCHES = 16


@dataclass
class Batch:
    seq: int
    rows: list[Row]
    sent_at: float | None = None
    attempts: int = 0


@dataclass
class Outbox:
    """A worker's rows until the master has them (bounded, retried, counted)."""

    capacity_rows: int = CAPACITY_ROWS
    batch_rows: int = BATCH_ROWS
    retry_s: float = RETRY_S
    window: int = WINDOW_BATCHES
    rows_put: int = 0
    rows_acked: int = 0
    rows_refused: int = 0
    retries: int = 0
    _pending: dict[int, Batch] = field(default_factory=dict)
    _next_seq: int = 0

    @property
    def pending_rows(self) -> int:
        return sum(len(b.rows) for b in self._pending.values())

    @property
    def empty(self) -> bool:
        return not self._pending

    def put(self, rows: Sequence[Row]) -> None:
        """Queue rows in batches; what does not fit the capacity is refused and counted."""
        room = max(self.capacity_rows - self.pending_rows, 0)
        taken = list(rows[:room])
        self.rows_refused += len(rows) - len(taken)
        self.rows_put += len(taken)
        for start in range(0, len(taken), self.batch_rows):
            batch = Batch(self._next_seq, taken[start:start + self.batch_rows])
            self._pending[batch.seq] = batch
            self._next_seq += 1

    def due(self, now: float) -> list[Batch]:
        """Batches to send now: new ones, and unacknowledged ones after `retry_s`,
        oldest first, never more than `window` in flight."""
        in_flight = [b for b in self._pending.values()
                     if b.sent_at is not None and now - b.sent_at < self.retry_s]
        room = self.window - len(in_flight)
        out = []
        for batch in self._pending.values():  # insertion order: oldest first
            if room <= 0:
                break
            if batch.sent_at is not None and now - batch.sent_at < self.retry_s:
                continue
            if batch.attempts:
                self.retries += 1
            batch.sent_at, batch.attempts = now, batch.attempts + 1
            out.append(batch)
            room -= 1
        return out

    def ack(self, seq: int) -> None:
        batch = self._pending.pop(seq, None)
        if batch is not None:
            self.rows_acked += len(batch.rows)


@dataclass
class WorkerAccount:
    """What one worker delivered to the master."""

    rows: int = 0
    batches: int = 0
    duplicates: int = 0
    _seen: set[int] = field(default_factory=set)
    _written: set[int] = field(default_factory=set)


class Ledger:
    """The master's count of rows received, per worker, each batch taken once."""

    def __init__(self) -> None:
        self.accounts: dict[str, WorkerAccount] = {}

    def account(self, worker: str) -> WorkerAccount:
        return self.accounts.setdefault(worker, WorkerAccount())

    def claim(self, worker: str, seq: int) -> bool:
        """True: a new batch, to be written; False: seen before (counted as a duplicate)."""
        acc = self.account(worker)
        if seq in acc._seen:
            acc.duplicates += 1
            return False
        acc._seen.add(seq)
        return True

    def written(self, worker: str, seq: int, rows: int) -> None:
        acc = self.account(worker)
        acc._written.add(seq)
        acc.rows += rows
        acc.batches += 1

    def is_written(self, worker: str, seq: int) -> bool:
        return seq in self.account(worker)._written

    def release(self, worker: str, seq: int) -> None:
        """A claimed batch could not be written: take it again when it is resent."""
        self.account(worker)._seen.discard(seq)
