"""Fixtures: the fake service in its own process (as the real stack would be)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.loadtests.fake_service import FAKE_API_KEY

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
SLOW_DELAY_S = 0.2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(delay_s: float) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.loadtests.fake_service", str(port), str(delay_s)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            try:
                httpx.get(f"{url}/v1/orders", headers={"Authorization": f"Bearer {FAKE_API_KEY}"},
                          timeout=1.0)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"fake service did not start:\n{err}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def fake_url() -> Iterator[str]:
    yield from _serve(0.0)


@pytest.fixture(scope="session")
def slow_fake_url() -> Iterator[str]:
    """Every non-chat answer takes SLOW_DELAY_S: a small open-loop pool cannot keep up."""
    yield from _serve(SLOW_DELAY_S)
