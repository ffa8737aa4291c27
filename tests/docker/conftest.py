"""Docker tests: skipped, with the reason, where no engine, Compose v2 or image is here."""

from __future__ import annotations

import pytest

from chaos.runtime.base import RuntimeFailure
from chaos.runtime.engine import compose_command
from tests.engine import docker_unusable


@pytest.fixture(scope="session")
def compose_cli() -> list[str]:
    try:
        return compose_command()
    except RuntimeFailure as exc:
        pytest.skip(f"Docker Compose v2 not available: {exc}")


@pytest.fixture(scope="session")
def engine() -> None:
    problem = docker_unusable()
    if problem:
        pytest.skip(problem)
