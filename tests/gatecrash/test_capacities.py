"""Where a capacity comes from: pinned file, the per-machine cache, or a measurement;
and experiments whose rate is a share of it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gatecrash.capacities import Capacities, KnownCapacity, capacity_key
from gatecrash.capacity import CapacityResult
from gatecrash.errors import InputError
from gatecrash.experiment import Experiment
from gatecrash.suite import stack_groups
from records import CapacityRecord, Slo
from records.capacity import Interval
from targets.stack import RuntimeKind

LOCAL = RuntimeKind.LOCAL


def experiment(rate: object = "50%", **extra: object) -> Experiment:
    return Experiment.model_validate({
        "name": "relative", "claim": "c", "architectures": ["single", "dual"],
        "load": {"mode": "open", "rate": rate, "duration_s": 5,
                 "mix": {"identity": 1, "business": 1, "chat": 0}},
        "hypotheses": ["count@baseline >= 1"], **extra})


def result(tmp_path: Path, knee: float | None) -> CapacityResult:
    record = CapacityRecord(
        arch="single", slo=Slo(), step_rps=20, step_s=3, judged_at=9.0, sent_until=9.0,
        steps=[], knee_rps=knee,
        knee_step=None if knee is None else 2,
        capacity=Interval(value=knee or 0.0, low=40, high=80, n=900, method="m",
                          confidence=0.95), ended="test")
    return CapacityResult("single", tmp_path / "run", record)


def test_a_pinned_file_wins_and_resolves_the_rate(tmp_path: Path) -> None:
    pinned = tmp_path / "capacity.json"
    pinned.write_text(json.dumps({"single": 62, "dual": 55.5}))
    capacities = Capacities.from_file(pinned, home=tmp_path)
    resolved = capacities.resolve(experiment(), "dual", LOCAL, None, tmp_path)
    assert resolved.load.rate == pytest.approx(27.75) and not resolved.load.relative
    assert "55.5 req/s (pinned)" in resolved.description
    absolute = experiment(rate=10)
    assert capacities.resolve(absolute, "single", LOCAL, None, tmp_path) is absolute


def test_capacity_of_gives_every_architecture_one_rate(tmp_path: Path) -> None:
    pinned = tmp_path / "capacity.json"
    pinned.write_text(json.dumps({"single": 62, "dual": 55.5}))
    capacities = Capacities.from_file(pinned, home=tmp_path)
    same = experiment(capacity_of="single")
    rates = [capacities.resolve(same, arch, LOCAL, None, tmp_path).load.rate
             for arch in ("single", "dual")]
    assert rates == [pytest.approx(31.0), pytest.approx(31.0)]
    # What is recorded of the resolved run validates again (rejudging reads it back).
    resolved = capacities.resolve(same, "dual", LOCAL, None, tmp_path)
    assert "a share of the capacity of single: 62 req/s (pinned)" in resolved.description
    assert Experiment.model_validate(resolved.model_dump()).load.rate == pytest.approx(31.0)
    # Not known, and not measurable on the other architecture's stack: said how to fix.
    unknown = Capacities(home=tmp_path / "empty")
    with pytest.raises(InputError, match=r"capacity of single.*run single first"):
        unknown.resolve(same, "dual", LOCAL, None, tmp_path)
    with pytest.raises(ValueError, match="capacity_of: single, but no rate of the load"):
        experiment(rate=10, capacity_of="single")


@pytest.mark.parametrize(("content", "message"), [
    ("[1, 2]", "expected a JSON object of req/s by architecture"),
    ('{"triple": 4}', "unknown architecture 'triple'; allowed: single, dual"),
    ('{"single": -4}', "single: -4 is not a capacity; give req/s > 0"),
    ('{"single": true}', "single: True is not a capacity"),
    ("{nope", "not JSON"),
])
def test_a_bad_pinned_file_is_refused_clearly(tmp_path: Path, content: str,
                                              message: str) -> None:
    path = tmp_path / "capacity.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        Capacities.from_file(path)
    with pytest.raises(InputError, match="cannot read the capacity file"):
        Capacities.from_file(tmp_path / "missing.json")


def test_the_cache_keeps_a_knee_per_machine_arch_and_mix(tmp_path: Path) -> None:
    capacities = Capacities(home=tmp_path, measure=False)
    key = capacity_key(experiment(), "single", LOCAL)
    assert capacities.cached(key) is None
    with pytest.raises(InputError, match="not measured on this machine yet; run `gatecrash "
                       "capacity --arch single`"):
        capacities.resolve(experiment(), "single", LOCAL, None, tmp_path)
    assert capacities.known(experiment(), "single") is None
    known = capacities.remember(key, result(tmp_path, 60.0))
    assert capacities.cached(key) == known and known.knee_rps == 60.0
    assert capacities.known(experiment(), "single") == 60.0
    resolved = capacities.resolve(experiment(), "single", LOCAL, None, tmp_path)
    assert resolved.load.rate == 30.0 and "cached, 60 req/s" in resolved.description
    # Another mix, another SLO or another architecture is another capacity.
    chatty = experiment(load={"mode": "open", "rate": "50%", "duration_s": 5})
    assert capacities.cached(capacity_key(chatty, "single", LOCAL)) is None
    assert capacities.cached(capacity_key(experiment(slo={"p95_ms": 100}), "single",
                                          LOCAL)) is None
    assert capacities.cached(capacity_key(experiment(), "dual", LOCAL)) is None


def test_an_old_or_failed_measurement_is_not_used(tmp_path: Path) -> None:
    capacities = Capacities(home=tmp_path, measure=False, max_age_days=1)
    key = capacity_key(experiment(), "single", LOCAL)
    path = capacities.dir / f"single-{key.digest()}.json"
    capacities.remember(key, result(tmp_path, 60.0))
    old = KnownCapacity.model_validate_json(path.read_text())
    path.write_text(old.model_copy(update={"measured_at": time.time() - 2 * 86_400})
                    .model_dump_json())
    assert capacities.cached(key) is None
    capacities.remember(key, result(tmp_path, None))
    with pytest.raises(InputError, match="below the sweep's first step"):
        capacities.resolve(experiment(), "single", LOCAL, None, tmp_path)


def test_a_finished_sweep_is_learnt(tmp_path: Path) -> None:
    from records import RunMeta, RunWriter

    sweep = experiment(load={"mode": "sweep", "mix": {"identity": 1, "business": 1, "chat": 0},
                             "sweep": {"rate_start": 20, "step_rps": 20, "step_s": 3,
                                       "rate_max": 200}})
    writer = RunWriter.create(tmp_path / "run", RunMeta(
        run_id="run", experiment="c5", claim="c", arch="single", seed=1, load_mode="sweep",
        started=0.0))
    writer.write_capacity(result(tmp_path, 60.0).record)
    capacities = Capacities(home=tmp_path, measure=False)
    assert capacities.learn(experiment(), "single", LOCAL, writer.path) is None  # not a sweep
    assert capacities.learn(sweep, "single", LOCAL, writer.path) is not None
    # An open-loop experiment with the same mix and deploy options takes its share of it.
    assert capacities.resolve(experiment(rate="25%"), "single", LOCAL, None,
                              tmp_path).load.rate == 15.0


def test_the_architecture_others_take_their_rates_from_is_deployed_first() -> None:
    dual_first = Experiment.model_validate({
        "name": "dual-only", "claim": "c", "architectures": ["dual"],
        "load": {"mode": "open", "rate": 5, "duration_s": 5}, "hypotheses": ["count >= 1"]})
    groups = stack_groups([dual_first, experiment(capacity_of="single")], None)
    assert [arch for arch, _ in groups] == ["single", "dual"]
    assert [arch for arch, _ in stack_groups([dual_first, experiment()], None)] == \
        ["dual", "single"]
