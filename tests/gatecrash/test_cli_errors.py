"""Every package's error reaches the user as one line and exit 2, never a traceback.

Each package root is driven through `main` by a real mistake where the CLI has
one (a missing file, a bad option); every root found in a package's
`errors.py` is also raised by a fake command, so a new package root that
`main` does not catch fails here.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatecrash import cli

REPO = Path(__file__).resolve().parents[2]
ERROR_PREFIX = "gatecrash: error: "


def package_roots() -> list[type[Exception]]:
    """The root exception of every top-level package (a class of its errors.py
    that derives from Exception directly)."""
    roots = []
    for path in sorted(REPO.glob("*/errors.py")):
        module = importlib.import_module(f"{path.parent.name}.errors")
        roots += [c for _, c in inspect.getmembers(module, inspect.isclass)
                  if c.__module__ == module.__name__ and c.__bases__ == (Exception,)]
    return roots


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str], *,
               banner: str | None = None) -> str:
    """Run `main(argv)`: exit 2, and the error as the one line of stderr (after
    the `banner` line of a server command, printed as it starts)."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR, err
    assert "Traceback" not in err
    lines = err.splitlines()
    if banner is not None:
        assert lines[0].startswith(banner), err
        lines = lines[1:]
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), err
    return lines[0].removeprefix(ERROR_PREFIX)


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """Some commands install their own SIGINT/SIGTERM handlers: put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_every_package_root_is_caught() -> None:
    roots = package_roots()
    assert {r.__module__.split(".")[0] for r in roots} >= \
        {"gatecrash", "chaos", "targets", "loadtests", "dashboards"}
    assert set(roots) <= set(cli.PACKAGE_ERRORS)


@pytest.mark.parametrize("root", package_roots(), ids=lambda r: r.__name__)
def test_package_root_raised_by_a_command_is_one_line(
        root: type[Exception], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def fake_command(args: argparse.Namespace) -> int:
        raise root("what went wrong, and what to do")

    monkeypatch.setattr(cli, "cmd_status", fake_command)
    assert error_line(capsys, ["status"]) == "what went wrong, and what to do"


def test_gatecrash_error_missing_experiment_file(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, ["run", str(tmp_path / "nope.yaml")])
    assert "nope.yaml" in line and "cannot read" in line


@pytest.mark.usefixtures("signal_handlers")
def test_targets_error_zero_replicas(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, ["up", "--replicas", "0", "--name", "zero-replicas"])
    assert "replicas must be >= 1" in line


@pytest.mark.parametrize("entries", ["0", "5"])
def test_input_error_entries_out_of_range(entries: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, ["up", "--entries", entries, "--name", "bad-entries"])
    assert f"--entries {entries}: choose 1..4" in line


def test_chaos_error_unreadable_proxy_config(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "proxies.json"
    line = error_line(capsys, ["toxiproxy", "--port", "0", "--config", str(missing)],
                      banner="toxiproxy API on")
    assert "cannot read proxy config" in line and str(missing) in line


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_dashboards_error_runs_folder_that_is_not_one(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def fake_uvicorn_run(*args: object, **kwargs: object) -> None:
        # Stands in for the server, which would serve forever: refusing must come first.
        raise AssertionError("the dashboard started serving")

    monkeypatch.setattr("dashboards.server.uvicorn.run", fake_uvicorn_run)
    runs = tmp_path / "runs"
    if kind == "a file":
        runs.write_text("not a folder")
    line = error_line(capsys, ["dashboard", "--runs", str(runs), "--port", "0"],
                      banner="dashboard of")
    assert str(runs) in line and "--runs" in line


def test_load_error_bad_master_address(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, ["worker", "--master", "gen-host:http"])
    assert "'gen-host:http'" in line and "HOST[:PORT]" in line


@pytest.mark.usefixtures("signal_handlers")
def test_load_error_bad_remote_workers(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from tests.gatecrash.tiny import HOLDS, write_experiment

    exp = write_experiment(tmp_path, "remote", [HOLDS])
    line = error_line(capsys, ["run", str(exp), "--remote-workers", "-1"])
    assert "--remote-workers -1" in line and "at least 1" in line
