"""Start Locust headless in its own process group, and stop it cleanly (no Locust import).

The conductor (asyncio) talks to the load only through this module: a
subprocess, a config file, the live-stats files and the Parquet parts. Locust
and gevent never load into the conductor's interpreter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from types import TracebackType

import pandas as pd
import psutil
from pydantic import ValidationError

from loadtests.config import API_KEY_ENV, LOCUSTFILE, LaunchConfig, StandbyOrders, locust_env
from loadtests.entries import EntryTarget
from loadtests.errors import LoadError, LoadStartError
from loadtests.fleet import Fleet, read_fleet
from loadtests.hostguard import check_host
from loadtests.layout import CONFIG_ENV, RunPaths
from loadtests.live import LiveStats, read_live, read_workers
from loadtests.remote import RemoteWorkers
from loadtests.spec import LoadSpec
from loadtests.standbys import hand_to_standby, refill_standby
from loadtests.tally import tally_load
from records.events import LoadEvent
from records.layout import PART_GLOB

__all__ = ["LoadRun", "start_load"]

USER_CLASS = {"closed": "ClosedLoopUser", "open": "OpenLoopUser", "sweep": "OpenLoopUser"}
# After SIGINT Locust stops users (stop_timeout_s), fires `quitting` (rows
# flushed) and exits; this margin covers its interpreter teardown.
SIGINT_MARGIN_S = 10.0
SIGTERM_GRACE_S = 5.0
POLL_S = 0.05
LOG_TAIL_LINES = 30


def _locust_args(spec: LoadSpec, host: str, remote: RemoteWorkers | None) -> list[str]:
    """Locust's arguments, as after `python -m locust`."""
    cmd = [
        "-f", str(LOCUSTFILE), "--headless", "--host", host,
        "-u", str(spec.pool_users), "-r", f"{spec.effective_spawn_rate:g}",
        "-t", f"{spec.run_time_limit_s}s", "--stop-timeout", str(spec.stop_timeout_s),
        # Failures of the system under test are data, not a harness error.
        "--exit-code-on-error", "0",
        "--only-summary", "--loglevel", "WARNING",
    ]
    if remote is not None:
        cmd += remote.master_args()
    elif spec.processes > 1:
        cmd += ["--processes", str(spec.processes)]
    return [*cmd, USER_CLASS[spec.mode]]


def start_load(
    spec: LoadSpec,
    host: str,
    api_key: str,
    out_dir: Path,
    *,
    allowed_hosts: Collection[str] = (),
    python: str = sys.executable,
    remote: RemoteWorkers | None = None,
    entries: Sequence[EntryTarget] = (),
) -> LoadRun:
    """Launch the load described by `spec` against `host`; returns at once.

    `out_dir` is the run folder: rows go to `rows/part-*.parquet`, Locust's
    own files to `load/` (config.json, locust.log, live/<worker>.json).
    `allowed_hosts`: exact hosts of containers this run created, the only
    non-loopback targets the guard lets through. The API key is passed in the
    environment, never written to disk. `remote`: the load comes from workers that
    join with `gatecrash worker` (the key then travels to them over Locust's
    connection: bind the master where only your workers can reach it). `entries`:
    every entry point of the stack, `host` first; users fail over between them
    (loadtests.entries).
    """
    try:
        config = LaunchConfig(spec=spec, host=host, run_dir=str(Path(out_dir).resolve()),
                              allowed_hosts=tuple(allowed_hosts), entries=tuple(entries),
                              remote_workers=remote.count if remote else 0)
    except ValidationError as exc:
        raise LoadError(f"load target: {exc.errors()[0]['msg']}") from None
    for url in config.target_urls:
        check_host(url, allowed_hosts)
    if spec.relative:
        raise LoadError("the load's rates are shares of a measured capacity ('50%'): "
                        "resolve them first (LoadSpec.resolved; gatecrash does it from the "
                        "capacity measured on this machine)")
    if remote is not None and spec.pool_users < remote.count:
        raise LoadError(f"{spec.pool_users} user(s) cannot keep {remote.count} workers busy: "
                        "every worker needs at least one (raise users / max_users)")
    paths = RunPaths(out_dir)
    if any(paths.rows_dir.glob(PART_GLOB)):
        raise LoadError(f"{paths.rows_dir} already holds rows of another load; "
                        "give each load its own run folder")
    paths.make()
    for stale in paths.live_dir.glob("*.json"):
        stale.unlink()  # a previous run's live files would read as this one's
    config.write(paths.config_file)
    paths.fleet_file.unlink(missing_ok=True)  # like the live files: not this run's
    extra = {CONFIG_ENV: str(paths.config_file.resolve()), API_KEY_ENV: api_key}
    args = _locust_args(spec, host, remote)
    proc = hand_to_standby(python, StandbyOrders(
        args=tuple(args), cwd=str(paths.load_dir), log=str(paths.log_file), env=extra))
    if proc is None:
        with paths.log_file.open("ab") as log:
            # New session: the conductor's Ctrl-C does not hit Locust directly; the
            # conductor stops it through LoadRun.stop(), in order, and whole group dies.
            proc = subprocess.Popen(
                [python, "-m", "locust", *args], cwd=paths.load_dir, env=locust_env(extra),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    return LoadRun(proc, spec, paths, config.generators)


class LoadRun:
    """A running load: process ids, live stats, graceful stop. A context manager."""

    def __init__(self, proc: subprocess.Popen[bytes], spec: LoadSpec, paths: RunPaths,
                 generators: int = 1) -> None:
        self.proc = proc
        self.spec = spec
        self.paths = paths
        # Load processes expected: forked workers, or remote workers joining the master.
        self.generators = generators
        self.launched = time.time()

    @property
    def pid(self) -> int:
        """The Locust main process (with processes > 1: the master)."""
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        """Every live process of the load (main first, then workers), for CPU sampling."""
        try:
            main = psutil.Process(self.pid)
            return [self.pid, *(c.pid for c in main.children(recursive=True))]
        except psutil.Error:
            return []

    @property
    def rows_path(self) -> Path:
        """Folder of the Parquet parts (read them with records.read_rows(run_dir))."""
        return self.paths.rows_dir

    @property
    def log_path(self) -> Path:
        return self.paths.log_file

    def poll(self) -> int | None:
        return self.proc.poll()

    def live(self) -> LiveStats:
        """Latest counters of all load processes (zeros before the first write)."""
        return read_live(self.paths.live_dir)

    def fleet(self) -> Fleet | None:
        """The remote workers as the master saw them (None: none were expected)."""
        return read_fleet(self.paths.fleet_file)

    def tally(self, rows: pd.DataFrame) -> LoadEvent:
        """The closing note once the load has ended: every worker's reported requests
        against its `rows` in the run folder (records.read_rows), lost workers named."""
        return tally_load(read_workers(self.paths.live_dir), self.fleet(), self.spec, rows)

    def wait_started(self, timeout_s: float = 30.0) -> LiveStats:
        """Block until every load process has written its first live file.

        Raises LoadStartError (with Locust's log tail) if the process exits or
        the files do not appear in time.
        """
        expected = self.generators
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stats = self.live()
            if stats.workers >= expected:
                return stats
            if self.proc.poll() is not None:
                raise LoadStartError(
                    f"Locust exited with code {self.proc.returncode} before load started; "
                    f"log {self.log_path}:\n{self.log_tail()}")
            time.sleep(POLL_S)
        raise LoadStartError(
            f"no live stats from {expected} load process(es) after {timeout_s:g} s; "
            f"log {self.log_path}:\n{self.log_tail()}")

    def wait(self, timeout: float | None = None) -> int | None:
        """Exit code once Locust has finished by itself, or None if still running at `timeout`."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float | None = None) -> int:
        """SIGINT (Locust flushes rows and exits), then SIGTERM, then SIGKILL to the group.

        Safe to call more than once and after a natural exit; returns the exit code.
        """
        if grace_s is None:
            grace_s = self.spec.stop_timeout_s + SIGINT_MARGIN_S
        group = self._group()
        if self.proc.poll() is None:
            self._signal_main(signal.SIGINT)
            if self.wait(grace_s) is None:
                self._killpg(signal.SIGTERM)
                if self.wait(SIGTERM_GRACE_S) is None:
                    self._killpg(signal.SIGKILL)
                    self.proc.wait()
        self._reap_stragglers(group)
        refill_standby()  # the load is over: the next one's interpreter may start now
        return self.proc.returncode

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- process-group plumbing -------------------------------------------------
    def _group(self) -> list[psutil.Process]:
        """Children now (forked workers), so they can be found after the main exits."""
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _signal_main(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    def _killpg(self, sig: signal.Signals) -> None:
        # start_new_session: the group id is the main pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _reap_stragglers(self, group: list[psutil.Process]) -> None:
        """Workers that outlived the main process (it crashed): TERM, then KILL."""
        alive = [p for p in group if _running(p)]
        if not alive:
            return
        for p in alive:
            _send(p, signal.SIGTERM)
        _, alive = psutil.wait_procs(alive, timeout=SIGTERM_GRACE_S)
        for p in alive:
            _send(p, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=SIGTERM_GRACE_S)

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _send(p: psutil.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(psutil.Error):
        p.send_signal(sig)
