"""The client's failover between entry points (loadtests.entries): the policy alone."""

from __future__ import annotations

import pytest

from loadtests.entries import COOLDOWN_S, EntryPool, EntryTarget, fails_over

ONE = EntryTarget(name="router-1", url="http://127.0.0.1:1")
TWO = EntryTarget(name="router-2", url="http://127.0.0.1:2")
THREE = EntryTarget(name="router-3", url="http://127.0.0.1:3")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Timeout(BaseException):
    """A FAKE of gevent's Timeout: the request's own deadline, matched by class name."""


class Wrapped(Exception):
    """Like geventhttpclient's RetriesExceeded: the real error in `original`."""

    def __init__(self, original: BaseException) -> None:
        super().__init__("retries exceeded")
        self.original = original


def test_users_are_spread_over_the_entries_and_fail_over_to_the_next() -> None:
    pool = EntryPool([ONE, TWO, THREE], clock=FakeClock())
    assert pool.plan(0) == (ONE, TWO)
    assert pool.plan(1) == (TWO, THREE)
    assert pool.plan(2) == (THREE, ONE)
    assert pool.plan(5) == (THREE, ONE)  # homes wrap around


def test_a_failed_entry_is_avoided_for_the_cooldown_then_tried_again() -> None:
    clock = FakeClock()
    pool = EntryPool([ONE, TWO], clock=clock)
    pool.failed(ONE)
    assert pool.plan(0) == (TWO, ONE)  # straight to the live one; the failed one is left
    assert pool.plan(1) == (TWO, ONE)
    clock.now += COOLDOWN_S - 0.01
    assert pool.plan(0)[0] == TWO
    clock.now += 0.02
    assert pool.plan(0) == (ONE, TWO)


def test_when_every_entry_cools_down_the_home_entry_is_tried_anyway() -> None:
    pool = EntryPool([ONE, TWO], clock=FakeClock())
    pool.failed(ONE)
    pool.failed(TWO)
    assert pool.plan(0) == (ONE, TWO)
    assert pool.plan(1) == (TWO, ONE)


def test_the_fallback_entry_prefers_one_not_cooling_down() -> None:
    pool = EntryPool([ONE, TWO, THREE], clock=FakeClock())
    pool.failed(TWO)
    assert pool.plan(0) == (ONE, THREE)


def test_a_single_entry_has_nowhere_to_fail_over() -> None:
    pool = EntryPool([ONE], clock=FakeClock())
    pool.failed(ONE)
    assert pool.plan(0) == (ONE, None)
    with pytest.raises(ValueError, match="at least one"):
        EntryPool([])


@pytest.mark.parametrize(("exc", "expected"), [
    (ConnectionRefusedError(), True),
    (ConnectionResetError(), True),
    (BrokenPipeError(), True),
    (type("HTTPConnectionClosed", (Exception,), {})(), True),  # closed before any answer
    (TimeoutError("connect timed out"), True),
    (Wrapped(ConnectionRefusedError()), True),
    (Timeout(), False),  # the request's deadline: no time left for another entry
    (Wrapped(Timeout()), False),
    (ValueError("bad"), False),
    (None, False),
])
def test_only_failures_before_any_answer_fail_over(exc: BaseException | None,
                                                   expected: bool) -> None:
    assert fails_over(exc) is expected
