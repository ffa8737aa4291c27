"""Run folders for the dashboards: the run record with its rows classified, and the
run list. Reading is `records.reader`'s (it lists what an aborted run could not
keep in `problems`); this module adds only what browsing needs.
"""

from dataclasses import dataclass
from pathlib import Path

from dashboards.errors import RunFolderError
from dashboards.outcomes import prepare_rows
from records import NO_VERDICT, RecordError, RunRecord, overall_verdict, read_run
from records.layout import META_FILE
from records.reader import read_meta, read_verdicts

__all__ = ["RunSummary", "list_runs", "load_run", "read_summary"]

# Run folders may be grouped (runs/<experiment>/<arch>/...); look this deep for meta.json.
MAX_RUN_DEPTH = 3
# The status shown for a folder whose record cannot be read (another record version).
UNREADABLE = "unreadable"


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
    # Why the folder could not be read (then only run_id, path and started are known).
    problem: str | None = None


def load_run(run_dir: str | Path) -> RunRecord:
    """A run folder's record, rows normalised and classified (`prepare_rows`)."""
    try:
        record = read_run(run_dir)
    except RecordError as exc:
        raise RunFolderError(str(exc)) from exc
    record.rows = prepare_rows(record.rows)
    return record


def read_summary(run_dir: Path, root: Path) -> RunSummary:
    """A run's list entry from meta.json and verdicts.json only."""
    run_id = run_dir.relative_to(root).as_posix()
    try:
        meta = read_meta(run_dir)
        verdict = overall_verdict(read_verdicts(run_dir))
    except RecordError as exc:
        started = run_dir.stat().st_mtime
        return RunSummary(run_id, run_dir, "", "", UNREADABLE, started, NO_VERDICT, str(exc))
    return RunSummary(run_id, run_dir, meta.experiment, meta.arch, meta.status, meta.started,
                      verdict)


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
            found.append(read_summary(meta_path.parent, base))
    return sorted(found, key=lambda run: run.started, reverse=True)
