"""Where each part of a run record lives inside a run folder (docs/contracts.md).

Every file name of a run folder is defined here and nowhere else. A run folder
names the record version it was written with (in meta.json); bump
`RECORD_VERSION` whenever a reader of the previous version would misread a
folder written now (a renamed or retyped field, a new required one), so that
old readers refuse new folders and new readers refuse old ones, loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CPU_FILE",
    "EVENTS_FILE",
    "JUNIT_FILE",
    "LIVE_FILE",
    "LOAD_DIR",
    "META_FILE",
    "PART_GLOB",
    "RECORD_VERSION",
    "REPORT_FILE",
    "ROWS_DIR",
    "VERDICTS_FILE",
    "RunFolder",
    "part_name",
]

RECORD_VERSION = 2

META_FILE = "meta.json"
# One Parquet part per flush of each load process: rows/part-<worker>-<n>.parquet.
ROWS_DIR = "rows"
PART_GLOB = "part-*.parquet"
EVENTS_FILE = "events.jsonl"
CPU_FILE = "cpu.jsonl"
VERDICTS_FILE = "verdicts.json"
JUNIT_FILE = "junit.xml"
REPORT_FILE = "report.html"
# Rewritten about once a second while the run goes; the dashboard polls it.
LIVE_FILE = "live.json"
# The load generator's own files (its config and log); not part of the record.
LOAD_DIR = "load"


def part_name(worker: str, n: int) -> str:
    """The file name of a load process's n-th rows part (name order = write order)."""
    return f"part-{worker}-{n:05d}.parquet"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder."""

    path: Path

    @property
    def meta(self) -> Path:
        return self.path / META_FILE

    @property
    def rows_dir(self) -> Path:
        return self.path / ROWS_DIR

    @property
    def events(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def cpu(self) -> Path:
        return self.path / CPU_FILE

    @property
    def verdicts(self) -> Path:
        return self.path / VERDICTS_FILE

    @property
    def junit(self) -> Path:
        return self.path / JUNIT_FILE

    @property
    def report(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def live(self) -> Path:
        return self.path / LIVE_FILE

    @property
    def load_dir(self) -> Path:
        return self.path / LOAD_DIR

    def parts(self) -> list[Path]:
        """The finished rows parts in name order (temp files of a write are not parts)."""
        if not self.rows_dir.is_dir():
            return []
        return sorted(self.rows_dir.glob(PART_GLOB))
