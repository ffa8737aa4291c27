"""compose/ is generated from the one topology, and Compose accepts every file."""

from __future__ import annotations

import subprocess

import pytest

from gatecrash.containers.compose import (
    COMPOSE_DIR,
    compose_plan,
    expected_files,
    toxiproxy_config,
)
from targets.topology import Arch, topology_for

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("name", sorted(expected_files()))
def test_compose_files_match_the_topology(name: str) -> None:
    path = COMPOSE_DIR / name
    assert path.exists(), f"{path} missing: run `python -m gatecrash.containers write-compose`"
    assert path.read_text() == expected_files()[name], (
        f"{path} drifted from targets/topology.py: run "
        "`python -m gatecrash.containers write-compose`")


@pytest.mark.parametrize("arch", list(Arch))
def test_every_instance_has_a_container_and_a_proxy(arch: Arch) -> None:
    import yaml

    topology = topology_for(arch)
    ids = {f"{s.name}-{n}" for s in topology.services for n in range(1, s.replicas + 1)}
    services = yaml.safe_load((COMPOSE_DIR / f"{arch.value}.yaml").read_text())["services"]
    assert ids <= set(services)
    assert {p["name"] for p in toxiproxy_config(compose_plan(topology))} == ids


def _config(compose_cli: list[str], *files: str) -> subprocess.CompletedProcess[str]:
    argv = [*compose_cli]
    for name in files:
        argv += ["--file", str(COMPOSE_DIR / name)]
    return subprocess.run([*argv, "config", "--quiet"], capture_output=True, text=True,
                          check=False, cwd=COMPOSE_DIR)


@pytest.mark.parametrize("files", [("single.yaml",), ("dual.yaml",),
                                   ("single.yaml", "gpu.yaml"), ("dual.yaml", "gpu.yaml")])
def test_docker_compose_config_accepts(compose_cli: list[str], files: tuple[str, ...]) -> None:
    done = _config(compose_cli, *files)
    assert done.returncode == 0, done.stderr


def test_gpu_override_reserves_a_gpu_for_inference_only(compose_cli: list[str]) -> None:
    import yaml

    done = subprocess.run([*compose_cli, "--file", str(COMPOSE_DIR / "dual.yaml"), "--file",
                           str(COMPOSE_DIR / "gpu.yaml"), "config"], capture_output=True,
                          text=True, check=True, cwd=COMPOSE_DIR)
    services = yaml.safe_load(done.stdout)["services"]
    reserved = {name for name, svc in services.items()
                if svc.get("deploy", {}).get("resources", {}).get("reservations", {})
                .get("devices")}
    assert reserved == {"inference-1", "inference-2"}
    device = services["inference-1"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
