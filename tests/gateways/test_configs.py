"""Product configs generated from the topology: checked by the products themselves
(`nginx -t`, `haproxy -c`) and against the stack they were made from."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gatecrash import gateways
from gatecrash.cli import main
from gatecrash.errors import InputError
from gatecrash.gateways import haproxy, litellm, nginx
from gatecrash.gateways.site import site_for
from gatecrash.plan import LocalNetwork, PlanOptions, plan_stack
from gatecrash.stacks import create_stack
from targets.llmrouter import llm_route
from targets.stack import RuntimeKind, StackSpec
from targets.topology import (
    FALLBACK_SERVICE,
    GatewayKind,
    LlmRouterKind,
    Program,
    topology_for,
)

BASE_PORT = 24000


def _spec(arch: str, gateway: GatewayKind = GatewayKind.NGINX,
          llm_router: LlmRouterKind = LlmRouterKind.BUILTIN) -> StackSpec:
    topology = topology_for(arch).with_products(gateway, llm_router)
    stack = create_stack(f"cfg-{arch}-{gateway}", topology, LocalNetwork(BASE_PORT),
                         runtime=RuntimeKind.LOCAL,
                         options=PlanOptions(gateway=gateway, llm_router=llm_router))
    return stack.spec


def test_products_add_the_fallback_service_and_move_the_cache_step_to_chat() -> None:
    plain = topology_for("dual")
    assert plain.with_products() is plain
    with_nginx = plain.with_products(GatewayKind.NGINX)
    assert with_nginx.service(FALLBACK_SERVICE).program is Program.FALLBACK
    assert "redis" in with_nginx.service("chat").calls
    assert FALLBACK_SERVICE in with_nginx.service("router").calls
    with_litellm = plain.with_products(llm_router=LlmRouterKind.LITELLM)
    assert with_litellm.service("chat").calls == ("models", "llm-router")
    assert with_litellm.service("llm-router").calls == ("inference", FALLBACK_SERVICE)
    # Redis stays the last service: every other instance keeps its port.
    assert with_litellm.services[-1].program is Program.REDIS


def test_the_plan_names_the_product_of_each_routing_instance() -> None:
    topology = topology_for("dual").with_products(GatewayKind.HAPROXY, LlmRouterKind.LITELLM)
    plan = plan_stack(topology, LocalNetwork(BASE_PORT),
                      PlanOptions(gateway=GatewayKind.HAPROXY, llm_router=LlmRouterKind.LITELLM))
    assert plan.products == {"router-1": "haproxy", "gateway-identity-1": "haproxy",
                             "gateway-business-1": "haproxy", "llm-router-1": "litellm"}


@pytest.mark.parametrize("arch", ["single", "dual"])
def test_every_replica_is_a_server_of_the_group_its_caller_balances(arch: str) -> None:
    spec = _spec(arch)
    for inst in spec.instances:
        if inst.program not in (Program.GATEWAY, Program.ROUTER):
            continue
        site = site_for(spec, inst)
        text = nginx.render(site, "/tmp/x")
        for group, servers in site.groups.items():
            assert [s.id for s in servers] == [i.id for i in spec.replicas(group)]
            for server in servers:
                assert f"server {server.address} max_fails=1" in text
        routed = {r.path for r in site.routes}
        if site.is_router:
            assert {"/v1/identity/profile", "/v1/orders", "/v1/chat/completions"} <= routed
        elif site.role == "business":
            assert "/v1/identity/profile" not in routed and "/v1/orders" in routed
            assert site.auth_group == FALLBACK_SERVICE  # never the identity side


def _check(argv: list[str], config: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(config)
    done = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed: "
                    "bash scripts/install-gateways.sh")
@pytest.mark.parametrize("arch", ["single", "dual"])
def test_nginx_accepts_the_configs(arch: str, tmp_path: Path) -> None:
    spec = _spec(arch)
    for inst in spec.instances:
        if inst.program in (Program.GATEWAY, Program.ROUTER):
            config = nginx.render(site_for(spec, inst), str(tmp_path))
            _check(["nginx", "-e", "stderr", "-t", "-c"], config, tmp_path, f"{inst.id}.conf")


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed: "
                    "bash scripts/install-gateways.sh")
@pytest.mark.parametrize("arch", ["single", "dual"])
def test_haproxy_accepts_the_configs(arch: str, tmp_path: Path) -> None:
    spec = _spec(arch, GatewayKind.HAPROXY)
    for inst in spec.instances:
        if inst.program in (Program.GATEWAY, Program.ROUTER):
            config = haproxy.render(site_for(spec, inst), str(tmp_path))
            assert "backup" in config or inst.role == "single"
            _check(["haproxy", "-c", "-f"], config, tmp_path, f"{inst.id}.cfg")


def test_litellm_has_one_deployment_per_inference_replica_and_a_degraded_fallback() -> None:
    spec = _spec("single", GatewayKind.BUILTIN, LlmRouterKind.LITELLM)
    router = spec.replicas("llm-router")[0]
    config = yaml.safe_load(litellm.render(spec, router))
    ids = [d["model_info"]["id"] for d in config["model_list"]]
    assert ids == [i.id for i in spec.replicas("inference")] + \
        [i.id for i in spec.replicas(FALLBACK_SERVICE)]
    bases = [d["litellm_params"]["api_base"] for d in config["model_list"]]
    assert bases[0] == f"{spec.replicas('inference')[0].url}/v1"  # through its hop proxy
    settings = config["router_settings"]
    assert settings["num_retries"] == 1
    assert settings["fallbacks"] == [{"gatecrash-tiny": [litellm.DEGRADED_MODEL]}]
    assert settings["cooldown_time"] == spec.limits.breaker_open_s
    assert config["general_settings"]["master_key"].startswith("sk-")


def test_litellm_headers_become_routes_and_missing_ones_unknown() -> None:
    said = llm_route({"x-litellm-model-id": "inference-2", "x-litellm-attempted-retries": "1",
                      "x-litellm-attempted-fallbacks": "0"})
    assert (said.route, said.instance) == ("retry", "inference-2")
    said = llm_route({"x-litellm-model-id": "fallback-1", "x-litellm-attempted-retries": "1",
                      "x-litellm-attempted-fallbacks": "1"})
    assert said.route == "fallback-degraded"
    assert llm_route({"x-litellm-model-id": "inference-1"}).route == "unknown"
    assert llm_route({}).instance == "unknown"


def test_a_missing_product_fails_at_once_naming_binary_and_install_command(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv(gateways.LITELLM_ENV, "/nonexistent/litellm")
    with pytest.raises(InputError, match=r"haproxy is not installed .*install-gateways\.sh"):
        gateways.require_installed({"haproxy"})
    with pytest.raises(InputError, match=r"litellm is not installed .*--litellm"):
        gateways.require_installed({"litellm"})
    assert main(["up", "--gateway", "nginx", "--name", "missing", "--detach"]) == 2
    err = capsys.readouterr().err
    assert "nginx is not installed" in err and "apt-get install -y nginx-light" in err
    assert "Traceback" not in err
