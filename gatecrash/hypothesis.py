"""Hypotheses: short readable expressions over the pinned metrics.

    availability{domain=identity}@fault >= 0.999
    p99_ms@fault <= 3 * p99_ms@baseline
    requests_lost <= 0

A metric reference is `name{key=value,...}@window`; both sides of the
comparison are arithmetic over numbers and references. Parsing is pure and
validated before a run starts; evaluation takes a lookup function, so a
tolerance check is a one-line test (chaostoolkit's lesson).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from gatecrash.errors import InputError

__all__ = ["Comparison", "HypothesisError", "Lookup", "MetricRef", "Outcome", "parse"]

Lookup = Callable[[str, dict[str, str], "str | None"], float]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<selector>\{[^{}]*\})
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}@,=()+\-*/])
  | (?P<value>"[^"]*"|'[^']*')
""", re.VERBOSE)
# A selector value: names like fallback-cache, orders.list, alternatives with `|`.
_PAIR = re.compile(r"""\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*
                       (?P<value>[A-Za-z0-9_.:|\-]+|"[^"]*"|'[^']*')\s*$""", re.VERBOSE)
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
    "==": operator.eq, "!=": operator.ne,
}


class HypothesisError(InputError):
    """An expression that does not parse; says where and what was expected."""


@dataclass(frozen=True)
class MetricRef:
    name: str
    selector: tuple[tuple[str, str], ...] = ()
    window: str | None = None

    def __str__(self) -> str:
        sel = "{" + ",".join(f"{k}={v}" for k, v in self.selector) + "}" if self.selector else ""
        return f"{self.name}{sel}" + (f"@{self.window}" if self.window else "")


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Expr
    right: Expr


Expr = Union[float, MetricRef, BinOp]  # noqa: UP007 - recursive alias needs Union


def _eval(expr: Expr, lookup: Lookup) -> float:
    if isinstance(expr, float):
        return expr
    if isinstance(expr, MetricRef):
        return float(lookup(expr.name, dict(expr.selector), expr.window))
    a, b = _eval(expr.left, lookup), _eval(expr.right, lookup)
    if expr.op == "/":
        return a / b if b else (math.inf if a else math.nan)
    return {"+": a + b, "-": a - b, "*": a * b}[expr.op]


def refs(expr: Expr) -> list[MetricRef]:
    if isinstance(expr, MetricRef):
        return [expr]
    if isinstance(expr, BinOp):
        return refs(expr.left) + refs(expr.right)
    return []


@dataclass(frozen=True)
class Outcome:
    holds: bool | None  # None: a side could not be measured (NaN)
    measured: float
    threshold: float


@dataclass(frozen=True)
class Comparison:
    text: str
    left: Expr
    op: str
    right: Expr

    def metrics(self) -> list[MetricRef]:
        return refs(self.left) + refs(self.right)

    def evaluate(self, lookup: Lookup) -> Outcome:
        measured, threshold = _eval(self.left, lookup), _eval(self.right, lookup)
        if math.isnan(measured) or math.isnan(threshold):
            return Outcome(None, measured, threshold)
        return Outcome(COMPARATORS[self.op](measured, threshold), measured, threshold)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                self._fail(pos, "a number, a metric name, an operator or a bracket")
            assert m is not None and m.lastgroup is not None
            if m.lastgroup != "ws":
                self.tokens.append((m.lastgroup, m.group(), pos))
            pos = m.end()
        self.i = 0

    def _fail(self, pos: int, expected: str) -> None:
        got = self.text[pos:pos + 12] or "end of expression"
        raise HypothesisError(f"hypothesis {self.text!r}: at column {pos + 1} expected "
                              f"{expected}, found {got!r}")

    def _peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def _take(self, kind: str, value: str | None = None, expected: str = "") -> str:
        tok = self._peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            self._fail(tok[2], expected or repr(value) if value else expected or kind)
        self.i += 1
        return tok[1]

    def comparison(self) -> Comparison:
        left = self.expr()
        op = self._take("op", expected="a comparison (<=, >=, <, >, ==, !=)")
        right = self.expr()
        if self._peek()[0] != "end":
            self._fail(self._peek()[2], "the end of the expression")
        return Comparison(self.text, left, op, right)

    def expr(self) -> Expr:
        node = self.term()
        while self._peek()[1] in ("+", "-") and self._peek()[0] == "punct":
            op = self._take("punct")
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.factor()
        while self._peek()[1] in ("*", "/") and self._peek()[0] == "punct":
            op = self._take("punct")
            node = BinOp(op, node, self.factor())
        return node

    def factor(self) -> Expr:
        kind, value, pos = self._peek()
        if kind == "num":
            self.i += 1
            return float(value)
        if kind == "punct" and value == "(":
            self.i += 1
            node = self.expr()
            self._take("punct", ")")
            return node
        if kind == "punct" and value == "-":
            self.i += 1
            return BinOp("-", 0.0, self.factor())
        if kind == "name":
            return self.metric()
        self._fail(pos, "a number, a metric name or '('")
        raise AssertionError  # unreachable: _fail raises

    def metric(self) -> MetricRef:
        name = self._take("name")
        selector: list[tuple[str, str]] = []
        kind, value, pos = self._peek()
        if kind == "selector":
            self.i += 1
            for offset, part in _split_pairs(value[1:-1]):
                m = _PAIR.match(part)
                if m is None:
                    self._fail(pos + 1 + offset, "key=value pairs separated by ',' "
                               "(e.g. {domain=identity,route=fallback-cache})")
                assert m is not None
                selector.append((m["key"], m["value"].strip("\"'")))
        window = None
        if self._peek()[1] == "@":
            self.i += 1
            window = self._take("name", expected="a window name (baseline, fault, recovery)")
        return MetricRef(name, tuple(selector), window)


def _split_pairs(body: str) -> list[tuple[int, str]]:
    """Split `a=1,b=2` on commas, keeping each part's offset for error columns."""
    parts, offset = [], 0
    for part in body.split(","):
        parts.append((offset, part))
        offset += len(part) + 1
    return parts if body.strip() else []


def parse(text: str) -> Comparison:
    if not text or not text.strip():
        raise HypothesisError("empty hypothesis: write e.g. 'availability@fault >= 0.99'")
    return _Parser(text.strip()).comparison()
