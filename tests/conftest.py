"""Shared fixtures: every test run keeps its stacks in its own GATECRASH_HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def gatecrash_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("gatecrash-home")
    old = os.environ.get("GATECRASH_HOME")
    os.environ["GATECRASH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("GATECRASH_HOME", None)
    else:
        os.environ["GATECRASH_HOME"] = old
