"""Experiment files: a claim of the seeds as a load, a fault timeline and
hypotheses (DESIGN.md §2, §4). Validated at the edge, before anything starts:
an error names the file, the line and field path, what was expected and the
allowed values.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dashboards.intervals import DEFAULT_CONFIDENCE, IntervalOptions
from dashboards.saturation import DEFAULT_SATURATION_PCT, DEFAULT_SEND_LAG_MS
from gatecrash.errors import InputError
from gatecrash.hypothesis import HypothesisError
from gatecrash.hypothesis_spec import HypothesisSpec
from gatecrash.stacks import DEMO_TENANT, TENANTS
from gatecrash.steps import MAX_ENTRIES, AbortSpec, DeploySpec, FaultStep, LoadWindow, Strict
from loadtests.spec import LoadSpec, RateStage
from records.capacity import Slo
from records.meta import WINDOW_NAMES, RunWindows
from targets.topology import Arch, GatewayKind, LlmRouterKind

__all__ = ["MAX_ENTRIES", "WINDOWS", "DeploySpec", "Experiment", "FaultStep", "HypothesisSpec",
           "LoadWindow", "load_experiment"]

WINDOWS = WINDOW_NAMES
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# More trials than this on one stack is a soak test, not an experiment.
MAX_TRIALS = 50


class Experiment(Strict):
    name: str
    claim: str = Field(min_length=1, description="the claim, quoted from the seeds")
    claim_id: str | None = None
    description: str = ""
    architectures: list[Arch] = Field(min_length=1)
    seed: int = 1
    deploy: DeploySpec = DeploySpec()
    load: LoadSpec
    # Whose API key the load sends (gatecrash.stacks.TENANTS): `demo`'s quota is out
    # of reach; `free` is a free-tier plan, for the quota's own claims (C11).
    tenant: str = DEMO_TENANT
    # Whose measured capacity a rate given as a share of it ('50%') is taken of: by
    # default each run's own architecture (the same relative stress). One
    # architecture for all gives every run the same rate in req/s, which a cost
    # compared across architectures needs (C10).
    capacity_of: Arch | None = None
    warmup_s: float = Field(default=3.0, ge=0)
    recovery_s: float = Field(default=5.0, ge=0)
    faults: list[FaultStep] = Field(default_factory=list)
    # Instead of faults: the seconds of the load that are its disturbance.
    load_fault: LoadWindow | None = None
    hypotheses: list[HypothesisSpec] = Field(min_length=1)
    abort: AbortSpec = AbortSpec()
    # CPU (host: all cores; generator: its busiest process, % of a core) at or above
    # which a second is saturated; any saturated second of a judged window makes the
    # run inconclusive (dashboards.saturation; a sweep does not judge the host's).
    saturation_pct: float = Field(default=DEFAULT_SATURATION_PCT, gt=0, le=100)
    # Open loop: p95 send lag (ts_send - ts_intended) of a second above which the
    # generator is behind its schedule in that second.
    max_send_lag_ms: float = Field(default=DEFAULT_SEND_LAG_MS, gt=0)
    # Off only where the verdict logic itself is under test on a shared machine.
    require_unsaturated: bool = True
    # A sweep load's SLO: the sweep stops once it breaks (gatecrash.sweep).
    slo: Slo = Slo()
    # Every interval of the verdicts is at this confidence (DESIGN.md §5).
    confidence: float = DEFAULT_CONFIDENCE
    proportion_method: Literal["wilson", "clopper-pearson"] = "wilson"
    # The fault schedule repeated on one deployed stack; rows pooled per window.
    trials: int = Field(default=1, ge=1, le=MAX_TRIALS)
    # Load between one trial's end and the next one's start (default: recovery_s,
    # rounded up: Locust runs whole seconds).
    trial_gap_s: int | None = Field(default=None, ge=0)

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if value not in TENANTS:
            raise ValueError(f"unknown tenant {value!r}; allowed: {', '.join(TENANTS)}")
        return value

    @field_validator("confidence")
    @classmethod
    def _confidence(cls, value: float) -> float:
        if not 0.5 <= value < 1:
            raise ValueError(f"confidence {value:g}: give the level as a fraction between "
                             "0.5 and 1 (0.95 for 95 %, 0.99 for 99 %)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, dict):
            hyps = data.get("hypotheses")
            if isinstance(hyps, list):
                data["hypotheses"] = [{"expr": h} if isinstance(h, str) else h for h in hyps]
            archs = data.get("architectures")
            if isinstance(archs, str):
                data["architectures"] = ["single", "dual"] if archs == "both" else [archs]
        return data

    @model_validator(mode="after")
    def _timeline_fits(self) -> Experiment:
        if not NAME.match(self.name):
            raise ValueError(f"name {self.name!r}: use lower-case letters, digits, '-' or '_'")
        duration = self.load.duration_s
        if self.load_fault is not None:
            self._check_load_fault()
        for i, step in enumerate(self.faults):
            if step.at_s < self.warmup_s:
                raise ValueError(f"faults[{i}].at_s = {step.at_s}: must be >= warmup_s "
                                 f"({self.warmup_s}) so that a baseline exists")
            if step.end_s > duration:
                raise ValueError(f"faults[{i}] ends at {step.end_s:g}s, after the load "
                                 f"(load.duration_s = {duration})")
        for arch in self.architectures:
            for i, step in enumerate(self.faults):
                if step.target is None and arch not in (step.target_by_arch or {}):
                    raise ValueError(f"faults[{i}]: no target for architecture {arch} "
                                     "(add it to target_by_arch)")
        if self.load.mode == "sweep" and self.faults:
            raise ValueError("faults: a capacity sweep (load.mode: sweep) runs no fault; "
                             "measure the capacity first, then give the faulted run "
                             "a share of it (rate: 50%)")
        if self.disturbed and self.fault_end_s + self.recovery_s > duration:
            raise ValueError(f"the last fault ends at {self.fault_end_s:g}s and recovery_s is "
                             f"{self.recovery_s:g}: raise load.duration_s to at least "
                             f"{self.fault_end_s + self.recovery_s:g}")
        if self.capacity_of is not None and not self.load.relative:
            raise ValueError(f"capacity_of: {self.capacity_of}, but no rate of the load is a "
                             "share of a capacity (give one as e.g. rate: 50%)")
        for i, spec in enumerate(self.hypotheses):
            missing = [a for a in spec.across if a not in self.architectures]
            if missing:
                raise ValueError(f"hypotheses[{i}] compares {' and '.join(spec.across)} but "
                                 f"the experiment runs on {', '.join(self.architectures)} only: "
                                 f"add {', '.join(missing)} to architectures")
        return self

    def _check_load_fault(self) -> None:
        window = self.load_fault
        assert window is not None
        if self.faults:
            raise ValueError("load_fault: give faults or load_fault, not both (load_fault is "
                             "for a run whose disturbance is its load)")
        if self.load.stages is None:
            raise ValueError("load_fault: the load has no stages; give load.stages with "
                             "one that is the disturbance (its own rate and mix)")
        if window.at_s < self.warmup_s:
            raise ValueError(f"load_fault.at_s = {window.at_s:g}: must be >= warmup_s "
                             f"({self.warmup_s:g}) so that a baseline exists")
        starts, at = {0.0}, 0.0
        for stage in self.load.stages:
            at += stage.duration_s
            starts.add(round(at, 6))
        for name, edge in (("at_s", window.at_s), ("end", window.end_s)):
            if round(edge, 6) not in starts:
                raise ValueError(f"load_fault {name} {edge:g}s is not where a load stage "
                                 f"starts or ends (stage edges: "
                                 f"{', '.join(f'{e:g}' for e in sorted(starts))})")

    def load_disturbed(self, elapsed_s: float) -> bool:
        """`elapsed_s` after the load's start falls in a load_fault window of some
        trial, or in the recovery after it (the abort bound leaves it alone)."""
        if self.load_fault is None:
            return False
        return any(self.load_fault.at_s <= elapsed_s - trial * self.trial_period_s
                   < self.load_fault.end_s + self.recovery_s for trial in range(self.trials))

    @property
    def disturbed(self) -> bool:
        """The run has a fault window (faults, or a load_fault)."""
        return bool(self.faults) or self.load_fault is not None

    @property
    def interval_options(self) -> IntervalOptions:
        return IntervalOptions(self.confidence, self.proportion_method)

    @property
    def gap_s(self) -> int:
        """Seconds of load between two trials."""
        if self.trial_gap_s is not None:
            return self.trial_gap_s
        return math.ceil(self.recovery_s)

    @property
    def trial_period_s(self) -> float:
        """From one trial's start to the next one's."""
        return self.load.duration_s + self.gap_s

    def with_trials(self, trials: int | None) -> Experiment:
        """The same experiment with its schedule repeated `trials` times (None: as filed)."""
        if trials is None or trials == self.trials:
            return self
        data = self.model_dump(mode="json", exclude_none=True)
        data["trials"] = trials
        return Experiment.model_validate(data)

    def trials_load(self) -> LoadSpec:
        """The load of all trials: each trial's load, with the gap between them.

        Closed loop: the same users for longer. Open loop: the rate stages of a trial
        again and again, and the gap at the rate the next trial starts with.
        """
        if self.trials == 1:
            return self.load
        total = self.trials * self.load.duration_s + (self.trials - 1) * self.gap_s
        if self.load.mode == "closed":
            return self.load.model_copy(update={"duration_s": total})
        one = self.load.rate_stages()
        stages: list[RateStage] = []
        for trial in range(self.trials):
            if trial and self.gap_s:
                stages.append(RateStage(duration_s=self.gap_s, rate_start=one[0].rate_start,
                                        mix=one[0].mix))
            stages += one
        data = self.load.model_dump(mode="json", exclude_none=True)
        for key in ("rate", "rate_start", "rate_end"):
            data.pop(key, None)
        data.update(duration_s=total, stages=[s.model_dump(mode="json") for s in stages])
        return LoadSpec.model_validate(data)

    def schedule(self) -> list[tuple[int, FaultStep]]:
        """(trial, step) of every fault of every trial, times shifted to the trial."""
        steps = []
        for trial in range(self.trials):
            shift = trial * self.trial_period_s
            for step in self.faults:
                steps.append((trial, step.model_copy(update={"at_s": step.at_s + shift})))
        return steps

    @property
    def fault_start_s(self) -> float:
        if self.load_fault is not None:
            return self.load_fault.at_s
        return min(s.at_s for s in self.faults)

    @property
    def fault_end_s(self) -> float:
        if self.load_fault is not None:
            return self.load_fault.end_s
        return max(s.end_s for s in self.faults)

    def quick_form(self) -> Experiment:
        """The experiment as the quick suite judges it: each hypothesis with a `quick`
        bound states that (what its few samples can decide) instead of the seed's."""
        if not any(h.quick for h in self.hypotheses):
            return self
        hypotheses = [h if h.quick is None else h.model_copy(update={
            "expr": h.quick, "quick": None,
            "name": f"{h.name} (quick form of {h.expr})" if h.name else None})
            for h in self.hypotheses]
        return self.model_copy(update={"hypotheses": hypotheses})

    def scaled(self, factor: float) -> Experiment:
        """The same experiment with every duration multiplied (longer = steadier figures)."""
        if factor == 1:
            return self
        data = self.model_dump(mode="json", exclude_none=True)
        if self.load.sweep is not None:  # a sweep's duration is its steps'
            data["load"]["sweep"]["step_s"] *= factor
            del data["load"]["duration_s"]
        else:
            data["load"]["duration_s"] = max(1, round(self.load.duration_s * factor))
        for key in ("warmup_s", "recovery_s"):
            data[key] = getattr(self, key) * factor
        if self.trial_gap_s is not None:
            data["trial_gap_s"] = math.ceil(self.trial_gap_s * factor)
        for step in [*data["faults"], *([data["load_fault"]] if "load_fault" in data else [])]:
            step["at_s"] *= factor
            step["for_s"] *= factor
        for stage in data["load"].get("stages") or []:
            stage["duration_s"] *= factor
        return Experiment.model_validate(data)

    def with_products(self, gateway: str | None, llm_router: str | None) -> Experiment:
        """The same experiment run with other products (`--gateway`, `--llm-router`)."""
        update: dict[str, Any] = {}
        if gateway is not None:
            update["gateway"] = GatewayKind(gateway)
        if llm_router is not None:
            update["llm_router"] = LlmRouterKind(llm_router)
        if not update:
            return self
        return self.model_copy(update={"deploy": self.deploy.model_copy(update=update)})

    def all_windows(self, t0: float) -> list[RunWindows]:
        """Every trial's windows, in unix seconds, for a load that started at `t0`."""
        return [self.windows(t0, trial) for trial in range(self.trials)]

    def windows(self, t0: float, trial: int = 0) -> RunWindows:
        """One trial's windows in unix seconds for a load that started at `t0`."""
        t0 += trial * self.trial_period_s
        if not self.disturbed:
            return RunWindows(baseline=(t0 + self.warmup_s, t0 + self.load.duration_s))
        return RunWindows(
            baseline=(t0 + self.warmup_s, t0 + self.fault_start_s),
            fault=(t0 + self.fault_start_s, t0 + self.fault_end_s),
            recovery=(t0 + self.fault_end_s, t0 + self.fault_end_s + self.recovery_s),
        )


def _line_of(root: yaml.Node | None, path: tuple[int | str, ...]) -> int | None:
    """The 1-based line of a field path in the YAML document, as near as known."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            match = node.value[part]
        else:
            match = None
        if match is None:
            break
        node = match
        line = node.start_mark.line + 1
    return line


def load_experiment(path: str | Path) -> Experiment:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the experiment file ({exc.strerror})") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with name, claim, architectures, load, "
                         "faults, hypotheses")
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            field = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(root, loc)
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}:{line}: {field}: {msg}")
        raise InputError("invalid experiment file:\n  " + "\n  ".join(problems)) from None
    except HypothesisError as exc:
        raise InputError(f"{path}: {exc}") from None
