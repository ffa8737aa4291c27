"""What each component costs: CPU-ms and resident memory per request (C10,
"coût en ressources"), from the CPU sampler's samples (cpu.jsonl).

A *component* is a service of the topology with all its instances
(`gateway`, `router`, `gateway-identity`, `auth`, `redis`, ...: the instance
id without its `-<n>`), the hop proxy server (`toxiproxy`), or the load
`generator`. A selector value may list several with `|`
(`component=gateway-identity|gateway-business`). Without a component, the
figure is the architecture's: every instance except the hop proxy server,
which belongs to the harness, as does the generator.

CPU-ms per request = the component's CPU time over the CPU samples of the
window / the requests answered (any HTTP status; transport errors cost the
chain almost nothing) that were sent within those samples' spans. CPU time
is percent x span, so a late or skipped sample is still counted right. The
interval is a bootstrap over the one-second samples (CPU and requests of a
second resampled together), so seconds of uneven load widen it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from dashboards.errors import SelectorError
from dashboards.intervals import DEFAULT_CONFIDENCE, Estimate, bootstrap_estimate
from dashboards.rows import ALTERNATIVE_SEPARATOR
from records.capacity import ComponentLoad
from records.cpu import INSTANCE_PREFIX, RSS_PREFIX

__all__ = [
    "COMPONENT_KEY",
    "GENERATOR",
    "HARNESS",
    "PROXY",
    "ResourceSeconds",
    "component_loads",
    "component_of",
    "components",
    "cpu_ms_per_request",
    "rss_mb",
    "total_of",
]

GENERATOR = "generator"
PROXY = "toxiproxy"
# Measured, but not part of an architecture's own cost.
HARNESS = frozenset({GENERATOR, PROXY})
COMPONENT_KEY = "component"
MS_PER_S = 1000.0
PERCENT = 100.0
_REPLICA = re.compile(r"-\d+$")
METHOD = "bootstrap over 1-s CPU samples"


def component_of(instance_id: str) -> str:
    """`auth-2` -> `auth`, `gateway-business-1` -> `gateway-business`."""
    return _REPLICA.sub("", instance_id)


def components(cpu: pd.DataFrame) -> dict[str, list[str]]:
    """Every component the samples hold, with its instance ids (the generator has none)."""
    found: dict[str, list[str]] = {}
    for column in cpu.columns:
        if column.startswith(INSTANCE_PREFIX):
            iid = column.removeprefix(INSTANCE_PREFIX)
            found.setdefault(component_of(iid), []).append(iid)
    if "generator_pct" in cpu:
        found[GENERATOR] = []
    return {name: sorted(ids) for name, ids in sorted(found.items())}


def _chosen(cpu: pd.DataFrame, selector: str | None) -> tuple[list[str], bool]:
    """Instance ids of the selected components, and whether the generator is one."""
    known = components(cpu)
    if selector is None:
        return [i for name, ids in known.items() if name not in HARNESS for i in ids], False
    names = [n.strip() for n in selector.split(ALTERNATIVE_SEPARATOR)]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SelectorError(f"unknown component {unknown[0]!r}; this run's components: "
                            f"{', '.join(known) or '(none: no CPU samples)'}")
    return [i for n in names for i in known[n]], GENERATOR in names


Span = tuple[float, float]


@dataclass(frozen=True)
class ResourceSeconds:
    """The CPU samples of a span, each with what the selected components used in it."""

    cpu_ms: np.ndarray  # CPU time of the components in each sample's span
    cpu_pct: np.ndarray  # their percent of one core
    rss_mb: np.ndarray  # their resident memory at each sample
    answered: np.ndarray  # requests answered that were sent in each sample's span

    @property
    def seconds(self) -> int:
        return int(self.cpu_ms.size)

    def per_request(self, index: np.ndarray) -> float:
        """CPU-ms per answered request over the samples at `index` (repeats allowed)."""
        return _ratio(self.cpu_ms[index], self.answered[index])

    def mean_rss(self, index: np.ndarray) -> float:
        """Mean resident memory (MiB) over the samples at `index`."""
        return float(np.mean(self.rss_mb[index]))

    @classmethod
    def of(cls, cpu: pd.DataFrame, rows: pd.DataFrame, spans: Sequence[Span],
           component: str | None = None) -> ResourceSeconds:
        """The samples whose covered second lies in one of `spans` (by its middle):
        one span, or a window of each trial, pooled."""
        instances, generator = _chosen(cpu, component)
        if cpu.empty:
            empty = np.zeros(0)
            return cls(empty, empty, empty, empty)
        middle = cpu["ts"].to_numpy() - cpu["span_s"].to_numpy() / 2
        chosen = np.zeros(len(cpu), bool)
        for start, end in spans:
            chosen |= (middle >= start) & (middle < end)
        inside = cpu[chosen]
        pct_cols = [INSTANCE_PREFIX + i for i in instances] + (["generator_pct"] * generator)
        rss_cols = [RSS_PREFIX + i for i in instances if RSS_PREFIX + i in cpu]
        rss_cols += ["generator_rss_mb"] * generator
        pct = inside[pct_cols].fillna(0.0).to_numpy().sum(axis=1)
        rss = inside[rss_cols].fillna(0.0).to_numpy().sum(axis=1)
        ends = inside["ts"].to_numpy()
        starts = ends - inside["span_s"].to_numpy()
        sends = np.sort(rows.loc[rows["status"].to_numpy() != 0, "ts_send"].to_numpy(float))
        # Sent in (start, end]: the sample's own span, so every request counts once.
        answered = (np.searchsorted(sends, ends, side="right")
                    - np.searchsorted(sends, starts, side="right")).astype(float)
        cpu_ms = pct / PERCENT * (ends - starts) * MS_PER_S
        return cls(cpu_ms, pct, rss, answered)


def _ratio(cpu_ms: np.ndarray, answered: np.ndarray) -> float:
    total = answered.sum()
    return float(cpu_ms.sum() / total) if total > 0 else math.nan


def cpu_ms_per_request(cpu: pd.DataFrame, rows: pd.DataFrame, spans: Sequence[Span],
                       component: str | None = None,
                       confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """CPU-ms of `component` (None: the architecture) per answered request in `spans`."""
    got = ResourceSeconds.of(cpu, rows, spans, component)
    if got.seconds == 0:
        return Estimate(math.nan, -math.inf, math.inf, 0, METHOD, confidence)
    estimate = bootstrap_estimate([np.arange(got.seconds)], got.per_request, confidence)
    return replace(estimate, n=got.seconds, method=METHOD)


def rss_mb(cpu: pd.DataFrame, spans: Sequence[Span], component: str | None = None,
           confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Mean resident memory (MiB) of `component` (None: the architecture) in `spans`."""
    empty_rows = pd.DataFrame({"ts_send": [], "status": []})
    got = ResourceSeconds.of(cpu, empty_rows, spans, component)
    if got.seconds == 0:
        return Estimate(math.nan, -math.inf, math.inf, 0, METHOD, confidence)
    estimate = bootstrap_estimate([got.rss_mb], lambda v: float(np.mean(v)), confidence)
    return replace(estimate, n=got.seconds, method=METHOD)


def component_loads(cpu: pd.DataFrame, rows: pd.DataFrame, span: Span) -> list[ComponentLoad]:
    """Mean CPU, CPU-ms per request and RSS of every component in `span` (points only)."""
    loads = []
    for name, instances in components(cpu).items():
        got = ResourceSeconds.of(cpu, rows, [span], name)
        if got.seconds == 0:
            continue
        loads.append(ComponentLoad(
            component=name, instances=instances, cpu_pct=round(float(got.cpu_pct.mean()), 1),
            cpu_ms_per_request=round(_ratio(got.cpu_ms, got.answered), 3),
            rss_mb=round(float(got.rss_mb.mean()), 1)))
    return loads


def total_of(loads: Sequence[ComponentLoad]) -> ComponentLoad | None:
    """The architecture's own figures: every component but the harness's, summed."""
    own = [c for c in loads if c.component not in HARNESS]
    if not own:
        return None
    return ComponentLoad(component="architecture", instances=[i for c in own for i in c.instances],
                         cpu_pct=round(sum(c.cpu_pct for c in own), 1),
                         cpu_ms_per_request=round(sum(c.cpu_ms_per_request for c in own), 3),
                         rss_mb=round(sum(c.rss_mb for c in own), 1))
