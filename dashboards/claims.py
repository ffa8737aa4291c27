"""The claims of DESIGN.md §2, for the evidence report, and how a run names its claim."""

import re
from dataclasses import dataclass

from records import RunMeta

__all__ = ["CLAIMS", "Claim", "claim_of"]


@dataclass(frozen=True)
class Claim:
    """One claim of the seeds and the measurable form an experiment gives it."""

    id: str
    statement: str
    measurable: str


CLAIMS = (
    Claim(
        "C1",
        "A single gateway is a single point of failure",
        "kill the gateway: availability of every domain in the fault window ≈ 0",
    ),
    Claim(
        "C2",
        "Isolation: one gateway's failure does not affect the other",
        "dual, kill gateway business: identity availability in the fault window ≥ 99.9 %",
    ),
    Claim(
        "C3",
        "A dedicated fallback per gateway",
        "kill all auth/users replicas: identity answers from cache; kill orders: degraded "
        "answers, no 5xx",
    ),
    Claim(
        "C4",
        "Replication: another instance takes over with no perceptible interruption",
        "kill one replica under load: 0 requests lost, p99 spike bounded, time-to-failover ≤ 1 s",
    ),
    Claim(
        "C5",
        "Parallel routing raises throughput; less load per gateway",
        "same open-loop ramp on both: max sustained rate at the latency SLO, load per gateway",
    ),
    Claim(
        "C6",
        "The gateway adds latency; an undersized gateway is a bottleneck",
        "per-hop latency cost; latency toxic / CPU-starved gateway throttles everything in single",
    ),
    Claim(
        "C7",
        "Cache hits return at once",
        "cache-hit latency vs miss; Redis down degrades gracefully",
    ),
    Claim(
        "C8",
        "Availability under partial failure",
        "dual keeps partial availability where single drops to 0, same fault",
    ),
    Claim(
        "C9",
        "Beyond the seeds: is the middleware router a new single point of failure?",
        "kill the router under load; then two routers with client-side failover",
    ),
)

# Experiment names start with their claim: "c4-replica-kill", "C2_isolation".
_CLAIM_PREFIX = re.compile(r"^\s*(c\d+)(?:\b|[-_ ])", re.IGNORECASE)
_CLAIM_ID = re.compile(r"^\s*c\d+\s*$", re.IGNORECASE)


def claim_of(meta: RunMeta) -> str | None:
    """The claim id of a run: its experiment's `claim_id`, else its name's prefix."""
    if meta.claim_id and _CLAIM_ID.match(meta.claim_id):
        return meta.claim_id.strip().upper()
    match = _CLAIM_PREFIX.match(meta.experiment)
    return match.group(1).upper() if match else None
