"""Instances forked from a fork server (chaos.runtime.forks) run as a fresh
interpreter would, die with their server when attached, and fall back to a
process of their own when the server cannot serve."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import psutil

from chaos.runtime.forks import ForkSpec, fork_server
from chaos.runtime.local import LocalRuntime
from chaos.runtime.processes import InstancePlan
from tests.chaos.fake_instance import HELLO

REPO = Path(__file__).resolve().parents[2]
MODULE = "tests.chaos.fake_instance"
# Preloaded: the package (the module itself would run twice, once imported)
PACKAGE = "tests.chaos"
# The checkout on the server's path (tests/ is not installed); read only by the
# server: its children get the environment of their request.
SERVER_ONLY = ("PYTHONPATH", str(REPO))
GONE_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plans(tmp_path: Path, count: int, server: str) -> list[InstancePlan]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    plans = []
    for i in range(1, count + 1):
        port = _free_port()
        plans.append(InstancePlan(
            id=f"fake-{i}", service="fake", program="fake", role=None, host="127.0.0.1",
            port=port, url=f"http://127.0.0.1:{port}", ready="tcp", cwd=str(work),
            argv=[sys.executable, "-m", MODULE, str(tmp_path / f"fake-{i}.json"), str(port)],
            env={"FAKE_MARK": f"mark-{i}"}, fork_server=server))
    return plans


def _deployed(tmp_path: Path, spec: ForkSpec) -> LocalRuntime:
    """Two fake instances deployed, attached, from the fork server "fake" of `spec`."""
    runtime = LocalRuntime(_plans(tmp_path, 2, "fake"), tmp_path / "state", attached=True,
                           forks={"fake": spec})
    runtime.deploy(timeout_s=60)
    return runtime


def _facts(tmp_path: Path, iid: str) -> dict:
    return json.loads((tmp_path / f"{iid}.json").read_text(encoding="utf-8"))


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_a_forked_instance_runs_as_a_fresh_interpreter_would(tmp_path: Path) -> None:
    spec = ForkSpec(preload=(PACKAGE,), env=(SERVER_ONLY, ("FAKE_SERVER_ONLY", "1")))
    runtime = _deployed(tmp_path, spec)
    try:
        server = fork_server(spec)
        assert server.proc is not None
        pids = {iid: proc.pid for iid, proc in runtime.procs.items()}
        draws = set()
        for i, (iid, proc) in enumerate(sorted(runtime.procs.items()), start=1):
            facts = _facts(tmp_path, iid)
            assert proc.popen is None and facts["ppid"] == server.proc.pid  # forked
            assert facts["pid"] == pids[iid] and facts["sid"] == facts["pid"]
            assert facts["cwd"] == str(tmp_path / "work")
            assert facts["argv"] == proc.plan.argv[3:]
            # The request's environment, whole: not the server's own variables.
            assert facts["env"]["FAKE_MARK"] == f"mark-{i}"
            assert "FAKE_SERVER_ONLY" not in facts["env"]
            assert HELLO in (tmp_path / "state" / "logs" / f"{iid}.log").read_text()
            assert f"-m {MODULE}" in " ".join(psutil.Process(proc.pid).cmdline())
            draws.add(facts["draw"])
        assert len(draws) == 2, "each child draws its own random numbers"
        # A restart forks again.
        runtime.kill("fake-1")
        runtime.restart("fake-1")
        again = runtime.procs["fake-1"]
        assert again.pid != pids["fake-1"] and again.popen is None
        assert _facts(tmp_path, "fake-1")["ppid"] == server.proc.pid
        pids["fake-1"] = again.pid
    finally:
        runtime.teardown()
    assert _gone(list(pids.values()))
    assert fork_server(spec) is server, "the server outlives the stack, for the next one"


def test_attached_forks_die_with_their_server(tmp_path: Path) -> None:
    spec = ForkSpec(preload=(PACKAGE,), env=(SERVER_ONLY, ("FAKE_TEST", "dies-with")))
    runtime = _deployed(tmp_path, spec)
    try:
        pids = [proc.pid for proc in runtime.procs.values()]
        assert all(proc.popen is None for proc in runtime.procs.values())
        fork_server(spec).close()  # what this process's end does to it
        assert _gone(pids)
    finally:
        runtime.teardown()


def test_a_server_that_cannot_start_leaves_instances_to_processes_of_their_own(
        tmp_path: Path) -> None:
    runtime = _deployed(tmp_path, ForkSpec(preload=("tests.chaos.no_such_module",),
                                           env=(SERVER_ONLY,)))
    try:
        assert all(proc.popen is not None for proc in runtime.procs.values())
        for iid in runtime.procs:
            assert _facts(tmp_path, iid)["env"]["FAKE_MARK"].startswith("mark-")
        log = (tmp_path / "state" / "logs" / "fork-server-fake.log").read_text()
        assert "no_such_module" in log
    finally:
        pids = [proc.pid for proc in runtime.procs.values()]
        runtime.teardown()
    assert _gone(pids)
