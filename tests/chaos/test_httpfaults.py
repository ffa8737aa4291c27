"""HTTP and stream faults on real HTTP/SSE traffic: client -> built-in Toxiproxy ->
fault layer -> a real OpenAI-style SSE server (the stand-in inference service)."""

from __future__ import annotations

import itertools
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError
from scipy.stats import binomtest

from chaos.client import ToxiproxyClient
from chaos.errors import ChaosError
from chaos.faults import FaultError, FaultSpec, TargetSpec
from chaos.httpfaults import (
    BackgroundLayers,
    FaultRule,
    HttpFaultError,
    HttpFaultsClient,
    LayerConfig,
    Selector,
    parse_http_fault,
)
from chaos.injector import Injector
from chaos.runtime.base import InstanceState, InstanceStatus
from chaos.toxiproxy import BackgroundServer
from loadtests.metrics import classify_error
from loadtests.streaming import StreamOutcome, consume_sse
from targets.app import ServiceIdentity
from targets.services.standin_inference import build_app

pytestmark = pytest.mark.slow  # real servers and ~400 requests: about 12 s

LAYER = "inference-1"
CHAT = "/v1/chat/completions"
WORDS = "one two three four five six"
METRICS_TEXT = Path(__file__).parent / "data" / "toxiproxy-2.8.0-metrics.txt"


def chat(stream: bool = True, max_tokens: int = 8, model: str = "m") -> dict[str, Any]:
    return {"model": model, "stream": stream, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": WORDS}]}


class Chain:
    """The hop as a stack has it, and clients for its two control APIs."""

    def __init__(self, url: str, layers: HttpFaultsClient, toxiproxy: ToxiproxyClient) -> None:
        self.url = url
        self.layers = layers
        self.toxiproxy = toxiproxy

    def add(self, type: str, name: str = "f", probability: float = 1.0,
            match: Selector | None = None, **attributes: Any) -> None:
        self.layers.add_fault(LAYER, FaultRule(name=name, type=type, probability=probability,
                                               match=match or Selector(), attributes=attributes))

    def stream(self, client: httpx.Client, body: dict[str, Any] | None = None,
               ) -> tuple[float, StreamOutcome]:
        """One streamed chat request, measured like the load generator does."""
        t0 = time.perf_counter()
        with client.stream("POST", CHAT, json=body or chat()) as response:
            assert response.status_code == 200
            lines = (line.encode() + b"\n" for line in response.iter_lines())
            return t0, consume_sse(_transport_errors(lines))


def _transport_errors(lines: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from lines
    except httpx.ReadTimeout as exc:
        raise TimeoutError(str(exc)) from exc
    except httpx.TransportError as exc:  # what a cut looks like to httpx
        raise ConnectionResetError(str(exc)) from exc


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(build_app(ServiceIdentity(LAYER, "inference")),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def chain_setup(upstream: str) -> Iterator[Chain]:
    with BackgroundLayers() as layer_server, BackgroundServer() as proxy_server, \
            HttpFaultsClient(layer_server.url) as layers, \
            ToxiproxyClient(proxy_server.url) as toxiproxy:
        layer = layers.populate([LayerConfig(name=LAYER, listen="127.0.0.1:0",
                                             upstream=upstream)])[0]
        proxy = toxiproxy.create_proxy(LAYER, upstream=layer.listen)
        yield Chain(f"http://{proxy.listen}", layers, toxiproxy)


@pytest.fixture
def chain(chain_setup: Chain) -> Iterator[Chain]:
    yield chain_setup
    chain_setup.layers.reset()
    chain_setup.toxiproxy.reset()


@pytest.fixture
def client(chain: Chain) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=chain.url, timeout=10) as http:
        yield http


# -- the faults' measurable effects -------------------------------------------------
def test_no_fault_the_stream_passes_whole(chain: Chain, client: httpx.Client) -> None:
    _, out = chain.stream(client)
    assert out.done and out.error is None and len(out.chunk_times) == 8


def test_stream_cut_after_3_events_gives_exactly_3_content_events_then_the_cut(
        chain: Chain, client: httpx.Client) -> None:
    chain.add("stream_cut", after_events=3)
    _, out = chain.stream(client)
    assert len(out.chunk_times) == 3 and not out.done
    assert classify_error(200, out.error) == "stream_cut"
    counters = chain.layers.fault(LAYER, "f").counters
    assert (counters.matched, counters.fired) == (1, 1) and counters.bytes_forwarded > 0


def test_stream_cut_after_bytes_cuts_inside_the_body(chain: Chain, client: httpx.Client) -> None:
    chain.add("stream_cut", after_bytes=50)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(CHAT, json=chat())


def test_first_byte_delay_300_ms_raises_ttft_by_300_ms(chain: Chain,
                                                       client: httpx.Client) -> None:
    def ttft_ms() -> float:
        t0, out = chain.stream(client)
        assert out.done
        return (out.chunk_times[0] - t0) * 1000

    base = statistics.median(ttft_ms() for _ in range(9))
    chain.add("first_byte_delay", delay_ms=300)
    slow = statistics.median(ttft_ms() for _ in range(9))
    assert slow - base == pytest.approx(300, abs=60)


def test_http_error_429_at_probability_half_hits_about_half_of_400(
        chain: Chain, client: httpx.Client) -> None:
    chain.add("http_error", probability=0.5, status=429, retry_after_s=2)
    statuses = [client.post(CHAT, json=chat(stream=False, max_tokens=1)) for _ in range(400)]
    hits = sum(r.status_code == 429 for r in statuses)
    assert {r.status_code for r in statuses} == {200, 429}
    assert all(r.headers["retry-after"] == "2" for r in statuses if r.status_code == 429)
    # Two-sided binomial test: a fair coin explains the count (p > 0.001).
    assert binomtest(hits, 400, 0.5).pvalue > 0.001
    counters = chain.layers.fault(LAYER, "f").counters
    assert (counters.matched, counters.fired) == (400, hits)


def test_abort_resets_before_any_response(chain: Chain, client: httpx.Client) -> None:
    chain.add("abort")
    with pytest.raises(httpx.TransportError):
        client.post(CHAT, json=chat())


def test_error_event_ends_the_stream_with_an_in_band_error(chain: Chain,
                                                           client: httpx.Client) -> None:
    chain.add("stream_error_event", after_events=2)
    _, out = chain.stream(client)
    assert len(out.chunk_times) == 2 and not out.done
    assert classify_error(200, out.error) == "stream_error_event"
    _, again = chain.stream(client)  # the body ended cleanly: the connection is reused
    assert len(again.chunk_times) == 2


def test_malformed_event_is_a_malformed_answer(chain: Chain, client: httpx.Client) -> None:
    chain.add("malformed_event", after_events=1)
    _, out = chain.stream(client)
    assert len(out.chunk_times) == 1 and classify_error(200, out.error) == "malformed"


def test_stall_for_a_while_delays_the_rest_of_the_stream(chain: Chain,
                                                         client: httpx.Client) -> None:
    chain.add("stream_stall", after_events=2, stall_ms=300)
    _, out = chain.stream(client)
    assert out.done and len(out.chunk_times) == 8
    assert out.chunk_times[2] - out.chunk_times[1] >= 0.29


def test_stall_for_good_holds_until_the_client_gives_up_or_the_fault_goes(
        chain: Chain) -> None:
    chain.add("stream_stall", after_events=1)
    with httpx.Client(base_url=chain.url, timeout=0.5) as impatient:
        _, out = chain.stream(impatient)
    assert len(out.chunk_times) == 1 and classify_error(200, out.error) == "stream_stall"
    with httpx.Client(base_url=chain.url, timeout=10) as patient:
        threading.Timer(0.3, chain.layers.remove_fault, (LAYER, "f")).start()
        t0, held = chain.stream(patient)
    assert time.perf_counter() - t0 >= 0.25 and classify_error(200, held.error) == "stream_cut"


def test_flap_switches_the_fault_on_and_off(chain: Chain, client: httpx.Client) -> None:
    chain.add("flap", fault="http_error", fault_params={"status": 503}, period_ms=400,
              on_ms=200)
    seen = []
    for _ in range(40):
        seen.append(client.get("/health").status_code)
        time.sleep(0.02)
    assert {200, 503} <= set(seen)
    # Runs, not noise: at 50 ms a step a 200 ms phase lasts several steps.
    flips = sum(a != b for a, b in itertools.pairwise(seen))
    assert flips < len(seen) / 2


def test_selector_on_method_path_model_and_stream(chain: Chain, client: httpx.Client) -> None:
    chain.add("http_error", match=Selector(method="POST", path="/v1/chat/*", model="bad",
                                           stream=True), status=500)
    assert client.post(CHAT, json=chat(model="bad")).status_code == 500
    assert client.post(CHAT, json=chat(model="good")).status_code == 200
    assert client.post(CHAT, json=chat(model="bad", stream=False)).status_code == 200
    assert client.get("/health").status_code == 200
    counters = chain.layers.fault(LAYER, "f").counters
    assert (counters.matched, counters.fired) == (1, 1)


def test_tcp_toxics_still_apply_on_the_same_hop(chain: Chain, client: httpx.Client) -> None:
    chain.toxiproxy.add_toxic(LAYER, "latency", {"latency": 200})
    t0 = time.perf_counter()
    assert client.get("/health").status_code == 200
    assert time.perf_counter() - t0 >= 0.19


# -- validation ------------------------------------------------------------------------
def test_faults_are_validated_with_the_allowed_names() -> None:
    with pytest.raises(HttpFaultError, match="allowed: abort, first_byte_delay"):
        parse_http_fault("teapot")
    with pytest.raises(HttpFaultError, match=r"unknown parameter.*allowed: after_bytes"):
        parse_http_fault("stream_cut", {"after": 3})
    with pytest.raises(HttpFaultError, match="status: Input should be greater"):
        parse_http_fault("http_error", {"status": 200})
    with pytest.raises(HttpFaultError, match="flapping fault cannot be a flap"):
        parse_http_fault("flap", {"fault": "flap"})
    with pytest.raises(ValidationError, match="match: applies to HTTP faults only"):
        FaultSpec(fault="latency", target=TargetSpec(instance=LAYER),
                  match=Selector(method="GET"))


def test_the_api_refuses_bad_faults_in_toxiproxys_error_shape(chain: Chain) -> None:
    with httpx.Client(base_url=chain.layers.url) as api:
        bad = api.post(f"/layers/{LAYER}/faults", json={"name": "x", "type": "nope"})
        missing = api.delete(f"/layers/{LAYER}/faults/none")
    assert bad.status_code == 400 and "unknown HTTP fault" in bad.json()["error"]
    assert missing.json() == {"error": "fault not found: none", "status": 404}


# -- the life cycle, through the fault catalogue -----------------------------------------
class FakeRuntime:
    """A fake runtime: just enough (one running instance) for targets to resolve."""

    def statuses(self) -> list[InstanceStatus]:
        return [InstanceStatus(LAYER, "inference", "inference", None, 1, "",
                               InstanceState.RUNNING)]


def test_the_injector_applies_proves_counts_and_removes_an_http_fault(
        chain: Chain, client: httpx.Client) -> None:
    injector = Injector(FakeRuntime(), chain.toxiproxy, chain.layers)  # type: ignore[arg-type]
    spec = FaultSpec(fault="stream_cut", params={"after_events": 2},
                     target=TargetSpec(instance=LAYER), match=Selector(path=CHAT))
    with injector.applied(spec, "f1") as event:
        assert event.proof is not None and event.proof.ok
        for _ in range(3):
            assert len(chain.stream(client)[1].chunk_times) == 2
        client.get("/health")
    assert event.removal_proof is not None and event.removal_proof.ok
    assert chain.layers.layer(LAYER).faults == []
    traffic = event.http_traffic[LAYER]
    assert (traffic.matched, traffic.fired) == (3, 3) and traffic.bytes_forwarded > 0
    assert event.traffic_proof is not None and event.traffic_proof.source == "counters"


def test_an_http_fault_is_removed_when_the_run_fails_inside_it(chain: Chain) -> None:
    injector = Injector(FakeRuntime(), chain.toxiproxy, chain.layers)  # type: ignore[arg-type]
    spec = FaultSpec(fault="abort", target=TargetSpec(instance=LAYER))
    with pytest.raises(KeyboardInterrupt), injector.applied(spec, "f2"):
        raise KeyboardInterrupt  # Ctrl-C in the middle of the fault window
    assert chain.layers.layer(LAYER).faults == []


def test_without_layers_an_http_fault_says_what_to_do(chain: Chain) -> None:
    injector = Injector(FakeRuntime(), chain.toxiproxy, None)  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="need fault layers"), \
            injector.applied(FaultSpec(fault="abort", target=TargetSpec(instance=LAYER)), "f3"):
        pass


# -- traffic proof with a Toxiproxy that has no stats --------------------------------
def fake_toxiproxy(metrics: str | None) -> ToxiproxyClient:
    """A fake real Toxiproxy (no `stats` in its proxies): /metrics answers the
    recorded text of Shopify Toxiproxy 2.8.0 started with -proxy-metrics (or 404)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return httpx.Response(404, text="404 page not found") if metrics is None \
                else httpx.Response(200, text=metrics)
        if request.url.path.endswith("/toxics") and request.method == "POST":
            return httpx.Response(200, json={"name": "t", "type": "latency"})
        if request.url.path.endswith("/toxics"):
            return httpx.Response(200, json=[{"name": "gatecrash-f1", "type": "latency"}])
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"name": "p1", "listen": "127.0.0.1:1",
                                         "upstream": "127.0.0.1:2", "toxics": []})

    return ToxiproxyClient("http://fake-toxiproxy", transport=httpx.MockTransport(handle))


def test_metrics_of_a_real_toxiproxy_are_read_per_proxy() -> None:
    stats = fake_toxiproxy(METRICS_TEXT.read_text()).metrics_bytes()
    assert stats is not None and (stats["p1"].bytes_upstream, stats["p1"].bytes_downstream) \
        == (311, 756)
    assert fake_toxiproxy(None).metrics_bytes() is None


@pytest.mark.parametrize(("metrics", "source"), [(None, "unavailable"), ("", "unavailable")])
def test_a_toxic_without_readable_traffic_is_marked_unavailable_not_empty(
        metrics: str | None, source: str) -> None:
    class OneProxy(FakeRuntime):
        def statuses(self) -> list[InstanceStatus]:
            return [InstanceStatus("p1", "p", "p", None, 1, "", InstanceState.RUNNING)]

    injector = Injector(OneProxy(), fake_toxiproxy(metrics))  # type: ignore[arg-type]
    spec = FaultSpec(fault="latency", target=TargetSpec(instance="p1"))
    with injector.applied(spec, "f1") as event:
        pass
    assert event.traffic == {} and event.traffic_proof is not None
    assert event.traffic_proof.source == source


def test_an_unreachable_layer_api_is_a_chaos_error() -> None:
    with HttpFaultsClient("http://127.0.0.1:9", timeout_s=0.5) as dead, \
            pytest.raises(ChaosError, match="cannot reach the fault-layer API"):
        dead.layer(LAYER)
