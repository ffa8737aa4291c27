"""The reason of a verdict, in words: the interval it was decided on, and for an
inconclusive one about how many samples would decide it, by the same method
as the interval (so the figures agree with the interval printed beside them).

    0 failures in 66: shows >= 94.5 %; >= 3,838 requests with 0 failures are
    needed for >= 99.9 % (Wilson 95 %)
"""

from __future__ import annotations

import math

from dashboards.analysis import METRICS
from dashboards.intervals import (
    BOOTSTRAP,
    ORDER_STATISTIC,
    PROPORTION_METHODS,
    RESOLUTION,
    Decision,
    Estimate,
    decide,
    method_label,
)
from dashboards.sample_sizes import bootstrap_samples_needed, quantile_bound_min_samples
from gatecrash.judgement import DIFFERENCE, Judgement

__all__ = ["needed", "number", "reason"]

# Proportions whose "events" are failures: availability counts the complement.
FAILURE_COUNTS = {"availability": False, "failure_rate": True, "loss_rate": True}


def number(x: float, percent: bool = False) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if percent:
        return f"{x * 100:.4g} %"
    return f"{x:,.4g}" if abs(x) >= 1000 else f"{x:.4g}"


def _percent(j: Judgement) -> bool:
    """Fractions read as percentages when the quantity is the metric itself."""
    return j.metric is not None and METRICS[j.metric].unit == "fraction" and \
        j.quantity in j.samples


def interval_text(estimate: Estimate, percent: bool = False) -> str:
    """`value [low, high] (method, n)`; an exact value without its degenerate interval."""
    how = f"({method_label(estimate)}, n={estimate.n:,})"
    if estimate.low == estimate.high == estimate.value:
        return f"{number(estimate.value, percent)} {how}"
    return (f"{number(estimate.value, percent)} [{number(estimate.low, percent)}, "
            f"{number(estimate.high, percent)}] {how}")


def _proportion_needed(j: Judgement, op: str, threshold: float) -> str:
    assert j.measurement is not None
    estimate = j.measurement.estimate
    n = estimate.n
    k = round(estimate.value * n)
    failures_are = FAILURE_COUNTS.get(j.metric or "")
    if failures_are is None:
        evidence = f"{k} of {n:,}"
    else:
        evidence = f"{k if failures_are else n - k} failures in {n:,}"
    shown = (f">= {number(estimate.low, True)}" if op in (">=", ">")
             else f"<= {number(estimate.high, True)}")
    count = j.measurement.samples_needed(op, threshold)
    target = f"{op} {number(threshold, True)}"
    if count is None:
        more = f"no sample size decides {target} at the observed rate"
    elif k in (0, n):
        more = f">= {count:,} requests with {_unanimous(j.metric, k == n)} are needed for {target}"
    else:
        outcome = "hold" if _satisfies(estimate.value, op, threshold) else "fail"
        more = (f"about {count:,} requests at the observed rate would decide {target} "
                f"(it would {outcome})")
    return f"{evidence}: shows {shown}; {more} ({method_label(estimate)})"


def _unanimous(metric: str | None, every: bool) -> str:
    """How a sample where every (or no) request counts is described."""
    failures_are = FAILURE_COUNTS.get(metric or "")
    if failures_are is None:
        return "all matching" if every else "none matching"
    if every != failures_are:  # every request available, or none failing
        return "0 failures"
    return "every one failing"


def _satisfies(value: float, op: str, threshold: float) -> bool:
    return decide(Estimate(value, value, value, 1, ""), op, threshold) is Decision.HOLDS


def needed(j: Judgement) -> tuple[int | None, str]:
    """(about how many samples would decide it, the sentence saying so)."""
    estimate = j.estimate
    if j.quantity == DIFFERENCE:
        if estimate.method != BOOTSTRAP:
            return None, ("longer runs would narrow each side's interval (combined by "
                          "interval arithmetic: no size rule)")
        if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
            return None, (f"a side has too few {j.units} for the bootstrap to bound it (some "
                          f"resamples held none of them): that side needs more {j.units}")
        count = bootstrap_samples_needed(estimate, j.op, j.bound)
        if count is None:
            return None, "no sample size decides it at the observed difference"
        factor = count / max(estimate.n, 1)
        return count, (f"about {count:,} {j.units} in all ({factor:.1f}x these) would decide "
                       f"it ({method_label(estimate)}; the interval narrows as 1/sqrt(n))")
    m = j.measurement
    if m is None or j.on_metric is None:
        return None, "more samples would narrow the interval"
    op, threshold = j.on_metric
    method = m.estimate.method
    if method in PROPORTION_METHODS:
        return m.samples_needed(op, threshold), _proportion_needed(j, op, threshold)
    if method == ORDER_STATISTIC:
        count = m.samples_needed(op, threshold)
        upper = op in ("<=", "<")
        bounded = m.estimate.high if upper else m.estimate.low
        first = ""
        if not math.isfinite(bounded) and m.q is not None:
            least = quantile_bound_min_samples(m.q, upper, m.estimate.confidence)
            first = (f"{m.estimate.n} samples bound nothing on that side (>= {least:,} are "
                     "needed for a finite bound); ")
        if count is None:
            return None, f"{first}no sample size decides it with latencies like these"
        return count, (f"{first}about {count:,} samples like these would decide "
                       f"{op} {number(threshold)} ({method_label(m.estimate)})")
    if method == RESOLUTION:
        if math.isinf(m.estimate.value):
            return None, (f"it had not settled after the {number(m.estimate.low)} s we "
                          "looked: a longer window would decide it")
        margin = abs(m.estimate.value - threshold)
        return None, (f"the time is known only to the spacing of the requests around it; "
                      f"a request every <= {number(margin)} s would decide it")
    count = m.samples_needed(op, threshold)
    if count is None:
        return None, "more samples would narrow the interval"
    return count, f"about {count:,} samples would decide it ({method_label(m.estimate)})"


def _spread(values: list[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    listed = ", ".join(number(v) for v in values)
    if not finite:
        return f"per trial: {listed}"
    return f"per trial: {listed} (min..max {number(min(finite))}..{number(max(finite))})"


def reason(j: Judgement, problems: list[str]) -> tuple[str, int | None]:
    """(the verdict's detail, samples needed when it is inconclusive for want of them)."""
    percent = _percent(j)
    text = f"{j.quantity} = {interval_text(j.estimate, percent)}"
    bound = number(j.bound, percent)
    count = None
    if not j.estimate.measured:
        text = f"{j.quantity}: no data in its window (n={j.estimate.n})"
    elif j.decision is Decision.HOLDS:
        text += f": the whole interval is {j.op} {bound}"
    elif j.decision is Decision.FAILS:
        text += f": the whole interval violates {j.op} {bound}"
    else:
        count, sentence = needed(j)
        text += f": the interval straddles {bound}; {sentence}"
    extras = []
    if j.measurement is not None and j.measurement.note:
        extras.append(j.measurement.note)
    if j.rank is not None:
        extras.append(j.rank.describe())
    if j.trials:
        extras.append(_spread(j.trials))
    if problems:
        text = f"not judged ({'; '.join(problems)}); measured: {text}"
    return "; ".join([text, *extras]), count
