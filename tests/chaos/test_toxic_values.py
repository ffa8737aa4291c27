"""Toxic values as pure data: registry, parsing, defaults, and their arithmetic."""

from __future__ import annotations

import pytest

from chaos.errors import ToxiproxyError
from chaos.toxiproxy import TOXICS
from chaos.toxiproxy.toxics import Latency, Slicer
from chaos.toxiproxy.wrapper import Stream, parse_toxic, update_toxic

UPSTREAM_TYPES = {
    "noop",
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
}


def test_registry_has_every_upstream_toxic() -> None:
    assert set(TOXICS) == UPSTREAM_TYPES


def test_defaults_of_a_new_toxic() -> None:
    toxic = parse_toxic({"type": "latency"})
    assert (toxic.name, toxic.stream, toxic.toxicity) == (
        "latency_downstream",
        Stream.DOWNSTREAM,
        1.0,
    )
    assert toxic.kind == Latency(latency_ms=0, jitter_ms=0)
    assert toxic.to_json()["attributes"] == {"latency": 0, "jitter": 0}


def test_update_merges_attributes_and_keeps_identity() -> None:
    toxic = parse_toxic({"type": "slicer", "stream": "UPSTREAM", "attributes": {"average_size": 9}})
    updated = update_toxic(toxic, {"attributes": {"delay": 3}, "toxicity": 0.5, "name": "ignored"})
    assert updated.name == "slicer_upstream" and updated.stream is Stream.UPSTREAM
    assert updated.kind == Slicer(average_size=9, size_variation=0, delay_us=3)
    assert updated.toxicity == 0.5


@pytest.mark.parametrize(
    "body",
    [
        {"type": "latency", "attributes": {"latency": True}},
        {"type": "latency", "attributes": {"latency": 1.5}},
        {"type": "latency", "attributes": {"latency": -1}},
        {"type": "latency", "attributes": []},
        {"type": "latency", "toxicity": "1"},
        {"type": "slicer", "attributes": {"average_size": 0}},
        {"type": 3},
        [],
    ],
)
def test_invalid_bodies_are_400(body: object) -> None:
    with pytest.raises(ToxiproxyError) as caught:
        parse_toxic(body)
    assert caught.value.status == 400


@pytest.mark.parametrize(("total", "average", "variation"), [(1000, 100, 20), (7, 3, 0), (1, 1, 0)])
def test_slicer_sizes_cover_the_data(total: int, average: int, variation: int) -> None:
    sizes = Slicer(average_size=average, size_variation=variation).sizes(total)
    assert sum(sizes) == total
    assert all(0 < size <= average + variation for size in sizes)


def test_latency_jitter_is_uniform_within_bounds() -> None:
    delays = [Latency(latency_ms=100, jitter_ms=10).delay_s() for _ in range(500)]
    assert all(0.09 <= delay < 0.11 for delay in delays)
    assert len(set(delays)) > 5
