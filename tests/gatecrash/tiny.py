"""Tiny experiment files for the CI entry points (pytest plugin, gate, evidence):
`single` with one replica per service, no hop proxies and the stand-in
inference, so a run costs a deploy and 2 s of load. A file may hold several
hypotheses: one run then yields several verdicts."""

from __future__ import annotations

from pathlib import Path

# Certain from the measurement itself, whatever the load on the machine:
HOLDS = "count@baseline >= 1"  # requests were sent in the baseline
FAILS = "count@baseline < 0"  # a count is never negative
INCONCLUSIVE = "p50_ms{domain=chat}@baseline >= 0"  # the mix sends no chat: no data

TEMPLATE = """\
name: {name}
claim: a claim under test
claim_id: {claim_id}
architectures: [single]
deploy: {{replicas: 1, proxies: false}}
load: {{mode: closed, users: 2, wait_min_s: 0.05, wait_max_s: 0.1, duration_s: 2,
       mix: {{identity: 1, business: 1, chat: 0}}}}
warmup_s: 0.5
# The verdict logic is under test here, not this shared machine's CPU.
require_unsaturated: false
hypotheses: {hypotheses}
"""


def write_experiment(folder: Path, name: str, hypotheses: list[str],
                     claim_id: str = "T1") -> Path:
    path = folder / f"{name}.yaml"
    listed = "[" + ", ".join(f"'{h}'" for h in hypotheses) + "]"
    path.write_text(TEMPLATE.format(name=name, hypotheses=listed, claim_id=claim_id))
    return path
