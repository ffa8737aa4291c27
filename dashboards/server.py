"""A read-only dashboard over a runs folder (FastAPI).

Only GET routes; every run id is resolved inside the runs folder and refused
otherwise (400 for an id that tries to leave it, 404 for one that is not a
run). Reports are rendered in memory when a run has no report.html yet, so
browsing never writes into run folders.
"""

import html
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pyarrow.parquet as pq
import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from dashboards.errors import RunFolderError
from dashboards.evidence import render_evidence_report
from dashboards.report import render_comparison, render_run_report
from dashboards.runs import RunSummary, list_runs, load_run
from dashboards.tables import Html, html_table, verdict_badge
from records import RecordError, RunFolder, read_live, read_meta, read_rows, read_rows_table

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LIVE_POLL_MS", "create_app", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# The issue asks for live progress refreshed at least every 2 s; poll twice as often.
LIVE_POLL_MS = 1000
CSV_CHUNK_ROWS = 50_000
# Rendered reports kept in memory, keyed by run folder and its files' mtimes.
CACHE_ENTRIES = 16
# A run folder this server cannot read (another record version): the request was
# understood, the folder conflicts with this reader.
UNREADABLE_RUN_STATUS = 409
FORBIDDEN_ID_PARTS = ("..", "\\", "\x00")

RunId = Annotated[str, "a run folder path relative to the runs folder"]

INDEX_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       padding: 0 1rem; }
table { border-collapse: collapse; } th, td { border: 1px solid #ddd; padding: .25rem .6rem; }
th { background: #f4f4f4; } form { margin: .8rem 0; } label { margin-right: .8rem; }
.badge { padding: .1rem .5rem; border-radius: .6rem; font-weight: 600; color: #fff;
         background: #888; }
.badge.holds { background: #2e7d32; } .badge.fails { background: #c62828; }
.badge.inconclusive { background: #ef6c00; }
#live { font-size: 1.1rem; } progress { width: 30rem; }
"""

# Values are set with textContent, never as markup: live.json is data, not HTML.
LIVE_JS = """
const box = document.getElementById('live');
function cell(tag, text) { const e = document.createElement(tag); e.textContent = text; return e; }
async function poll() {
  try {
    const r = await fetch(%(url)s, {cache: 'no-store'});
    if (r.status === 404) { box.textContent = 'No live progress for this run.'; return; }
    const live = await r.json();
    if (live.finished) { location.reload(); return; }
    box.replaceChildren();
    if (live.elapsed_s != null && live.total_s) {
      const bar = document.createElement('progress');
      bar.max = live.total_s; bar.value = live.elapsed_s;
      box.append(bar, cell('span', ` ${live.elapsed_s.toFixed(1)} / ${live.total_s.toFixed(1)} s`));
    }
    const table = document.createElement('table');
    for (const [k, v] of Object.entries(live)) {
      if (k === 'elapsed_s' || k === 'total_s') continue;
      const row = document.createElement('tr');
      row.append(cell('th', k), cell('td', typeof v === 'object' ? JSON.stringify(v) : v));
      table.append(row);
    }
    box.append(table);
  } catch (e) { box.textContent = 'waiting for the run…'; }
  setTimeout(poll, %(every)d);
}
poll();
"""


def _page(title: str, body: str, script: str = "") -> HTMLResponse:
    return _page_with_status(title, body, 200, script)


def _page_with_status(title: str, body: str, status: int, script: str = "") -> HTMLResponse:
    tail = f"<script>{script}</script>" if script else ""
    return HTMLResponse(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{INDEX_CSS}</style></head>"
        f"<body>{body}{tail}</body></html>",
        status_code=status,
    )


class _Runs:
    """The runs folder: resolving ids safely, and caching rendered pages."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._cache: dict[tuple[Any, ...], str] = {}

    def resolve(self, run_id: str) -> Path:
        """The run folder of an id; 400 if it leaves the runs folder, 404 if not a run."""
        if not run_id or run_id.startswith("/") or any(p in run_id for p in FORBIDDEN_ID_PARTS):
            raise HTTPException(400, f"invalid run id {run_id!r}")
        path = (self.root / run_id).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise HTTPException(400, f"invalid run id {run_id!r}")
        if not path.is_dir() or not RunFolder(path).meta.is_file():
            raise HTTPException(404, f"no run {run_id!r}")
        return path

    def _stamp(self, path: Path) -> tuple[float, ...]:
        folder = RunFolder(path)
        files = (folder.meta, folder.verdicts, folder.events, folder.cpu, *folder.parts())
        return tuple(f.stat().st_mtime if f.exists() else 0.0 for f in files)

    def rendered(self, key: tuple[Any, ...], render: Any) -> str:
        if key not in self._cache:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = render()
        return self._cache[key]

    def report(self, path: Path) -> str:
        ready = RunFolder(path).report
        if ready.is_file():
            return ready.read_text(encoding="utf-8")
        return self.rendered(
            ("run", path, self._stamp(path)), lambda: render_run_report(load_run(path))
        )

    def comparison(self, a: Path, b: Path) -> str:
        key = ("compare", a, self._stamp(a), b, self._stamp(b))
        return self.rendered(key, lambda: render_comparison(load_run(a), load_run(b)))


def _filtered(
    runs: list[RunSummary], experiment: str | None, arch: str | None, verdict: str | None
) -> list[RunSummary]:
    return [
        r
        for r in runs
        if (not experiment or r.experiment == experiment)
        and (not arch or r.arch == arch)
        and (not verdict or r.verdict == verdict)
    ]


def _summary_json(run: RunSummary) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "experiment": run.experiment,
        "arch": run.arch,
        "status": run.status,
        "started": run.started,
        "verdict": run.verdict,
    }


def _select(name: str, values: list[str], chosen: str | None) -> str:
    options = "".join(
        f"<option{' selected' if v == chosen else ''}>{html.escape(v)}</option>" for v in values
    )
    choices = f"<option value=''>any</option>{options}"
    return f"<label>{name} <select name='{name}'>{choices}</select></label>"


def _index_html(
    all_runs: list[RunSummary], shown: list[RunSummary], filters: dict[str, Any]
) -> str:
    def values(attr: str) -> list[str]:
        return sorted({getattr(r, attr) for r in all_runs if getattr(r, attr)})

    form = (
        "<form method='get' action='/'>"
        + _select("experiment", values("experiment"), filters["experiment"])
        + _select("arch", values("arch"), filters["arch"])
        + _select("verdict", values("verdict"), filters["verdict"])
        + "<button>filter</button></form>"
    )
    ids = [r.run_id for r in all_runs]
    compare = (
        "<form method='get' action='/compare'>"
        + _select("a", ids, None)
        + _select("b", ids, None)
        + "<button>compare</button></form>"
    )
    rows = [
        [
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.started)),
            _link(f"/runs/{r.run_id}", r.run_id) if r.problem is None else r.run_id,
            r.experiment,
            r.arch,
            r.status if r.problem is None else f"{r.status}: {r.problem}",
            verdict_badge(r.verdict),
            _downloads(r),
        ]
        for r in shown
    ]
    table = html_table(
        ["started (UTC)", "run", "experiment", "arch", "status", "verdict", ""], rows
    )
    return (
        f"<h1>Gatecrash runs</h1>{form}{compare}"
        f"<p><a href='/evidence'>evidence report</a> · {len(shown)} of {len(all_runs)} runs</p>"
        f"{table}"
    )


def _link(href: str, text: str) -> Html:
    return Html(f"<a href='{html.escape(href)}'>{html.escape(text)}</a>")


def _downloads(run: RunSummary) -> Html:
    """Links to a run's rows (CSV, Parquet) and, once it has one, its JUnit file."""
    if run.problem is not None:
        return Html("")
    links = [_link(f"/runs/{run.run_id}/rows.csv", "csv"),
             _link(f"/runs/{run.run_id}/rows.parquet", "parquet")]
    if RunFolder(run.path).junit.is_file():
        links.append(_link(f"/runs/{run.run_id}/junit.xml", "junit"))
    # Joined as markup: a plain str would be escaped by the table and show as text.
    return Html(" ".join(links))


def _is_live(path: Path) -> bool:
    """A run still going: live.json present and meta.json saying it is running."""
    if not RunFolder(path).live.is_file():
        return False
    try:
        return read_meta(path).status == "running"
    except RecordError:
        return False


def _csv_chunks(path: Path) -> Iterator[bytes]:
    rows = read_rows(path)
    for start in range(0, max(len(rows), 1), CSV_CHUNK_ROWS):
        chunk = rows.iloc[start : start + CSV_CHUNK_ROWS]
        yield chunk.to_csv(index=False, header=start == 0).encode("utf-8")


def create_app(runs_dir: str | Path) -> FastAPI:
    """The dashboard app over one runs folder."""
    runs = _Runs(Path(runs_dir))
    app = FastAPI(title="Gatecrash dashboard", docs_url=None, redoc_url=None)

    @app.exception_handler(RunFolderError)
    def unreadable(_: Request, exc: RunFolderError) -> Response:
        return _page_with_status("Unreadable run", f"<p>{html.escape(str(exc))}</p>",
                                 UNREADABLE_RUN_STATUS)

    @app.get("/", response_class=HTMLResponse)
    def index(
        experiment: str | None = None, arch: str | None = None, verdict: str | None = None
    ) -> HTMLResponse:
        every = list_runs(runs.root)
        shown = _filtered(every, experiment, arch, verdict)
        filters = {"experiment": experiment, "arch": arch, "verdict": verdict}
        return _page("Gatecrash runs", _index_html(every, shown, filters))

    @app.get("/api/runs")
    def api_runs(
        experiment: str | None = None, arch: str | None = None, verdict: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            _summary_json(r) for r in _filtered(list_runs(runs.root), experiment, arch, verdict)
        ]

    @app.get("/compare", response_class=HTMLResponse)
    def compare(a: Annotated[str, Query()], b: Annotated[str, Query()]) -> HTMLResponse:
        return HTMLResponse(runs.comparison(runs.resolve(a), runs.resolve(b)))

    @app.get("/evidence", response_class=HTMLResponse)
    def evidence() -> HTMLResponse:
        summaries = list_runs(runs.root)
        loaded = [load_run(s.path) for s in summaries]
        links = {s.path: f"/runs/{s.run_id}" for s in summaries}
        return HTMLResponse(render_evidence_report(loaded, links))

    @app.get("/api/runs/{run_id:path}/live")
    def live(run_id: RunId) -> JSONResponse:
        path = runs.resolve(run_id)
        try:
            progress = read_live(path)
        except RecordError as exc:
            raise RunFolderError(str(exc)) from exc
        if progress is None:
            raise HTTPException(404, f"run {run_id!r} has no live progress")
        payload: dict[str, Any] = progress.model_dump()
        payload["finished"] = not _is_live(path)
        return JSONResponse(payload, headers={"Cache-Control": "no-store"})

    @app.get("/runs/{run_id:path}/rows.csv")
    def rows_csv(run_id: RunId) -> StreamingResponse:
        path = runs.resolve(run_id)
        name = path.name + "-rows.csv"
        return StreamingResponse(
            _csv_chunks(path),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/runs/{run_id:path}/rows.parquet", response_model=None)
    def rows_parquet(run_id: RunId) -> Response:
        path = runs.resolve(run_id)
        name = path.name + "-rows.parquet"
        buffer = io.BytesIO()
        pq.write_table(read_rows_table(path, []), buffer)
        return Response(
            buffer.getvalue(),
            media_type="application/vnd.apache.parquet",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/runs/{run_id:path}/junit.xml")
    def junit(run_id: RunId) -> Response:
        path = RunFolder(runs.resolve(run_id)).junit
        if not path.is_file():
            raise HTTPException(404, f"run {run_id!r} has no junit.xml yet")
        return Response(path.read_bytes(), media_type="application/xml")

    @app.get("/runs/{run_id:path}", response_class=HTMLResponse)
    def run_page(run_id: RunId) -> HTMLResponse:
        path = runs.resolve(run_id)
        if _is_live(path):
            script = LIVE_JS % {
                "url": json.dumps(f"/api/runs/{run_id}/live"),
                "every": LIVE_POLL_MS,
            }
            body = f"<h1>{html.escape(run_id)} — running</h1><div id='live'>connecting…</div>"
            return _page(f"{run_id} (running)", body, script)
        return HTMLResponse(runs.report(path))

    return app


def serve(runs_dir: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run the dashboard with uvicorn until interrupted (127.0.0.1 unless told otherwise)."""
    if not Path(runs_dir).is_dir():  # a mistyped --runs would show an empty page
        raise RunFolderError(f"runs folder {runs_dir} not found: pass --runs DIR, the --out "
                             "folder of `gatecrash run`")
    uvicorn.run(create_app(runs_dir), host=host, port=port, log_level="warning")
