"""The dashboard in a real headless browser: Debian's chromium driven by Playwright.

The real server (`create_app` under uvicorn, on a free 127.0.0.1 port, in a thread)
serves two synthetic runs of the same gateway-kill experiment, one per architecture,
written by the real run-record writer. Each page must load without a console error
or page error, draw every plotly figure (an SVG inside each `.js-plotly-plot`, with
traces) and show the fault's label; the index's links must be links (not markup shown
as text) and each must open. A full-page screenshot of each page is left in the
test's tmp_path.

Skipped when chromium or the `playwright` package is missing (scripts/install-browser.sh
installs chromium; Playwright's own browser downloads are never used).
"""

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from dashboards.server import create_app
from tests.dashboards.runfolders import FAULT_LABEL, RunSpec, make_run

try:
    from playwright.sync_api import Browser, Page, sync_playwright

    HAVE_PLAYWRIGHT = True
except ImportError:  # the dev extra is not installed
    HAVE_PLAYWRIGHT = False

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
EXPERIMENT = "c2-gateway-kill"
# What each download link of a run must answer with (the start of its body).
DOWNLOADS = {"rows.csv": b"ts_send,", "rows.parquet": b"PAR1", "junit.xml": b"<?xml"}
SERVER_START_S = 10.0
PAGE_TIMEOUT_MS = 30_000
FAVICON = "/favicon.ico"
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1400, 900

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not HAVE_PLAYWRIGHT,
        reason="the 'playwright' Python package is missing (pip install -e '.[dev]')",
    ),
    pytest.mark.skipif(
        not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)),
        reason=f"no chromium at {CHROMIUM} (run scripts/install-browser.sh)",
    ),
]

# Every figure's div has its own traces drawn: plotly's SVG is there and not empty.
PLOTS_DRAWN_JS = """
(expected) => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length >= expected && plots.every(
    (p) => p.querySelector('svg.main-svg') && p.querySelector('g.trace'));
}
"""


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-runs")
    make_run(root, RunSpec(run_id="single-1", arch="single", experiment=EXPERIMENT))
    make_run(root, RunSpec(run_id="dual-1", arch="dual", experiment=EXPERIMENT, open_loop=True))
    return root


@pytest.fixture(scope="module")
def base_url(runs_dir: Path) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(runs_dir), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(SERVER_START_S)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _Problems:
    """Console messages of type error and uncaught page errors of one page."""

    def __init__(self, page: "Page") -> None:
        self.items: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        # Chromium asks every origin for /favicon.ico by itself; the dashboard serves none,
        # and that 404 is the browser's request, not the page's.
        if url.endswith(FAVICON) and "404" in message.text:
            return
        self.items.append(f"console error: {message.text} ({url})")


@pytest.fixture
def page(browser: "Browser") -> Iterator[tuple["Page", _Problems]]:
    context = browser.new_context(viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT})
    tab = context.new_page()
    tab.set_default_timeout(PAGE_TIMEOUT_MS)
    problems = _Problems(tab)
    yield tab, problems
    context.close()


def _open(tab: "Page", url: str) -> str:
    """Navigate, check the answer is 200, and return the HTML the server sent."""
    response = tab.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    return response.text()


def _wait_for_plots(tab: "Page", served: str) -> int:
    """Wait until every figure of the page is drawn; returns how many there are."""
    figures = served.count('class="plotly-graph-div"')
    assert figures >= 1, "the page has no plotly figure"
    tab.wait_for_function(PLOTS_DRAWN_JS, arg=figures)
    drawn = tab.locator(".js-plotly-plot:has(svg.main-svg)").count()
    assert drawn >= figures
    return figures


def _fault_labels_in_plots(tab: "Page") -> int:
    labels = tab.locator(".js-plotly-plot .annotation-text", has_text=FAULT_LABEL)
    return sum(1 for i in range(labels.count()) if labels.nth(i).is_visible())


def _screenshot(tab: "Page", path: Path) -> None:
    tab.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_run_list(page: tuple["Page", _Problems], base_url: str, tmp_path: Path) -> None:
    tab, problems = page
    _open(tab, base_url + "/")
    assert "<a href" not in tab.inner_text("body"), "links shown as text"
    for run_id in ("single-1", "dual-1"):
        assert tab.locator(f"a[href='/runs/{run_id}']").is_visible()
        for name, start in DOWNLOADS.items():
            link = tab.locator(f"a[href='/runs/{run_id}/{name}']")
            assert link.is_visible(), f"{run_id}: no {name} link"
            # Downloads (Content-Disposition: attachment) are fetched, not navigated to.
            answer = tab.request.get(base_url + str(link.get_attribute("href")))
            assert (answer.status, answer.body()[: len(start)]) == (200, start), name
    evidence = tab.get_by_role("link", name="evidence report")
    answer = tab.request.get(base_url + str(evidence.get_attribute("href")))
    assert (answer.status, "Gatecrash evidence" in answer.text()) == (200, True)
    assert tab.get_by_text("2 of 2 runs").is_visible()
    _screenshot(tab, tmp_path / "runs.png")
    with tab.expect_navigation():
        tab.locator("a[href='/runs/dual-1']").click()
    assert tab.get_by_role("heading", name=f"{EXPERIMENT} — dual").is_visible()
    assert problems.items == []


def test_run_report(page: tuple["Page", _Problems], base_url: str, tmp_path: Path) -> None:
    tab, problems = page
    served = _open(tab, base_url + "/runs/dual-1")
    _wait_for_plots(tab, served)
    assert tab.locator("td", has_text=FAULT_LABEL).first.is_visible()
    assert _fault_labels_in_plots(tab) >= 1
    assert tab.locator(".badge.inconclusive").first.is_visible()
    _screenshot(tab, tmp_path / "report-dual.png")
    assert problems.items == []


def test_comparison(page: tuple["Page", _Problems], base_url: str, tmp_path: Path) -> None:
    tab, problems = page
    served = _open(tab, base_url + "/compare?a=single-1&b=dual-1")
    _wait_for_plots(tab, served)
    assert tab.get_by_role("heading", name=f"{EXPERIMENT}: single vs dual").is_visible()
    # One labelled band per run: both columns show the kill.
    assert _fault_labels_in_plots(tab) >= 2
    _screenshot(tab, tmp_path / "compare.png")
    assert problems.items == []
