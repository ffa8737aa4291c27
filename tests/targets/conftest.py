"""Real stacks of real processes, deployed once per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from chaos.runtime.base import Runtime
from gatecrash.runtimes import deployed_stack, wait_pools_healthy
from gatecrash.stacks import Stack

HEALTHY_WAIT_S = 20.0


@dataclass
class Deployed:
    stack: Stack
    runtime: Runtime
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
        if not wait_pools_healthy(self.stack, self.runtime, HEALTHY_WAIT_S):
            raise AssertionError(f"pools not healthy after {HEALTHY_WAIT_S}s")

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
