"""Routes of the dashboard server, including attempts to leave the runs folder."""

import io
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from dashboards.server import LIVE_POLL_MS, create_app
from records import RECORD_VERSION, LiveProgress, RunWriter
from tests.dashboards.runfolders import FAULT_LABEL, T0, RunSpec, make_run


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("runs")
    make_run(base, RunSpec(run_id="dual-1", arch="dual"))
    make_run(base, RunSpec(run_id="single-1", arch="single", parts=3, started=T0 + 60))
    (base.parent / "secret.txt").write_text("outside the runs folder")
    (base / "escape").symlink_to(base.parent)
    return base


@pytest.fixture(scope="module")
def client(root: Path) -> TestClient:
    return TestClient(create_app(root))


def test_index_lists_runs_newest_first(client: TestClient) -> None:
    page = client.get("/").text
    assert page.index("single-1") < page.index("dual-1")


def test_index_links_are_markup_not_text(client: TestClient) -> None:
    page = client.get("/").text
    hrefs = re.findall(r"<a href='([^']+)'>", page)
    downloads = {"/runs/dual-1/rows.csv", "/runs/dual-1/rows.parquet", "/runs/dual-1/junit.xml"}
    assert (downloads <= set(hrefs), "&lt;a href" in page) == (True, False)


def test_index_filters_by_arch(client: TestClient) -> None:
    assert "/runs/single-1'" not in client.get("/", params={"arch": "dual"}).text


def test_api_runs_filter_by_verdict(client: TestClient) -> None:
    runs = client.get("/api/runs", params={"verdict": "fails"}).json()
    assert [r["run_id"] for r in runs] == ["single-1"]


def test_api_runs_filter_by_experiment(client: TestClient) -> None:
    assert client.get("/api/runs", params={"experiment": "c9-other"}).json() == []


def test_run_report_rendered_without_writing(root: Path, client: TestClient) -> None:
    response = client.get("/runs/dual-1")
    assert (response.status_code, FAULT_LABEL in response.text) == (200, True)
    assert not (root / "dual-1" / "report.html").exists()


def test_existing_report_is_served(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec())
    (run_dir / "report.html").write_text("<html>ready</html>")
    assert TestClient(create_app(tmp_path)).get("/runs/run-1").text == "<html>ready</html>"


def test_compare(client: TestClient) -> None:
    page = client.get("/compare", params={"a": "single-1", "b": "dual-1"}).text
    assert "single vs dual" in page


def test_evidence(client: TestClient) -> None:
    assert "href='/runs/dual-1'" in client.get("/evidence").text


def test_rows_csv(client: TestClient) -> None:
    lines = client.get("/runs/single-1/rows.csv").text.splitlines()
    assert (lines[0].startswith("ts_send,"), len(lines)) == (True, 1 + 30 * 60)


def test_rows_parquet_from_parts(client: TestClient) -> None:
    body = client.get("/runs/single-1/rows.parquet").content
    assert pq.read_table(io.BytesIO(body)).num_rows == 30 * 60


def test_junit(client: TestClient) -> None:
    assert '<testsuite name="c2-gateway-kill[dual]"' in client.get("/runs/dual-1/junit.xml").text


def test_unknown_run_is_404(client: TestClient) -> None:
    assert client.get("/runs/nope").status_code == 404


def test_unknown_run_rows_is_404(client: TestClient) -> None:
    assert client.get("/runs/nope/rows.csv").status_code == 404


def test_missing_junit_is_404(tmp_path: Path) -> None:
    (make_run(tmp_path, RunSpec()) / "junit.xml").unlink()
    assert TestClient(create_app(tmp_path)).get("/runs/run-1/junit.xml").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/runs/..%2Fsecret.txt",
        "/runs/..%2F..%2F..%2Fetc%2Fpasswd",
        "/runs/dual-1%2F..%2F..%2Fsecret.txt",
        "/runs/%2Fetc%2Fpasswd",
        "/runs/..%5Csecret.txt",
        "/runs/escape",
        "/runs/escape/rows.csv",
        "/runs/..%2F/junit.xml",
        "/api/runs/..%2F..%2Fetc/live",
        "/compare?a=..%2Fsecret.txt&b=dual-1",
    ],
)
def test_leaving_the_runs_folder_is_400(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 400


def test_dot_segments_never_reach_outside(client: TestClient) -> None:
    response = client.get("/runs/../../secret.txt")
    assert response.status_code in (400, 404) and "outside" not in response.text


def test_read_only(client: TestClient) -> None:
    assert client.post("/runs/dual-1").status_code == 405


PROGRESS = LiveProgress(arch="dual", elapsed_s=3.0, total_s=30.0, requests=360, rate_rps=120.5,
                        failures=2, active_faults=["kill x"], ts=T0 + 3)


def test_live_progress_page_polls(tmp_path: Path) -> None:
    RunWriter(make_run(tmp_path, RunSpec(status="running"))).write_live(PROGRESS)
    page = TestClient(create_app(tmp_path)).get("/runs/run-1").text
    assert "id='live'" in page and f"setTimeout(poll, {LIVE_POLL_MS})" in page


def test_live_endpoint_while_running(tmp_path: Path) -> None:
    RunWriter(make_run(tmp_path, RunSpec(status="running"))).write_live(PROGRESS)
    live = TestClient(create_app(tmp_path)).get("/api/runs/run-1/live").json()
    assert live == {**PROGRESS.model_dump(), "finished": False}


def test_live_endpoint_after_the_run(tmp_path: Path) -> None:
    RunWriter(make_run(tmp_path, RunSpec(status="completed"))).write_live(PROGRESS)
    assert TestClient(create_app(tmp_path)).get("/api/runs/run-1/live").json()["finished"]


def test_run_of_another_record_version_is_named_not_served(tmp_path: Path) -> None:
    meta = make_run(tmp_path, RunSpec()) / "meta.json"
    meta.write_text(meta.read_text().replace(
        f'"record_version": {RECORD_VERSION}', '"record_version": 99'))
    client = TestClient(create_app(tmp_path))
    page = client.get("/runs/run-1")
    assert (page.status_code, "record version 99" in page.text) == (409, True)
    assert "unreadable: " in client.get("/").text


def test_live_endpoint_without_live_file(client: TestClient) -> None:
    assert client.get("/api/runs/dual-1/live").status_code == 404


def test_live_poll_within_two_seconds() -> None:
    assert LIVE_POLL_MS <= 2000
