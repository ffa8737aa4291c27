"""One exception root for `dashboards`; every error says what was allowed."""

from collections.abc import Iterable

__all__ = [
    "DashboardsError",
    "RowsSchemaError",
    "RunFolderError",
    "SelectorError",
    "UnknownMetricError",
    "UnknownWindowError",
]


def _listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


class DashboardsError(Exception):
    """Root of every error raised by `dashboards`."""


class UnknownMetricError(DashboardsError):
    """A metric name that the registry does not know, or used the wrong way."""

    def __init__(self, metric: str, allowed: Iterable[str], hint: str = "") -> None:
        self.metric = metric
        self.allowed = sorted(allowed)
        message = f"unknown metric {metric!r}; allowed metrics: {_listing(self.allowed)}"
        super().__init__(f"{message}. {hint}" if hint else message)


class UnknownWindowError(DashboardsError):
    """A window name that the run does not define."""

    def __init__(self, window: str, allowed: Iterable[str], hint: str = "") -> None:
        self.window = window
        self.allowed = sorted(allowed)
        message = f"unknown window {window!r}; this run's windows: {_listing(self.allowed)}"
        super().__init__(f"{message}. {hint}" if hint else message)


class SelectorError(DashboardsError):
    """A selector names a column that rows do not have, or a value of the wrong type."""


class RowsSchemaError(DashboardsError):
    """A rows frame lacks a column the analysis cannot do without."""


class RunFolderError(DashboardsError):
    """A run folder is missing, unreadable or outside the runs root."""
