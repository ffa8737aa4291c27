"""Synthetic run folders (docs/contracts.md layout) of a gateway kill, for report tests."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["RunSpec", "make_run"]

T0 = 1_700_000_000.0
DOMAINS = np.array(["identity", "business", "chat"])


@dataclass(frozen=True)
class RunSpec:
    """What to generate: a run of `seconds` at `rps`, business gateway killed in the middle."""

    run_id: str = "run-1"
    experiment: str = "c2-gateway-kill"
    arch: str = "dual"
    seconds: float = 30.0
    rps: float = 60.0
    open_loop: bool = False
    parts: int = 1
    seed: int = 1
    status: str = "completed"


def _rows(spec: RunSpec) -> pd.DataFrame:
    rng = np.random.default_rng(spec.seed)
    n = int(spec.seconds * spec.rps)
    sends = T0 + np.sort(rng.uniform(0.0, spec.seconds, n))
    domain = DOMAINS[rng.integers(0, 3, n)]
    latency = rng.lognormal(np.log(15.0), 0.3, n)
    third = spec.seconds / 3
    in_fault = (sends >= T0 + third) & (sends < T0 + 2 * third)
    status = np.full(n, 200, dtype=np.int32)
    error = np.array([None] * n, dtype=object)
    route = rng.choice(np.array(["primary", "retry", "cache-hit"]), n, p=[0.9, 0.02, 0.08])
    route = route.astype(object)
    instance = np.array(
        [f"{d[:4]}-{i}" for d, i in zip(domain, rng.integers(1, 3, n), strict=True)], dtype=object
    )
    if spec.arch == "single":
        dead = in_fault
    else:
        dead = in_fault & (domain == "chat")
        degraded = in_fault & (domain == "business")
        route[degraded] = "fallback-degraded"
        status[degraded] = 202
        instance[degraded] = "router-1"
    status[dead] = 0
    error[dead] = "connect"
    route[dead] = None
    instance[dead] = None
    latency[dead] = 1.0
    chat = (domain == "chat") & ~dead
    ttft = np.where(chat, rng.uniform(40, 80, n), np.nan)
    tokens = np.where(chat, rng.integers(8, 32, n), np.nan)
    intended = sends - rng.uniform(0, 0.02, n) if spec.open_loop else np.full(n, np.nan)
    ends = sends + latency / 1000
    return pd.DataFrame(
        {
            "ts_send": sends,
            "ts_intended": intended,
            "ts_end": ends,
            "latency_ms": latency,
            "latency_corrected_ms": (ends - intended) * 1000,
            "status": status,
            "error_kind": pd.array(error, dtype="str"),
            "domain": domain,
            "endpoint": np.char.add(domain.astype(str), ".op"),
            "method": "GET",
            "route": pd.array(route, dtype="str"),
            "instance": pd.array(instance, dtype="str"),
            "gateway": "gateway-" + pd.Series(domain),
            "stream": domain == "chat",
            "ttft_ms": ttft,
            "tpot_ms": np.where(chat, 5.0, np.nan),
            "itl_mean_ms": np.nan,
            "itl_max_ms": np.nan,
            "e2e_ms": np.where(chat, latency, np.nan),
            "tokens_out": pd.array(np.where(chat, tokens, np.nan), dtype="Int32"),
            "response_bytes": np.full(n, 200, dtype=np.int64),
            "worker": "w1",
        }
    )


def make_run(root: Path, spec: RunSpec = RunSpec()) -> Path:
    """Write a run folder under `root`; returns its path."""
    run_dir = root / spec.run_id
    run_dir.mkdir(parents=True)
    third = spec.seconds / 3
    windows = {
        "baseline": [T0 + 1, T0 + third],
        "fault": [T0 + third, T0 + 2 * third],
        "recovery": [T0 + 2 * third, T0 + spec.seconds],
    }
    meta = {
        "run_id": spec.run_id,
        "experiment": spec.experiment,
        "claim": "une panne d'une gateway n'affecte pas l'autre",
        "arch": spec.arch,
        "seed": spec.seed,
        "started": T0,
        "ended": T0 + spec.seconds,
        "status": spec.status,
        "windows": windows,
        "load": {"mode": "open" if spec.open_loop else "closed"},
    }
    (run_dir / "meta.json").write_text(json.dumps(meta))
    rows = _rows(spec)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    if spec.parts == 1:
        pq.write_table(table, run_dir / "rows.parquet")
    else:
        (run_dir / "rows").mkdir()
        step = -(-len(rows) // spec.parts)
        for i in range(spec.parts):
            pq.write_table(table.slice(i * step, step), run_dir / "rows" / f"part-{i:05d}.parquet")
    fault = {
        "kind": "fault",
        "id": "f1",
        "fault": "kill",
        "target": "gateway-business",
        "hop": None,
        "params": {},
        "start": T0 + third,
        "end": T0 + 2 * third,
        "proof": {"ok": True, "detail": "pid gone"},
        "removal_proof": {"ok": True, "detail": "up"},
        "label": "kill gateway-business",
    }
    events = [{"kind": "phase", "name": "load-start", "ts": T0}, fault]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    cpu = [
        {
            "ts": T0 + s,
            "host_pct": 40.0 + (55.0 if s == 12 else 0.0),
            "generator_pct": 20.0,
            "instances": {"gateway-business": 10.0},
        }
        for s in range(int(spec.seconds))
    ]
    (run_dir / "cpu.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cpu))
    identity_holds = "holds" if spec.arch == "dual" else "fails"
    verdicts = [
        {
            "claim": "C2",
            "arch": spec.arch,
            "hypothesis": "availability{domain=identity}@fault >= 0.999",
            "measured": 1.0 if spec.arch == "dual" else 0.0,
            "threshold": 0.999,
            "verdict": identity_holds,
        },
        {
            "claim": "C2",
            "arch": spec.arch,
            "hypothesis": "time_to_failover_s <= 1",
            "measured": 0.0,
            "threshold": 1.0,
            "verdict": "inconclusive",
            "detail": "host busy",
        },
    ]
    (run_dir / "verdicts.json").write_text(json.dumps(verdicts))
    (run_dir / "junit.xml").write_text("<testsuite name='gatecrash' tests='2'/>")
    return run_dir
