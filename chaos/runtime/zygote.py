"""The fork server's own process: `python -m chaos.runtime.zygote MODULE...`.

It imports the MODULEs once, then for each request (one JSON line on stdin,
chaos.runtime.forks.ForkRequest) forks a child that runs `python -m <module>
<args>` as a fresh interpreter would: its own session, working folder,
environment, log and arguments. It answers the child's pid (one JSON line on
stdout). It reads no more than that: a child's startup then costs its app's
setup, not the ~0.9 s of CPU an interpreter spends importing FastAPI and
uvicorn.

The process is single-threaded and starts no event loop, so forking it is
safe. Children are reaped by the kernel (SIGCHLD ignored here, restored in
them). It exits at the end of stdin (its runtime is done, or gone). This module
imports only the standard library at its top: the conductor imports
`die_with_parent` from it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import importlib
import json
import os
import random
import runpy
import signal
import sys
import traceback
from dataclasses import asdict, dataclass, field

__all__ = ["ForkRequest", "die_with_parent", "main", "retitle"]

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ForkRequest:
    """One child to fork: what `python -m MODULE ARGS` started by Popen would get."""

    module: str
    args: list[str]
    cwd: str
    log: str  # stdout and stderr, appended
    env: dict[str, str] = field(default_factory=dict)  # the whole environment
    die_with_parent: bool = False

    def to_line(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    @classmethod
    def from_line(cls, line: str) -> ForkRequest:
        return cls(**json.loads(line))


def die_with_parent() -> None:
    """In a child: get SIGTERM when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _prepare_titles() -> None:
    """setproctitle finds the process's argument area on first use, from the
    environment as the process started: before a child rewrites its environment."""
    with contextlib.suppress(ImportError):
        import setproctitle

        setproctitle.getproctitle()


def retitle(argv: list[str]) -> None:
    """`ps` shows the instance's command, not the server's (setproctitle rewrites the
    process's argument area; without it the title stays the server's)."""
    with contextlib.suppress(ImportError):
        import setproctitle

        setproctitle.setproctitle(" ".join(argv))


def _become(request: ForkRequest, server: int) -> None:
    """Child side: take on what `subprocess.Popen` would have given a new interpreter."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if request.die_with_parent:
        die_with_parent()
        if os.getppid() != server:  # the server died before prctl took hold
            os._exit(1)
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(request.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    random.seed()  # not the server's state: every child would draw the same numbers
    sys.argv = [request.module, *request.args]
    retitle([sys.executable, "-m", request.module, *request.args])
    sys.path[0] = request.cwd  # as `python -m` puts its working folder first


def _child(request: ForkRequest, server: int) -> None:
    code = 1
    try:
        _become(request, server)
        runpy.run_module(request.module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main(preload: list[str]) -> int:
    for module in preload:
        importlib.import_module(module)
    # The imported objects stay out of every child's collections: a collection
    # would write to each object's header, copying the pages the children share.
    gc.freeze()
    _prepare_titles()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    server = os.getpid()
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        request = ForkRequest.from_line(line)
        pid = os.fork()
        if pid == 0:
            _child(request, server)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
