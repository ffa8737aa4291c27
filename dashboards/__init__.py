"""Evidence from run folders: analysis (pandas), reports (plotly), a dashboard server.

The analysis API is importable from here without loading plotly or FastAPI
(the verdict engine needs only pandas); reports live in `dashboards.report`
(the claims suite's in `dashboards.evidence`), the server in `dashboards.server`.
"""

from dashboards.analysis import (
    METRICS,
    FaultSummary,
    RunData,
    RunMetric,
    estimate,
    evaluate,
    fault_summary,
    register_run_metric,
    window_estimates,
    window_table,
)
from dashboards.errors import (
    DashboardsError,
    RowsSchemaError,
    RunFolderError,
    SelectorError,
    UnknownMetricError,
    UnknownWindowError,
)
from dashboards.metrics import MetricSpec
from dashboards.outcomes import classify, prepare_rows
from dashboards.runs import list_runs, load_run
from dashboards.timelines import timeline, timeline_by

__all__ = [
    "METRICS",
    "DashboardsError",
    "FaultSummary",
    "MetricSpec",
    "RowsSchemaError",
    "RunData",
    "RunFolderError",
    "RunMetric",
    "SelectorError",
    "UnknownMetricError",
    "UnknownWindowError",
    "classify",
    "estimate",
    "evaluate",
    "fault_summary",
    "list_runs",
    "load_run",
    "prepare_rows",
    "register_run_metric",
    "timeline",
    "timeline_by",
    "window_estimates",
    "window_table",
]
