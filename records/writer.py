"""The one writer of run folders: the runner, the CPU sampler, the verdict code
and the test fixtures all write through it, so what is read is what was written.

JSON files are replaced whole (temp file + rename): a reader never sees half of
one. JSON-lines files are appended one whole line at a time and flushed, so an
aborted run keeps every event up to its last line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyarrow as pa

from records.capacity import CapacityRecord
from records.cpu import CpuSample
from records.errors import RecordError
from records.events import AbortEvent, FaultEvent, LoadEvent, PhaseEvent
from records.junit import write_junit
from records.layout import RECORD_VERSION, RunFolder, part_name
from records.live import LiveProgress
from records.meta import RunMeta
from records.rows import write_rows_part
from records.verdicts import VERDICTS, Verdict

__all__ = ["CpuLog", "RunWriter"]


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class CpuLog:
    """cpu.jsonl kept open by the sampler for the length of a run."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, sample: CpuSample) -> None:
        self._out.write(sample.model_dump_json() + "\n")
        self._out.flush()


class RunWriter:
    """Writes one run folder. `create` makes the folder and its meta.json."""

    def __init__(self, path: Path) -> None:
        self.folder = RunFolder(Path(path))
        self._parts: dict[str, int] = {}

    @property
    def path(self) -> Path:
        return self.folder.path

    @classmethod
    def create(cls, path: Path, meta: RunMeta) -> RunWriter:
        """A new run folder (its parents made as needed); refuses an existing one."""
        try:
            Path(path).mkdir(parents=True)
        except FileExistsError:
            raise RecordError(f"{path} already exists; a run folder is written once") from None
        writer = cls(path)
        writer.write_meta(meta)
        return writer

    def write_meta(self, meta: RunMeta) -> None:
        if meta.record_version != RECORD_VERSION:
            raise RecordError(f"this writer writes record version {RECORD_VERSION}, "
                              f"not {meta.record_version}")
        _replace(self.folder.meta, meta.model_dump_json(indent=2).encode())

    def event(self, event: FaultEvent | PhaseEvent | AbortEvent | LoadEvent) -> None:
        with self.folder.events.open("a", encoding="utf-8") as out:
            out.write(event.model_dump_json(exclude_none=True) + "\n")

    @contextmanager
    def cpu_log(self) -> Iterator[CpuLog]:
        with self.folder.cpu.open("a", encoding="utf-8") as out:
            yield CpuLog(out)

    def write_live(self, progress: LiveProgress) -> None:
        _replace(self.folder.live, progress.model_dump_json().encode())

    def write_verdicts(self, verdicts: Sequence[Verdict]) -> None:
        _replace(self.folder.verdicts, VERDICTS.dump_json(list(verdicts), indent=2))

    def write_capacity(self, record: CapacityRecord) -> None:
        _replace(self.folder.capacity, record.model_dump_json(indent=2).encode())

    def write_junit(self, suite_name: str, verdicts: Sequence[Verdict]) -> None:
        write_junit(self.folder.junit, [(suite_name, verdicts)])

    def write_rows(self, table: pa.Table, worker: str) -> Path:
        """One rows part of `worker` (the next in its sequence); returns its path.

        The load generator writes its parts itself, through `records.rows`; this
        is for whoever else makes rows (fixtures, imports).
        """
        n = self._parts.get(worker, 0)
        self._parts[worker] = n + 1
        self.folder.rows_dir.mkdir(exist_ok=True)
        path = self.folder.rows_dir / part_name(worker, n)
        write_rows_part(path, table)
        return path
