"""Where the traffic package puts its files inside a run folder (docs/contracts.md)."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CONFIG_ENV",
    "PART_GLOB",
    "RunPaths",
    "part_name",
]

# The Locust process finds its launch config through this variable; the API key
# travels in API_KEY_ENV (see loadtests.config) so it is never written to disk.
CONFIG_ENV = "GATECRASH_LOAD_CONFIG"
PART_GLOB = "part-*.parquet"


def part_name(worker: str, n: int) -> str:
    return f"part-{worker}-{n:05d}.parquet"


class RunPaths:
    """Paths of one run folder: rows/ (contract), load/ (this package's own files)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.rows_dir = self.run_dir / "rows"
        self.load_dir = self.run_dir / "load"
        self.live_dir = self.load_dir / "live"
        self.config_file = self.load_dir / "config.json"
        self.log_file = self.load_dir / "locust.log"

    def make(self) -> RunPaths:
        for d in (self.rows_dir, self.live_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
