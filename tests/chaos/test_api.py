"""Conformance of the REST API with Toxiproxy 2.x's documented endpoints and codes.

Raw HTTP on purpose: these tests check the wire (status codes, JSON fields,
defaults), not our client.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chaos.client import Proxy, ToxiproxyClient
from chaos.toxiproxy import BackgroundServer
from tests.chaos.helpers import EchoServer, connect, recv_exact, unique

PROXY_FIELDS = {"name", "listen", "upstream", "enabled", "toxics"}
TOXIC_FIELDS = {"name", "type", "stream", "toxicity", "attributes"}


@pytest.fixture
def api(toxiproxy: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toxiproxy.url, timeout=5.0) as http:
        yield http


def assert_error(response: httpx.Response, status: int, contains: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert contains in body["error"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_version(api: httpx.Client) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.json()["version"].startswith("2.")


def test_create_proxy_picks_free_port_and_reports_it(api: httpx.Client, echo: EchoServer) -> None:
    name = unique()
    response = api.post(
        "/proxies", json={"name": name, "listen": "127.0.0.1:0", "upstream": echo.address}
    )
    assert response.status_code == 201
    body = response.json()
    assert body.keys() >= PROXY_FIELDS
    assert body["name"] == name and body["upstream"] == echo.address
    assert body["enabled"] is True and body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    with connect(int(port)) as sock:
        sock.sendall(b"ping")
        assert recv_exact(sock, 4) == b"ping"
    assert api.delete(f"/proxies/{name}").status_code == 204


def test_create_proxy_on_a_fixed_port(api: httpx.Client, echo: EchoServer) -> None:
    name, port = unique(), free_port()
    response = api.post(
        "/proxies", json={"name": name, "listen": f"127.0.0.1:{port}", "upstream": echo.address}
    )
    assert response.status_code == 201
    assert response.json()["listen"] == f"127.0.0.1:{port}"
    api.delete(f"/proxies/{name}")


def test_create_disabled_proxy_does_not_listen(api: httpx.Client, echo: EchoServer) -> None:
    name, port = unique(), free_port()
    body = {"name": name, "listen": f"127.0.0.1:{port}", "upstream": echo.address}
    response = api.post("/proxies", json={**body, "enabled": False})
    assert response.status_code == 201
    assert response.json()["enabled"] is False
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    api.delete(f"/proxies/{name}")


def test_create_proxy_errors(api: httpx.Client, proxy: Proxy, echo: EchoServer) -> None:
    assert_error(
        api.post("/proxies", json={"name": proxy.name, "upstream": echo.address}),
        409,
        "proxy already exists",
    )
    assert_error(api.post("/proxies", json={"upstream": echo.address}), 400, "name")
    assert_error(api.post("/proxies", json={"name": unique()}), 400, "upstream")
    assert_error(api.post("/proxies", content=b"{not json"), 400, "bad request body")
    assert_error(api.post("/proxies", content=b""), 400, "bad request body")
    assert_error(
        api.post("/proxies", json={"name": unique(), "upstream": echo.address, "enabled": "yes"}),
        400,
    )
    assert_error(api.post("/proxies", json={"name": unique(), "upstream": "no-port"}), 400)


def test_listen_in_use_is_an_error(api: httpx.Client, proxy: Proxy, echo: EchoServer) -> None:
    response = api.post(
        "/proxies", json={"name": unique(), "listen": proxy.listen, "upstream": echo.address}
    )
    assert response.status_code >= 400
    assert "error" in response.json()


def test_list_and_show(api: httpx.Client, proxy: Proxy) -> None:
    listing = api.get("/proxies")
    assert listing.status_code == 200
    assert listing.json()[proxy.name]["listen"] == proxy.listen
    shown = api.get(f"/proxies/{proxy.name}")
    assert shown.status_code == 200
    assert shown.json().keys() >= PROXY_FIELDS
    assert_error(api.get("/proxies/missing"), 404, "proxy not found")


def test_update_with_post_and_patch(api: httpx.Client, proxy: Proxy) -> None:
    for method in ("POST", "PATCH"):
        response = api.request(method, f"/proxies/{proxy.name}", json={"enabled": False})
        assert response.status_code == 200
        assert response.json()["enabled"] is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.listen_port)
        response = api.request(method, f"/proxies/{proxy.name}", json={"enabled": True})
        assert response.json()["enabled"] is True
        assert response.json()["listen"] == proxy.listen  # same port again
        with connect(proxy.listen_port) as sock:
            sock.sendall(b"x")
            assert recv_exact(sock, 1) == b"x"
    assert_error(api.patch("/proxies/missing", json={"enabled": False}), 404)
    assert_error(api.patch(f"/proxies/{proxy.name}", content=b"nope"), 400)


def test_update_listen_moves_the_proxy(api: httpx.Client, proxy: Proxy) -> None:
    port = free_port()
    response = api.patch(f"/proxies/{proxy.name}", json={"listen": f"127.0.0.1:{port}"})
    assert response.status_code == 200
    assert response.json()["listen"] == f"127.0.0.1:{port}"
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen_port)
    with connect(port) as sock:
        sock.sendall(b"moved")
        assert recv_exact(sock, 5) == b"moved"


def test_delete(api: httpx.Client, proxy: Proxy) -> None:
    assert api.delete(f"/proxies/{proxy.name}").status_code == 204
    assert_error(api.get(f"/proxies/{proxy.name}"), 404)
    assert_error(api.delete(f"/proxies/{proxy.name}"), 404)
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen_port)


def test_toxic_crud_and_defaults(api: httpx.Client, proxy: Proxy) -> None:
    base = f"/proxies/{proxy.name}/toxics"
    assert api.get(base).json() == []
    created = api.post(base, json={"type": "latency", "attributes": {"latency": 10}})
    assert created.status_code == 200  # upstream answers 200, not 201, for a toxic
    toxic = created.json()
    assert toxic.keys() >= TOXIC_FIELDS
    assert toxic["name"] == "latency_downstream"
    assert toxic["stream"] == "downstream"
    assert toxic["toxicity"] == 1.0
    assert toxic["attributes"] == {"latency": 10, "jitter": 0}

    up = api.post(
        base,
        json={"name": "slow_up", "type": "bandwidth", "stream": "upstream", "toxicity": 0.5},
    ).json()
    assert up == {
        "name": "slow_up",
        "type": "bandwidth",
        "stream": "upstream",
        "toxicity": 0.5,
        "attributes": {"rate": 0},
    }
    names = [t["name"] for t in api.get(base).json()]
    assert sorted(names) == ["latency_downstream", "slow_up"]
    assert api.get(f"{base}/slow_up").json() == up
    shown = api.get(f"/proxies/{proxy.name}").json()
    assert {t["name"] for t in shown["toxics"]} == set(names)

    for method in ("POST", "PATCH"):
        updated = api.request(
            method, f"{base}/latency_downstream", json={"attributes": {"jitter": 5}}
        )
        assert updated.status_code == 200
        # Attributes merge over the current ones; other fields stay.
        assert updated.json()["attributes"] == {"latency": 10, "jitter": 5}
    updated = api.patch(f"{base}/slow_up", json={"toxicity": 0.25})
    assert updated.json()["toxicity"] == 0.25 and updated.json()["attributes"] == {"rate": 0}

    assert api.delete(f"{base}/slow_up").status_code == 204
    assert_error(api.get(f"{base}/slow_up"), 404, "toxic not found")
    assert_error(api.delete(f"{base}/slow_up"), 404)
    assert_error(api.patch(f"{base}/slow_up", json={"toxicity": 1}), 404)


def test_every_toxic_type_and_its_attributes(api: httpx.Client, proxy: Proxy) -> None:
    expected = {
        "latency": {"latency": 1, "jitter": 2},
        "bandwidth": {"rate": 3},
        "slow_close": {"delay": 4},
        "timeout": {"timeout": 5},
        "reset_peer": {"timeout": 6},
        "slicer": {"average_size": 7, "size_variation": 8, "delay": 9},
        "limit_data": {"bytes": 10},
    }
    base = f"/proxies/{proxy.name}/toxics"
    for kind, attributes in expected.items():
        response = api.post(
            base,
            json={"type": kind, "stream": "upstream", "toxicity": 0.0, "attributes": attributes},
        )
        assert response.status_code == 200, response.text
        assert response.json()["attributes"] == attributes
        assert response.json()["name"] == f"{kind}_upstream"


def test_toxic_errors(api: httpx.Client, proxy: Proxy) -> None:
    base = f"/proxies/{proxy.name}/toxics"
    assert_error(api.post("/proxies/missing/toxics", json={"type": "latency"}), 404)
    assert_error(api.get("/proxies/missing/toxics"), 404)
    assert_error(api.post(base, json={"type": "nope"}), 400, "invalid toxic type")
    assert_error(api.post(base, json={}), 400, "invalid toxic type")
    assert_error(api.post(base, json={"type": "latency", "stream": "sideways"}), 400, "stream")
    assert_error(api.post(base, json={"type": "latency", "attributes": {"latency": "slow"}}), 400)
    assert_error(api.post(base, json={"type": "latency", "toxicity": 2}), 400)
    assert_error(api.post(base, content=b"]"), 400, "bad request body")
    api.post(base, json={"type": "latency"})
    assert_error(api.post(base, json={"type": "latency"}), 409, "toxic already exists")
    # Names are unique across both streams.
    assert_error(
        api.post(
            base, json={"name": "latency_downstream", "type": "timeout", "stream": "upstream"}
        ),
        409,
    )


def test_reset_enables_proxies_and_removes_toxics(api: httpx.Client, proxy: Proxy) -> None:
    api.post(f"/proxies/{proxy.name}/toxics", json={"type": "latency"})
    api.patch(f"/proxies/{proxy.name}", json={"enabled": False})
    response = api.post("/reset")
    assert response.status_code == 204
    shown = api.get(f"/proxies/{proxy.name}").json()
    assert shown["enabled"] is True and shown["toxics"] == []
    with connect(proxy.listen_port) as sock:
        sock.sendall(b"ok")
        assert recv_exact(sock, 2) == b"ok"


def test_populate_is_idempotent(api: httpx.Client, echo: EchoServer) -> None:
    a, b = unique("pop"), unique("pop")
    port_a, port_b = free_port(), free_port()
    config: list[dict[str, Any]] = [
        {"name": a, "listen": f"127.0.0.1:{port_a}", "upstream": echo.address},
        {"name": b, "listen": f"127.0.0.1:{port_b}", "upstream": echo.address, "enabled": False},
    ]
    first = api.post("/populate", json=config)
    assert first.status_code == 201
    proxies = {p["name"]: p for p in first.json()["proxies"]}
    assert proxies[a]["enabled"] is True and proxies[b]["enabled"] is False

    # A live connection and a toxic survive a populate with the same fields.
    api.post(f"/proxies/{a}/toxics", json={"type": "latency", "attributes": {"latency": 1}})
    with connect(port_a) as sock:
        sock.sendall(b"1")
        assert recv_exact(sock, 1) == b"1"
        again = api.post("/populate", json=config)
        assert again.status_code == 201
        assert [p["name"] for p in again.json()["proxies"]] == [a, b]
        assert len(api.get(f"/proxies/{a}").json()["toxics"]) == 1
        sock.sendall(b"2")
        assert recv_exact(sock, 1) == b"2"

        # A changed upstream replaces the proxy: toxics go, connections drop.
        changed = [{**config[0], "upstream": f"localhost:{echo.port}"}, config[1]]
        replaced = api.post("/populate", json=changed)
        assert replaced.status_code == 201
        shown = api.get(f"/proxies/{a}").json()
        assert shown["upstream"] == f"localhost:{echo.port}" and shown["toxics"] == []
        sock.sendall(b"3")
        assert recv_exact(sock, 1) == b""
    for name in (a, b):
        api.delete(f"/proxies/{name}")


def test_populate_errors(api: httpx.Client, echo: EchoServer) -> None:
    assert_error(api.post("/populate", json={"name": "x"}), 400)
    assert_error(api.post("/populate", json=[{"name": unique()}]), 400, "upstream")
    name = unique()
    duplicate = [{"name": name, "upstream": echo.address}] * 2
    assert_error(api.post("/populate", json=duplicate), 400, "duplicate")
    assert_error(api.get(f"/proxies/{name}"), 404)  # nothing applied


def test_stats_count_connections_and_bytes(api: httpx.Client, proxy: Proxy) -> None:
    with connect(proxy.listen_port) as sock:
        sock.sendall(b"x" * 1000)
        assert len(recv_exact(sock, 1000)) == 1000
        stats = api.get(f"/proxies/{proxy.name}/stats").json()
        assert stats["connections_total"] == 1 and stats["connections_active"] == 1
        assert stats["bytes_upstream"] == 1000 and stats["bytes_downstream"] == 1000
    assert api.get(f"/proxies/{proxy.name}").json()["stats"]["bytes_upstream"] == 1000
    for _ in range(100):  # the close reaches the proxy asynchronously
        if api.get(f"/proxies/{proxy.name}/stats").json()["connections_active"] == 0:
            break
        time.sleep(0.02)
    assert api.get(f"/proxies/{proxy.name}/stats").json()["connections_active"] == 0
    assert_error(api.get("/proxies/missing/stats"), 404)


def test_unknown_route_and_browsers(api: httpx.Client) -> None:
    assert_error(api.get("/nope"), 404)
    assert_error(api.get("/proxies", headers={"User-Agent": "Mozilla/5.0"}), 403)


def test_config_file_populates_at_start(tmp_path: Path, echo: EchoServer) -> None:
    port = free_port()
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [{"name": "from_config", "listen": f"127.0.0.1:{port}", "upstream": echo.address}]
        )
    )
    with BackgroundServer(config=config) as server, ToxiproxyClient(server.url) as c:
        assert c.proxy("from_config").listen == f"127.0.0.1:{port}"
        with connect(port) as sock:
            sock.sendall(b"cfg")
            assert recv_exact(sock, 3) == b"cfg"
    with pytest.raises(ConnectionRefusedError):
        connect(port)  # the server stopped its proxies on exit
