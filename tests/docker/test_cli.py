"""`gatecrash run --runtime docker` as a user types it: the claim reaches a verdict in
containers, with proofs read back from the engine, and nothing is left after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gatecrash.containers import find_leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "c4-replica-kill.yaml"
RUN_TIMEOUT_S = 600
# 0 holds, 1 fails, 3 inconclusive: each is a verdict; 2 (an error) is not.
VERDICT_EXITS = {0, 1, 3}


def test_run_reaches_a_verdict_in_containers(tmp_path: Path, engine: None) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "gatecrash.cli", "run", str(EXPERIMENT), "--arch", "dual",
         "--runtime", "docker", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        env={**os.environ, "GATECRASH_HOME": str(home)})
    assert done.returncode in VERDICT_EXITS, done.stdout + done.stderr
    [run] = (tmp_path / "runs").iterdir()
    verdicts = json.loads((run / "verdicts.json").read_text())
    assert len(verdicts) == 3 and all(v["verdict"] in ("holds", "fails", "inconclusive")
                                      for v in verdicts), verdicts
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    faults = [e for e in events if e.get("kind") == "fault"]
    assert len(faults) == 2, events
    assert all(e["proof"]["ok"] and e["removal_proof"]["ok"] for e in faults), faults
    [stack] = [e["stack"] for e in events if e.get("name") == "stack-reused"]
    assert find_leftovers(stack) == []
    assert not list((home / "stacks").glob("*"))
