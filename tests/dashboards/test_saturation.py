"""The per-second saturation rule, on CPU samples and rows written by the run-record writer."""

from __future__ import annotations

from pathlib import Path

from dashboards.saturation import (
    LAG,
    POOL,
    SaturationBounds,
    flagged_seconds,
    format_seconds,
    judged_seconds,
    per_second,
    saturation_problems,
)
from tests.dashboards.sweeprows import T0, Seconds, Segment, write_run

BOUNDS = SaturationBounds()
WHOLE = [(T0 + 2, T0 + 10)]


def test_one_saturated_second_is_named_although_the_mean_is_low(tmp_path: Path) -> None:
    # Mean host CPU over the window is 46 %: a mean-based check would pass it.
    run = write_run(tmp_path / "r", [Segment(0, 10, 20)], Seconds(10, busy={6: (97.0, 20.0)}))
    problems = saturation_problems(run.cpu, run.rows, WHOLE, T0, BOUNDS)
    assert problems == ["host CPU saturated (>= 95% of all cores) in 1 of 8 judged second(s): "
                        "6 s after load start; processes outside the run used up to 72% of "
                        "it then"]  # 97 % less the run's (30 + 20) / 2 cores


def test_a_second_outside_the_judged_windows_does_not_count(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Segment(0, 10, 20)], Seconds(10, busy={1: (100.0, 99.0)}))
    assert saturation_problems(run.cpu, run.rows, WHOLE, T0, BOUNDS) == []
    assert saturation_problems(run.cpu, run.rows, [(T0 + 1.5, T0 + 2)], T0, BOUNDS) != []


def test_generator_saturated_and_behind_schedule(tmp_path: Path) -> None:
    segments = [Segment(0, 4, 20), Segment(4, 6, 20, lag_ms=250), Segment(6, 10, 20)]
    run = write_run(tmp_path / "r", segments, Seconds(10, busy={8: (60.0, 96.0)}))
    problems = saturation_problems(run.cpu, run.rows, WHOLE, T0, BOUNDS)
    assert problems[0].startswith("load generator saturated (a load process at >= 95% of a "
                                  "core) in 1 of 8 judged second(s): 8 s")
    assert problems[1] == ("load generator behind its schedule (p95 send lag > 100 ms, worst "
                           "250 ms) in 2 of 8 judged second(s): 4-5 s after load start")


def test_lag_is_a_p95_not_one_late_request(tmp_path: Path) -> None:
    # One request in 40 late by 2 s in every second: the p95 stays on time.
    run = write_run(tmp_path / "r", [Segment(0, 10, 40)], Seconds(10))
    late = run.rows.copy()
    late.loc[late.index % 40 == 0, "ts_send"] += 2.0
    assert flagged_seconds(per_second(run.cpu, late, T0), list(range(10)), BOUNDS)[LAG] == []
    late.loc[late.index % 20 == 10, "ts_send"] += 2.0  # 3 in 40: above the 95th percentile
    assert flagged_seconds(per_second(run.cpu, late, T0), list(range(10)), BOUNDS)[LAG] == \
        list(range(10))


def test_no_cpu_sample_is_a_problem(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Segment(0, 10, 20)])
    assert "cannot be ruled out" in saturation_problems(run.cpu, run.rows, WHOLE, T0, BOUNDS)[0]


def test_closed_loop_rows_have_no_lag(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Segment(0, 10, 20)], Seconds(10), mode="closed")
    closed = run.rows.assign(ts_intended=float("nan"))
    assert saturation_problems(run.cpu, closed, WHOLE, T0, BOUNDS) == []


def test_samples_speak_for_the_second_they_cover() -> None:
    # A sample at t0+7.2 covering one second speaks for second 6 (its middle is 6.7).
    import pandas as pd

    cpu = pd.DataFrame({"ts": [T0 + 7.2], "span_s": [1.0], "host_pct": [99.0], "cores": [2],
                        "generator_pct": [1.0], "generator_max_pct": [1.0]})
    assert per_second(cpu, None, T0).index.tolist() == [6]


def test_judged_seconds_and_their_listing() -> None:
    # A second belongs to the span holding its middle: 2.0-2.2 is not second 2's.
    assert judged_seconds([(T0 + 0.5, T0 + 2.2), (T0 + 5, T0 + 6)], T0) == [0, 1, 5]
    assert judged_seconds([(T0 + 2.55, T0 + 5.05)], T0) == [3, 4]
    assert judged_seconds([(T0 + 3.1, T0 + 3.3)], T0) == [3]  # no middle: its own second
    assert format_seconds([9, 3, 4, 5, 12]) == "3-5, 9, 12"
    assert format_seconds(list(range(0, 40, 2))).endswith("and 8 more")


def test_a_late_generator_and_an_exhausted_pool_are_told_apart(tmp_path: Path) -> None:
    # From second 4 answers take 2 s at 20 req/s: by second 5, 20 to 40 requests are in
    # flight, a pool of 30 users is exhausted and arrivals wait for one (the system is
    # slow, not the generator). With a pool of 200 the same lag is the generator's.
    segments = [Segment(0, 4, 20), Segment(4, 5, 20, latency_ms=2000),
                Segment(5, 6, 20, latency_ms=2000, lag_ms=300), Segment(6, 10, 20)]
    run = write_run(tmp_path / "r", segments, Seconds(10))
    small = flagged_seconds(per_second(run.cpu, run.rows, T0), list(range(10)),
                            SaturationBounds(pool=30))
    assert (small[LAG], small[POOL]) == ([], [5])
    large = flagged_seconds(per_second(run.cpu, run.rows, T0), list(range(10)),
                            SaturationBounds(pool=200))
    assert (large[LAG], large[POOL]) == ([5], [])
    problems = saturation_problems(run.cpu, run.rows, WHOLE, T0, SaturationBounds(pool=30))
    assert any(p.startswith("open-loop pool exhausted (its 30 users") for p in problems)
