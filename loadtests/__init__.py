"""Traffic: Locust users, load shapes and the per-request recorder.

What the conductor uses is exported here, and none of it imports Locust or
gevent (they run only in the Locust processes that `start_load` launches).
Exports load lazily so that a Locust worker importing `loadtests.users` does
not also pull in pandas for `read_rows`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtests.errors import HostNotAllowedError, LoadError, LoadStartError
    from loadtests.hostguard import check_host
    from loadtests.launcher import LoadRun, start_load
    from loadtests.live import LiveStats
    from loadtests.rows import read_rows
    from loadtests.schema import COLUMNS, ERROR_KINDS, ROW_SCHEMA
    from loadtests.spec import ChatOptions, LoadSpec, Mix, RateStage

__all__ = [
    "COLUMNS",
    "ERROR_KINDS",
    "ROW_SCHEMA",
    "ChatOptions",
    "HostNotAllowedError",
    "LiveStats",
    "LoadError",
    "LoadRun",
    "LoadSpec",
    "LoadStartError",
    "Mix",
    "RateStage",
    "check_host",
    "read_rows",
    "start_load",
]

_HOME = {
    "COLUMNS": "schema", "ERROR_KINDS": "schema", "ROW_SCHEMA": "schema",
    "ChatOptions": "spec", "LoadSpec": "spec", "Mix": "spec", "RateStage": "spec",
    "HostNotAllowedError": "errors", "LoadError": "errors", "LoadStartError": "errors",
    "LiveStats": "live", "LoadRun": "launcher", "start_load": "launcher",
    "check_host": "hostguard", "read_rows": "rows",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'loadtests' has no attribute {name!r}")
    return getattr(importlib.import_module(f"loadtests.{module}"), name)
