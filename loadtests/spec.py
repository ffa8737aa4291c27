"""What load to generate: a validated, typed description (no Locust import).

Validate at the edge (DESIGN.md §8): every inconsistency is reported here, with
the field name and what to do, before any process starts.
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from records.meta import LoadMode

__all__ = ["DOMAINS", "ChatOptions", "LoadSpec", "Mix", "RateStage"]

DOMAINS = ("identity", "business", "chat")
MAX_PROCESSES = 64
DEFAULT_MAX_USERS = 50
DEFAULT_MAX_LAG_S = 1.0
DEFAULT_REQUEST_TIMEOUT_S = 10.0
DEFAULT_CHAT_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 5
STAGES_TOLERANCE_S = 1e-6
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


class RateStage(_Strict):
    """Arrival rate going linearly from `rate_start` to `rate_end` (req/s) over `duration_s`."""

    duration_s: float = Field(gt=0)
    rate_start: float = Field(ge=0)
    rate_end: float | None = Field(default=None, ge=0, description="defaults to rate_start")

    @property
    def end(self) -> float:
        return self.rate_start if self.rate_end is None else self.rate_end


_CLOSED_ONLY = ("users", "spawn_rate")
_OPEN_ONLY = ("rate", "rate_start", "rate_end", "stages")


class LoadSpec(_Strict):
    """One load: closed loop (users + think time) or open loop (arrival rate).

    `processes` = 1 runs Locust's in-process runner; N > 1 runs Locust's own
    master/worker mode (`--processes N`: one master that generates nothing, N
    workers), for more than one core.
    """

    mode: LoadMode
    duration_s: int = Field(ge=1, description="run time; Locust takes whole seconds")
    # closed loop
    users: int | None = Field(default=None, ge=1)
    spawn_rate: float | None = Field(
        default=None, gt=0, description="users/s; default: all at once")
    wait_min_s: float = Field(default=0.0, ge=0)
    wait_max_s: float = Field(default=0.0, ge=0)
    # open loop
    rate: float | None = Field(default=None, gt=0, description="constant arrivals per second")
    rate_start: float | None = Field(default=None, ge=0)
    rate_end: float | None = Field(default=None, ge=0)
    stages: list[RateStage] | None = None
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

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.wait_max_s < self.wait_min_s:
            raise ValueError(
                f"wait_max_s ({self.wait_max_s}) must be >= wait_min_s ({self.wait_min_s})"
            )
        if self.mode == "closed":
            self._check_closed()
        else:
            self._check_open()
        return self

    def _check_closed(self) -> None:
        stray = [f for f in _OPEN_ONLY if getattr(self, f) is not None]
        if stray:
            raise ValueError(f"{', '.join(stray)}: open-loop fields; set mode: open or remove them")
        if self.users is None:
            raise ValueError("closed loop needs users (number of concurrent users)")

    def _check_open(self) -> None:
        stray = [f for f in _CLOSED_ONLY if getattr(self, f) is not None]
        if stray:
            raise ValueError(
                f"{', '.join(stray)}: closed-loop fields; use max_users for the open-loop pool"
            )
        if self.wait_min_s or self.wait_max_s:
            raise ValueError("wait_min_s/wait_max_s: think time is closed-loop only")
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
        if self.stages is not None:
            if not self.stages:
                raise ValueError("stages: give at least one stage")
            total = sum(s.duration_s for s in self.stages)
            if abs(total - self.duration_s) > STAGES_TOLERANCE_S:
                raise ValueError(
                    f"stages last {total:g} s but duration_s is {self.duration_s}; make them equal"
                )
        if all(s.rate_start == 0 and s.end == 0 for s in self.rate_stages()):
            raise ValueError("open loop: the arrival rate is 0 throughout")
        if self.max_users < self.processes:
            raise ValueError(
                f"max_users ({self.max_users}) must be >= processes ({self.processes}): "
                "every worker needs at least one pool user for its share of the arrivals"
            )

    def rate_stages(self) -> list[RateStage]:
        """The open-loop arrival rate as ramps covering duration_s (empty in closed loop)."""
        if self.mode == "closed":
            return []
        if self.stages is not None:
            return list(self.stages)
        if self.rate is not None:
            return [RateStage(duration_s=self.duration_s, rate_start=self.rate)]
        assert self.rate_start is not None and self.rate_end is not None  # validated above
        return [RateStage(duration_s=self.duration_s, rate_start=self.rate_start,
                          rate_end=self.rate_end)]

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
