"""What the conductor imports must not load Locust or gevent (monkey-patching vs asyncio)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import loadtests
from loadtests import LoadSpec, LoadRun, start_load, check_host, LiveStats
import loadtests.launcher, loadtests.recorder, loadtests.spec, loadtests.live, loadtests.metrics
import loadtests.remote, loadtests.tally, loadtests.fleet, loadtests.channel, loadtests.clock
from loadtests import RemoteWorkers, MasterAddress, Fleet
import records
from records import ROW_SCHEMA, read_rows, RunWriter
bad = sorted(m for m in sys.modules if m.split(".")[0] in {"locust", "gevent", "geventhttpclient"})
assert not bad, bad
"""


def test_conductor_side_imports_no_locust_or_gevent() -> None:
    subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, check=True, timeout=60)
