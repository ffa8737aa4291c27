"""The safety abort: failures above the bound for long enough, outside a disturbance."""

from __future__ import annotations

from gatecrash.steps import AbortWatch


def feed(abort: AbortWatch, rates: list[tuple[int, int]], disturbed: bool) -> str | None:
    requests = failures = 0
    reason = None
    for second, (sent, failed) in enumerate(rates):
        requests, failures = requests + sent, failures + failed
        reason = abort.check(float(second), requests, failures, disturbed) or reason
    return reason


def test_sustained_failures_outside_a_fault_abort() -> None:
    assert "above 50%" in (feed(AbortWatch(0.5, 3.0), [(10, 8)] * 5, disturbed=False) or "")


def test_the_same_failures_during_a_fault_or_its_recovery_do_not() -> None:
    assert feed(AbortWatch(0.5, 3.0), [(10, 8)] * 5, disturbed=True) is None


def test_a_short_burst_does_not_abort() -> None:
    assert feed(AbortWatch(0.5, 3.0), [(10, 8), (10, 8), (10, 0), (10, 8), (10, 8)], False) is None
