"""One compliance test for every runtime (testcontainers' style): the same stack, the
same calls, the same answers, and nothing left after teardown.

The Docker backend runs where an engine and the images are here; elsewhere it is
skipped with the reason.
"""

from __future__ import annotations

import json

import psutil
import pytest

from chaos.runtime.base import InstanceState, InstanceUnreachable, Runtime, RuntimeFailure
from gatecrash.runtimes import attach, backend, deployed_stack, wait_pools_healthy
from targets.stack import RuntimeKind
from tests.engine import docker_unusable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

GONE = {InstanceState.EXITED, InstanceState.MISSING}
SETTLE_S = 30.0
# A plain backend replica: killing it disturbs nothing else.
VICTIM = "articles-1"
ENTRY = "gateway-1"


@pytest.fixture(params=[pytest.param(RuntimeKind.LOCAL, id="local"),
                        pytest.param(RuntimeKind.DOCKER, id="docker",
                                     marks=pytest.mark.docker)])
def kind(request: pytest.FixtureRequest) -> RuntimeKind:
    chosen: RuntimeKind = request.param
    if chosen is RuntimeKind.DOCKER:
        problem = docker_unusable()
        if problem:
            pytest.skip(problem)
    return chosen


def _state(runtime: Runtime, iid: str) -> InstanceState:
    return next(s.state for s in runtime.statuses() if s.id == iid)


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_runtime_contract(kind: RuntimeKind) -> None:
    with deployed_stack("single", runtime=kind, replicas=1,
                        inference_backend="standin") as (stack, runtime):
        assert isinstance(runtime, Runtime)
        # deploy: every planned instance (and the proxy server) runs and serves
        statuses = {s.id: s for s in runtime.statuses()}
        assert {i.id for i in stack.spec.instances} <= set(statuses)
        assert all(s.state is InstanceState.RUNNING for s in statuses.values()), statuses
        assert [i for i in statuses if not runtime.serving(i)] == []
        assert wait_pools_healthy(stack, runtime, SETTLE_S)
        health = runtime.http_get(ENTRY, "/health")
        assert health.status == 200 and json.loads(health.body)["instance"] == ENTRY
        assert set(runtime.pids()) == set(statuses)

        # kill: gone at once, unreachable, no pid; restart brings it back
        runtime.kill(VICTIM)
        assert _state(runtime, VICTIM) in GONE
        assert not runtime.serving(VICTIM) and VICTIM not in runtime.pids()
        with pytest.raises(InstanceUnreachable):
            runtime.http_get(VICTIM, "/health")
        runtime.restart(VICTIM)
        assert _state(runtime, VICTIM) is InstanceState.RUNNING and runtime.serving(VICTIM)

        # pause: alive but silent; resume: serving again
        runtime.pause(VICTIM)
        assert _state(runtime, VICTIM) is InstanceState.PAUSED
        assert not runtime.serving(VICTIM)
        runtime.resume(VICTIM)
        assert _state(runtime, VICTIM) is InstanceState.RUNNING and runtime.serving(VICTIM)

        # terminate: gone after a graceful stop; restart
        runtime.terminate(VICTIM)
        assert _state(runtime, VICTIM) in GONE
        runtime.restart(VICTIM)
        assert runtime.serving(VICTIM)
        with pytest.raises(RuntimeFailure, match="no instance 'nope-1'"):
            runtime.kill("nope-1")

        # another process attaches to the same stack and sees the same
        other = attach(stack)
        assert {s.id: s.state for s in other.statuses()} == \
            {s.id: s.state for s in runtime.statuses()}
        assert wait_pools_healthy(stack, other, SETTLE_S)
        pids = list(runtime.pids().values())
        assert backend(kind).leftovers(stack)  # the check below can see a stack
    # teardown: no process, no container, no network
    assert backend(kind).leftovers(stack) == []
    assert _alive(pids) == []
    assert not stack.dir.exists()
