"""Reports inline plotly.js "basic": it must match plotly.py and hold every trace used."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.offline

from dashboards.pages import BASIC_BUNDLE, BASIC_TRACES
from dashboards.report import write_run_report

from .runfolders import make_run

VERSION = re.compile(r"plotly\.js[^\n]*?v(\d+\.\d+\.\d+)")


def test_bundle_is_the_version_plotly_py_expects() -> None:
    full = VERSION.search(plotly.offline.get_plotlyjs()[:400])
    basic = VERSION.search(BASIC_BUNDLE.read_text(encoding="utf-8")[:400])
    assert full and basic and full.group(1) == basic.group(1)


def trace_types(html: str) -> set[str]:
    """The `type` of every trace in every `Plotly.newPlot(id, data, ...)` call."""
    decoder = json.JSONDecoder()
    types = set()
    for m in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", html):
        data, _ = decoder.raw_decode(html, m.end())
        types |= {trace.get("type", "scatter") for trace in data}
    return types


def test_reports_use_only_traces_of_the_basic_bundle(tmp_path: Path) -> None:
    html = write_run_report(make_run(tmp_path)).read_text(encoding="utf-8")
    types = trace_types(html)
    assert types and types <= BASIC_TRACES, types
    assert "plotly.js (basic" in html and len(html) < 15 * 1024 * 1024
