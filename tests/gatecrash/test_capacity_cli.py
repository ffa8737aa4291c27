"""`gatecrash capacity` refuses bad options before anything starts: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatecrash.arguments import DEFAULT_SUITE
from gatecrash.capacity_cli import parse_mix

from .test_cli_errors import error_line


@pytest.mark.parametrize(("argv", "message"), [
    (["--mix", "identity=1,chat"], "--mix 'identity=1,chat': 'chat' has no '='"),
    (["--mix", "identity=x"], "write domain=weight pairs"),
    (["--mix", "identity=0,business=0"], "at least one of identity, business, chat must be > 0"),
    (["--mix", "video=1"], "video: Extra inputs are not permitted; domains: identity"),
    (["--step", "0"], "--start/--step/--step-s/--max: step_rps: Input should be greater than 0"),
    (["--start", "500"], "rate_start (500) is above rate_max (400)"),
    (["--slo-availability", "1.5"], "availability: Input should be less than or equal to 1"),
    (["--replicas", "0"], "--replicas: replicas: Input should be greater than or equal to 1"),
])
def test_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert message in error_line(capsys, ["capacity", *argv])


def test_a_mix_leaves_out_what_it_does_not_name() -> None:
    assert parse_mix("business=2").weights() == {"identity": 0, "business": 2, "chat": 0}


def test_a_bad_capacity_file_for_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "cap.json"
    bad.write_text('{"single": "fast"}')
    experiment = Path(DEFAULT_SUITE) / "c1-single-gateway-spof.yaml"
    assert "is not a capacity; give req/s > 0" in error_line(
        capsys, ["run", str(experiment), "--capacity-from", str(bad)])
