"""The evidence report of the claims suite: each claim's verdict per architecture (and
implementation), its key figure, and the runs that name no claim.

Every verdict's numbers are shown as the run report shows them
(`dashboards.report`); a run without a report.html gets one first, so every link
leads somewhere.
"""

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from dashboards.claims import CLAIMS, claim_of
from dashboards.figures import claim_figure
from dashboards.pages import figure_html, page, when, write_page
from dashboards.report import n_cell, render_run_report, verdict_estimate
from dashboards.runs import load_run
from dashboards.tables import Html, html_table, verdict_badge
from records import RunRecord
from records.layout import REPORT_FILE
from records.rows import UNKNOWN_ROUTE

__all__ = [
    "EVIDENCE_FILE",
    "render_evidence_report",
    "write_evidence_report",
]

EVIDENCE_FILE = "evidence.html"
ARCH_ORDER = ("single", "dual")
# The implementation every run has unless it names a product (records.meta).
BUILTIN = "builtin"


def implementation(run: RunRecord) -> str:
    """The evidence report's column of a run: its architecture, and the products that
    served it when they are not the built-in ones (implementations side by side)."""
    products = [p for p in (run.meta.gateway, run.meta.llm_router) if p != BUILTIN]
    return " · ".join([run.arch, *products])


def _arches(runs: Iterable[RunRecord]) -> list[str]:
    present = {implementation(run) for run in runs if run.arch}

    def order(column: str) -> tuple[int, str]:
        arch = column.split(" · ")[0]
        return (ARCH_ORDER.index(arch) if arch in ARCH_ORDER else len(ARCH_ORDER), column)

    return sorted(present, key=order)


def _unknown_routes(run: RunRecord) -> str:
    """How many answers the product could not attribute (route `unknown`): counted,
    never guessed (docs/gateways.md)."""
    if "route" not in run.rows.columns:
        return ""
    unknown = int((run.rows["route"] == UNKNOWN_ROUTE).sum())
    return f"<br><small>{unknown} of {len(run.rows)} rows: route unknown</small>" \
        if unknown else ""


def _verdict_cell(run: RunRecord | None, href: str | None) -> Html:
    if run is None:
        return Html("<span class='meta'>not run</span>")
    numbers = "<br>".join(
        f"{verdict_badge(v.verdict)} <code>{html.escape(v.hypothesis)}</code>: "
        f"{html.escape(verdict_estimate(v))}, n={html.escape(n_cell(v))}"
        for v in run.verdicts
    )
    link = f" <a href='{html.escape(href)}'>report</a>" if href else ""
    return Html(f"{verdict_badge(run.verdict)}{link}<br><small>{numbers}</small>"
                f"{_unknown_routes(run)}")


def render_evidence_report(runs: Sequence[RunRecord], links: Mapping[Path, str]) -> str:
    """The HTML of the claims suite: each claim, its verdict per architecture, its key figure."""
    by_claim: dict[str, dict[str, RunRecord]] = {}
    unclaimed = []
    for run in sorted(runs, key=lambda r: r.t0):
        claim_id = claim_of(run.meta)
        if claim_id is None:
            unclaimed.append(run)
            continue
        # The newest run of a claim and architecture speaks for it.
        by_claim.setdefault(claim_id, {})[implementation(run)] = run
    arches = _arches(runs) or list(ARCH_ORDER)
    rows = []
    for claim in CLAIMS:
        chosen = by_claim.get(claim.id, {})
        cells = [
            _verdict_cell(chosen.get(a), links.get(chosen[a].path) if a in chosen else None)
            for a in arches
        ]
        rows.append(
            [
                claim.id,
                Html(
                    f"<b>{html.escape(claim.statement)}</b><br>"
                    f"<small>{html.escape(claim.measurable)}</small>"
                ),
                *cells,
            ]
        )
    sections = []
    for claim in CLAIMS:
        chosen = by_claim.get(claim.id, {})
        if not chosen:
            continue
        ordered = [chosen[a] for a in arches if a in chosen]
        sections.append(
            f"<h3 id='{claim.id}'>{claim.id} — {html.escape(claim.statement)}</h3>"
            + figure_html(claim_figure(ordered))
        )
    others = ""
    if unclaimed:
        items = "".join(
            f"<li><a href='{html.escape(links.get(r.path, ''))}'>{html.escape(r.run_id)}</a> "
            f"({html.escape(r.experiment)}, {html.escape(r.arch)}) {verdict_badge(r.verdict)}</li>"
            for r in unclaimed
        )
        others = f"<h2>Other runs</h2><ul>{items}</ul>"
    body = [
        "<h1>Gatecrash evidence</h1>",
        f"<p class='meta'>{len(runs)} runs · generated {when(datetime.now(UTC).timestamp())}</p>",
        html_table(["claim", "statement / measurable form", *arches], rows, "Claims"),
        "<h2>Key figures</h2>",
        "".join(sections) or "<p>No run names a claim.</p>",
        others,
    ]
    return page("Gatecrash evidence", "".join(body))


def write_evidence_report(run_dirs: Iterable[str | Path], out: str | Path) -> Path:
    """Write the evidence report to `out` (a file, or a folder for evidence.html).

    Runs without a report.html get one first, so every link leads somewhere.
    """
    target = Path(out)
    if target.is_dir():
        target = target / EVIDENCE_FILE
    runs = [load_run(d) for d in run_dirs]
    links = {}
    for run in runs:
        report = run.path / REPORT_FILE
        if not report.is_file():
            write_page(report, render_run_report(run))
        relative = os.path.relpath(report.resolve(), target.parent.resolve())
        links[run.path] = Path(relative).as_posix()
    return write_page(target, render_evidence_report(runs, links))
