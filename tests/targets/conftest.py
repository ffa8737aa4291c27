"""Real stacks of real processes, deployed once per test module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from chaos.runtime.local import LocalRuntime
from gatecrash.stacks import Stack, deployed_stack

HEALTHY_WAIT_S = 20.0


@dataclass
class Deployed:
    stack: Stack
    runtime: LocalRuntime
    client: httpx.Client

    @property
    def gateways(self) -> list[str]:
        return [i.url for i in self.stack.spec.instances if i.program == "gateway"
                or i.program == "router"]

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.client.post(path, **kw)

    def instances_of(self, service: str) -> list[str]:
        return [i.id for i in self.stack.spec.replicas(service)]

    def wait_all_healthy(self) -> None:
        """Until every gateway/router pool sees every replica healthy again."""
        deadline = time.monotonic() + HEALTHY_WAIT_S
        urls = [i.url for i in self.stack.spec.instances if i.program == "gateway"]
        while time.monotonic() < deadline:
            states = [r for url in urls
                      for pool in httpx.get(f"{url}/v1/gateway/upstreams").json().values()
                      for r in pool]
            if all(r["healthy"] and r["breaker"] == "closed" for r in states):
                return
            time.sleep(0.2)
        raise AssertionError(f"pools not healthy after {HEALTHY_WAIT_S}s: {states}")

    def restore(self, instance_ids: list[str]) -> None:
        for iid in instance_ids:
            self.runtime.restart(iid, wait_healthy=True)
        self.wait_all_healthy()


def _deploy(arch: str) -> Iterator[Deployed]:
    with deployed_stack(arch, inference_backend="standin") as (stack, runtime), httpx.Client(
        base_url=stack.spec.entry_url, timeout=10.0, trust_env=False,
        headers={"Authorization": f"Bearer {stack.api_key}"},
    ) as client:
        deployed = Deployed(stack, runtime, client)
        deployed.wait_all_healthy()
        yield deployed


@pytest.fixture(scope="module")
def single() -> Iterator[Deployed]:
    yield from _deploy("single")


@pytest.fixture(scope="module")
def dual() -> Iterator[Deployed]:
    yield from _deploy("dual")
