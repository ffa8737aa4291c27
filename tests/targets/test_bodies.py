"""A JSON body that is not an object gets a 422 on every path, never a 500.

Fast: each gateway role and the router are built in-process, their lifespan
run for real, with every upstream down (a fake transport that refuses every
connection). So the router serves its own fallbacks, and a valid body shows
the path goes past validation (a degraded answer or a 503, not a 422).
The same checks against real stacks are in test_single.py and test_dual.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import targets.context
from gatecrash.runtimes import new_stack
from gatecrash.stacks import Stack
from targets.__main__ import build_instance_app
from targets.app import ServiceIdentity
from targets.connection import HopConnectError, HopResponse
from targets.context import ServiceContext
from targets.endpoints import ENDPOINTS, Endpoint
from targets.gateway.app import ROLE_DOMAINS
from targets.gateway.app import build_app as build_gateway
from targets.hop import HopClient, HopTimeout
from targets.payload import Rejected, json_object
from targets.router import build_app as build_router
from targets.services import chat, standin_inference
from targets.stack import Limits

from .flows import CHAT, NON_OBJECT_BODIES

# Nothing listens on port 1: the services' Redis calls fail fast, as when it is down.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
BASE_PORT = 20000  # only written into the spec: nothing is started
VALID_BODIES = {"identity.login": {}, "orders.create": {"article_id": "a001", "quantity": 1},
                "chat.completions": CHAT}
SCHEMA_INVALID = {"orders.create": {"article_id": "a001", "quantity": 0},
                  "chat.completions": {"messages": []}}
GATEWAYS = {"single": ("single", "gateway-1"), "identity": ("dual", "gateway-identity-1"),
            "business": ("dual", "gateway-business-1")}


def posts(role: str) -> list[Endpoint]:
    return [e for e in ENDPOINTS if e.method == "POST" and e.domain in ROLE_DOMAINS[role]]


class RefusingClient(HopClient):
    """A fake for every upstream: each connection is refused, as when all are down."""

    async def request(self, method: str, url: str, **_: Any) -> HopResponse:
        raise HopConnectError(f"{url}: connection refused (fake: upstream down)")


def refusing_client(limits: Limits) -> HopClient:
    return RefusingClient(HopTimeout(read_s=limits.hop_timeout_s,
                                     connect_s=limits.connect_timeout_s))


@pytest.fixture
def upstreams_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets.context, "make_client", refusing_client)


def stack_of(arch: str) -> Stack:
    stack = new_stack(f"bodies-{arch}", arch, base_port=BASE_PORT, proxies=False)
    stack.spec.redis_url = UNREACHABLE_REDIS
    return stack


def serve(arch: str, instance: str) -> Iterator[tuple[TestClient, str]]:
    stack = stack_of(arch)
    ctx = ServiceContext(stack.spec, stack.spec.instance(instance))
    app: FastAPI = build_router(ctx) if instance.startswith("router") else build_gateway(ctx)
    with TestClient(app, headers={"Authorization": f"Bearer {stack.api_key}"}) as client:
        yield client, instance


def post(client: TestClient, endpoint: Endpoint, raw: str) -> httpx.Response:
    return client.post(endpoint.pattern, content=raw,
                       headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("raw", NON_OBJECT_BODIES)
def test_json_object_refuses_every_other_json_value(raw: str) -> None:
    with pytest.raises(Rejected) as refused:
        json_object(raw.encode())
    assert refused.value.response.status_code == 422
    assert json_object(b"") == {} and json_object(b'{"a": 1}') == {"a": 1}


def test_invalid_json_is_a_422_too() -> None:
    for raw in (b"{", b"\xff\xfe"):
        with pytest.raises(Rejected) as refused:
            json_object(raw)
        assert refused.value.response.status_code == 422


@pytest.mark.usefixtures("upstreams_down")
@pytest.mark.parametrize("role", sorted(GATEWAYS))
def test_each_gateway_role_refuses_non_object_bodies(role: str) -> None:
    for client, instance in serve(*GATEWAYS[role]):
        for endpoint in posts(role):
            for raw in NON_OBJECT_BODIES:
                r = post(client, endpoint, raw)
                assert r.status_code == 422, (endpoint.name, raw, r.text)
                assert r.json()["error"]["code"] == "invalid_schema"
                assert r.headers["x-gatecrash-gateway"] == instance
            valid = client.post(endpoint.pattern, json=VALID_BODIES[endpoint.name])
            assert valid.status_code in (200, 202, 503), (endpoint.name, valid.text)


@pytest.mark.usefixtures("upstreams_down")
def test_router_fallback_refuses_non_object_bodies() -> None:
    """Both domain gateways down: the router answers every request itself."""
    for client, _ in serve("dual", "router-1"):
        for endpoint in posts("single"):
            for raw in NON_OBJECT_BODIES:
                r = post(client, endpoint, raw)
                assert r.status_code == 422, (endpoint.name, raw, r.text)
                assert r.headers["x-gatecrash-gateway"] == "router-1"
            if endpoint.name in SCHEMA_INVALID:  # refused as its gateway would refuse it
                r = client.post(endpoint.pattern, json=SCHEMA_INVALID[endpoint.name])
                assert r.status_code == 422, (endpoint.name, r.text)
        chat_ok = client.post("/v1/chat/completions", json=CHAT)
        assert (chat_ok.status_code, chat_ok.headers["x-gatecrash-route"]) == \
            (200, "fallback-degraded")
        order = client.post("/v1/orders", json=VALID_BODIES["orders.create"])
        assert (order.status_code, order.json()["degraded"]) == (202, True)


@pytest.mark.usefixtures("upstreams_down")
def test_services_that_parse_bodies_themselves_refuse_them() -> None:
    stack = stack_of("single")
    apps = [chat.build_app(ServiceContext(stack.spec, stack.spec.instance("chat-1"))),
            standin_inference.build_app(ServiceIdentity("inference-1", "inference"))]
    for app in apps:
        with TestClient(app) as client:
            for raw in NON_OBJECT_BODIES:
                r = client.post("/v1/chat/completions", content=raw,
                                headers={"Content-Type": "application/json"})
                assert r.status_code == 422, (app.title, raw, r.text)


# Backends that take a body model: instance -> (path, a body of the wrong type).
MODEL_BODIES = {"auth-1": ("/v1/verify", '{"api_key": 5}'),
                "quota-1": ("/v1/quota/consume", '{"tenant": "demo", "cost": 0}'),
                "orders-1": ("/v1/orders", '{"article_id": "a001", "quantity": "many"}'),
                "models-1": ("/v1/models/select", '{"model": 5}')}


@pytest.mark.usefixtures("upstreams_down")
@pytest.mark.parametrize("instance", sorted(MODEL_BODIES))
def test_backends_refuse_bad_bodies_with_the_api_error_shape(instance: str) -> None:
    """Plain routes parse bodies themselves: a 422 that names the field, as the
    gateways answer, never a 500."""
    stack = stack_of("single")
    app = build_instance_app(stack.spec, instance)
    path, wrong = MODEL_BODIES[instance]
    with TestClient(app) as client:
        for raw in [*NON_OBJECT_BODIES, "{", wrong]:
            r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, (instance, raw, r.text)
            error = r.json()["error"]
            assert error["code"] == "invalid_schema" and error["message"], (instance, raw)
            assert r.headers["x-gatecrash-instance"] == instance
