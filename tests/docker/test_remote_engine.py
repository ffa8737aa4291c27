"""An experiment run to a verdict with its stack on another Docker engine.

The engine is a second dockerd started here (scripts/second-dockerd.sh): its own
socket, data root, exec root, containerd namespace and bridge subnet, spoken to
over TCP, so the conductor treats it as remote: no host pids, no shared files
(the stack file travels as a Compose config through the engine's API), kills
from inside the containers, readiness through exec, the entry and the
Toxiproxy API at its published ports. Its images come from the first engine by
`docker save | docker load`. Afterwards nothing of the run is left on either
engine, and the second engine is gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.runtime.docker import DockerRuntime
from chaos.runtime.engine import docker_client
from gatecrash.containers import SERVICE_IMAGE, find_leftovers
from gatecrash.containers.backend import BUILTIN_REDIS_IMAGE, BUILTIN_TOXIPROXY_IMAGE
from gatecrash.deployment import deploy_options
from gatecrash.experiment import load_experiment
from gatecrash.runner import run_experiment
from gatecrash.runtimes import deployed_stack
from records import read_run
from targets.stack import RuntimeKind
from tests.loadtests.workers import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.remote_engine,
              pytest.mark.timeout(900)]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "second-dockerd.sh"
IMAGES = (SERVICE_IMAGE, BUILTIN_TOXIPROXY_IMAGE, BUILTIN_REDIS_IMAGE)
START_TIMEOUT_S = 300
EXPERIMENT = """\
name: remote-engine
claim_id: C6
claim: a slow entry hop slows every request; a dead service is proven dead by its engine
architectures: [single]
deploy: {replicas: 1}
load: {mode: closed, users: 3, wait_min_s: 0.05, wait_max_s: 0.1, duration_s: 12,
       request_timeout_s: 5, mix: {identity: 1, business: 1, chat: 0}}
warmup_s: 2
recovery_s: 2
require_unsaturated: false
faults:
  - {at_s: 4, for_s: 4, fault: latency, params: {latency_ms: 300}, target: {service: gateway}}
  - {at_s: 4, for_s: 4, fault: kill, target: {service: analytics}}
hypotheses:
  - p50_ms@fault >= p50_ms@baseline + 150
  - count@fault >= 1
"""


def _first_engine_has(images: tuple[str, ...]) -> str | None:
    client = docker_client()
    try:
        for image in images:
            client.images.get(image)
    except Exception as exc:
        return str(exc)
    finally:
        client.close()
    return None


@pytest.fixture(scope="module")
def second_engine(engine: None) -> Iterator[str]:
    """DOCKER_HOST of a second engine on this machine, with our images loaded."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("a second dockerd needs root and dockerd (scripts/start-dockerd.sh)")
    if "DOCKER_HOST" in os.environ:
        pytest.skip("DOCKER_HOST is set: the images are copied from the default engine")
    missing = _first_engine_has(IMAGES)
    if missing:
        pytest.skip(f"images to copy are not built: {missing} (scripts/build-images.sh)")
    folder = tempfile.mkdtemp(prefix="gce2-", dir="/tmp")  # short: containerd's socket
    os.rmdir(folder)  # the script makes it, and refuses one that exists
    try:
        done = subprocess.run(["bash", str(SCRIPT), "start", folder, str(free_port()), *IMAGES],
                              capture_output=True, text=True, timeout=START_TIMEOUT_S)
        assert done.returncode == 0, done.stdout + done.stderr
        [host] = [line.split("=", 1)[1] for line in done.stdout.splitlines()
                  if line.startswith("DOCKER_HOST=")]
        yield host
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], timeout=START_TIMEOUT_S,
                       check=False)
    assert not Path(folder).exists()


def _everything(client: object) -> list[str]:
    return ([f"container {c.name}" for c in client.containers.list(all=True)]  # type: ignore[attr-defined]
            + [f"network {n.name}" for n in client.networks.list()  # type: ignore[attr-defined]
               if n.name not in ("bridge", "host", "none")]
            + [f"volume {v.name}" for v in client.volumes.list()])  # type: ignore[attr-defined]


def test_an_experiment_reaches_a_verdict_on_a_remote_engine(
        second_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "remote-engine.yaml"
    path.write_text(EXPERIMENT)
    experiment = load_experiment(path)
    monkeypatch.setenv("DOCKER_HOST", second_engine)
    with deployed_stack("single", runtime=RuntimeKind.DOCKER,
                        **deploy_options(experiment)) as (stack, runtime):
        assert isinstance(runtime, DockerRuntime)
        # Remote: no host pids; nothing of this machine's files in any container.
        assert runtime.pids() == {}
        client = docker_client()
        mounts = {c.name: c.attrs["Mounts"] for c in client.containers.list()}
        client.close()
        assert mounts and all(m == [] for m in mounts.values()), mounts
        result = run_experiment(experiment, "single", tmp_path / "runs", report=False,
                                deployed=(stack, runtime))
        name = stack.name
    assert result.status == "completed", result.aborted
    assert len(result.verdicts) == 2
    assert all(v.verdict in ("holds", "fails", "inconclusive") for v in result.verdicts)
    record = read_run(result.run_dir)
    faults = {f.fault: f for f in record.faults}
    assert set(faults) == {"latency", "kill"}
    assert all(f.proof and f.proof.ok and f.removal_proof and f.removal_proof.ok
               for f in faults.values()), faults
    assert any(t.any for t in faults["latency"].traffic.values())  # read from the proxy API
    assert record.load is not None and record.load.rows == record.load.requests > 0
    # Nothing left: not on the second engine, and nothing of this home's on the first.
    client = docker_client()
    assert _everything(client) == []
    client.close()
    monkeypatch.delenv("DOCKER_HOST")
    assert find_leftovers(name) == [] and find_leftovers() == []
