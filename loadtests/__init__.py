"""Traffic: Locust users, load shapes and the per-request recorder.

What the conductor uses is exported here, and none of it imports Locust or
gevent (they run only in the Locust processes that `start_load` launches).
Exports load lazily so that a Locust worker importing `loadtests.users` does
not also pull in what only the conductor needs. The rows they write are read
back with `records.read_rows`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtests.entries import EntryTarget
    from loadtests.errors import HostNotAllowedError, LoadError, LoadStartError
    from loadtests.fleet import Fleet, RemoteWorker
    from loadtests.hostguard import check_host
    from loadtests.launcher import LoadRun, start_load
    from loadtests.live import LiveStats
    from loadtests.remote import MasterAddress, RemoteWorkers, exec_worker
    from loadtests.spec import ChatOptions, LoadSpec, Mix, RateStage
    from loadtests.standbys import standby_generators

__all__ = [
    "ChatOptions",
    "EntryTarget",
    "Fleet",
    "HostNotAllowedError",
    "LiveStats",
    "LoadError",
    "LoadRun",
    "LoadSpec",
    "LoadStartError",
    "MasterAddress",
    "Mix",
    "RateStage",
    "RemoteWorker",
    "RemoteWorkers",
    "check_host",
    "exec_worker",
    "standby_generators",
    "start_load",
]

_HOME = {
    "ChatOptions": "spec", "LoadSpec": "spec", "Mix": "spec", "RateStage": "spec",
    "HostNotAllowedError": "errors", "LoadError": "errors", "LoadStartError": "errors",
    "LiveStats": "live", "LoadRun": "launcher", "start_load": "launcher",
    "check_host": "hostguard", "EntryTarget": "entries",
    "Fleet": "fleet", "RemoteWorker": "fleet",
    "MasterAddress": "remote", "RemoteWorkers": "remote", "exec_worker": "remote",
    "standby_generators": "standbys",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'loadtests' has no attribute {name!r}")
    return getattr(importlib.import_module(f"loadtests.{module}"), name)
