"""The fault window of a trial starts once every fault planned for its first moment
is in effect, and ends with the last fault (gatecrash.runner.fault_span)."""

from __future__ import annotations

from gatecrash.runner import fault_span
from records import FaultEvent

T0 = 1_000.0


def _kill(target: str, start: float, effective: float | None, end: float) -> FaultEvent:
    return FaultEvent(id=target, fault="kill", targets=[target], label=f"kill {target}",
                      start=T0 + start, effective=None if effective is None else T0 + effective,
                      end=T0 + end)


def test_faults_planned_together_open_the_window_when_the_last_lands() -> None:
    # Applied one after the other in one tick: auth, users, then orders (c3).
    faults = [(_kill("auth", 2.00, 2.02, 5.0), 2.0), (_kill("users", 2.02, 2.04, 5.0), 2.0),
              (_kill("orders", 2.04, 2.07, 5.0), 2.0)]
    issued, effective, end = fault_span(faults)
    assert issued == T0 + 2.00  # the baseline ends when the first is issued
    assert effective == T0 + 2.07  # orders was still served until then
    assert end == T0 + 5.0


def test_a_later_fault_does_not_delay_the_window() -> None:
    faults = [(_kill("auth", 2.0, 2.03, 5.0), 2.0), (_kill("users", 3.5, 3.6, 6.0), 3.5)]
    issued, effective, end = fault_span(faults)
    assert (issued, effective, end) == (T0 + 2.0, T0 + 2.03, T0 + 6.0)


def test_a_fault_without_proof_of_effect_counts_from_its_start() -> None:
    issued, effective, _ = fault_span([(_kill("auth", 2.0, None, 5.0), 2.0)])
    assert issued == effective == T0 + 2.0
