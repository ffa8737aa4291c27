"""Local runtime: every instance is a process on 127.0.0.1.

State (pids with their start ticks) is written to `runtime.json` in the
stack's folder after every change, so `gatecrash down` in another process
can find and remove exactly what this one started, and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import httpx
import psutil

from chaos.runtime.base import (
    PROBE_TIMEOUT_S,
    DeployError,
    HttpReply,
    InstanceState,
    InstanceStatus,
    InstanceUnreachable,
    RuntimeFailure,
    by_id,
)
from chaos.runtime.forks import ForkSpec
from chaos.runtime.processes import (
    InstancePlan,
    LocalProcess,
    Starter,
    port_in_use,
    start_ticks,
)

__all__ = ["InstancePlan", "LocalRuntime", "port_in_use"]

STATE_FILE = "runtime.json"
GRACE_S = 5.0
POLL_S = 0.1
LOG_TAIL_LINES = 15
# How long pause/resume wait for the kernel to stop/continue the process.
SIGNAL_SETTLE_S = 5.0


class LocalRuntime:
    name = "local"

    def __init__(self, plans: list[InstancePlan], state_dir: Path, *, attached: bool,
                 forks: dict[str, ForkSpec] | None = None) -> None:
        """`forks`: fork servers by name; a plan naming one is forked from it, which has
        imported its modules already (deploys and restarts of this object; a runtime
        from `attach` starts every instance as a process of its own)."""
        self.plans = {p.id: p for p in plans}
        self.state_dir = state_dir
        self.attached = attached
        self.procs: dict[str, LocalProcess] = {}
        self.starter = Starter(state_dir / "logs", attached=attached, forks=forks)

    # -- persistence -------------------------------------------------------
    @classmethod
    def attach(cls, state_dir: Path) -> LocalRuntime:
        """The runtime of a stack started by another process."""
        try:
            data = json.loads((state_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            raise RuntimeFailure(f"no local stack state in {state_dir}") from None
        plans = [InstancePlan(**p["plan"]) for p in data["instances"].values()]
        runtime = cls(plans, state_dir, attached=False)
        for iid, entry in data["instances"].items():
            if entry.get("pid") and entry.get("start_ticks") is not None:
                runtime.procs[iid] = LocalProcess(runtime.plans[iid], entry["pid"],
                                                  entry["start_ticks"])
        return runtime

    def _save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "runtime": self.name,
            "instances": {
                iid: {
                    "plan": asdict(plan),
                    "pid": self.procs[iid].pid if iid in self.procs else None,
                    "start_ticks": self.procs[iid].start_ticks if iid in self.procs else None,
                }
                for iid, plan in self.plans.items()
            },
        }
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_dir / STATE_FILE)

    # -- lifecycle ---------------------------------------------------------
    def deploy(
        self, timeout_s: float = 90.0, between_phases: Callable[[], None] | None = None
    ) -> None:
        """Start phase by phase; `between_phases` runs once infrastructure is ready."""
        busy = [p for p in self.plans.values() if port_in_use(p.host, p.port)]
        if busy:
            names = ", ".join(f"{p.id} ({p.host}:{p.port})" for p in busy)
            raise DeployError(
                f"ports already in use: {names}; stop what holds them or "
                "choose other ports with --base-port"
            )
        deadline = time.monotonic() + timeout_s
        try:
            # First: a fork server imports while phase 0 comes up.
            self.starter.warm(list(self.plans.values()))
            for phase in sorted({p.phase for p in self.plans.values()}):
                ids = [p.id for p in self.plans.values() if p.phase == phase]
                self._start([self.plans[iid] for iid in ids])
                self._save()
                self._wait_ready(ids, max(1.0, deadline - time.monotonic()))
                if phase == 0 and between_phases is not None:
                    between_phases()
        except BaseException:
            self.teardown()
            raise

    def _start(self, plans: list[InstancePlan]) -> None:
        for proc in self.starter.start(plans):
            self.procs[proc.plan.id] = proc

    def _log_tail(self, iid: str) -> str:
        path = self.state_dir / "logs" / f"{iid}.log"
        try:
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except FileNotFoundError:
            return "(no log)"
        return "\n    ".join(lines) or "(empty log)"

    def _wait_ready(self, ids: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(ids)
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while pending:
                for iid in sorted(pending):
                    proc = self.procs[iid]
                    code = proc.popen.poll() if proc.popen else None
                    if code is not None or not self._alive(proc):
                        raise DeployError(
                            f"instance {iid} exited during start (code {code}); its log "
                            f"({self.state_dir / 'logs' / (iid + '.log')}) ends with:\n    "
                            f"{self._log_tail(iid)}"
                        )
                    if self._ready(client, proc.plan):
                        pending.discard(iid)
                if pending and time.monotonic() > deadline:
                    first = sorted(pending)[0]
                    raise DeployError(
                        f"not healthy after {timeout_s:.0f}s: {', '.join(sorted(pending))}; "
                        f"log of {first} ends with:\n    {self._log_tail(first)}"
                    )
                if pending:
                    time.sleep(POLL_S)

    @staticmethod
    def _ready(client: httpx.Client, plan: InstancePlan) -> bool:
        if plan.ready == "tcp":
            try:
                with socket.create_connection((plan.host, plan.port), timeout=0.5):
                    return True
            except OSError:
                return False
        try:
            return client.get(f"http://{plan.host}:{plan.port}/health").status_code == 200
        except httpx.HTTPError:
            return False

    # -- readiness ---------------------------------------------------------
    def _plan(self, instance_id: str) -> InstancePlan:
        return by_id(self.plans, instance_id)

    def serving(self, instance_id: str) -> bool:
        plan = self._plan(instance_id)
        state = next(s.state for s in self.statuses() if s.id == instance_id)
        if state is not InstanceState.RUNNING:
            return False  # a stopped process's port still accepts: ask the kernel first
        with httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=False) as client:
            return self._ready(client, plan)

    def http_get(self, instance_id: str, path: str,
                 timeout_s: float = PROBE_TIMEOUT_S) -> HttpReply:
        plan = self._plan(instance_id)
        url = f"http://{plan.host}:{plan.port}{path}"
        try:
            with httpx.Client(timeout=timeout_s, trust_env=False) as client:
                response = client.get(url)
        except httpx.HTTPError as exc:
            raise InstanceUnreachable(f"instance {instance_id}: GET {url} got no answer: "
                                      f"{exc!r}") from exc
        return HttpReply(response.status_code, response.content)

    def teardown(self) -> None:
        """Every instance at once: CONT and TERM to all, then KILL to what is left
        after GRACE_S (one by one, ~20 graceful exits took 4 s)."""
        for sig in (signal.SIGCONT, signal.SIGTERM):
            self._signal_all(sig)
        if not self._reap_all(GRACE_S):
            self._signal_all(signal.SIGKILL)
            self._reap_all(GRACE_S)
        self.procs.clear()
        self._save()

    def _signal_all(self, sig: signal.Signals) -> None:
        for proc in list(self.procs.values()):
            if self._process(proc) is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)

    def _reap_all(self, timeout_s: float) -> bool:
        """Whether every instance is gone within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(self._running(proc) for proc in self.procs.values()):
                return True
            time.sleep(0.02)
        return not any(self._running(proc) for proc in self.procs.values())

    def _running(self, proc: LocalProcess) -> bool:
        if proc.popen is not None:
            # Our own child: poll() is the truth, and it reaps. Asking /proc after a
            # poll() that came just before the exit saw a zombie, called it gone, and
            # left it unreaped (its pid may be another's once reaped, so never look again).
            return proc.popen.poll() is None
        return self._alive(proc)

    # -- inspection --------------------------------------------------------
    def _process(self, proc: LocalProcess) -> psutil.Process | None:
        # A recycled pid belongs to someone else: never signal it.
        if start_ticks(proc.pid) != proc.start_ticks:
            return None
        try:
            return psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return None

    def _alive(self, proc: LocalProcess) -> bool:
        p = self._process(proc)
        try:
            return p is not None and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def statuses(self) -> list[InstanceStatus]:
        out = []
        for iid, plan in self.plans.items():
            proc = self.procs.get(iid)
            state, pid, code = InstanceState.MISSING, None, None
            if proc is not None:
                pid = proc.pid
                if proc.popen is not None:
                    code = proc.popen.poll()
                p = self._process(proc)
                try:
                    status = p.status() if p is not None else None
                except psutil.NoSuchProcess:
                    status = None
                if status is None or status == psutil.STATUS_ZOMBIE:
                    state = InstanceState.EXITED
                elif status == psutil.STATUS_STOPPED:
                    state = InstanceState.PAUSED
                else:
                    state = InstanceState.RUNNING
            out.append(
                InstanceStatus(
                    iid, plan.service, plan.program, plan.role, pid, plan.url, state, code
                )
            )
        return out

    def pids(self) -> dict[str, int]:
        # A copy: the CPU sampler's thread calls this while faults restart instances.
        procs = list(self.procs.items())
        return {iid: proc.pid for iid, proc in procs if self._alive(proc)}

    # -- actions -----------------------------------------------------------
    def _proc(self, instance_id: str) -> LocalProcess:
        self._plan(instance_id)
        proc = self.procs.get(instance_id)
        if proc is None or not self._alive(proc):
            raise RuntimeFailure(f"instance {instance_id} is not running")
        return proc

    def _signal(self, instance_id: str, sig: signal.Signals) -> None:
        proc = self._proc(instance_id)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def kill(self, instance_id: str) -> None:
        self._signal(instance_id, signal.SIGKILL)
        self._reap(instance_id, GRACE_S)

    def terminate(self, instance_id: str) -> None:
        self._proc(instance_id)
        self._stop(instance_id, graceful=True)

    def pause(self, instance_id: str) -> None:
        self._signal(instance_id, signal.SIGSTOP)
        self._settle(instance_id, stopped=True)

    def resume(self, instance_id: str) -> None:
        self._signal(instance_id, signal.SIGCONT)
        self._settle(instance_id, stopped=False)

    def _settle(self, instance_id: str, *, stopped: bool) -> None:
        """Return once the kernel has acted on a SIGSTOP/SIGCONT: the signal is only
        pending until the process is next scheduled, which on a busy host takes a
        while, and callers (fault proofs) read the state right after."""
        deadline = time.monotonic() + SIGNAL_SETTLE_S
        while time.monotonic() < deadline:
            p = self._process(self.procs[instance_id])
            try:
                if p is None or (p.status() == psutil.STATUS_STOPPED) == stopped:
                    return
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)

    def restart(self, instance_id: str, wait_healthy: bool = True) -> None:
        self._plan(instance_id)
        self._stop(instance_id, graceful=True)
        self._start([self.plans[instance_id]])
        self._save()
        if wait_healthy:
            self._wait_ready([instance_id], timeout_s=60.0)

    def _reap(self, instance_id: str, timeout_s: float) -> bool:
        proc = self.procs[instance_id]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._running(proc):
                return True
            time.sleep(0.02)
        return False

    def _stop(self, instance_id: str, *, graceful: bool) -> None:
        proc = self.procs.get(instance_id)
        if proc is None:
            return
        p = self._process(proc)
        if p is not None:
            steps: list[tuple[Callable[[], None], float]] = []
            if graceful:
                steps.append((lambda: os.killpg(proc.pid, signal.SIGCONT), 0.0))
                steps.append((lambda: os.killpg(proc.pid, signal.SIGTERM), GRACE_S))
            steps.append((lambda: os.killpg(proc.pid, signal.SIGKILL), GRACE_S))
            for action, wait_s in steps:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    action()
                if wait_s and self._reap(instance_id, wait_s):
                    break
            self._reap(instance_id, GRACE_S)
        del self.procs[instance_id]
