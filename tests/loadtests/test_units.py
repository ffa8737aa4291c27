"""Pure functions: stream metrics, CO correction, error kinds, SSE, schedule, mix, guard, live."""

import random
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loadtests.errors import HostNotAllowedError
from loadtests.hostguard import check_host
from loadtests.live import WorkerLive, read_live, write_worker_live
from loadtests.metrics import classify_error, corrected_latency_ms, stream_metrics
from loadtests.plans import CACHEABLE_PROMPTS, ENDPOINTS, MixPicker, plan_request, user_rng
from loadtests.shapes import ArrivalSchedule, Ramp
from loadtests.spec import ChatOptions, LoadSpec
from loadtests.streaming import (
    StreamCut,
    StreamErrorEvent,
    StreamProtocolError,
    StreamStalled,
    consume_sse,
)

# -- stream metrics (DESIGN.md §5) ---------------------------------------------


def test_stream_metrics_from_known_times() -> None:
    m = stream_metrics(10.0, [10.2, 10.25, 10.3, 10.4])
    assert m.ttft_ms == pytest.approx(200)
    assert m.e2e_ms == pytest.approx(400)
    assert m.itl_mean_ms == pytest.approx(200 / 3)
    assert m.itl_max_ms == pytest.approx(100)
    assert m.tpot_ms == pytest.approx(200 / 3)


def test_tpot_uses_server_token_count() -> None:
    assert stream_metrics(0.0, [1.0, 2.0], tokens=11).tpot_ms == pytest.approx(100)


def test_single_chunk_and_no_chunk() -> None:
    one = stream_metrics(0.0, [0.5])
    assert (one.ttft_ms, one.e2e_ms, one.itl_mean_ms, one.tpot_ms) == (500, 500, None, None)
    assert stream_metrics(0.0, []).ttft_ms is None


def test_coordinated_omission_correction() -> None:
    assert corrected_latency_ms(ts_end=12.5, ts_intended=10.0) == pytest.approx(2500)
    assert corrected_latency_ms(ts_end=12.5, ts_intended=None) is None


# -- error kinds -----------------------------------------------------------------


class Timeout(BaseException):  # stands in for gevent.Timeout (matched by name)
    pass


class RetriesExceeded(Exception):  # geventhttpclient wraps the cause in `original`
    def __init__(self, original: BaseException) -> None:
        self.original = original


@pytest.mark.parametrize(("status", "exc", "kind"), [
    (200, None, None),
    (202, None, None),
    (429, RuntimeError("bad status"), "http_4xx"),
    (503, None, "http_5xx"),
    (0, ConnectionRefusedError(), "connect"),
    (0, socket.gaierror(), "connect"),
    (0, TimeoutError(), "timeout"),
    (0, Timeout(), "timeout"),
    (0, RetriesExceeded(Timeout()), "timeout"),
    (0, ConnectionResetError(), "reset"),
    (200, StreamCut("no [DONE]"), "stream_cut"),
    (200, StreamProtocolError("bad json"), "malformed"),
    (200, StreamErrorEvent("data: {error}"), "stream_error_event"),
    (200, StreamStalled("deadline mid-stream"), "stream_stall"),
    (0, ValueError("?"), "other"),
    (0, None, "other"),
])
def test_classify_error(status: int, exc: BaseException | None, kind: str | None) -> None:
    assert classify_error(status, exc) == kind


# -- SSE -------------------------------------------------------------------------

CHUNK = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n'
ROLE = b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n'


def _clock(times: list[float]) -> Callable[[], float]:
    it = iter(times)
    return lambda: next(it)


def test_sse_complete_stream_times_content_chunks_only() -> None:
    lines = [ROLE, b"\n", CHUNK, b"\n", CHUNK, b": keep-alive\n", b"data: [DONE]\n"]
    out = consume_sse(lines, clock=_clock([1, 2, 3, 4, 5, 6, 7]))
    assert out.done and out.error is None
    assert out.chunk_times == [3, 5] and out.tokens == 2
    assert out.bytes_read == sum(map(len, lines))


def test_sse_usage_overrides_chunk_count() -> None:
    usage = b'data: {"choices":[],"usage":{"completion_tokens":9}}\n'
    out = consume_sse([CHUNK, usage, b"data: [DONE]\n"], clock=_clock([1, 2, 3]))
    assert out.tokens == 9


def test_sse_cut_keeps_partial_timing() -> None:
    out = consume_sse([CHUNK, CHUNK], clock=_clock([1, 2]))
    assert isinstance(out.error, StreamCut) and not out.done
    assert out.chunk_times == [1, 2]


def test_sse_reset_error_event_bad_json_and_timeout() -> None:
    def reset() -> Iterator[bytes]:
        yield CHUNK
        raise ConnectionResetError

    assert isinstance(consume_sse(reset(), clock=_clock([1])).error, StreamCut)
    err = consume_sse([b'data: {"error":{"message":"x"}}\n'], clock=_clock([1]))
    assert isinstance(err.error, StreamErrorEvent)
    assert isinstance(consume_sse([b"data: {nope\n"], clock=_clock([1])).error,
                      StreamProtocolError)

    def slow() -> Iterator[bytes]:
        yield CHUNK
        raise TimeoutError

    out = consume_sse(slow(), clock=_clock([1]))
    assert isinstance(out.error, StreamStalled) and out.chunk_times == [1]
    assert [classify_error(200, e) for e in (err.error, out.error)] == \
        ["stream_error_event", "stream_stall"]


# -- open-loop schedule ------------------------------------------------------------


def _drain(s: ArrivalSchedule, now: float = 0.0) -> list[float]:
    out = []
    while (slot := s.claim(now)) is not None:
        out.append(slot.ts_intended)
    return out


def test_constant_rate_is_evenly_spaced_and_counts_rate_times_duration() -> None:
    times = _drain(ArrivalSchedule([Ramp(2.0, 10.0, 10.0)], max_lag_s=100))
    assert len(times) == 20
    assert times == pytest.approx([k * 0.1 for k in range(20)])


def test_linear_ramp_follows_integral_of_rate() -> None:
    times = _drain(ArrivalSchedule([Ramp(10.0, 0.0, 10.0)], max_lag_s=100))
    assert len(times) == 50  # (0 + 10) / 2 * 10
    assert times[8] == pytest.approx((2 * 8 / 1.0) ** 0.5)  # Λ(t) = t²/2 with a = 1


def test_stages_chain() -> None:
    times = _drain(ArrivalSchedule([Ramp(1.0, 2.0, 2.0), Ramp(1.0, 4.0, 4.0)], max_lag_s=100))
    assert times == pytest.approx([0, 0.5, 1.0, 1.25, 1.5, 1.75])


def test_each_arrival_knows_its_stage() -> None:
    s = ArrivalSchedule([Ramp(1.0, 2.0, 2.0), Ramp(1.0, 4.0, 4.0), Ramp(1.0, 0.0, 0.0),
                         Ramp(1.0, 2.0, 2.0)], max_lag_s=100)
    stages = []
    while (slot := s.claim(0.0)) is not None:
        stages.append(slot.stage)
    assert stages == [0, 0, 1, 1, 1, 1, 3, 3]


def test_a_stage_may_draw_from_its_own_mix() -> None:
    spec = LoadSpec.model_validate({
        "mode": "open", "duration_s": 3, "mix": {"identity": 1, "business": 1, "chat": 0},
        "stages": [{"duration_s": 1, "rate_start": 2},
                   {"duration_s": 2, "rate_start": 10,
                    "mix": {"identity": 1, "business": 9, "chat": 0}}]})
    assert [m.business for m in spec.stage_mixes()] == [1, 9]
    assert spec.rate_stages()[1].mix == spec.stages[1].mix  # type: ignore[index]
    closed = LoadSpec(mode="closed", users=1, duration_s=1)
    assert closed.stage_mixes() == [closed.mix]


def test_workers_share_the_global_schedule() -> None:
    ramps = [Ramp(1.0, 10.0, 10.0)]
    a = _drain(ArrivalSchedule(ramps, max_lag_s=100, stride=2, offset=0))
    b = _drain(ArrivalSchedule(ramps, max_lag_s=100, stride=2, offset=1))
    assert sorted(a + b) == pytest.approx([k / 10 for k in range(10)])


def test_schedule_is_done_when_every_claimed_arrival_completed() -> None:
    s = ArrivalSchedule([Ramp(0.2, 10.0, 10.0)], max_lag_s=100)
    a, b = s.claim(0.0), s.claim(0.0)
    assert a is not None and b is not None and s.claim(0.0) is None
    assert s.exhausted and not s.done  # two still outstanding
    s.complete(a)
    s.complete(b)
    assert s.done


def test_late_arrivals_keep_intended_time_and_stale_ones_are_dropped() -> None:
    s = ArrivalSchedule([Ramp(10.0, 10.0, 10.0)], max_lag_s=0.5)
    assert s.claim(100.0).ts_intended == 100.0  # type: ignore[union-attr]  # t0 = 100
    late = s.claim(100.4)  # arrival 1 is due at 100.1: late but within the lag
    assert late is not None and late.ts_intended == pytest.approx(100.1) and s.dropped == 0
    after_stall = s.claim(103.0)  # arrivals due before 102.5 are dropped
    assert after_stall is not None and after_stall.ts_intended == pytest.approx(102.5)
    assert s.dropped == 23 and sum(s.dropped_per_s.values()) == 23


# -- mix and request plans -------------------------------------------------------


def test_mix_follows_domain_weights() -> None:
    picker = MixPicker({"identity": 3.0, "business": 1.0, "chat": 0.0})
    rng = random.Random(1)
    counts = Counter(picker.pick(rng).domain for _ in range(8000))
    assert counts["chat"] == 0
    assert counts["identity"] / 8000 == pytest.approx(0.75, abs=0.02)


def test_same_seed_same_choices() -> None:
    spec = LoadSpec(mode="closed", users=1, duration_s=1)
    picker = MixPicker(spec.mix.weights())

    def seq(seed: int) -> list[str]:
        rng = user_rng(seed, 0, 1)
        return [plan_request(picker.pick(rng), spec, rng).path for _ in range(50)]

    assert seq(7) == seq(7) and seq(7) != seq(8)


def test_plans_cover_contract_endpoints_and_cacheable_chat() -> None:
    spec = LoadSpec(mode="closed", users=1, duration_s=1, chat=ChatOptions(cacheable_ratio=1.0))
    rng = random.Random(0)
    plans = {ep.name: plan_request(ep, spec, rng) for ep in ENDPOINTS}
    assert plans["orders.create"].method == "POST" and plans["orders.create"].headers
    assert plans["articles.get"].path.startswith("/v1/articles/a0")
    chat = plans["chat.completions"]
    assert chat.endpoint == "chat.stream" and chat.stream and chat.body is not None
    assert chat.body["temperature"] == 0.0
    assert chat.body["messages"][0]["content"] in CACHEABLE_PROMPTS
    assert chat.timeout_s == spec.chat.timeout_s


# -- host guard ------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://127.9.9.9", "http://localhost:1",
                                 "http://[::1]:80"])
def test_guard_allows_loopback(url: str) -> None:
    check_host(url)


@pytest.mark.parametrize("url", ["http://10.0.0.1:80", "http://example.com", "ftp://127.0.0.1",
                                 "127.0.0.1:8000"])
def test_guard_refuses_the_rest(url: str) -> None:
    with pytest.raises(HostNotAllowedError):
        check_host(url)


def test_guard_allows_the_runs_own_containers() -> None:
    assert check_host("http://172.18.0.5:8000", allowed_hosts={"172.18.0.5"}) == "172.18.0.5"


# -- live stats ------------------------------------------------------------------


def test_live_aggregates_workers(tmp_path: Path) -> None:
    assert read_live(tmp_path).workers == 0
    write_worker_live(tmp_path / "a.json", WorkerLive("a", 1, ts=5.0, started=1.0, requests=10,
                                                       failures=1, rate_rps=4.0, users=2))
    write_worker_live(tmp_path / "b.json", WorkerLive("b", 2, ts=6.0, started=2.0, requests=5,
                                                       dropped=3, rate_rps=1.0, users=2))
    live = read_live(tmp_path)
    assert (live.requests, live.failures, live.dropped, live.workers) == (15, 1, 3, 2)
    assert (live.rate_rps, live.users, live.ts, live.started) == (5.0, 4, 6.0, 1.0)


def test_shares_of_the_schedule_add_up_to_the_plan() -> None:
    ramps = [Ramp(3.0, 10.0, 20.0)]  # 45 arrivals
    shares = [ArrivalSchedule(ramps, max_lag_s=100, stride=4, offset=i) for i in range(4)]
    assert [s.intended for s in shares] == [12, 11, 11, 11]
    assert sum(s.intended for s in shares) == shares[0].arrivals == 45
    assert [len(_drain(s)) for s in shares] == [12, 11, 11, 11]


def test_arrivals_a_run_ended_before_claiming_are_dropped_not_forgotten() -> None:
    from loadtests.shapes import ArrivalSchedule, Ramp
    schedule = ArrivalSchedule([Ramp(10.0, 10.0, 10.0)], max_lag_s=1.0)
    assert schedule.intended == 100
    for _ in range(30):
        slot = schedule.claim(0.0)
        assert slot is not None
        schedule.complete(slot)
    schedule.close(5.0)  # frozen, then the run ended: 70 never claimed
    assert schedule.claimed + schedule.dropped == schedule.intended
    assert schedule.dropped == 70 and schedule.done
    schedule.close(6.0)  # idempotent
    assert schedule.dropped == 70
