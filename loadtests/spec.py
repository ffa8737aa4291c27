"""What load to generate: a validated, typed description (no Locust import).

Validate at the edge (DESIGN.md §8): every inconsistency is reported here, with
the field name and what to do, before any process starts.
"""

from __future__ import annotations

import math
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadtests.rates import CapacityShare, Rate, rate_value
from records.meta import LoadMode

__all__ = ["DOMAINS", "ChatOptions", "LoadSpec", "Mix", "RateStage", "SweepSteps"]

DOMAINS = ("identity", "business", "chat")
MAX_PROCESSES = 64
DEFAULT_MAX_USERS = 50
DEFAULT_MAX_LAG_S = 1.0
DEFAULT_REQUEST_TIMEOUT_S = 10.0
DEFAULT_CHAT_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 5
STAGES_TOLERANCE_S = 1e-6
DEFAULT_SWEEP_WARMUP_S = 3.0
# Open loop: room for the pool to spawn before the first arrival.
OPEN_LOOP_START_SLACK_S = 5


class _Strict(BaseModel):
    # A typo in an experiment file must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mix(_Strict):
    """Relative weights of the domains, per request (they need not sum to 1)."""

    identity: float = Field(default=1.0, ge=0)
    business: float = Field(default=1.0, ge=0)
    chat: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        if self.identity + self.business + self.chat <= 0:
            raise ValueError("mix: at least one of identity, business, chat must be > 0")
        return self

    def weights(self) -> dict[str, float]:
        return {"identity": self.identity, "business": self.business, "chat": self.chat}


class ChatOptions(_Strict):
    """Chat completions: streamed or whole, and how many can hit the gateway cache."""

    stream: bool = True
    max_tokens: int = Field(default=16, ge=1, le=4096)
    cacheable_ratio: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="share of chat requests sent with temperature 0 and a prompt from a "
        "small fixed set, so the gateway cache can hit",
    )
    model: str = Field(default="tiny", min_length=1)
    timeout_s: float = Field(default=DEFAULT_CHAT_TIMEOUT_S, gt=0)


def _negative(rate: float | CapacityShare | None) -> bool:
    return isinstance(rate, float | int) and rate < 0


def _zero(rate: float | CapacityShare | None) -> bool:
    return rate is not None and (rate.percent if isinstance(rate, CapacityShare) else rate) == 0


class RateStage(_Strict):
    """Arrival rate going linearly from `rate_start` to `rate_end` over `duration_s`;
    each in req/s or as a share of the measured capacity ('50%')."""

    duration_s: float = Field(gt=0)
    rate_start: Rate
    rate_end: Rate | None = Field(default=None, description="defaults to rate_start")
    # E.g. a burst of one domain while the others go on at their pace (C11): the
    # arrivals of this stage drawn from their own mix.
    mix: Mix | None = Field(default=None, description="this stage's mix; default: the load's")

    @model_validator(mode="after")
    def _not_negative(self) -> Self:
        if _negative(self.rate_start) or _negative(self.rate_end):
            raise ValueError("a stage's rates must be >= 0")
        return self

    @property
    def end(self) -> float | CapacityShare:
        return self.rate_start if self.rate_end is None else self.rate_end

    def rates(self) -> tuple[float, float]:
        """(start, end) in req/s; ValueError for a share of the capacity (not resolved)."""
        return rate_value(self.rate_start, None), rate_value(self.end, None)

    def resolved(self, capacity_rps: float | None) -> RateStage:
        """The stage in req/s (shares taken of `capacity_rps`)."""
        return RateStage(duration_s=self.duration_s,
                         rate_start=rate_value(self.rate_start, capacity_rps),
                         rate_end=rate_value(self.end, capacity_rps), mix=self.mix)


class SweepSteps(_Strict):
    """Sweep mode: `warmup_s` at `rate_start` (not judged: a cold stack answers its
    first requests slowly), then constant-rate steps of `step_s` seconds, from
    `rate_start` up by `step_rps` each step, never above `rate_max` (the ceiling).
    The conductor ends the sweep early once the knee is found (gatecrash.sweep)."""

    rate_start: float = Field(gt=0, description="req/s of the first step")
    step_rps: float = Field(gt=0, description="req/s added at each step")
    step_s: float = Field(gt=0, description="seconds of each step")
    rate_max: float = Field(gt=0, description="ceiling: no step goes above it")
    warmup_s: float = Field(default=DEFAULT_SWEEP_WARMUP_S, ge=0)

    @model_validator(mode="after")
    def _some_step(self) -> Self:
        if self.rate_start > self.rate_max:
            raise ValueError(f"sweep: rate_start ({self.rate_start:g}) is above rate_max "
                             f"({self.rate_max:g}); no step would run")
        return self

    def rates(self) -> list[float]:
        """Each step's rate, in order."""
        count = math.floor((self.rate_max - self.rate_start) / self.step_rps
                           + STAGES_TOLERANCE_S) + 1
        return [self.rate_start + k * self.step_rps for k in range(count)]

    @property
    def duration_s(self) -> float:
        return self.warmup_s + len(self.rates()) * self.step_s


_CLOSED_ONLY = ("users", "spawn_rate")
_RATE_FORMS = ("rate", "rate_start", "rate_end", "stages")
_OPEN_ONLY = (*_RATE_FORMS, "sweep")


class LoadSpec(_Strict):
    """One load: closed loop (users + think time), open loop (arrival rate), or a
    sweep (open loop in rising constant-rate steps, `sweep`).

    Open-loop rates are req/s or shares of the measured capacity ('50%'): a spec
    with shares is `relative` and must be `resolved` before it is run.

    `processes` = 1 runs Locust's in-process runner; N > 1 runs Locust's own
    master/worker mode (`--processes N`: one master that generates nothing, N
    workers), for more than one core.
    """

    mode: LoadMode
    duration_s: int = Field(
        ge=1, description="run time; Locust takes whole seconds (a sweep's is its steps')")
    # closed loop
    users: int | None = Field(default=None, ge=1)
    spawn_rate: float | None = Field(
        default=None, gt=0, description="users/s; default: all at once")
    wait_min_s: float = Field(default=0.0, ge=0)
    wait_max_s: float = Field(default=0.0, ge=0)
    # open loop
    rate: Rate | None = Field(default=None, description="constant arrivals per second")
    rate_start: Rate | None = None
    rate_end: Rate | None = None
    stages: list[RateStage] | None = None
    # sweep
    sweep: SweepSteps | None = None
    max_users: int = Field(default=DEFAULT_MAX_USERS, ge=1, description="open-loop pool size")
    max_lag_s: float = Field(
        default=DEFAULT_MAX_LAG_S, gt=0,
        description="an arrival no pool user could start within this lag is dropped",
    )
    # both
    mix: Mix = Mix()
    chat: ChatOptions = ChatOptions()
    request_timeout_s: float = Field(default=DEFAULT_REQUEST_TIMEOUT_S, gt=0)
    stop_timeout_s: int = Field(
        default=DEFAULT_STOP_TIMEOUT_S, ge=0,
        description="whole seconds of grace for in-flight requests at the end (dropping "
        "them would bias latency low: the slowest are the ones still in flight)",
    )
    seed: int = 0
    processes: int = Field(default=1, ge=1, le=MAX_PROCESSES)
    record_rows: bool = Field(default=True, description="False only for the recorder benchmark")

    @model_validator(mode="before")
    @classmethod
    def _sweep_duration(cls, data: Any) -> Any:
        """A sweep lasts as long as its steps: duration_s is derived, not given."""
        if not isinstance(data, dict) or data.get("mode") != "sweep":
            return data
        steps = data.get("sweep")
        if steps is None:
            raise ValueError("a sweep needs sweep: {rate_start, step_rps, step_s, rate_max}")
        if isinstance(steps, dict):
            try:
                steps = SweepSteps.model_validate(steps)
            except ValidationError:
                # Reported with its field path by the field's own check; a stand-in
                # duration keeps a second, confusing error ("duration_s missing") away.
                return {"duration_s": 1, **data}
        if not isinstance(steps, SweepSteps):
            return data
        derived = max(1, math.ceil(steps.duration_s - STAGES_TOLERANCE_S))
        given = data.get("duration_s")
        if given is not None and given != derived:
            raise ValueError(f"duration_s ({given}) of a sweep is its steps' "
                             f"({len(steps.rates())} x {steps.step_s:g} s = {derived} s); "
                             "leave it out")
        return {**data, "duration_s": derived}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.wait_max_s < self.wait_min_s:
            raise ValueError(
                f"wait_max_s ({self.wait_max_s}) must be >= wait_min_s ({self.wait_min_s})"
            )
        if self.mode == "closed":
            self._check_closed()
        else:
            self._check_pool()
            if self.mode == "sweep":
                self._check_sweep()
            else:
                self._check_open()
        return self

    def _check_closed(self) -> None:
        stray = [f for f in _OPEN_ONLY if getattr(self, f) is not None]
        if stray:
            raise ValueError(f"{', '.join(stray)}: open-loop fields; set mode: open or remove them")
        if self.users is None:
            raise ValueError("closed loop needs users (number of concurrent users)")

    def _check_pool(self) -> None:
        stray = [f for f in _CLOSED_ONLY if getattr(self, f) is not None]
        if stray:
            raise ValueError(
                f"{', '.join(stray)}: closed-loop fields; use max_users for the open-loop pool"
            )
        if self.wait_min_s or self.wait_max_s:
            raise ValueError("wait_min_s/wait_max_s: think time is closed-loop only")
        if self.max_users < self.processes:
            raise ValueError(
                f"max_users ({self.max_users}) must be >= processes ({self.processes}): "
                "every worker needs at least one pool user for its share of the arrivals"
            )

    def _check_sweep(self) -> None:
        stray = [f for f in _RATE_FORMS if getattr(self, f) is not None]
        if stray:
            raise ValueError(f"{', '.join(stray)}: a sweep's rates are its steps; give "
                             "sweep: {rate_start, step_rps, step_s, rate_max} only")
        if self.sweep is None:
            raise ValueError("a sweep needs sweep: {rate_start, step_rps, step_s, rate_max}")

    def _check_open(self) -> None:
        if self.sweep is not None:
            raise ValueError("sweep: only with mode: sweep")
        forms = [
            self.rate is not None,
            self.rate_start is not None or self.rate_end is not None,
            self.stages is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "open loop needs exactly one of: rate (constant), rate_start + rate_end "
                "(linear ramp over duration_s), stages (list of ramps)"
            )
        if forms[1] and (self.rate_start is None or self.rate_end is None):
            raise ValueError("a ramp needs both rate_start and rate_end")
        if _negative(self.rate_start) or _negative(self.rate_end):
            raise ValueError("rate_start and rate_end must be >= 0")
        if _zero(self.rate) or _negative(self.rate):
            raise ValueError("rate must be > 0")
        if self.stages is not None:
            if not self.stages:
                raise ValueError("stages: give at least one stage")
            total = sum(s.duration_s for s in self.stages)
            if abs(total - self.duration_s) > STAGES_TOLERANCE_S:
                raise ValueError(
                    f"stages last {total:g} s but duration_s is {self.duration_s}; make them equal"
                )
        if all(_zero(s.rate_start) and _zero(s.end) for s in self._stages()):
            raise ValueError("open loop: the arrival rate is 0 throughout")

    @property
    def relative(self) -> bool:
        """Some rate is a share of the measured capacity: `resolved` must be called."""
        rates = [self.rate, self.rate_start, self.rate_end,
                 *(r for s in self.stages or () for r in (s.rate_start, s.rate_end))]
        return any(isinstance(r, CapacityShare) for r in rates)

    def resolved(self, capacity_rps: float) -> LoadSpec:
        """This spec with every share of the capacity turned into req/s."""
        if not self.relative:
            return self
        if not capacity_rps > 0:
            raise ValueError(f"capacity {capacity_rps!r} req/s: a measured capacity is > 0")
        data = self.model_dump(exclude_none=True)
        for name in ("rate", "rate_start", "rate_end"):
            if name in data:
                data[name] = rate_value(getattr(self, name), capacity_rps)
        if self.stages is not None:
            data["stages"] = [s.resolved(capacity_rps) for s in self.stages]
        return LoadSpec.model_validate(data)

    def _stages(self) -> list[RateStage]:
        if self.mode == "sweep":
            assert self.sweep is not None  # validated
            warmup = [RateStage(duration_s=self.sweep.warmup_s, rate_start=self.sweep.rate_start)]
            return warmup * (self.sweep.warmup_s > 0) + [
                RateStage(duration_s=self.sweep.step_s, rate_start=r) for r in self.sweep.rates()]
        if self.stages is not None:
            return list(self.stages)
        if self.rate is not None:
            return [RateStage(duration_s=self.duration_s, rate_start=self.rate)]
        assert self.rate_start is not None and self.rate_end is not None  # validated above
        return [RateStage(duration_s=self.duration_s, rate_start=self.rate_start,
                          rate_end=self.rate_end)]

    def stage_mixes(self) -> list[Mix]:
        """The mix of each rate stage, in order (closed loop: the load's, once)."""
        if self.mode == "closed":
            return [self.mix]
        return [s.mix or self.mix for s in self._stages()]

    def rate_stages(self) -> list[RateStage]:
        """The open-loop arrival rate in req/s as ramps covering duration_s (a sweep:
        one constant stage per step; empty in closed loop). A relative spec has no
        rate in req/s yet: ValueError."""
        if self.mode == "closed":
            return []
        return [s.resolved(None) for s in self._stages()]

    @property
    def run_time_limit_s(self) -> int:
        """Locust's --run-time. Open loop: an upper bound; the run normally ends when
        the schedule (which starts at the first arrival) is sent and answered."""
        if self.mode == "closed":
            return self.duration_s
        slowest = max(self.request_timeout_s, self.chat.timeout_s)
        return self.duration_s + OPEN_LOOP_START_SLACK_S + math.ceil(slowest)

    @property
    def pool_users(self) -> int:
        """Locust users to spawn: the closed-loop users or the open-loop pool."""
        return self.users if self.mode == "closed" and self.users is not None else self.max_users

    @property
    def effective_spawn_rate(self) -> float:
        """Closed loop: as given, else all at once. Open loop: the pool is ready within ~1 s."""
        if self.mode == "closed" and self.spawn_rate is not None:
            return self.spawn_rate
        return float(self.pool_users)
