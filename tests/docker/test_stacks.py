"""Both architectures as containers: an experiment each, container faults read back
from the engine, and nothing left behind after teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chaos.runtime.base import InstanceState
from chaos.runtime.docker import DockerRuntime
from chaos.runtime.engine import COMPOSE_PROJECT_LABEL, docker_client
from gatecrash.containers import find_leftovers
from gatecrash.deployment import deploy_options
from gatecrash.experiment import load_experiment
from gatecrash.runner import RunResult, run_experiment
from gatecrash.runtimes import deployed_stack
from records import read_run
from targets.stack import RuntimeKind

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

# C1 on containers: the only gateway is SIGKILLed; every domain must go dark.
# Requests to it hang (no refusal in containers), so a closed loop of a few users
# sends one request per user and timeout: too few to judge a 5 % bound (0 of 12
# measured in CI; 73 needed). Open-loop arrivals at 25 req/s with a 1 s client
# put ~100 requests in the 4 s fault window whatever they wait for.
# A 3 s baseline: right after a cold start one slow request would sway a 1 s one.
GATEWAY_KILL = ("name: docker-gateway-kill\nclaim_id: C1\nclaim: single gateway is a SPOF\n"
                "architectures: [single]\n"
                "load: {mode: open, rate: 25, max_users: 40, duration_s: 12,\n"
                "       request_timeout_s: 1, mix: {identity: 1, business: 1, chat: 0}}\n"
                "warmup_s: 2\nrecovery_s: 3\n"
                "faults:\n  - {at_s: 5, for_s: 4, fault: kill, target: {role: 'gateway:single'}}\n"
                "hypotheses:\n  - availability@fault <= 0.05\n"
                "  - availability@baseline >= 0.9\n")
# C4 on containers: one replica of users and of orders killed; nothing may be lost.
# Clients wait 5 s: a take-over may take a hop timeout (1.5 s) and a retry, and a
# 2-core host running ~28 containers has stalls of its own; a slow success is
# not a lost request. A closed loop of 4 users keeps the stack under its capacity
# on 2 cores (open-loop arrivals at 10 req/s already gave 1-4 s answers before
# any kill, and timeouts anywhere in the stack). An 8 s fault window puts ~50
# requests in it: 4 s gave 26 in CI, and 0 failures in 26 only shows >= 87 %
# (35 needed to show >= 90 %). Chat is left out: it is not what this claim is about.
REPLICA_KILL = ("name: docker-replica-kill\nclaim_id: C4\nclaim: replicas take over\n"
                "architectures: [dual]\n"
                "load: {mode: closed, users: 4, wait_min_s: 0.05, wait_max_s: 0.1,\n"
                "       duration_s: 14, request_timeout_s: 5,\n"
                "       mix: {identity: 1, business: 1, chat: 0}}\n"
                "warmup_s: 2\nrecovery_s: 3\n"
                "faults:\n"
                "  - {at_s: 3, for_s: 8, fault: kill, target: {service: users, count: 1}}\n"
                "  - {at_s: 3, for_s: 8, fault: kill, target: {service: orders, count: 1}}\n"
                "hypotheses:\n  - requests_lost <= 0\n  - availability@fault >= 0.9\n")


@pytest.fixture(scope="module")
def volumes_before(engine: None) -> Iterator[set[str]]:
    client = docker_client()
    yield {v.name for v in client.volumes.list()}
    client.close()


def _run(tmp_path: Path, arch: str, text: str) -> tuple[RunResult, str, str]:
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    experiment = load_experiment(path)
    with deployed_stack(arch, runtime=RuntimeKind.DOCKER,
                        **deploy_options(experiment)) as (stack, runtime):
        assert isinstance(runtime, DockerRuntime)
        result = run_experiment(experiment, arch, tmp_path / "runs", report=False,
                                deployed=(stack, runtime))
        project = runtime.project
    return result, stack.name, project


def _assert_nothing_left(stack: str, project: str, volumes_before: set[str]) -> None:
    client = docker_client()
    assert find_leftovers(stack) == []
    label = {"label": [f"{COMPOSE_PROJECT_LABEL}={project}"]}
    assert client.containers.list(all=True, filters=label) == []
    assert client.networks.list(filters=label) == []
    assert {v.name for v in client.volumes.list()} <= volumes_before
    client.close()


def _assert_holds(result: RunResult) -> None:
    assert result.status == "completed", result.aborted
    faults = read_run(result.run_dir).faults
    assert faults and all(f.proof and f.proof.ok and f.removal_proof and f.removal_proof.ok
                          for f in faults), faults
    summary = [(v.hypothesis, v.verdict, v.measured, v.detail) for v in result.verdicts]
    assert not [v for v in result.verdicts if v.verdict == "fails"], summary
    for v in result.verdicts:
        if v.verdict == "holds":
            continue
        # DESIGN.md §2: seconds in which the shared host was saturated make a verdict
        # inconclusive, never passed, and what was measured then is not held
        # against the claim either: on 2 cores the ~28 containers starve, and a
        # request anywhere in the stack (articles, analytics: services no fault
        # touched) can pass a 5 s client timeout, as 1-2 of ~160 did in half of
        # the replica-kill runs here. A verdict still says what it measured.
        assert "saturated" in v.detail, summary
        assert v.op is not None and v.measured is not None and v.threshold is not None, summary


def test_single_gateway_kill_as_containers(tmp_path: Path, volumes_before: set[str]) -> None:
    result, stack, project = _run(tmp_path, "single", GATEWAY_KILL)
    _assert_holds(result)
    _assert_nothing_left(stack, project, volumes_before)


def test_dual_replica_kill_as_containers(tmp_path: Path, volumes_before: set[str]) -> None:
    result, stack, project = _run(tmp_path, "dual", REPLICA_KILL)
    _assert_holds(result)
    _assert_nothing_left(stack, project, volumes_before)


def _state(runtime: DockerRuntime, iid: str) -> InstanceState:
    return next(s.state for s in runtime.statuses() if s.id == iid)


def test_container_faults_read_back_from_the_engine(volumes_before: set[str]) -> None:
    with deployed_stack("single", runtime=RuntimeKind.DOCKER) as (stack, runtime):
        assert isinstance(runtime, DockerRuntime)
        client = docker_client()
        entry = stack.spec.entry_url

        runtime.pause("articles-1")
        assert client.api.inspect_container(runtime._container("articles-1").id)[
            "State"]["Paused"] is True
        assert _state(runtime, "articles-1") is InstanceState.PAUSED
        runtime.resume("articles-1")
        assert _state(runtime, "articles-1") is InstanceState.RUNNING

        runtime.terminate("auth-1")
        state = client.api.inspect_container(runtime._container("auth-1").id)["State"]
        assert state["Status"] == "exited"
        runtime.restart("auth-1")
        assert runtime.health("auth-1") == "healthy"

        runtime.kill("gateway-1", signal="SIGTERM")
        runtime.restart("gateway-1")
        assert httpx.get(f"{entry}/health", timeout=5).status_code == 200
        assert set(runtime.pids()) == {s.id for s in runtime.statuses()}
        name, project = stack.name, runtime.project
    _assert_nothing_left(name, project, volumes_before)
