"""The one reader of run folders (dashboards, the verdict code and tests use it).

Only what `records.writer` writes is read, and a folder of another record version
is refused. Reading is forgiving only where a run may legitimately be cut short:
the last line of a JSON-lines file may be half written, and a rows part may be
unreadable; those are skipped and listed in `RunRecord.problems`, so a report
can say what it could not read instead of failing to exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import TypeAdapter, ValidationError

from records.capacity import CapacityRecord
from records.cpu import CpuSample, cpu_frame
from records.errors import RecordError, RecordVersionError
from records.events import EVENT, Event, FaultEvent, LoadEvent
from records.layout import META_FILE, RECORD_VERSION, RunFolder
from records.live import LiveProgress
from records.meta import RunMeta, Span
from records.rows import ROW_SCHEMA
from records.verdicts import VERDICTS, Verdict, overall_verdict

__all__ = [
    "RowsFollower",
    "RunRecord",
    "read_capacity",
    "read_cpu",
    "read_events",
    "read_live",
    "read_meta",
    "read_rows",
    "read_rows_table",
    "read_run",
    "read_verdicts",
]

T = TypeVar("T")
# Integer columns that may hold nulls keep a nullable dtype instead of turning into floats.
_NULLABLE_INTS = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}
_LIVE: TypeAdapter[LiveProgress] = TypeAdapter(LiveProgress)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def read_meta(run_dir: Path) -> RunMeta:
    """meta.json; `RecordVersionError` for another record version, `RecordError` otherwise."""
    path = RunFolder(Path(run_dir)).meta
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path.parent} is not a run folder: it has no {META_FILE}") from None
    except (OSError, ValueError) as exc:
        raise RecordError(f"cannot read {path}: {exc}") from None
    found = data.get("record_version") if isinstance(data, dict) else None
    if found != RECORD_VERSION:
        raise RecordVersionError(
            f"{path.parent}: run record version {found if found is not None else 'unknown'}, "
            f"but this Gatecrash reads version {RECORD_VERSION} only; re-run the experiment "
            "with this version, or open the folder with the Gatecrash version that wrote it")
    try:
        return RunMeta.model_validate(data)
    except ValidationError as exc:
        raise RecordError(f"{path}: not a run record: {_problem(exc)}") from None


def _jsonl(path: Path, parse: Callable[[str], T], problems: list[str]) -> list[T]:
    """Every line parsed; the last one may have been cut short by an abort (skipped
    and listed). Any other bad line was not written by the writer: refused."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(parse(line))
        except ValidationError as exc:
            if number == len(lines):  # no newline after it: the write did not finish
                problems.append(f"{path.name}:{number}: last line cut short, skipped")
                continue
            raise RecordError(f"{path}:{number}: not a run record: {_problem(exc)}") from None
    return items


def read_events(run_dir: Path, problems: list[str]) -> list[Event]:
    return _jsonl(RunFolder(Path(run_dir)).events, EVENT.validate_json, problems)


def read_cpu(run_dir: Path, problems: list[str]) -> pd.DataFrame:
    samples = _jsonl(RunFolder(Path(run_dir)).cpu, CpuSample.model_validate_json, problems)
    return cpu_frame(samples)


def _whole_json(path: Path, adapter: TypeAdapter[T]) -> T:
    try:
        return adapter.validate_json(path.read_bytes())
    except ValidationError as exc:
        raise RecordError(f"{path}: not a run record: {_problem(exc)}") from None
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc}") from None


def read_verdicts(run_dir: Path) -> list[Verdict]:
    """verdicts.json; empty while the run has none yet (running, or stopped by an error)."""
    path = RunFolder(Path(run_dir)).verdicts
    return _whole_json(path, VERDICTS) if path.is_file() else []


_CAPACITY: TypeAdapter[CapacityRecord] = TypeAdapter(CapacityRecord)


def read_capacity(run_dir: Path) -> CapacityRecord | None:
    """capacity.json; None for a run that is not a sweep (or whose sweep is not judged yet)."""
    path = RunFolder(Path(run_dir)).capacity
    return _whole_json(path, _CAPACITY) if path.is_file() else None


def read_live(run_dir: Path) -> LiveProgress | None:
    path = RunFolder(Path(run_dir)).live
    return _whole_json(path, _LIVE) if path.is_file() else None


def read_rows_table(run_dir: Path, problems: list[str]) -> pa.Table:
    """Every rows part in name order; an unreadable part is skipped and listed."""
    folder = RunFolder(Path(run_dir))
    tables = []
    for part in folder.parts():
        try:
            tables.append(pq.read_table(part, schema=ROW_SCHEMA))
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"{part.relative_to(folder.path)}: unreadable ({exc}), skipped")
    return pa.concat_tables(tables) if tables else ROW_SCHEMA.empty_table()


def read_rows(run_dir: Path, problems: list[str] | None = None) -> pd.DataFrame:
    """All rows, sorted by `ts_send`, with the contract's column types.

    float64 columns hold NaN for nulls; `status` is int32, `response_bytes` int64,
    `tokens_out` a nullable Int32; `stream` bool; text columns pandas strings.
    """
    return _sorted_frame(read_rows_table(run_dir, problems if problems is not None else []))


def _sorted_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper=_NULLABLE_INTS.get)
    frame["status"] = frame["status"].astype("int32")
    frame["response_bytes"] = frame["response_bytes"].astype("int64")
    return frame.sort_values("ts_send", kind="stable", ignore_index=True)


class RowsFollower:
    """The rows of a run still being written, read again and again: each part is read
    once (parts are written whole and renamed into place), so a reader that looks
    every second pays for the new parts only, not for the whole run each time.

    `read()` gives what `read_rows` would: every finished part's rows, sorted by
    `ts_send`; a part that cannot be read yet is tried again next time.
    """

    def __init__(self, run_dir: Path) -> None:
        self.folder = RunFolder(Path(run_dir))
        # part -> ((size, mtime_ns) it was read at, its rows)
        self._parts: dict[Path, tuple[tuple[int, int], pa.Table]] = {}

    def read(self) -> pd.DataFrame:
        for part in self.folder.parts():
            try:
                stat = part.stat()
                key = (stat.st_size, stat.st_mtime_ns)
                if part in self._parts and self._parts[part][0] == key:
                    continue
                self._parts[part] = (key, pq.read_table(part, schema=ROW_SCHEMA))
            except (OSError, pa.ArrowException):
                continue  # read_rows lists it; here the next read tries again
        tables = [table for _, (_, table) in sorted(self._parts.items())]
        return _sorted_frame(pa.concat_tables(tables) if tables else ROW_SCHEMA.empty_table())


@dataclass
class RunRecord:
    """Everything of one run folder, typed."""

    path: Path
    meta: RunMeta
    rows: pd.DataFrame
    events: list[Event]
    verdicts: list[Verdict]
    cpu: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    capacity: CapacityRecord | None = None

    @property
    def run_id(self) -> str:
        return self.meta.run_id

    @property
    def experiment(self) -> str:
        return self.meta.experiment

    @property
    def arch(self) -> str:
        return self.meta.arch

    @property
    def t0(self) -> float:
        """Origin of the run's time axis: its start."""
        return self.meta.started

    @property
    def windows(self) -> dict[str, Span]:
        """The first trial's windows; metrics read `trials` (every trial's)."""
        return self.meta.window_spans()

    @property
    def trials(self) -> list[dict[str, Span]]:
        return self.meta.trial_spans()

    @property
    def faults(self) -> list[FaultEvent]:
        return [e for e in self.events if isinstance(e, FaultEvent)]

    @property
    def load(self) -> LoadEvent | None:
        """The load's closing note (every worker's tally), if the load ended."""
        return next((e for e in reversed(self.events) if isinstance(e, LoadEvent)), None)

    @property
    def verdict(self) -> str:
        return overall_verdict(self.verdicts)


def read_run(run_dir: str | Path) -> RunRecord:
    """Read a whole run folder (`RecordError` when it is not one of this version)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RecordError(f"{path} is not a run folder (not a directory)")
    meta = read_meta(path)
    problems: list[str] = []
    return RunRecord(
        path=path,
        meta=meta,
        rows=read_rows(path, problems),
        events=read_events(path, problems),
        verdicts=read_verdicts(path),
        cpu=read_cpu(path, problems),
        problems=problems,
        capacity=read_capacity(path),
    )
