"""pytest plugin: `pytest experiments/` runs experiment files as test items.

One item per (experiment, architecture): it fails when a hypothesis fails,
is skipped when the run is inconclusive, and passes when every hypothesis
holds, so pytest's own JUnit output (`--junitxml`) carries the same verdicts
as `gatecrash gate`. Only YAML files with `claim` and `hypotheses` are taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["ExperimentFile", "ExperimentItem"]

RUNS_OPTION = "--gatecrash-runs"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(RUNS_OPTION, default="runs", help="gatecrash: where run folders go")


def _is_experiment(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "claim" in data and "hypotheses" in data


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if _is_experiment(file_path):
        return ExperimentFile.from_parent(parent, path=file_path)
    return None


class ExperimentFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from gatecrash.experiment import load_experiment

        experiment = load_experiment(self.path)  # invalid files fail collection, clearly
        for arch in experiment.architectures:
            yield ExperimentItem.from_parent(self, name=f"{experiment.name}[{arch.value}]",
                                             experiment=experiment, arch=arch.value)


class ExperimentItem(pytest.Item):
    def __init__(self, *, experiment: Any, arch: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.experiment = experiment
        self.arch = arch

    def runtest(self) -> None:
        from gatecrash.console import verdict_table
        from gatecrash.runner import run_experiment

        out = Path(self.config.getoption(RUNS_OPTION))
        result = run_experiment(self.experiment, self.arch, out)
        table = verdict_table(result.verdicts)
        code = result.exit_code
        if code == 1:
            raise ExperimentFailed(f"a hypothesis failed ({result.run_dir}):\n{table}")
        if code != 0:
            pytest.skip(f"inconclusive ({result.run_dir}):\n{table}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ExperimentFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"experiment {self.name}"


class ExperimentFailed(Exception):
    """A hypothesis of the experiment failed."""
