"""What a GATECRASH_HOME deploys on a Docker engine carries that home's identity
(the scope of `down --all`'s sweep); two homes never share an identity or a project."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.runtime.engine import LABEL_HOME
from gatecrash.containers.backend import project_name
from gatecrash.containers.compose import ENV_HOME_ID, compose_document, compose_plan
from gatecrash.stacks import HOME_ENV, home_id
from targets.topology import Arch, topology_for


def _in(home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv(HOME_ENV, str(home))
    return home_id(), project_name("default")


def test_two_homes_have_two_identities_and_projects(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    a = _in(tmp_path / "a", monkeypatch)
    b = _in(tmp_path / "b", monkeypatch)
    again = _in(tmp_path / "a", monkeypatch)
    assert a == again
    assert a[0] != b[0] and a[1] != b[1]


def test_every_container_and_the_network_carry_the_home() -> None:
    doc = compose_document(compose_plan(topology_for(Arch.DUAL)), Arch.DUAL)
    labelled = [s["labels"] for s in doc["services"].values()]
    labelled.append(doc["networks"]["default"]["labels"])
    assert all(labels[LABEL_HOME] == f"${{{ENV_HOME_ID}:-compose}}" for labels in labelled)
