"""cpu.jsonl: the CPU and memory of the host, the load generator and every
instance, once a second."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["INSTANCE_PREFIX", "RSS_PREFIX", "CpuSample", "cpu_frame"]

# Column prefixes of an instance's figures in `cpu_frame` ("instance:auth-1", "rss:auth-1").
INSTANCE_PREFIX = "instance:"
RSS_PREFIX = "rss:"


class CpuSample(BaseModel):
    """Percents of one core (100 = one core busy) over the `span_s` seconds before
    `ts`, except `host_pct` (of all cores); resident memory in MiB at `ts`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ts: float
    # The seconds this sample's percents cover (since the previous sample): CPU time
    # is percent x span, right even when a sample came late or one was skipped.
    span_s: float = Field(gt=0)
    host_pct: float
    cores: int = Field(ge=1)
    # All load processes together, and the busiest one (a saturated process
    # is what makes a load generator lie).
    generator_pct: float
    generator_max_pct: float
    generator_rss_mb: float = Field(default=0.0, ge=0)
    instances: dict[str, float] = Field(default_factory=dict)
    rss_mb: dict[str, float] = Field(default_factory=dict)


def cpu_frame(samples: Iterable[CpuSample]) -> pd.DataFrame:
    """One row per sample, sorted by `ts`: ts, span_s, host_pct, cores, generator_pct,
    generator_max_pct, generator_rss_mb, then `instance:<id>` (CPU percent) and
    `rss:<id>` (MiB) per instance."""
    records = []
    for sample in samples:
        record: dict[str, float] = sample.model_dump(exclude={"instances", "rss_mb"})
        record.update({INSTANCE_PREFIX + iid: pct for iid, pct in sample.instances.items()})
        record.update({RSS_PREFIX + iid: mb for iid, mb in sample.rss_mb.items()})
        records.append(record)
    columns = None if records else [n for n in CpuSample.model_fields
                                    if n not in ("instances", "rss_mb")]
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame.sort_values("ts", ignore_index=True)
