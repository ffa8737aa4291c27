"""Rates as a share of the measured capacity, and the sweep mode: parsing, validation,
resolution."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loadtests.errors import LoadError
from loadtests.launcher import start_load
from loadtests.rates import CapacityShare
from loadtests.spec import LoadSpec, RateStage, SweepSteps


def _err(**kw: object) -> str:
    with pytest.raises(ValidationError) as info:
        LoadSpec.model_validate(kw)
    return str(info.value)


def test_a_percent_is_a_share_of_the_capacity() -> None:
    spec = LoadSpec.model_validate({"mode": "open", "rate": "50%", "duration_s": 5})
    assert spec.rate == CapacityShare(50.0) and spec.relative
    assert spec.resolved(62.0).rate == 31.0 and not spec.resolved(62.0).relative
    ramp = LoadSpec.model_validate({"mode": "open", "rate_start": 10, "rate_end": "150 %",
                                    "duration_s": 5})
    assert ramp.resolved(40.0).rate_stages() == [RateStage(duration_s=5, rate_start=10,
                                                           rate_end=60)]


def test_stages_take_shares_too_and_round_trip_as_text() -> None:
    spec = LoadSpec.model_validate({"mode": "open", "duration_s": 6, "stages": [
        {"duration_s": 3, "rate_start": "0%", "rate_end": "50%"},
        {"duration_s": 3, "rate_start": 12.5}]})
    assert spec.relative
    dumped = spec.model_dump(mode="json")
    assert dumped["stages"][0]["rate_end"] == "50%"
    assert LoadSpec.model_validate(dumped) == spec
    assert [s.rates() for s in spec.resolved(80).rate_stages()] == [(0, 40), (12.5, 12.5)]


def test_bad_rates_say_what_is_allowed() -> None:
    assert "give req/s (e.g. 40) or a share of the measured capacity" in \
        _err(mode="open", rate="fast", duration_s=5)
    assert "write a number before '%'" in _err(mode="open", rate="x%", duration_s=5)
    assert "between 0% and 1000%" in _err(mode="open", rate="5000%", duration_s=5)
    assert "rate must be > 0" in _err(mode="open", rate="0%", duration_s=5)
    assert "rate must be > 0" in _err(mode="open", rate=-3, duration_s=5)
    assert "must be >= 0" in _err(mode="open", rate_start=-1, rate_end=4, duration_s=5)


def test_a_relative_spec_has_no_schedule_until_resolved(tmp_path: object) -> None:
    spec = LoadSpec.model_validate({"mode": "open", "rate": "50%", "duration_s": 5})
    with pytest.raises(ValueError, match="share of the measured capacity"):
        spec.rate_stages()
    with pytest.raises(ValueError, match="a measured capacity is > 0"):
        spec.resolved(0.0)
    with pytest.raises(LoadError, match="resolve them first"):
        start_load(spec, "http://127.0.0.1:1", "key", tmp_path)  # type: ignore[arg-type]


def test_a_sweep_is_steps_after_a_warm_up() -> None:
    sweep = SweepSteps(rate_start=20, step_rps=20, step_s=2.5, rate_max=70, warmup_s=2)
    assert sweep.rates() == [20, 40, 60]
    spec = LoadSpec.model_validate({"mode": "sweep", "sweep": sweep})
    assert spec.duration_s == 10  # 2 + 3 x 2.5 = 9.5, whole seconds up
    assert [(s.duration_s, s.rates()) for s in spec.rate_stages()] == [
        (2, (20, 20)), (2.5, (20, 20)), (2.5, (40, 40)), (2.5, (60, 60))]
    assert not spec.relative and spec.pool_users == spec.max_users


def test_sweep_validation() -> None:
    steps = {"rate_start": 20, "step_rps": 20, "step_s": 2, "rate_max": 60}
    assert "leave it out" in _err(mode="sweep", sweep=steps, duration_s=99)
    assert "a sweep needs sweep:" in _err(mode="sweep")
    assert "a sweep's rates are its steps" in _err(mode="sweep", sweep=steps, rate=5)
    assert "only with mode: sweep" in _err(mode="open", rate=5, duration_s=3, sweep=steps)
    assert "is above rate_max" in _err(mode="sweep", sweep={**steps, "rate_start": 80})
    assert "sweep.step_s" in _err(mode="sweep", sweep={**steps, "step_s": 0})
