"""`gatecrash down --all` sweeps only what its own GATECRASH_HOME deployed.

Two homes share one engine (two users of a machine, two test sessions): each
has a leftover of a crashed run, a container and a network carrying its home's
labels but no stack folder. Sweeping one home removes its leftovers and leaves
the other's alone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.runtime.engine import LABEL_HOME, LABEL_INSTANCE, LABEL_STACK, docker_client
from gatecrash.containers import SERVICE_IMAGE
from gatecrash.stacks import HOME_ENV, home_id

pytestmark = pytest.mark.docker

CLI_TIMEOUT_S = 120


def _home_id(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as m:
        m.setenv(HOME_ENV, str(home))
        return home_id()


@pytest.fixture
def leftovers(tmp_path: Path, engine: None,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, tuple[str, str]]]:
    """A crashed run's container and network in each of two homes: home -> (container, net)."""
    client = docker_client()
    made: dict[str, tuple[str, str]] = {}
    try:
        for name in ("a", "b"):
            home = tmp_path / f"home-{name}"
            home.mkdir()
            labels = {LABEL_HOME: _home_id(home, monkeypatch), LABEL_STACK: "crashed",
                      LABEL_INSTANCE: "gateway-1"}
            tag = f"gc-sweep-test-{os.getpid()}-{name}"
            network = client.networks.create(tag, labels=labels)
            container = client.containers.create(SERVICE_IMAGE, ["sleep", "300"], name=tag,
                                                 labels=labels, network=network.name)
            made[str(home)] = (container.id, network.id)
        yield made
    finally:
        from docker.errors import NotFound

        for container_id, network_id in made.values():
            with contextlib.suppress(NotFound):
                client.containers.get(container_id).remove(force=True)
            with contextlib.suppress(NotFound):
                client.networks.get(network_id).remove()
        client.close()


def _exists(kind: str, ident: str) -> bool:
    from docker.errors import NotFound

    client = docker_client()
    try:
        getattr(client, kind).get(ident)
        return True
    except NotFound:
        return False
    finally:
        client.close()


def test_down_all_sweeps_its_own_home_only(leftovers: dict[str, tuple[str, str]]) -> None:
    home_a, home_b = sorted(leftovers)
    done = subprocess.run(
        [sys.executable, "-m", "gatecrash.cli", "down", "--all"], capture_output=True,
        text=True, timeout=CLI_TIMEOUT_S, env={**os.environ, HOME_ENV: home_a})
    assert done.returncode == 0, done.stdout + done.stderr
    container_a, network_a = leftovers[home_a]
    container_b, network_b = leftovers[home_b]
    # The crashed run of home a: swept, and said so.
    assert not _exists("containers", container_a)
    assert not _exists("networks", network_a)
    assert "removed leftover container" in done.stdout
    # Home b's, on the same engine: untouched.
    assert _exists("containers", container_b)
    assert _exists("networks", network_b)
