"""One instance plan: the same topology on both networks, every address from one place."""

from __future__ import annotations

import pytest

from gatecrash.plan import (
    PORT_BLOCK,
    PROXY_OFFSET,
    TOXIPROXY_API_PORT,
    ContainerNetwork,
    LocalNetwork,
    PlanOptions,
    plan_stack,
)
from targets.topology import Arch, Program, topology_for

BASE = 23000


@pytest.mark.parametrize("arch", list(Arch))
def test_both_networks_plan_the_same_instances_and_hops(arch: Arch) -> None:
    topology = topology_for(arch)
    local = plan_stack(topology, LocalNetwork(BASE))
    containers = plan_stack(topology, ContainerNetwork(18080, 18474))
    ids = [f"{s.name}-{n}" for s in topology.services for n in range(1, s.replicas + 1)]
    for plan in (local, containers):
        assert [i.id for i in plan.instances] == ids
        assert [p.name for p in plan.proxies] == ids  # one hop proxy per instance
        # Callers go through the hop: every instance's address is its proxy's.
        listen = {p.name: p.listen.rsplit(":", 1)[1] for p in plan.proxies}
        assert all(i.address.endswith(f":{listen[i.id]}") for i in plan.instances)
        assert plan.entry == f"{topology.entry}-1"
        assert set(plan.env) == set(ids)


def test_local_network_uses_the_stack_port_block() -> None:
    plan = plan_stack(topology_for(Arch.DUAL), LocalNetwork(BASE))
    first = plan.instances[0]
    assert (first.id, first.host, first.port) == ("router-1", "127.0.0.1", BASE)
    assert first.address == f"127.0.0.1:{BASE + PROXY_OFFSET}"
    hop = plan.proxies[0]
    assert (hop.listen, hop.upstream) == (f"127.0.0.1:{BASE + PROXY_OFFSET}", f"127.0.0.1:{BASE}")
    assert plan.entry_url == f"http://127.0.0.1:{BASE + PROXY_OFFSET}"
    assert plan.toxiproxy_url == f"http://127.0.0.1:{BASE + PORT_BLOCK - 1}"
    assert plan.toxiproxy is not None and plan.toxiproxy.port == BASE + PORT_BLOCK - 1
    redis = next(i for i in plan.instances if i.program is Program.REDIS)
    assert plan.redis_url == f"redis://{redis.address}/0"
    assert all(p.listen.startswith("127.0.0.1:") for p in plan.proxies)


def test_container_network_names_instances_and_publishes_only_entry_and_api() -> None:
    plan = plan_stack(topology_for(Arch.SINGLE), ContainerNetwork(18080, 18474))
    auth = plan.instance("auth-1")
    assert (auth.host, auth.port) == ("0.0.0.0", 8000)
    assert auth.address.startswith("toxiproxy:")
    hop = next(p for p in plan.proxies if p.name == "auth-1")
    assert hop.upstream == "auth-1:8000" and hop.listen.startswith("0.0.0.0:")
    assert plan.instance("redis-1").port == 6379
    assert plan.redis_url == f"redis://{plan.instance('redis-1').address}/0"
    assert plan.entry_url == "http://127.0.0.1:18080"
    assert plan.toxiproxy_url == "http://127.0.0.1:18474"
    assert plan.toxiproxy is not None and plan.toxiproxy.port == TOXIPROXY_API_PORT


def test_without_proxies_callers_reach_instances_directly() -> None:
    local = plan_stack(topology_for(Arch.SINGLE), LocalNetwork(BASE), PlanOptions(proxies=False))
    assert local.proxies == [] and local.toxiproxy_url is None and local.toxiproxy is None
    assert all(i.address == f"{i.host}:{i.port}" for i in local.instances)
    containers = plan_stack(topology_for(Arch.SINGLE), ContainerNetwork(18080, 18474),
                            PlanOptions(proxies=False))
    assert containers.instance("auth-1").address == "auth-1:8000"
    assert containers.entry_url == "http://127.0.0.1:18080"


def test_external_redis_and_toxiproxy_replace_the_stack_own() -> None:
    options = PlanOptions(redis_url="redis://10.0.0.1:6379/0",
                          toxiproxy_url="http://127.0.0.1:8474")
    plan = plan_stack(topology_for(Arch.DUAL), LocalNetwork(BASE), options)
    assert all(i.program is not Program.REDIS for i in plan.instances)
    assert plan.redis_url == "redis://10.0.0.1:6379/0"
    assert plan.toxiproxy_url == "http://127.0.0.1:8474" and plan.toxiproxy is None
    assert "redis-1" not in {p.name for p in plan.proxies}


@pytest.mark.parametrize("network", [LocalNetwork(BASE), ContainerNetwork(18080, 18474, 18475)],
                         ids=["local", "containers"])
def test_fault_layers_chain_after_the_hop_proxy_of_the_services_asked(
        network: LocalNetwork | ContainerNetwork) -> None:
    from gatecrash.containers.compose import compose_document
    from gatecrash.errors import InputError

    plain = plan_stack(topology_for(Arch.DUAL), network)
    plan = plan_stack(topology_for(Arch.DUAL), network, PlanOptions(http_faults=("inference",)))
    assert [layer.name for layer in plan.layers] == ["inference-1", "inference-2"]
    # Callers keep their addresses; only the hop proxy's upstream moves to the layer.
    assert [i.address for i in plan.instances] == [i.address for i in plain.instances]
    for layer in plan.layers:
        index = [i.id for i in plan.instances].index(layer.name)
        proxy = next(p for p in plan.proxies if p.name == layer.name)
        assert proxy.upstream == network.layer(index).address
        assert layer.upstream == network.instance(index, layer.name, Program.INFERENCE).address
    assert plain.layers == [] and plain.httpfaults_url is None
    assert plan.httpfaults_url == network.httpfaults_url()
    services = compose_document(plan, Arch.DUAL)["services"]
    assert ("httpfaults" in services) and "httpfaults" not in compose_document(
        plain, Arch.DUAL)["services"]
    with pytest.raises(InputError, match="no service nope"):
        plan_stack(topology_for(Arch.DUAL), network, PlanOptions(http_faults=("nope",)))


@pytest.mark.parametrize("arch", list(Arch))
def test_several_entry_points_are_planned_once_each_with_its_own_url(arch: Arch) -> None:
    from gatecrash.containers.compose import compose_document

    topology = topology_for(arch).with_entries(2)
    entry = topology.entry
    local = plan_stack(topology, LocalNetwork(BASE))
    assert [e.instance for e in local.entry_points] == [f"{entry}-1", f"{entry}-2"]
    hops = {p.name: p.listen for p in local.proxies}
    # Locally each entry point is its instance's hop proxy on the loopback.
    assert [e.url for e in local.entry_points] == [f"http://{hops[f'{entry}-1']}",
                                                   f"http://{hops[f'{entry}-2']}"]
    assert (local.entry, local.entry_url) == (f"{entry}-1", local.entry_points[0].url)
    containers = plan_stack(topology, ContainerNetwork(18080, 18474, more_entry_ports=(18081,)))
    assert [e.url for e in containers.entry_points] == ["http://127.0.0.1:18080",
                                                        "http://127.0.0.1:18081"]
    # Compose publishes both entry hops, each on its own variable's port.
    ports = compose_document(containers, arch)["services"]["toxiproxy"]["ports"]
    published = [p for p in ports if "ENTRY_PORT" in p]
    assert len(published) == 2
    assert published[1].startswith("${GATECRASH_PUBLISH_ADDRESS:-127.0.0.1}:"
                                   "${GATECRASH_ENTRY_PORT_2:-8081}:")
    second_hop = next(p for p in containers.proxies if p.name == f"{entry}-2")
    assert published[1].endswith(f":{second_hop.listen.rsplit(':', 1)[1]}")


def test_an_entry_point_without_a_published_port_is_refused() -> None:
    from gatecrash.errors import InputError

    with pytest.raises(InputError, match="entry point 2"):
        plan_stack(topology_for(Arch.DUAL).with_entries(2), ContainerNetwork(18080, 18474))


def test_a_plan_written_before_entry_lists_still_names_its_one_entry() -> None:
    plan = plan_stack(topology_for(Arch.DUAL), LocalNetwork(BASE))
    old = type(plan).model_validate({**plan.model_dump(), "entries": []})
    assert [(e.instance, e.url) for e in old.entry_points] == [("router-1", plan.entry_url)]
