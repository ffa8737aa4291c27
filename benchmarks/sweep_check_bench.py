"""What a running sweep's once-a-second check costs the conductor, now and as before.

    python benchmarks/sweep_check_bench.py [--repeat 3]

A capacity sweep is replayed second by second, as the conductor sees it while the
load runs: a rows part lands each second (the recorder flushes about once a
second) and the check runs after it. The rows are writer-made (the sweep rows of
the dashboards tests: 60 to 420 req/s in steps of 60 every 2 s, slow from 360
up, 1 s of warm-up; the real writer and reader), so the figures do not depend on
a stack.

- baseline: the check as it was, every second `read_rows` of every part and the
  step rule on all of them;
- now: `gatecrash.sweep.SweepRun.check` (rows read only when a step can be judged,
  and only the parts not read before).

Both sides run on the same folder in the same process, alternating, and the CPU
time (process time) of all their checks over the sweep is printed with the ratio.
Both must stop the sweep at the same knee: the check now may stop it up to a second
sooner (it looks as soon as a step can be judged), never later; otherwise the
benchmark fails.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboards.sweep import find_knee, step_outcomes  # noqa: E402
from gatecrash.experiment import Experiment  # noqa: E402
from gatecrash.sweep import CHECK_EVERY_S, SweepRun  # noqa: E402
from records import ROW_SCHEMA, RunWriter, read_meta, read_rows  # noqa: E402
from tests.dashboards.sweeprows import T0, Segment, write_run  # noqa: E402

RATES = (60, 120, 180, 240, 300, 360, 420)
STEP_S = 2
WARMUP_S = 1
SLOW_FROM_RPS = 360  # the knee: 300 req/s
SWEEP = {"mode": "sweep", "max_users": 200,
         "sweep": {"rate_start": RATES[0], "step_rps": RATES[1] - RATES[0], "step_s": STEP_S,
                   "rate_max": RATES[-1], "warmup_s": WARMUP_S}}
TICK_S = 0.05  # the runner's loop


def _segments() -> list[Segment]:
    out = [Segment(0, WARMUP_S, RATES[0])]
    for k, rate in enumerate(RATES):
        start = WARMUP_S + k * STEP_S
        out.append(Segment(start, start + STEP_S, rate,
                           latency_ms=800.0 if rate >= SLOW_FROM_RPS else 20.0))
    return out


def _old_check(run: SweepRun, folder: Path, state: dict[str, float], now: float) -> str | None:
    """The check before this change: every part read each second."""
    if now < state["next"]:
        return None
    state["next"] = now + CHECK_EVERY_S
    rows = read_rows(folder, [])
    if rows.empty:
        return None
    passed = step_outcomes(rows, run.plan, run.slo, now, run.settle_s)
    if len(passed) == state["judged"]:
        return None
    state["judged"] = len(passed)
    return "knee" if find_knee(passed, complete=False).decided else None


def _replay(folder: Path, seconds: list[Path], new: bool, experiment: Experiment) -> tuple[
        float, float | None]:
    """CPU seconds of the checks over the replayed sweep, and when it stopped."""
    shutil.rmtree(folder / "rows", ignore_errors=True)
    (folder / "rows").mkdir(parents=True)
    run = SweepRun.of(experiment.load, experiment.slo, folder)
    assert run is not None
    state = {"next": 0.0, "judged": 0.0}
    cpu = 0.0
    now = T0
    for part in [*seconds, *[None] * 4]:  # a few more seconds for the last steps
        if part is not None:
            shutil.copy(part, folder / "rows" / part.name)
        for _ in range(round(1 / TICK_S)):
            now += TICK_S
            started = time.process_time()
            stopped = run.check(now) if new else _old_check(run, folder, state, now)
            cpu += time.process_time() - started
            if stopped:
                return cpu, round(now - T0, 2)
    return cpu, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    experiment = Experiment.model_validate({"name": "bench", "claim": "c",
                                            "architectures": ["single"], "load": SWEEP,
                                            "hypotheses": ["count@baseline >= 1"]})
    with tempfile.TemporaryDirectory() as tmp:
        whole = write_run(Path(tmp) / "whole", _segments()).rows
        writer = RunWriter.create(Path(tmp) / "parts", read_meta(Path(tmp) / "whole"))
        # One part a second, of the rows answered in that second.
        ends = whole["ts_end"].to_numpy(float)
        seconds = []
        for s in range(int(ends.max() - T0) + 1):
            mine = whole[(ends >= T0 + s) & (ends < T0 + s + 1)]
            table = pa.Table.from_pandas(mine, schema=ROW_SCHEMA, preserve_index=False)
            seconds.append(writer.write_rows(table, "w1"))
        print(f"replayed sweep: {len(whole)} rows in {len(seconds)} parts, "
              f"steps {RATES[0]}-{RATES[-1]} req/s")
        print(f"{'round':>5}  {'baseline CPU s':>14}  {'now CPU s':>9}  {'ratio':>6}  "
              "stopped at (baseline / now)")
        for r in range(args.repeat):
            old, old_stop = _replay(Path(tmp) / "run", seconds, False, experiment)
            new, new_stop = _replay(Path(tmp) / "run", seconds, True, experiment)
            # The check now looks as soon as a step can be judged, not on the next
            # whole second after: it may stop up to CHECK_EVERY_S sooner, never later.
            if old_stop is None or new_stop is None or \
                    not old_stop - CHECK_EVERY_S <= new_stop <= old_stop:
                print(f"the two checks stopped the sweep apart: {old_stop} s and {new_stop} s")
                return 1
            print(f"{r + 1:>5}  {old:>14.3f}  {new:>9.3f}  {old / new:>5.1f}x  "
                  f"{old_stop} s / {new_stop} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
