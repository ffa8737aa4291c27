"""A real capacity sweep through the CLI: `single` with one replica per service, no hop
proxies, the stand-in inference. An SLO no stack can keep (p95 <= 1 ms) makes the
first two steps fail whatever the machine's load, so the sweep must stop there, long
before its schedule ends, and say that the capacity is below its first step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gatecrash.capacities import KnownCapacity
from records import read_run

from .test_runs import stack_processes

pytestmark = pytest.mark.slow

STEPS = ["--start", "20", "--step", "20", "--step-s", "2", "--max", "200"]
PLANNED_LOAD_S = 3 + 10 * 2  # warm-up + ten steps: what a sweep that never stopped sends
CLI_TIMEOUT_S = 240


def test_a_sweep_stops_at_its_knee_and_records_every_step(tmp_path: Path) -> None:
    home = tmp_path / "home"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gatecrash.cli", "capacity", "--arch", "single", *STEPS,
         "--slo-p95-ms", "1", "--replicas", "1", "--no-proxies", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
        env={**os.environ, "GATECRASH_HOME": str(home)})
    assert done.returncode == 3, done.stderr[-3000:]  # no knee bounded on both sides
    assert "knee found (steps 0 and 1 failed in a row), sweep stopped" in done.stdout
    run = read_run(next((tmp_path / "runs").glob("*-capacity-single")))
    record = run.capacity
    assert record is not None and run.meta.load_mode == "sweep"
    first = record.steps[0]
    if first.contended_s or first.generator_bound_s:
        # Other processes (or the generator) held the cores in the first failing step:
        # its failure may be theirs, so the capacity is bounded below only, and said so.
        assert "capacity of single: not measured" in done.stdout
        assert any("only bounded below" in note for note in record.notes), record.notes
    else:
        assert "capacity of single: below 20 req/s" in done.stdout
    # Judged ~1.5 s after its end (rows flushed), checked every second: the sweep stops
    # a step or two after the failing pair (those fail too, or are cut).
    outcomes = [s.outcome for s in record.steps]
    assert outcomes[:2] == ["fail", "fail"] and set(outcomes[2:]) <= {"fail", "cut"}
    assert record.knee_step is None
    load_s = run.rows["ts_send"].max() - run.rows["ts_send"].min()
    assert load_s < PLANNED_LOAD_S - 8, "the sweep did not stop at its knee"
    for step in record.steps[:2]:
        assert step.sent + step.lag.missing == step.scheduled == round(step.rate_rps * 2)
        assert step.p95_corrected_ms.value > 1 and step.lag.p50_ms >= 0
        gateway = next(c for c in step.components if c.component == "gateway")
        generator = next(c for c in step.components if c.component == "generator")
        assert gateway.cpu_ms_per_request > 0 and gateway.rss_mb > 0
        assert generator.cpu_pct > 0
    if not (first.contended_s or first.generator_bound_s):
        assert (record.capacity.low, record.capacity.high) == (0, 20)
    # What was found is remembered for `rate: 50%` experiments (here: no knee).
    cached = [KnownCapacity.model_validate_json(p.read_text())
              for p in (home / "capacity").glob("*.json")]
    assert [(c.key.arch, c.knee_rps) for c in cached] == [("single", None)]
    assert stack_processes(home) == []
    assert time.monotonic() - started < CLI_TIMEOUT_S
