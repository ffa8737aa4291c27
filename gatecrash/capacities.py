"""The capacities known on this machine, and rates resolved against them.

An experiment may give its open-loop rate as a share of the measured capacity
(`rate: 50%`, also in `rate_start`, `rate_end` and stages), so it puts the
same relative stress on any machine. Where that capacity comes from, first
found wins:

1. a pinned file (`--capacity-from FILE`): a JSON object of req/s by
   architecture, e.g. `{"single": 62, "dual": 55}`, for a CI machine whose
   capacity is known;
2. the cache, `$GATECRASH_HOME/capacity/<key>.json`: every capacity sweep
   (`gatecrash capacity`, and the one below) writes the knee it found there,
   with the date. The key is this machine (host name, CPU model, cores,
   memory), the architecture, the runtime, the deploy options, the request mix
   and chat options, and the SLO: change any and the capacity is another one.
   An entry older than MAX_AGE_DAYS is measured again;
3. measured on demand: a capacity sweep on the experiment's own stack, just
   before it runs (its run folder is kept beside the experiment's).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from chaos.runtime.base import Runtime
from gatecrash.capacity import CapacityResult, measure_capacity
from gatecrash.errors import InputError
from gatecrash.experiment import Experiment
from gatecrash.runner import deploy_options
from gatecrash.stacks import Stack, gatecrash_home
from loadtests.spec import ChatOptions, Mix
from records import Slo, read_capacity
from targets.stack import RuntimeKind
from targets.topology import Arch

__all__ = [
    "MAX_AGE_DAYS",
    "Capacities",
    "CapacityKey",
    "KnownCapacity",
    "capacity_key",
    "machine_id",
]

# Past this, a cached capacity is measured again: the machine (or what else runs
# on it) has had time to change.
MAX_AGE_DAYS = 7
DAY_S = 86_400
CACHE_DIR = "capacity"
DIGEST_CHARS = 16
GIB = 1024**3
CPUINFO = Path("/proc/cpuinfo")


def machine_id() -> str:
    """This machine, as far as its capacity is concerned."""
    model = platform.processor() or platform.machine()
    try:
        for line in CPUINFO.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the platform's name will do
    memory = round(psutil.virtual_memory().total / GIB)
    return f"{platform.node()} | {model} | {os.cpu_count()} cores | {memory} GiB"


class CapacityKey(BaseModel):
    """Everything a measured capacity depends on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    machine: str
    arch: str
    runtime: str
    deploy: dict[str, JsonValue]
    mix: Mix
    chat: ChatOptions
    slo: Slo

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:DIGEST_CHARS]


def capacity_key(experiment: Experiment, arch: str, runtime: RuntimeKind,
                 slo: Slo | None = None) -> CapacityKey:
    """The key of `experiment`'s capacity on `arch` (its load's mix, its deploy options)."""
    return CapacityKey(machine=machine_id(), arch=arch, runtime=runtime.value,
                       deploy=deploy_options(experiment), mix=experiment.load.mix,
                       chat=experiment.load.chat, slo=slo or experiment.slo)


class KnownCapacity(BaseModel):
    """One cache entry: the knee found for a key, and where and when."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")
    key: CapacityKey
    knee_rps: float | None = Field(description="None: no step passed")
    low: float
    high: float
    measured_at: float
    run_dir: str

    @property
    def date(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.measured_at))

    def describe(self) -> str:
        return (f"{self.knee_rps:g} req/s (interval [{self.low:g}, {self.high:g}], measured "
                f"{self.date} in {self.run_dir})")


@dataclass(frozen=True)
class Resolution:
    """What a relative rate was resolved against, for the log and the run's description."""

    arch: str
    capacity_rps: float
    source: str


class Capacities:
    """Where capacities come from (module doc); `measure=False` never sweeps."""

    def __init__(self, pinned: dict[str, float] | None = None, home: Path | None = None,
                 measure: bool = True, max_age_days: float = MAX_AGE_DAYS) -> None:
        self.pinned = dict(pinned or {})
        self.dir = (home or gatecrash_home()) / CACHE_DIR
        self.measure = measure
        self.max_age_s = max_age_days * DAY_S

    @classmethod
    def from_file(cls, path: Path, **kwargs: object) -> Capacities:
        """A pinned file, validated: a JSON object of req/s (> 0) by architecture."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read the capacity file ({exc.strerror})") from None
        except ValueError as exc:
            raise InputError(f"{path}: not JSON ({exc})") from None
        allowed = ", ".join(a.value for a in Arch)
        if not isinstance(data, dict) or not data:
            raise InputError(f'{path}: expected a JSON object of req/s by architecture, e.g. '
                             f'{{"single": 60, "dual": 55}} (architectures: {allowed})')
        pinned = {}
        for arch, value in data.items():
            if arch not in {a.value for a in Arch}:
                raise InputError(f"{path}: unknown architecture {arch!r}; allowed: {allowed}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InputError(f"{path}: {arch}: {value!r} is not a capacity; give req/s > 0")
            pinned[arch] = float(value)
        return cls(pinned, **kwargs)  # type: ignore[arg-type]

    def _path(self, key: CapacityKey) -> Path:
        return self.dir / f"{key.arch}-{key.digest()}.json"

    def cached(self, key: CapacityKey) -> KnownCapacity | None:
        """The cache's entry for `key`, if there is one young enough."""
        path = self._path(key)
        try:
            known = KnownCapacity.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None  # none yet, or written by another version: measure again
        if known.key != key or time.time() - known.measured_at > self.max_age_s:
            return None
        return known

    def remember(self, key: CapacityKey, result: CapacityResult) -> KnownCapacity:
        """Cache what a sweep measured for `key`."""
        c = result.record.capacity
        known = KnownCapacity(key=key, knee_rps=result.knee_rps, low=c.low, high=c.high,
                              measured_at=time.time(), run_dir=str(result.run_dir))
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(known.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)
        return known

    def known(self, experiment: Experiment, arch: str,
              runtime: RuntimeKind = RuntimeKind.LOCAL) -> float | None:
        """The capacity (req/s) `experiment`'s shares would be taken of, if known now
        (pinned or cached); None when it would have to be measured (e.g. for a plan)."""
        if arch in self.pinned:
            return self.pinned[arch]
        cached = self.cached(capacity_key(experiment, arch, runtime))
        return cached.knee_rps if cached is not None else None

    def learn(self, experiment: Experiment, arch: str, runtime: RuntimeKind,
              run_dir: Path) -> KnownCapacity | None:
        """Remember the knee of a finished sweep run (None: not a sweep)."""
        record = read_capacity(run_dir)
        if experiment.load.mode != "sweep" or record is None:
            return None
        return self.remember(capacity_key(experiment, arch, runtime),
                             CapacityResult(arch, run_dir, record))

    def capacity_of(self, experiment: Experiment, arch: str, runtime: RuntimeKind,
                    deployed: tuple[Stack, Runtime] | None, out_root: Path,
                    say: Callable[[str], None] = lambda _: None) -> Resolution:
        """The capacity `experiment`'s shares are taken of, on `arch`."""
        if arch in self.pinned:
            return Resolution(arch, self.pinned[arch], "pinned")
        key = capacity_key(experiment, arch, runtime)
        known = self.cached(key)
        if known is None:
            if not self.measure or deployed is None:
                raise InputError(
                    f"{experiment.name}: its rate is a share of the capacity of {arch}, which "
                    "is not measured on this machine yet; run `gatecrash capacity --arch "
                    f"{arch}` (same mix and deploy options) or pass --capacity-from FILE"
                    + (f", or run {arch} first (capacity_of: {arch})"
                       if experiment.capacity_of == arch else ""))
            say(f"   measuring the capacity of {arch} first (rates given as a share of it)")
            result = measure_capacity(arch, out_root, mix=experiment.load.mix,
                                      chat=experiment.load.chat, slo=experiment.slo,
                                      deploy=experiment.deploy, deployed=deployed)
            known = self.remember(key, result)
        if known.knee_rps is None:
            raise InputError(f"{experiment.name}: the capacity of {arch} is below the sweep's "
                             f"first step ({known.run_dir}); no rate can be a share of it")
        return Resolution(arch, known.knee_rps, f"cached, {known.describe()}")

    def resolve(self, experiment: Experiment, arch: str, runtime: RuntimeKind,
                deployed: tuple[Stack, Runtime] | None, out_root: Path,
                say: Callable[[str], None] = lambda _: None) -> Experiment:
        """`experiment` with its rates in req/s (unchanged when they already are), as
        shares of the capacity of `arch`, the deployed one, or of `capacity_of`."""
        if not experiment.load.relative:
            return experiment
        basis = experiment.capacity_of or arch
        # Another architecture's capacity cannot be swept on this stack: known or not.
        got = self.capacity_of(experiment, basis, runtime,
                               deployed if basis == arch else None, out_root, say)
        note = (f"rates as a share of the capacity of {basis}: {got.capacity_rps:g} req/s "
                f"({got.source})")
        say(f"   {note}")
        description = f"{experiment.description} [{note}]".strip()
        # Resolved, its rates are req/s: whose capacity they came from is in the description.
        return experiment.model_copy(update={
            "load": experiment.load.resolved(got.capacity_rps), "description": description,
            "capacity_of": None})
