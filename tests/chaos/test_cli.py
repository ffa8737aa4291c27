"""``python -m chaos.toxiproxy`` starts, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from chaos.client import ToxiproxyClient
from tests.chaos.helpers import EchoServer, connect, recv_exact

STOP_TIMEOUT_S = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_serves_config_and_stops_on_sigterm(tmp_path: Path, echo: EchoServer) -> None:
    api_port, proxy_port = free_port(), free_port()
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "cli", "listen": f"127.0.0.1:{proxy_port}", "upstream": echo.address}])
    )
    command = [sys.executable, "-m", "chaos.toxiproxy", "--port", str(api_port)]
    process = subprocess.Popen([*command, "--config", str(config), "--log-level", "warning"])
    try:
        with ToxiproxyClient(f"http://127.0.0.1:{api_port}", timeout_s=2) as c:
            c.wait_ready(timeout_s=STOP_TIMEOUT_S)
            assert c.proxy("cli").enabled
        with connect(proxy_port) as sock:
            sock.sendall(b"cli")
            assert recv_exact(sock, 3) == b"cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def test_cli_reports_a_busy_port(echo: EchoServer) -> None:
    command = [sys.executable, "-m", "chaos.toxiproxy", "--port", str(echo.port)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=STOP_TIMEOUT_S)
    assert result.returncode == 1
    assert "pick another --port" in result.stderr
