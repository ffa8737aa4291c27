"""What every report page shares: the page around it (with plotly.js inline, once),
figures in it, writing it whole, and how a time is shown."""

import html
import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline

__all__ = [
    "BASIC_BUNDLE",
    "BASIC_TRACES",
    "PLOT_CONFIG",
    "figure_html",
    "page",
    "plotly_js",
    "when",
    "write_page",
]

PLOT_CONFIG = {"displaylogo": False, "responsive": True}

PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1400px;
       color: #222; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.meta { color: #555; } blockquote { color: #444; border-left: 3px solid #ccc;
       margin: .5rem 0; padding-left: .8rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .25rem .55rem; text-align: left; }
th { background: #f4f4f4; } td.n { text-align: right; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.badge { padding: .1rem .5rem; border-radius: .6rem; font-weight: 600; color: #fff;
         background: #888; }
.badge.holds { background: #2e7d32; } .badge.fails { background: #c62828; }
.badge.inconclusive { background: #ef6c00; }
.problems { color: #8a4b00; } .better { color: #2e7d32; font-weight: 600; }
.worse { color: #c62828; } code { background: #f4f4f4; padding: 0 .2rem; }
"""


# plotly.js "basic" (scatter, bar, pie) of the same version plotly.py pins, from
# npm's plotly.js-basic-dist-min (MIT, see static/plotly-basic.LICENSE): the
# figures need nothing more, and it is a quarter of the full bundle, which
# is what made a large report slow to open.
BASIC_BUNDLE = Path(__file__).with_name("static") / "plotly-basic.min.js"
BASIC_TRACES = frozenset({"scatter", "bar", "pie"})


@lru_cache(maxsize=1)
def plotly_js() -> str:
    if BASIC_BUNDLE.exists():
        return BASIC_BUNDLE.read_text(encoding="utf-8")
    return str(plotly.offline.get_plotlyjs())


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style>"
        f"<script type='text/javascript'>{plotly_js()}</script></head>"
        f"<body>{body}</body></html>\n"
    )


def figure_html(fig: go.Figure) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG))


def write_page(path: Path, text: str) -> Path:
    """Write through a temporary file so a server never serves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
