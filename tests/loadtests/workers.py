"""`gatecrash worker` processes for the tests, each as if on its own host: its own
empty folder (cwd, HOME, TMPDIR, GATECRASH_HOME), nothing shared with the master
but 127.0.0.1, and optionally a clock running off (tests/loadtests/fake_clock)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from loadtests import MasterAddress

FAKE_CLOCK_DIR = Path(__file__).resolve().parent / "fake_clock"
SKEW_ENV = "GATECRASH_TEST_CLOCK_SKEW_S"
REPO = Path(__file__).resolve().parents[2]
WORKER_EXIT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerHost:
    """One worker process in its own folder; its log goes to `log` (outside that folder)."""

    def __init__(self, master: MasterAddress, name: str, root: Path, log: Path,
                 skew_s: float = 0.0) -> None:
        self.name = name
        self.folder = root / name
        self.folder.mkdir(parents=True)
        env = {**os.environ, "HOME": str(self.folder), "TMPDIR": str(self.folder),
               "GATECRASH_HOME": str(self.folder / ".gatecrash"),
               "PYTHONPATH": str(REPO)}
        if skew_s:
            env["PYTHONPATH"] = os.pathsep.join((str(FAKE_CLOCK_DIR), str(REPO)))
            env[SKEW_ENV] = str(skew_s)
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gatecrash.cli", "worker", "--master", str(master),
                 "--name", name], cwd=self.folder, env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def signal(self, sig: signal.Signals) -> None:
        os.killpg(self.proc.pid, sig)

    def wait(self) -> int:
        try:
            return self.proc.wait(WORKER_EXIT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def leftovers(self) -> list[str]:
        """What the worker wrote into its own folder (it should write nothing)."""
        return sorted(str(p.relative_to(self.folder)) for p in self.folder.rglob("*")
                      if p.is_file())
