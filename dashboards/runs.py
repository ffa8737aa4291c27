"""Reading run folders (docs/contracts.md) into typed values.

Reading is forgiving where a run may legitimately be cut short: an aborted run
can lack rows, have a half-written last Parquet part or a truncated last JSON
line. Those are skipped and listed in `RunData.problems`, so a report can say
what it could not read instead of failing to exist.
"""

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dashboards.errors import RunFolderError
from dashboards.outcomes import prepare_rows
from dashboards.windows import windows_from_meta

__all__ = [
    "CPU_FILE",
    "EVENTS_FILE",
    "JUNIT_FILE",
    "LIVE_FILE",
    "META_FILE",
    "REPORT_FILE",
    "ROWS_DIR",
    "ROWS_FILE",
    "VERDICTS_FILE",
    "FaultEvent",
    "RunData",
    "RunSummary",
    "Verdict",
    "list_runs",
    "load_run",
    "overall_verdict",
    "read_json",
    "read_rows",
    "read_summary",
]

META_FILE = "meta.json"
ROWS_FILE = "rows.parquet"
ROWS_DIR = "rows"
EVENTS_FILE = "events.jsonl"
CPU_FILE = "cpu.jsonl"
VERDICTS_FILE = "verdicts.json"
JUNIT_FILE = "junit.xml"
REPORT_FILE = "report.html"
LIVE_FILE = "live.json"
# Run folders may be grouped (runs/<experiment>/<arch>/...); look this deep for meta.json.
MAX_RUN_DEPTH = 3

HOLDS, FAILS, INCONCLUSIVE, NO_VERDICT = "holds", "fails", "inconclusive", "none"
# Words other writers may use for the same verdicts.
_VERDICT_WORDS = {
    "holds": HOLDS,
    "hold": HOLDS,
    "pass": HOLDS,
    "passed": HOLDS,
    "true": HOLDS,
    "fails": FAILS,
    "fail": FAILS,
    "failed": FAILS,
    "false": FAILS,
    "inconclusive": INCONCLUSIVE,
    "error": INCONCLUSIVE,
}
# verdicts.json is written by the experiment runner; accept the names it may use.
_VERDICT_KEYS = {
    "hypothesis": ("hypothesis", "expression", "expr", "name"),
    "verdict": ("verdict", "outcome", "status", "result", "holds"),
    "measured": ("measured", "value", "observed", "actual"),
    "threshold": ("threshold", "expected", "bound", "limit"),
    "claim": ("claim_id", "claim"),
    "arch": ("arch", "architecture"),
    "detail": ("detail", "reason", "message", "why"),
}


@dataclass(frozen=True)
class FaultEvent:
    """One fault of events.jsonl: what was done to whom, when, and whether it was proven."""

    id: str
    fault: str
    target: str
    start: float
    end: float | None
    label: str
    proof_ok: bool | None
    removal_proof_ok: bool | None


@dataclass(frozen=True)
class Verdict:
    """One hypothesis verdict; `raw` keeps every field the runner wrote."""

    hypothesis: str
    verdict: str
    measured: float | None
    threshold: float | None
    claim: str
    arch: str
    detail: str
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary:
    """What a run list needs, read without touching the rows."""

    run_id: str
    path: Path
    experiment: str
    arch: str
    status: str
    started: float
    verdict: str


@dataclass
class RunData:
    """Everything of one run folder; `rows` are normalised and classified (`prepare_rows`)."""

    path: Path
    meta: dict[str, Any]
    rows: pd.DataFrame
    events: list[dict[str, Any]]
    faults: list[FaultEvent]
    verdicts: list[Verdict]
    cpu: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.path.name)

    @property
    def experiment(self) -> str:
        return str(self.meta.get("experiment", ""))

    @property
    def arch(self) -> str:
        return str(self.meta.get("arch", ""))

    @property
    def windows(self) -> dict[str, tuple[float, float]]:
        return windows_from_meta(self.meta)

    @property
    def t0(self) -> float:
        """Origin of the run's time axis: its start, else its first send."""
        started = self.meta.get("started")
        if started is not None:
            return float(started)
        if not self.rows.empty:
            return float(self.rows["ts_send"].min())
        return 0.0

    @property
    def verdict(self) -> str:
        return overall_verdict(self.verdicts)


def overall_verdict(verdicts: list[Verdict]) -> str:
    """fails if any fails, else inconclusive if any is, else holds; none without verdicts."""
    words = {v.verdict for v in verdicts}
    for word in (FAILS, INCONCLUSIVE, HOLDS):
        if word in words:
            return word
    return NO_VERDICT


def read_json(path: Path) -> Any:
    """A JSON file, or a `RunFolderError` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"cannot read {path}: {exc}") from exc


def _jsonl(path: Path, problems: list[str]) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            # The last line of an aborted run may be half written.
            problems.append(f"{path.name}:{number}: not JSON, skipped")
            continue
        if isinstance(item, dict):
            yield item


def read_rows(run_dir: Path, problems: list[str] | None = None) -> pd.DataFrame:
    """rows.parquet, or every rows/*.parquet part in name order; empty when there are none."""
    problems = problems if problems is not None else []
    single = run_dir / ROWS_FILE
    parts = [single] if single.is_file() else sorted((run_dir / ROWS_DIR).glob("*.parquet"))
    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part))
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"{part.relative_to(run_dir)}: unreadable ({exc}), skipped")
    if not tables:
        return pd.DataFrame({"ts_send": pd.Series(dtype=float), "status": pd.Series(dtype=int)})
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.to_pandas()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def _first(raw: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in raw and raw[name] is not None:
            return raw[name]
    return None


def _verdict(raw: Mapping[str, Any]) -> Verdict:
    word = _first(raw, _VERDICT_KEYS["verdict"])
    text = str(word).lower() if word is not None else ""
    return Verdict(
        hypothesis=str(_first(raw, _VERDICT_KEYS["hypothesis"]) or ""),
        verdict=_VERDICT_WORDS.get(text, text or INCONCLUSIVE),
        measured=_number(_first(raw, _VERDICT_KEYS["measured"])),
        threshold=_number(_first(raw, _VERDICT_KEYS["threshold"])),
        claim=str(_first(raw, _VERDICT_KEYS["claim"]) or ""),
        arch=str(_first(raw, _VERDICT_KEYS["arch"]) or ""),
        detail=str(_first(raw, _VERDICT_KEYS["detail"]) or ""),
        raw=dict(raw),
    )


def _verdicts(run_dir: Path, problems: list[str]) -> list[Verdict]:
    path = run_dir / VERDICTS_FILE
    if not path.is_file():
        return []
    try:
        data = read_json(path)
    except RunFolderError as exc:
        problems.append(str(exc))
        return []
    if isinstance(data, Mapping):
        data = data.get("verdicts", [])
    return [_verdict(item) for item in data if isinstance(item, Mapping)]


def _fault(event: Mapping[str, Any]) -> FaultEvent | None:
    start = _number(event.get("start"))
    if start is None:
        return None
    end = _number(event.get("end"))
    fault = str(event.get("fault", "fault"))
    target = str(event.get("target") or event.get("hop") or "")
    proof = event.get("proof") or {}
    removal = event.get("removal_proof") or {}
    return FaultEvent(
        id=str(event.get("id", "")),
        fault=fault,
        target=target,
        start=start,
        end=end if end is not None and not math.isnan(end) else None,
        label=str(event.get("label") or f"{fault} {target}".strip()),
        proof_ok=proof.get("ok") if isinstance(proof, Mapping) else None,
        removal_proof_ok=removal.get("ok") if isinstance(removal, Mapping) else None,
    )


def _cpu(run_dir: Path, problems: list[str]) -> pd.DataFrame:
    records = []
    for sample in _jsonl(run_dir / CPU_FILE, problems):
        # Every top-level "*_pct" figure (host_pct, generator_pct, generator_max_pct, ...).
        record = {"ts": _number(sample.get("ts"))}
        record.update({k: _number(v) for k, v in sample.items() if k.endswith("_pct")})
        for instance, pct in (sample.get("instances") or {}).items():
            record[f"instance:{instance}"] = _number(pct)
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=None if records else ["ts"])
    return frame.dropna(subset=["ts"]).sort_values("ts", ignore_index=True)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder; `RunFolderError` when it is not one (no meta.json and no rows)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunFolderError(f"{path} is not a run folder (not a directory)")
    problems: list[str] = []
    meta_path = path / META_FILE
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        loaded = read_json(meta_path)
        meta = dict(loaded) if isinstance(loaded, Mapping) else {}
    elif not (path / ROWS_FILE).is_file() and not (path / ROWS_DIR).is_dir():
        raise RunFolderError(f"{path} is not a run folder: it has neither {META_FILE} nor rows")
    else:
        problems.append(f"{META_FILE} missing: no windows, no run metadata")
    events = list(_jsonl(path / EVENTS_FILE, problems))
    faults = [f for e in events if e.get("kind") == "fault" if (f := _fault(e)) is not None]
    return RunData(
        path=path,
        meta=meta,
        rows=prepare_rows(read_rows(path, problems)),
        events=events,
        faults=faults,
        verdicts=_verdicts(path, problems),
        cpu=_cpu(path, problems),
        problems=problems,
    )


def read_summary(run_dir: Path, root: Path) -> RunSummary:
    """A run's list entry from meta.json and verdicts.json only."""
    problems: list[str] = []
    meta_path = run_dir / META_FILE
    meta = read_json(meta_path) if meta_path.is_file() else {}
    meta = meta if isinstance(meta, Mapping) else {}
    started = _number(meta.get("started"))
    if started is None:
        started = meta_path.stat().st_mtime if meta_path.is_file() else run_dir.stat().st_mtime
    return RunSummary(
        run_id=run_dir.relative_to(root).as_posix(),
        path=run_dir,
        experiment=str(meta.get("experiment", "")),
        arch=str(meta.get("arch", "")),
        status=str(meta.get("status", "")),
        started=started,
        verdict=overall_verdict(_verdicts(run_dir, problems)),
    )


def list_runs(root: str | Path) -> list[RunSummary]:
    """Every run folder under `root` (a folder with meta.json), newest first.

    Folders reached through a symlink that leaves `root` are not listed.
    """
    base = Path(root)
    if not base.is_dir():
        return []
    real_base = base.resolve()
    found = []
    seen: set[Path] = set()
    for depth in range(1, MAX_RUN_DEPTH + 1):
        pattern = "/".join(["*"] * depth) + "/" + META_FILE
        for meta_path in base.glob(pattern):
            real = meta_path.parent.resolve()
            # A symlink may lead out of the root (never list it) or back into it (list once).
            if not real.is_relative_to(real_base) or real in seen:
                continue
            seen.add(real)
            try:
                found.append(read_summary(meta_path.parent, base))
            except RunFolderError:
                continue  # a meta.json being written right now; it will list next time
    return sorted(found, key=lambda run: run.started, reverse=True)
