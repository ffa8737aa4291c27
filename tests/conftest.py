"""Shared fixtures: every test run keeps its stacks in its own GATECRASH_HOME."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def gatecrash_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("gatecrash-home")
    old = os.environ.get("GATECRASH_HOME")
    os.environ["GATECRASH_HOME"] = str(home)
    yield home
    # Safety net, loud: every test removes what it starts; anything found here is a leak.
    from gatecrash.local import sweep_leftover_processes

    leaked = sweep_leftover_processes(tmp_path_factory.getbasetemp())
    if leaked:
        warnings.warn(f"stack processes leaked by the tests, now killed: {leaked}",
                      stacklevel=1)
    if old is None:
        os.environ.pop("GATECRASH_HOME", None)
    else:
        os.environ["GATECRASH_HOME"] = old
