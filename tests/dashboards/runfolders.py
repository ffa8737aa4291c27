"""Synthetic run folders of a gateway kill, written by the real run-record writer
(`records.RunWriter`), so they cannot drift from what a run writes."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from records import (
    CpuSample,
    FaultEvent,
    PhaseEvent,
    Proof,
    RunMeta,
    RunStatus,
    RunWindows,
    RunWriter,
    Verdict,
    VerdictWord,
)

__all__ = ["FAULT_LABEL", "T0", "RunSpec", "make_run"]

T0 = 1_700_000_000.0
DOMAINS = np.array(["identity", "business", "chat"])
FAULT_LABEL = "kill gateway-business-1"
HYPOTHESES = ("availability{domain=identity}@fault >= 0.999", "time_to_failover_s <= 1")


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
    status: RunStatus = "completed"
    started: float = T0


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
            "entry": "gateway-1",
            "failover": False,
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
    """Write a run folder under `root` through the real writer; returns its path."""
    third = spec.seconds / 3
    running = spec.status == "running"
    meta = RunMeta(
        run_id=spec.run_id,
        experiment=spec.experiment,
        claim="une panne d'une gateway n'affecte pas l'autre",
        claim_id="C2",
        arch=spec.arch,
        seed=spec.seed,
        load_mode="open" if spec.open_loop else "closed",
        hypotheses=[HYPOTHESES[0], HYPOTHESES[1]],
        status=spec.status,
        started=spec.started,
        ended=None if running else spec.started + spec.seconds,
        t0=T0,
        windows=RunWindows(
            baseline=(T0 + 1, T0 + third),
            fault=(T0 + third, T0 + 2 * third),
            recovery=(T0 + 2 * third, T0 + spec.seconds),
        ),
    )
    writer = RunWriter.create(root / spec.run_id, meta)
    table = pa.Table.from_pandas(_rows(spec), preserve_index=False)
    step = -(-table.num_rows // spec.parts)
    for i in range(spec.parts):
        writer.write_rows(table.slice(i * step, step), "w1")
    writer.event(PhaseEvent(name="load-start", ts=T0))
    writer.event(
        FaultEvent(
            id="f1",
            fault="kill",
            targets=["gateway-business-1"],
            label=FAULT_LABEL,
            start=T0 + third,
            end=T0 + 2 * third,
            effective=T0 + third,
            proof=Proof(ok=True, detail="gateway-business-1: exited"),
            removal_proof=Proof(ok=True, detail="gateway-business-1: running"),
        )
    )
    with writer.cpu_log() as cpu:
        for s in range(int(spec.seconds)):
            cpu.write(
                CpuSample(
                    ts=T0 + s,
                    span_s=1.0,
                    host_pct=40.0 + (55.0 if s == 12 else 0.0),
                    cores=2,
                    generator_pct=20.0,
                    generator_max_pct=20.0,
                    instances={"gateway-business-1": 10.0},
                )
            )
    if running:  # a run still going has no verdicts yet
        return writer.path
    dual = spec.arch == "dual"
    availability = _verdict(spec, HYPOTHESES[0], "inconclusive" if dual else "fails",
                            1.0 if dual else 0.0, 0.999)
    # As the verdict engine records it: the interval it was decided on (Wilson, 0/66 or
    # 66/66 at 95 %) and, inconclusive, how many samples would decide it.
    availability = availability.model_copy(update={
        "quantity": "availability{domain=identity}@fault", "op": ">=", "bound": 0.999,
        "value": 1.0 if dual else 0.0, "low": 0.9450 if dual else 0.0,
        "high": 1.0 if dual else 0.0550, "n": 66, "method": "wilson", "confidence": 0.95,
        "samples_needed": 3838 if dual else None,
        "samples": {"availability{domain=identity}@fault": 66}})
    verdicts = [
        availability,
        _verdict(spec, HYPOTHESES[1], "inconclusive", 0.0, 1.0, "host busy"),
    ]
    writer.write_verdicts(verdicts)
    writer.write_junit(f"{spec.experiment}[{spec.arch}]", verdicts)
    return writer.path


def _verdict(
    spec: RunSpec,
    hypothesis: str,
    word: VerdictWord,
    measured: float,
    threshold: float,
    detail: str = "",
) -> Verdict:
    return Verdict(
        experiment=spec.experiment,
        claim="une panne d'une gateway n'affecte pas l'autre",
        claim_id="C2",
        arch=spec.arch,
        hypothesis=hypothesis,
        verdict=word,
        measured=measured,
        threshold=threshold,
        detail=detail,
    )
