"""cpu.jsonl: the CPU of the host, the load generator and every instance, once a second."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["INSTANCE_PREFIX", "CpuSample", "cpu_frame"]

# Column prefix of an instance's figure in `cpu_frame` ("instance:auth-1").
INSTANCE_PREFIX = "instance:"


class CpuSample(BaseModel):
    """Percents of one core (100 = one core busy), except `host_pct` (of all cores)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ts: float
    host_pct: float
    cores: int = Field(ge=1)
    # All load processes together, and the busiest one (a saturated process
    # is what makes a load generator lie).
    generator_pct: float
    generator_max_pct: float
    instances: dict[str, float] = Field(default_factory=dict)


def cpu_frame(samples: Iterable[CpuSample]) -> pd.DataFrame:
    """One row per sample, sorted by `ts`: ts, host_pct, cores, generator_pct,
    generator_max_pct, then `instance:<id>` per instance."""
    records = []
    for sample in samples:
        record: dict[str, float] = sample.model_dump(exclude={"instances"})
        record.update({INSTANCE_PREFIX + iid: pct for iid, pct in sample.instances.items()})
        records.append(record)
    columns = None if records else [n for n in CpuSample.model_fields if n != "instances"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame.sort_values("ts", ignore_index=True)
