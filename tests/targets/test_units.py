"""Pure pieces of the targets: keys, breaker, topology, routing table, cache."""

from __future__ import annotations

import json
import time

import pytest

from targets import chatcache
from targets.breaker import BreakerState, CircuitBreaker
from targets.endpoints import Domain, match
from targets.errors import ConfigError
from targets.keys import bearer_key, issue_key, verify_key
from targets.services.chat import SYSTEM_PROMPT, prepare_context
from targets.topology import BACKEND_REPLICAS, SINGLE, TOPOLOGIES, topology_for


def test_signed_key_round_trip_and_tamper() -> None:
    key = issue_key("secret", "demo", "alice")
    principal = verify_key("secret", key)
    assert principal is not None and (principal.tenant, principal.user) == ("demo", "alice")
    assert verify_key("other-secret", key) is None
    assert verify_key("secret", key[:-2] + "xx") is None
    assert verify_key("secret", "not-a-key") is None


def test_bearer_key_parsing() -> None:
    assert bearer_key("Bearer abc") == "abc"
    assert bearer_key("Basic abc") is None
    assert bearer_key(None) is None


def test_breaker_opens_after_failures_then_half_opens() -> None:
    breaker = CircuitBreaker(failures_to_open=2, open_s=0.05)
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow() and not breaker.allow()  # one probe only
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize("topology", list(TOPOLOGIES.values()), ids=lambda t: t.arch)
def test_every_backend_is_replicated(topology) -> None:
    for svc in topology.services:
        if svc.replicated:
            assert svc.replicas >= BACKEND_REPLICAS, svc.name


def test_dual_business_gateway_never_calls_identity_gateway() -> None:
    dual = topology_for("dual")
    assert "gateway-identity" not in dual.service("gateway-business").calls
    assert "auth" not in dual.service("gateway-business").calls


def test_hops_start_at_the_entry_and_follow_calls() -> None:
    hops = SINGLE.hops()
    assert hops[0] == ("client", "gateway")
    assert ("chat", "inference") in hops and ("gateway", "auth") in hops


def test_unknown_arch_says_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match="allowed: single, dual"):
        topology_for("triple")


def test_endpoint_table_matches_paths_and_methods() -> None:
    endpoint, _ = match("GET", "/v1/articles/a001")
    assert endpoint is not None and endpoint.service == "articles"
    endpoint, _ = match("POST", "/v1/chat/completions")
    assert endpoint is not None and endpoint.domain is Domain.CHAT
    assert match("DELETE", "/v1/orders") == (None, True)
    assert match("GET", "/v1/nowhere") == (None, False)


def test_cache_key_only_for_deterministic_requests() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    assert chatcache.cache_key({"messages": msgs}) is None
    assert chatcache.cache_key({"messages": msgs, "temperature": 0}) is not None
    assert chatcache.cache_key({"messages": msgs, "temperature": 0.7, "seed": 3}) is not None
    assert chatcache.cache_key({"messages": msgs, "temperature": 0}) != chatcache.cache_key(
        {"messages": msgs, "temperature": 0, "max_tokens": 5})


def _sse(*contents: str, done: bool = True) -> bytes:
    chunks = [{"model": "m", "choices": [{"delta": {"content": c}, "finish_reason": None}]}
              for c in contents]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


def test_answer_from_sse_needs_done() -> None:
    answer = chatcache.answer_from_sse(_sse("a", "b"))
    assert answer is not None and answer["content"] == "ab"
    assert chatcache.answer_from_sse(_sse("a", "b", done=False)) is None


def test_prepare_context_adds_system_prompt_and_trims() -> None:
    turns = [{"role": "user", "content": str(i)} for i in range(10)]
    out = prepare_context(turns, max_messages=4)
    assert out[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert [m["content"] for m in out[1:]] == ["7", "8", "9"]


def _context(arch: str, instance: str):  # -> ServiceContext
    from gatecrash.plan import LocalNetwork, plan_stack
    from targets.context import ServiceContext
    from targets.stack import StackSpec, TenantSpec

    plan = plan_stack(topology_for(arch), LocalNetwork(23000))
    spec = StackSpec(name="units", stack_id="0", arch=arch, instances=plan.instances,
                     redis_url=plan.redis_url, signing_key="k", entry_url=plan.entry_url,
                     tenants=[TenantSpec(name="demo", quota_per_minute=1)])
    return ServiceContext(stack=spec, instance=spec.instance(instance))


def test_the_router_finds_each_domain_gateway_in_the_topology() -> None:
    from targets.router import gateways_by_domain

    assert gateways_by_domain(topology_for("dual"), "router") == {
        Domain.IDENTITY: "gateway-identity", Domain.BUSINESS: "gateway-business",
        Domain.CHAT: "gateway-business"}


def test_a_service_finds_its_callees_by_program_in_the_topology() -> None:
    from targets.topology import Program

    ctx = _context("single", "chat-1")
    ctx.pools = {"models": "models pool", "inference": "inference pool"}  # type: ignore[dict-item]
    assert ctx.callee(Program.MODELS) == "models pool"
    assert ctx.callee(Program.INFERENCE) == "inference pool"
    with pytest.raises(ConfigError, match="calls no orders"):
        ctx.callee(Program.ORDERS)
