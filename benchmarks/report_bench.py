"""Size of a 10-minute run's report and how long it takes to open in headless Chromium.

    python benchmarks/report_bench.py [--seconds 600] [--rps 840] [--repeat 3]
                                      [--keep DIR] [--json PATH]

A synthetic open-loop gateway-kill run (tests/dashboards/runfolders.py: 600 s at
840 req/s = 504,000 rows in 10 Parquet parts, the business gateway killed in the
middle third) is written to a temporary folder; then

- write: `dashboards.report.write_run_report` on it, timed (reading the rows,
  the analysis, the figures and writing report.html: what `gatecrash report` does);
- size: report.html in MB (10^6 bytes);
- open: Debian's chromium (headless, driven by Playwright) opens report.html from
  disk. An init script records, in the page, the first animation frame after every
  `.js-plotly-plot` has its `svg.main-svg` with traces drawn in it, as
  `performance.now()`, i.e. milliseconds since navigation start. In the same
  browser and the same run, two baselines are opened the same way (ready at their
  load event): a blank page (what any page costs) and a page holding only the
  inlined plotly.js (what the library costs before any figure). Every open uses a
  fresh browser context; pages take turns, `--repeat` times; the median is the
  figure compared with the goal. The CPU seconds chromium's processes used during
  each open are recorded too: on a shared, busy host they say more than the clock.

Goals (issue 6): size < 15 MB, open < 3 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import plotly.offline
import psutil
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from dashboards.report import write_run_report  # noqa: E402
from tests.dashboards.runfolders import RunSpec, make_run  # noqa: E402

GOAL_SIZE_MB = 15.0
GOAL_OPEN_S = 3.0
MB = 1_000_000
OPEN_TIMEOUT_MS = 120_000
CHROMIUM = os.environ.get("GATECRASH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
BLANK_PAGE = "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>blank</title>"
BLANK_PAGE += "</head><body></body></html>\n"
PLOTLY_ONLY_PAGE = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>plotly.js</title>"
    "<script type='text/javascript'>%s</script></head><body></body></html>\n"
)
FIGURE_MARKER = 'class="plotly-graph-div"'

# Runs before any script of the page. `expected` is the number of figures in the file.
READY_JS = """
(() => {
  const expected = %(expected)d;
  window.__benchReady = null;
  window.__benchDrawn = null;
  const drawn = () => {
    const plots = document.querySelectorAll('.js-plotly-plot');
    return plots.length >= expected && [...plots].every(
      (p) => p.querySelector('svg.main-svg') && p.querySelector('g.trace'));
  };
  const check = () => {
    // A page without figures (the baselines) is ready at its load event.
    if (expected === 0 && document.readyState !== 'complete') return;
    if (window.__benchDrawn !== null || !drawn()) return;
    window.__benchDrawn = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => { window.__benchReady = performance.now(); });
  };
  const observer = new MutationObserver(check);
  observer.observe(document, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', check);
  window.addEventListener('load', check);
})();
"""


@dataclass
class Open:
    """One open of one page: seconds since navigation start, unless said otherwise."""

    drawn_s: float  # every plot has its SVG with traces in it (DOM)
    open_s: float  # the first animation frame after that (painted); the load event for baselines
    load_event_s: float  # the load event ended
    wall_s: float  # from Python's goto call until Python saw open_s (includes polling)
    cpu_s: float  # CPU seconds used by chromium's processes meanwhile (user + system)


@dataclass
class Result:
    rows: int
    seconds: float
    figures: int
    size_bytes: int
    size_mb: float
    write_s: float
    open_s: float
    blank_open_s: float
    plotly_only_open_s: float
    open_cpu_s: float
    opens: list[dict[str, float]] = field(default_factory=list)
    plotly_only: list[dict[str, float]] = field(default_factory=list)
    blanks: list[dict[str, float]] = field(default_factory=list)
    browser: str = ""
    cpus: int = 0
    load_average: list[float] = field(default_factory=list)
    goal_size_mb: float = GOAL_SIZE_MB
    goal_open_s: float = GOAL_OPEN_S
    size_met: bool = False
    open_met: bool = False


def _chromium_cpu_s() -> float:
    """CPU seconds used so far by this process's chromium descendants (browser, renderers)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name():
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue  # a renderer that just ended
    return total


def _open(browser: Any, url: str, expected: int) -> Open:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        def console(message: Any) -> None:
            if message.type == "error":
                errors.append(message.text)

        page.on("console", console)
        page.add_init_script(READY_JS % {"expected": expected})
        cpu = _chromium_cpu_s()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=OPEN_TIMEOUT_MS)
        page.wait_for_function("() => window.__benchReady !== null", timeout=OPEN_TIMEOUT_MS)
        wall = time.perf_counter() - start
        cpu = _chromium_cpu_s() - cpu
        page.wait_for_load_state("load")
        times = page.evaluate(
            "() => [window.__benchDrawn, window.__benchReady,"
            " performance.getEntriesByType('navigation')[0].loadEventEnd]"
        )
        if errors:
            raise RuntimeError(f"{url}: errors in the page: {errors}")
        drawn, ready, load_event = (float(t) / 1000 for t in times)
        return Open(drawn_s=drawn, open_s=ready, load_event_s=load_event, wall_s=wall, cpu_s=cpu)
    finally:
        context.close()


def _measure(pages: dict[str, tuple[Path, int]], repeat: int) -> tuple[dict[str, list[Open]], str]:
    """Open every page `repeat` times, in turn, in one browser; each in a fresh context."""
    from playwright.sync_api import sync_playwright

    opens: dict[str, list[Open]] = {name: [] for name in pages}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            blank = pages["blank"][0]
            _open(browser, blank.as_uri(), 0)  # warm the browser's own start-up paths
            for _ in range(repeat):
                for name, (path, figures) in pages.items():
                    opens[name].append(_open(browser, path.as_uri(), figures))
            version = str(browser.version)
        finally:
            browser.close()
    return opens, version


def _median(opens: list[Open], attr: str = "open_s") -> float:
    return float(statistics.median(getattr(o, attr) for o in opens))


def run(seconds: float, rps: float, repeat: int, keep: Path | None) -> Result:
    work = Path(tempfile.mkdtemp(prefix="report-bench-")) if keep is None else keep
    try:
        work.mkdir(parents=True, exist_ok=True)
        spec = RunSpec(run_id="bench-10min", seconds=seconds, rps=rps, open_loop=True, parts=10)
        print(f"generating a {seconds:.0f} s run at {rps:.0f} req/s in {work} ...", flush=True)
        run_dir = make_run(work, spec)
        start = time.perf_counter()
        report = write_run_report(run_dir)
        write_s = time.perf_counter() - start
        rows = sum(pq.ParquetFile(part).metadata.num_rows for part in run_dir.rglob("*.parquet"))
        size = report.stat().st_size
        figures = report.read_text(encoding="utf-8").count(FIGURE_MARKER)
        print(f"report written: {size / MB:.2f} MB in {write_s:.2f} s; opening it ...", flush=True)
        blank = work / "blank.html"
        blank.write_text(BLANK_PAGE, encoding="utf-8")
        plotly_only = work / "plotly-only.html"
        plotly_only.write_text(PLOTLY_ONLY_PAGE % plotly.offline.get_plotlyjs(), encoding="utf-8")
        pages = {"blank": (blank, 0), "plotly_only": (plotly_only, 0), "report": (report, figures)}
        opens, version = _measure(pages, repeat)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    open_s = _median(opens["report"])
    return Result(
        rows=rows,
        seconds=seconds,
        figures=figures,
        size_bytes=size,
        size_mb=size / MB,
        write_s=write_s,
        open_s=open_s,
        blank_open_s=_median(opens["blank"]),
        plotly_only_open_s=_median(opens["plotly_only"]),
        open_cpu_s=_median(opens["report"], "cpu_s"),
        opens=[asdict(o) for o in opens["report"]],
        plotly_only=[asdict(o) for o in opens["plotly_only"]],
        blanks=[asdict(o) for o in opens["blank"]],
        browser=f"chromium {version}",
        cpus=os.cpu_count() or 0,
        load_average=[round(x, 2) for x in os.getloadavg()],
        size_met=size / MB < GOAL_SIZE_MB,
        open_met=open_s < GOAL_OPEN_S,
    )


def _print(result: Result) -> None:
    def met(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    load = ", ".join(f"{x:.1f}" for x in result.load_average)
    print()
    print(
        f"{result.rows:,} rows over {result.seconds:.0f} s, {result.figures} figure(s), "
        f"{result.browser}; host: {result.cpus} CPUs, load average {load}"
    )
    print(f"{'figure':<40}{'value':>9}  {'goal':>6}")
    print(f"{'report size (MB)':<40}{result.size_mb:>9.2f}  {'< 15':>6}  {met(result.size_met)}")
    print(f"{'write time (s)':<40}{result.write_s:>9.2f}")
    print(f"{'open time, median (s)':<40}{result.open_s:>9.2f}  {'< 3':>6}  {met(result.open_met)}")
    print(f"{'  baseline: blank page (s)':<40}{result.blank_open_s:>9.3f}")
    print(f"{'  baseline: plotly.js alone (s)':<40}{result.plotly_only_open_s:>9.2f}")
    print(f"{'  open time minus blank page (s)':<40}{result.open_s - result.blank_open_s:>9.2f}")
    print(f"{'  chromium CPU during the open (s)':<40}{result.open_cpu_s:>9.2f}")
    print()
    print("each open (s since navigation start; wall from Python's goto; CPU s of chromium):")
    print(f"{'':<14}{'drawn':>8}{'painted':>9}{'load':>8}{'wall':>8}{'cpu':>8}")
    for name, runs in (
        ("report", result.opens),
        ("plotly.js", result.plotly_only),
        ("blank", result.blanks),
    ):
        for i, o in enumerate(runs, start=1):
            print(
                f"{name + ' #' + str(i):<14}{o['drawn_s']:>8.2f}{o['open_s']:>9.2f}"
                f"{o['load_event_s']:>8.2f}{o['wall_s']:>8.2f}{o['cpu_s']:>8.2f}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="run length (default 600)")
    ap.add_argument("--rps", type=float, default=840.0, help="request rate (default 840)")
    ap.add_argument("--repeat", type=int, default=3, help="opens of each page (default 3)")
    ap.add_argument("--keep", type=Path, help="write the run folder here and keep it")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        print(f"no chromium at {CHROMIUM}: run scripts/install-browser.sh", file=sys.stderr)
        return 2
    if importlib.util.find_spec("playwright") is None:
        print("the 'playwright' package is missing: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    result = run(args.seconds, args.rps, max(1, args.repeat), args.keep)
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return 0 if result.size_met and result.open_met else 1


if __name__ == "__main__":
    sys.exit(main())
