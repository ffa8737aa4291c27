"""Docker tests: skipped, with the reason, where no engine, Compose v2 or image is here."""

from __future__ import annotations

import pytest

from chaos.runtime.base import RuntimeFailure
from chaos.runtime.docker import compose_command, docker_client, engine_problem
from gatecrash.containers import SERVICE_IMAGE

BUILD_HINT = "run scripts/start-dockerd.sh and scripts/build-images.sh"


@pytest.fixture(scope="session")
def compose_cli() -> list[str]:
    try:
        return compose_command()
    except RuntimeFailure as exc:
        pytest.skip(f"Docker Compose v2 not available: {exc}")


@pytest.fixture(scope="session")
def engine() -> None:
    problem = engine_problem()
    if problem:
        pytest.skip(f"no usable Docker engine: {problem} ({BUILD_HINT})")
    client = docker_client()
    try:
        client.images.get(SERVICE_IMAGE)
    except Exception:
        pytest.skip(f"image {SERVICE_IMAGE} not built ({BUILD_HINT})")
    finally:
        client.close()
