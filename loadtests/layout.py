"""Where the traffic package puts its files inside a run folder: the rows where the
run record has them (`records.layout`), its own files under load/."""

from __future__ import annotations

from pathlib import Path

from records.layout import RunFolder

__all__ = [
    "CONFIG_ENV",
    "RunPaths",
]

# The Locust process finds its launch config through this variable; the API key
# travels in API_KEY_ENV (see loadtests.config) so it is never written to disk.
CONFIG_ENV = "GATECRASH_LOAD_CONFIG"


class RunPaths:
    """Paths of one run folder: rows/ (contract), load/ (this package's own files)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        folder = RunFolder(self.run_dir)
        self.rows_dir = folder.rows_dir
        self.load_dir = folder.load_dir
        self.live_dir = self.load_dir / "live"
        self.config_file = self.load_dir / "config.json"
        self.log_file = self.load_dir / "locust.log"
        # Remote workers as their master saw them (loadtests.fleet), rewritten ~1 s.
        self.fleet_file = self.load_dir / "workers.json"

    def make(self) -> RunPaths:
        for d in (self.rows_dir, self.live_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
