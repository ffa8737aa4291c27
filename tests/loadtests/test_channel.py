"""The row channel's bookkeeping and the clock offset estimate, without any process."""

from __future__ import annotations

import pytest

from loadtests.channel import Ledger, Outbox
from loadtests.clock import ClockSample, estimate_offset
from loadtests.errors import LoadError
from loadtests.remote import DEFAULT_MASTER_PORT, MasterAddress


def _rows(n: int, start: int = 0) -> list[tuple[int]]:
    return [(i,) for i in range(start, start + n)]


def test_outbox_batches_sends_and_forgets_what_is_acknowledged() -> None:
    box = Outbox(batch_rows=10, retry_s=2.0)
    box.put(_rows(25))
    sent = box.due(now=0.0)
    assert [len(b.rows) for b in sent] == [10, 10, 5]
    assert [b.seq for b in sent] == [0, 1, 2]
    assert box.due(now=1.0) == []  # in flight, not yet due again
    box.ack(1)
    assert box.pending_rows == 15 and box.rows_acked == 10


def test_an_unacknowledged_batch_is_sent_again_and_counted() -> None:
    box = Outbox(batch_rows=10, retry_s=2.0)
    box.put(_rows(10))
    [first] = box.due(now=0.0)
    [again] = box.due(now=2.5)
    assert again.seq == first.seq and again.attempts == 2 and box.retries == 1
    box.ack(first.seq)
    box.ack(first.seq)  # a late second ack changes nothing
    assert box.empty and box.rows_acked == 10


def test_the_outbox_is_bounded_and_counts_what_it_refuses() -> None:
    box = Outbox(capacity_rows=30, batch_rows=10)
    box.put(_rows(25))
    box.put(_rows(25, start=25))
    assert box.pending_rows == 30 and box.rows_put == 30 and box.rows_refused == 20
    for batch in box.due(now=0.0):
        box.ack(batch.seq)
    box.put(_rows(5))  # room again once acknowledged
    assert box.rows_refused == 20 and box.pending_rows == 5


def test_at_most_a_window_of_batches_is_in_flight() -> None:
    box = Outbox(batch_rows=1, window=4, retry_s=10.0)
    box.put(_rows(10))
    assert len(box.due(now=0.0)) == 4
    assert box.due(now=1.0) == []
    box.ack(0)
    assert [b.seq for b in box.due(now=1.0)] == [4]


def test_the_ledger_takes_each_batch_once() -> None:
    ledger = Ledger()
    assert ledger.claim("w1", 0)
    ledger.written("w1", 0, 100)
    assert not ledger.claim("w1", 0) and ledger.is_written("w1", 0)
    assert ledger.claim("w2", 0)  # sequences are per worker
    ledger.release("w2", 0)  # could not be written: taken again when resent
    assert ledger.claim("w2", 0)
    acc = ledger.account("w1")
    assert (acc.rows, acc.batches, acc.duplicates) == (100, 1, 1)


def test_clock_offset_from_the_fastest_exchange() -> None:
    # The worker's clock is 30 s behind the master's; delays out and back differ.
    true_offset = 30.0
    samples = [
        # sent (worker), master reads its clock after `out` s, answer back after `back` s
        ClockSample(100.0, 100.0 + 0.050 + true_offset, 100.0 + 0.050 + 0.010),
        ClockSample(101.0, 101.0 + 0.002 + true_offset, 101.0 + 0.002 + 0.004),
        ClockSample(102.0, 102.0 + 0.200 + true_offset, 102.0 + 0.200 + 0.200),
    ]
    est = estimate_offset(samples)
    assert est.rtt_s == pytest.approx(0.006) and est.samples == 3
    # The midpoint of the best exchange: off by (out - back) / 2 = 1 ms, within rtt/2.
    assert est.offset_s == pytest.approx(true_offset - 0.001)
    assert abs(est.offset_s - true_offset) <= est.error_s


def test_a_clock_estimate_needs_a_sample() -> None:
    with pytest.raises(ValueError):
        estimate_offset([ClockSample(1.0, 5.0, 0.5)])  # answered before it was sent


@pytest.mark.parametrize(("text", "host", "port"), [
    ("10.0.0.5", "10.0.0.5", DEFAULT_MASTER_PORT),
    ("gen-host:6000", "gen-host", 6000),
    ("[::1]:5558", "::1", 5558),
    ("[::1]", "::1", DEFAULT_MASTER_PORT),
])
def test_master_address(text: str, host: str, port: int) -> None:
    assert MasterAddress.parse(text) == MasterAddress(host, port)


@pytest.mark.parametrize("text", ["", ":5557", "host:http", "host:70000", "a:b:c"])
def test_bad_master_address(text: str) -> None:
    with pytest.raises(LoadError, match="HOST\\[:PORT\\]"):
        MasterAddress.parse(text)
