"""What the launcher hands to the Locust process: a JSON file plus the key in the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from loadtests.entries import EntryTarget
from loadtests.errors import LoadError
from loadtests.layout import CONFIG_ENV
from loadtests.spec import LoadSpec

__all__ = [
    "API_KEY_ENV",
    "LOCUSTFILE",
    "REMOTE_WORKER_ENV",
    "LaunchConfig",
    "StandbyOrders",
    "load_launch_config",
    "locust_env",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

API_KEY_ENV = "GATECRASH_API_KEY"
# Set by `gatecrash worker`: this Locust worker has no run folder and gets its
# config from the master (loadtests.master).
REMOTE_WORKER_ENV = "GATECRASH_REMOTE_WORKER"


class LaunchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: LoadSpec
    host: str
    run_dir: str
    allowed_hosts: tuple[str, ...] = ()
    # Every entry point, `host` first; users fail over between them (loadtests.entries).
    # Empty: `host` is the only one, and rows name no entry.
    entries: tuple[EntryTarget, ...] = ()
    # Workers that join the master from anywhere (`gatecrash worker`); 0: the
    # workers are the master's own forks (spec.processes) or there is no master.
    remote_workers: int = 0

    @model_validator(mode="after")
    def _host_is_the_first_entry(self) -> LaunchConfig:
        if self.entries and self.entries[0].url != self.host:
            raise ValueError(f"the first entry ({self.entries[0].url}) must be the host "
                             f"({self.host})")
        return self

    @property
    def target_urls(self) -> tuple[str, ...]:
        """Every URL the load may be sent to (the host guard checks each)."""
        return (self.host, *(e.url for e in self.entries[1:]))

    @property
    def generators(self) -> int:
        """Load processes that share the open-loop schedule."""
        return self.remote_workers or self.spec.processes

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)


class StandbyOrders(BaseModel):
    """What turns a standby interpreter (loadtests.standby) into one load's Locust:
    sent on its stdin, never written to disk (the environment holds the API key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    args: tuple[str, ...]  # Locust's arguments, as after `python -m locust`
    cwd: str
    log: str  # stdout and stderr go here
    env: dict[str, str]  # set on top of the standby's own environment


def locust_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a Locust process: ours, plus `extra`, with this checkout's
    packages first on its path (the locustfile imports `loadtests`)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


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
