"""The traffic proof read from a real Shopify Toxiproxy's Prometheus proxy metrics.

Runs when a `toxiproxy-server` binary is given (GATECRASH_TOXIPROXY_BIN, or on
PATH; scripts/build-toxiproxy.sh builds 2.8.0 from source); skipped otherwise:
no package ships it and its image cannot be pulled (DESIGN.md §6).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from chaos.client import ToxiproxyClient
from chaos.faults import FaultSpec, TargetSpec
from chaos.injector import Injector
from chaos.runtime.base import InstanceState, InstanceStatus
from chaos.toxiproxy import BackgroundServer

BINARY = os.environ.get("GATECRASH_TOXIPROXY_BIN") or shutil.which("toxiproxy-server")
pytestmark = pytest.mark.skipif(BINARY is None, reason="no toxiproxy-server binary (set "
                                "GATECRASH_TOXIPROXY_BIN; scripts/build-toxiproxy.sh)")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=[True, False], ids=["proxy-metrics", "no-metrics"])
def real(request: pytest.FixtureRequest) -> Iterator[ToxiproxyClient]:
    port = _port()
    argv = [str(BINARY), "-host", "127.0.0.1", "-port", str(port)]
    proc = subprocess.Popen(argv + (["-proxy-metrics"] if request.param else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with ToxiproxyClient(f"http://127.0.0.1:{port}") as client:
            client.wait_ready()
            yield client
    finally:
        proc.terminate()
        proc.wait(5)


class OneProxy:
    """A fake runtime: the proxy's name as its one running instance."""

    def statuses(self) -> list[InstanceStatus]:
        return [InstanceStatus("up", "up", "up", None, 1, "", InstanceState.RUNNING)]


def test_a_toxic_on_a_real_toxiproxy_gets_a_metrics_proof_or_says_unavailable(
        real: ToxiproxyClient) -> None:
    with BackgroundServer() as upstream:  # any HTTP server will do: ours answers /version
        proxy = real.create_proxy("up", upstream.url.removeprefix("http://"))
        served = real.metrics_bytes() is not None
        injector = Injector(OneProxy(), real)  # type: ignore[arg-type]
        with injector.applied(FaultSpec(fault="latency", params={"latency_ms": 1},
                                        target=TargetSpec(instance="up")), "f1") as event:
            host, port = proxy.listen.rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port))
            conn.request("GET", "/version")
            assert conn.getresponse().read()
            conn.close()  # Toxiproxy counts a connection's bytes when it closes,
            time.sleep(0.3)  # from its own goroutines: give them a moment
        real.delete_proxy("up")
    assert event.traffic_proof is not None
    if served:
        assert event.traffic_proof.source == "metrics"
        assert event.traffic["up"].bytes_upstream > 0
    else:
        assert event.traffic_proof.source == "unavailable" and event.traffic == {}
