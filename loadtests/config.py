"""What the launcher hands to the Locust process: a JSON file plus the key in the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from loadtests.errors import LoadError
from loadtests.layout import CONFIG_ENV
from loadtests.spec import LoadSpec

__all__ = ["API_KEY_ENV", "LaunchConfig", "load_launch_config"]

API_KEY_ENV = "GATECRASH_API_KEY"


class LaunchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: LoadSpec
    host: str
    run_dir: str
    allowed_hosts: tuple[str, ...] = ()

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)


def load_launch_config() -> tuple[LaunchConfig, str]:
    """Read the config named by $GATECRASH_LOAD_CONFIG and the key from $GATECRASH_API_KEY."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise LoadError(
            f"{CONFIG_ENV} is not set: start Locust through loadtests.start_load(), "
            "or point it at a config.json written by it"
        )
    config = LaunchConfig.model_validate_json(Path(path).read_text(encoding="utf-8"))
    return config, os.environ.get(API_KEY_ENV, "")
