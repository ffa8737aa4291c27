"""LoadSpec validation: every inconsistency is refused with a message naming the field."""

import pytest
from pydantic import ValidationError

from loadtests.spec import ChatOptions, LoadSpec, RateStage


def _err(**kw: object) -> str:
    with pytest.raises(ValidationError) as info:
        LoadSpec.model_validate(kw)
    return str(info.value)


def test_closed_loop_defaults() -> None:
    spec = LoadSpec(mode="closed", users=10, duration_s=5)
    assert spec.pool_users == 10 and spec.effective_spawn_rate == 10
    assert spec.rate_stages() == []


def test_run_time_limit() -> None:
    assert LoadSpec(mode="closed", users=1, duration_s=7).run_time_limit_s == 7
    # Open loop: the schedule starts at the first arrival; Locust's limit is a bound.
    spec = LoadSpec(mode="open", rate=5, duration_s=7, request_timeout_s=2,
                    chat=ChatOptions(timeout_s=9.5))
    assert spec.run_time_limit_s == 7 + 5 + 10


def test_closed_needs_users() -> None:
    assert "closed loop needs users" in _err(mode="closed", duration_s=5)


def test_closed_rejects_open_fields() -> None:
    assert "rate: open-loop fields" in _err(mode="closed", users=2, rate=10, duration_s=5)


def test_open_rejects_closed_fields_and_think_time() -> None:
    assert "users: closed-loop fields" in _err(mode="open", rate=5, users=3, duration_s=5)
    assert "think time is closed-loop only" in _err(mode="open", rate=5, wait_max_s=1,
                                                     duration_s=5)


def test_open_needs_exactly_one_rate_form() -> None:
    assert "exactly one of" in _err(mode="open", duration_s=5)
    assert "exactly one of" in _err(mode="open", rate=5, rate_start=1, rate_end=2, duration_s=5)
    assert "both rate_start and rate_end" in _err(mode="open", rate_start=1, duration_s=5)


def test_stages_must_cover_duration() -> None:
    msg = _err(mode="open", duration_s=10, stages=[{"duration_s": 4, "rate_start": 5}])
    assert "stages last 4 s but duration_s is 10" in msg


def test_rate_forms_normalise_to_stages() -> None:
    ramp = LoadSpec(mode="open", rate_start=0, rate_end=50, duration_s=10)
    assert ramp.rate_stages() == [RateStage(duration_s=10, rate_start=0, rate_end=50)]
    const = LoadSpec(mode="open", rate=7, duration_s=3)
    assert [(s.rate_start, s.end) for s in const.rate_stages()] == [(7, 7)]


def test_pool_must_cover_workers() -> None:
    assert "max_users (2) must be >= processes (4)" in _err(
        mode="open", rate=5, max_users=2, processes=4, duration_s=5)


def test_unknown_field_and_bad_values() -> None:
    assert "extra" in _err(mode="closed", users=1, duration_s=5, userz=3).lower()
    assert "wait_max_s (0.1) must be >= wait_min_s (0.5)" in _err(
        mode="closed", users=1, duration_s=5, wait_min_s=0.5, wait_max_s=0.1)
    assert "at least one of identity, business, chat" in _err(
        mode="closed", users=1, duration_s=5, mix={"identity": 0, "business": 0, "chat": 0})
    assert "cacheable_ratio" in _err(mode="closed", users=1, duration_s=5,
                                     chat={"cacheable_ratio": 1.5})
    assert "the arrival rate is 0 throughout" in _err(mode="open", rate_start=0, rate_end=0,
                                                      duration_s=5)
