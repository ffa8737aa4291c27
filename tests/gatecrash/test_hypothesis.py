"""The hypothesis language: parsing, errors that point at the column, evaluation."""

from __future__ import annotations

import math
import re

import pytest

from gatecrash.hypothesis import HypothesisError, MetricRef, parse

VALUES = {("availability", "fault"): 0.9995, ("p99_ms", "fault"): 30.0,
          ("p99_ms", "baseline"): 12.0, ("requests_lost", None): 0.0}


def lookup(name: str, selector: dict[str, str], window: str | None) -> float:
    return VALUES.get((name, window), math.nan)


def test_metric_reference_with_selector_and_window() -> None:
    refs = parse("ratio{route=fallback-cache,domain=identity}@fault >= 0.95").metrics()
    assert refs == [MetricRef("ratio", (("route", "fallback-cache"), ("domain", "identity")),
                              "fault")]


def test_selector_values_with_dots_and_alternatives() -> None:
    ref = parse("availability{endpoint=orders.list|orders.create}@fault > 0").metrics()[0]
    assert ref.selector == (("endpoint", "orders.list|orders.create"),)


def test_arithmetic_on_the_right_side() -> None:
    outcome = parse("p99_ms@fault <= 3 * p99_ms@baseline - 1").evaluate(lookup)
    assert (outcome.holds, outcome.measured, outcome.threshold) == (True, 30.0, 35.0)


def test_run_metric_without_window() -> None:
    assert parse("requests_lost <= 0").evaluate(lookup).holds is True


def test_failing_comparison() -> None:
    assert parse("availability@fault >= 0.9999").evaluate(lookup).holds is False


def test_unmeasurable_side_is_undecided() -> None:
    assert parse("p50_ms@recovery <= 10").evaluate(lookup).holds is None


@pytest.mark.parametrize(("text", "column", "expected"), [
    ("availability@fault >=", 22, "a number, a metric name or '('"),
    ("availability{domain}@fault > 1", 14, "key=value"),
    ("x > 1 1", 7, "the end of the expression"),
    ("availability@ > 1", 15, "a window name"),
    ("availability@fault 0.9", 20, "a comparison"),
])
def test_errors_say_where_and_what(text: str, column: int, expected: str) -> None:
    with pytest.raises(HypothesisError, match=re.escape(f"column {column} expected {expected}")):
        parse(text)


def test_empty_hypothesis() -> None:
    with pytest.raises(HypothesisError, match="empty hypothesis"):
        parse("  ")


def test_references_name_their_architecture_in_brackets() -> None:
    comparison = parse("p95_ms{domain=identity}@fault[dual] <= "
                       "p95_ms{domain=identity}@fault[single]")
    assert [r.arch for r in comparison.metrics()] == ["dual", "single"]
    assert comparison.archs() == ["dual", "single"]
    assert str(parse("capacity_rps[dual] >= 1.5 * capacity_rps[single]").metrics()[0]) == \
        "capacity_rps[dual]"


def test_an_unclosed_architecture_bracket_says_what_is_missing() -> None:
    with pytest.raises(HypothesisError, match=r"column 19 expected '\]', found '<= 3'"):
        parse("p95_ms@fault[dual <= 3")


def test_the_side_holding_the_metric_and_its_affine_form() -> None:
    comparison = parse("0.05 >= 2 * (availability@fault - 0.01)")
    ref = comparison.metrics()[0]
    side, op, other = comparison.side_of(ref)
    assert (str(side), op, other) == ("2 * (availability@fault - 0.01)", "<=", 0.05)
    assert comparison.affine(side, ref) == (2.0, -0.02)
    assert comparison.affine(parse("1 / availability@fault > 1").left, ref) is None
