"""Fork servers for the local runtime: instances started as forks of an
interpreter that imported their modules already (chaos.runtime.zygote).

A stack's ~20 Python instances each spent ~0.9 s of CPU importing FastAPI and
uvicorn before serving, and each inference replica ~5 s importing torch and
transformers; on 2 cores that was most of a deploy. Forked, each pays only its
app's setup. A server is shared by every stack this process deploys: the first
deploy waits for its imports, later deploys and every restart only fork.

A server is not a process of any stack (no stack's marker, working folder /):
its children are found by their own working folder, the stack's. It exits at
the end of its stdin, that is when this process ends. It is not tied to the
thread that started it (a thread may end before the stacks it deployed), but a
child forked for an attached runtime dies with the server, as it would with
this process. Any failure of a server (it died, it does not answer) leaves
the caller to start the instance the usual way: a fork server only makes
starts faster, never different in what runs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaos.runtime.zygote import ForkRequest

__all__ = [
    "ForkServer",
    "ForkSpec",
    "close_fork_servers",
    "fork_server",
    "forkable_module",
    "forks_held",
]

SERVER_MODULE = "chaos.runtime.zygote"
# The first answer waits for the server's imports: ~5 s of CPU with torch, far
# more on a starved host; the deploy's own timeout still bounds the wait.
REPLY_TIMEOUT_S = 120.0
CLOSE_WAIT_S = 5.0

_LOCK = threading.RLock()
_SERVERS: dict[ForkSpec, ForkServer] = {}
# Servers replaced after a failure: kept (and their pipes open) until exit, since
# their children for attached runtimes die with them.
_RETIRED: list[ForkServer] = []


@dataclass(frozen=True)
class ForkSpec:
    """What a server imports before its first fork, and its environment on top of
    ours (variables its imports read once, at import)."""

    preload: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def forkable_module(argv: list[str]) -> str | None:
    """The module of a `python -m MODULE ...` command run by this interpreter, else None."""
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2]
    return None


class ForkServer:
    """One server process: `request` forks, `reply` says the pid (see module doc)."""

    def __init__(self, spec: ForkSpec, log: Path | None = None) -> None:
        self.failed = False
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        with open(log or os.devnull, "ab") as err:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, *spec.preload], cwd="/",
                env={**os.environ, **dict(spec.env)}, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, start_new_session=True,
                # Unbuffered: a buffered reader could take several answers in one read,
                # and `select` would then wait for bytes already read.
                bufsize=0)

    @property
    def usable(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.failed

    def request(self, argv: list[str], env: dict[str, str], cwd: str, log: Path, *,
                die_with_parent: bool) -> bool:
        """Ask for `argv` (a `python -m` command) to be forked; False when it cannot be
        (start it the usual way then). Answers come in order: one `reply` per request."""
        module = forkable_module(argv)
        proc = self.proc
        if module is None or proc is None or proc.stdin is None or not self.usable:
            return False
        request = ForkRequest(module=module, args=argv[3:], cwd=cwd, log=str(log), env=env,
                              die_with_parent=die_with_parent)
        try:
            proc.stdin.write(request.to_line())
        except OSError:
            self.failed = True
            return False
        return True

    def reply(self) -> int | None:
        """The pid of the next requested fork; None when the server failed. A failed
        server is asked nothing more, but lives on until `close`: the children it
        forked for an attached runtime die with it."""
        proc = self.proc
        if proc is None or proc.stdout is None or self.failed:
            return None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], REPLY_TIMEOUT_S)
            line = proc.stdout.readline() if ready else b""
            return int(json.loads(line)["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            self.failed = True
            return None

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()  # the server exits at the end of its stdin
        try:
            proc.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def fork_server(spec: ForkSpec, log: Path | None = None) -> ForkServer:
    """This process's server for `spec`, started if there is none that works (`log`:
    where a new one writes its own errors)."""
    with _LOCK:
        server = _SERVERS.get(spec)
        if server is None or not server.usable:
            if server is not None:
                _RETIRED.append(server)
            server = _SERVERS[spec] = ForkServer(spec, log)
        return server


@contextlib.contextmanager
def forks_held() -> Iterator[None]:
    """Hold the servers for a batch of requests and their replies (answers come in
    order, so two threads' batches must not interleave)."""
    with _LOCK:
        yield


@atexit.register
def close_fork_servers() -> None:
    """Stop every server (a test's teardown; at exit they would end by themselves)."""
    with _LOCK:
        for server in [*_SERVERS.values(), *_RETIRED]:
            server.close()
        _SERVERS.clear()
        _RETIRED.clear()
