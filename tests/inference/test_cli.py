"""`python -m targets.inference` runs the service on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from targets.headers import HEADER_INSTANCE
from tests.inference.conftest import POLL_INTERVAL_S, free_port

STARTUP_TIMEOUT_S = 90.0  # importing torch + transformers on a busy 2-core machine


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_module_cli_serves_and_stops_cleanly() -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "targets.inference", "--host", "127.0.0.1", "--port",
           str(port), "--instance", "inference-cli", "--backend", "tiny",
           "--max-batch-size", "2", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("the CLI server did not answer /health")
                time.sleep(POLL_INTERVAL_S * 4)
        assert health.status_code == 200
        assert health.headers[HEADER_INSTANCE] == "inference-cli"
        assert health.json()["max_batch_size"] == 2
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=30,
                            json={"messages": [{"role": "user", "content": "hi"}],
                                  "max_tokens": 3, "ignore_eos": True})
        assert answer.json()["usage"]["completion_tokens"] == 3
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
