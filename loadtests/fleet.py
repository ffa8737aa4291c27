"""Remote load workers as their master sees them: `load/workers.json` (no Locust import).

The master rewrites the file about once a second while the run goes, and a
last time when it ends; the conductor reads it to name a worker lost mid-run
and to count the rows that never arrived.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from loadtests.errors import LoadError

__all__ = ["Fleet", "RemoteWorker", "WorkerState", "read_fleet", "write_fleet"]


class WorkerState(StrEnum):
    RUNNING = "running"
    # Stopped when told to, with every row it recorded acknowledged by the master.
    FINISHED = "finished"
    # Gone mid-run (no heartbeat), or not done sending its rows when the run ended.
    LOST = "lost"


class RemoteWorker(BaseModel):
    """One remote worker; times are the master's clock (unix seconds)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    host: str
    pid: int
    client_id: str
    share: int
    # master time = worker time + clock_offset_s (within ± clock_rtt_s / 2)
    clock_offset_s: float
    clock_rtt_s: float
    joined: float
    last_seen: float
    state: WorkerState = WorkerState.RUNNING
    lost_at: float | None = None
    lost_why: str | None = None
    # What the worker says it did (its last live report) ...
    requests_reported: int = 0
    rows_refused: int = 0
    retries: int = 0
    intended: int | None = None
    dropped: int = 0
    # ... and what the master wrote into the run folder.
    rows_received: int = 0
    batches: int = 0
    duplicates: int = 0

    @property
    def rows_missing(self) -> int:
        """Rows the worker recorded that are not in the run folder (a lower bound
        for a lost worker: it may have recorded more after its last report)."""
        return max(self.requests_reported - self.rows_received, 0)


class Fleet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected: int
    workers: list[RemoteWorker] = []
    refused: list[str] = []
    ended: bool = False


def write_fleet(path: Path, fleet: Fleet) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(fleet.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_fleet(path: Path) -> Fleet | None:
    """The master's last view of its remote workers; None without remote workers."""
    try:
        return Fleet.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        # Never half a file (it is renamed into place): another version wrote it.
        raise LoadError(f"{path}: not a workers file of this version ({exc})") from exc
