"""`dual` as real processes: routing, isolation and the dedicated fallbacks."""

from __future__ import annotations

import pytest

from .conftest import Deployed
from .flows import CHAT, send, send_non_object_bodies, stream_while

pytestmark = pytest.mark.slow

IDENTITY = [("POST", "/v1/identity/login", None), ("GET", "/v1/identity/profile", None),
            ("GET", "/v1/identity/quota", None)]
BUSINESS = [("GET", "/v1/orders", None), ("GET", "/v1/articles", None),
            ("GET", "/v1/analytics/summary", None), ("POST", "/v1/chat/completions", CHAT)]


def test_router_sends_each_domain_to_its_gateway(dual: Deployed) -> None:
    for request in IDENTITY:
        out = send(dual.client, *request)
        assert (out.status, out.route, out.gateway) == (200, "primary", "gateway-identity-1")
    for request in BUSINESS:
        out = send(dual.client, *request)
        assert (out.status, out.route, out.gateway) == (200, "primary", "gateway-business-1")


def test_killing_one_replica_under_load_loses_nothing(dual: Deployed) -> None:
    result = stream_while(dual.client, ("GET", "/v1/identity/profile", None),
                          lambda: dual.runtime.kill("users-1"))
    try:
        assert result.failed == [] and "retry" in result.routes()
    finally:
        dual.restore(["users-1"])


def test_all_auth_and_users_down_identity_answers_from_cache(dual: Deployed) -> None:
    for request in IDENTITY:  # prime the last-known answers
        assert send(dual.client, *request).route == "primary"
    victims = dual.instances_of("auth") + dual.instances_of("users")
    for victim in victims:
        dual.runtime.kill(victim)
    try:
        for request in IDENTITY:
            out = send(dual.client, *request)
            assert (out.status, out.route) == (200, "fallback-cache"), (request, out)
            assert out.gateway == "gateway-identity-1"
        # The business domain does not notice.
        assert send(dual.client, "GET", "/v1/orders", None).route == "primary"
    finally:
        dual.restore(victims)


def test_all_orders_down_business_answers_degraded(dual: Deployed) -> None:
    victims = dual.instances_of("orders")
    for victim in victims:
        dual.runtime.kill(victim)
    try:
        listed = dual.get("/v1/orders")
        created = dual.post("/v1/orders", json={"article_id": "a001", "quantity": 1})
        for r in (listed, created):
            assert r.status_code < 300 and r.json()["degraded"] is True
            assert r.headers["x-gatecrash-route"] == "fallback-degraded"
        assert created.status_code == 202
        assert send(dual.client, "GET", "/v1/articles", None).route == "primary"
    finally:
        dual.restore(victims)


def test_business_gateway_down_identity_still_primary(dual: Deployed) -> None:
    result = stream_while(dual.client, ("GET", "/v1/identity/profile", None),
                          lambda: dual.runtime.kill("gateway-business-1"))
    try:
        assert result.failed == [] and result.routes() == {"primary"}
        for request in BUSINESS:
            out = send(dual.client, *request)
            assert (out.status, out.route, out.gateway) == (200, "fallback-degraded", "router-1")
    finally:
        dual.restore(["gateway-business-1"])


def test_identity_gateway_down_router_serves_identity_cache(dual: Deployed) -> None:
    assert send(dual.client, "GET", "/v1/identity/profile", None).route == "primary"
    dual.runtime.kill("gateway-identity-1")
    try:
        out = send(dual.client, "GET", "/v1/identity/profile", None)
        assert (out.status, out.route, out.gateway) == (200, "fallback-cache", "router-1")
        assert send(dual.client, "GET", "/v1/orders", None).route == "primary"
    finally:
        dual.restore(["gateway-identity-1"])


def test_non_object_bodies_are_422_from_each_gateway_and_the_fallback(dual: Deployed) -> None:
    identity, business = ["/v1/identity/login"], ["/v1/orders", "/v1/chat/completions"]

    def refused_by(gateway: str, paths: list[str]) -> dict[str, tuple[int, str]]:
        answers = send_non_object_bodies(dual.client, paths)
        assert len(answers) == 4 * len(paths)
        return {k: v for k, v in answers.items() if v != (422, gateway)}

    assert refused_by("gateway-identity-1", identity) == {}
    assert refused_by("gateway-business-1", business) == {}
    dual.runtime.kill("gateway-business-1")
    try:  # the router's own fallback refuses them alike
        assert refused_by("router-1", business) == {}
        assert send(dual.client, "POST", "/v1/chat/completions", CHAT).route == \
            "fallback-degraded"
    finally:
        dual.restore(["gateway-business-1"])
