"""Hypotheses: short readable expressions over the pinned metrics.

    availability{domain=identity}@fault >= 0.999
    p99_ms@fault <= 3 * p99_ms@baseline
    requests_lost <= 0
    p95_ms{domain=identity}@fault[dual] <= p95_ms{domain=identity}@fault[single]

A metric reference is `name{key=value,...}@window[arch]`; the selector, the
window and the architecture are each optional (`[arch]` names the run of one
architecture, for hypotheses across architectures). Both sides of the
comparison are arithmetic over numbers and references. Parsing is pure and
validated before a run starts; evaluation takes a lookup function (of numbers,
or of `Estimate`s for the interval of a side), so a tolerance check is a
one-line test (chaostoolkit's lesson).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from dashboards.intervals import Estimate, combine, observed
from gatecrash.errors import InputError

__all__ = ["MIRRORED", "Comparison", "HypothesisError", "Lookup", "MetricRef", "Outcome",
           "parse"]

Lookup = Callable[[str, dict[str, str], "str | None"], float]
# `a op b` is `b MIRRORED[op] a`.
MIRRORED = {"<=": ">=", ">=": "<=", "<": ">", ">": "<", "==": "==", "!=": "!="}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<selector>\{[^{}]*\})
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}@,=()+\-*/\[\]])
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
    arch: str | None = None

    def __str__(self) -> str:
        sel = "{" + ",".join(f"{k}={v}" for k, v in self.selector) + "}" if self.selector else ""
        return (f"{self.name}{sel}" + (f"@{self.window}" if self.window else "")
                + (f"[{self.arch}]" if self.arch else ""))


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Expr
    right: Expr

    def __str__(self) -> str:
        if self.op == "-" and self.left == 0.0:
            return f"-{_text(self.right, True)}"
        tight = self.op in "*/"
        return f"{_text(self.left, tight)} {self.op} {_text(self.right, tight or self.op == '-')}"


def _text(expr: Expr, tight: bool = False) -> str:
    if isinstance(expr, float):
        return f"{expr:g}"
    if isinstance(expr, BinOp) and tight and expr.op in "+-":
        return f"({expr})"
    return str(expr)


Expr = Union[float, MetricRef, BinOp]  # noqa: UP007 - recursive alias needs Union


def _constant(x: float) -> Callable[[MetricRef], float]:
    def value(_ref: MetricRef) -> float:
        return x

    return value


def _eval_refs(expr: Expr, values: Callable[[MetricRef], float]) -> float:
    if isinstance(expr, float):
        return expr
    if isinstance(expr, MetricRef):
        return float(values(expr))
    return _arith(expr.op, _eval_refs(expr.left, values), _eval_refs(expr.right, values))


def _arith(op: str, a: float, b: float) -> float:
    if op == "/":
        return a / b if b else (math.inf if a else math.nan)
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def _eval(expr: Expr, lookup: Lookup) -> float:
    return _eval_refs(expr, lambda ref: lookup(ref.name, dict(ref.selector), ref.window))


def _interval(expr: Expr, lookup: Callable[[MetricRef], Estimate]) -> Estimate:
    """The side's value and interval, by interval arithmetic over the refs' estimates
    (constants are exact: `2 * X + 50` is X's interval scaled)."""
    if isinstance(expr, float):
        return observed(expr, 0)
    if isinstance(expr, MetricRef):
        return lookup(expr)
    return combine(expr.op, _interval(expr.left, lookup), _interval(expr.right, lookup))


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

    def archs(self) -> list[str]:
        """The architectures its references name, in order of appearance."""
        named = [r.arch for r in self.metrics() if r.arch]
        return list(dict.fromkeys(named))

    def side_of(self, ref: MetricRef) -> tuple[Expr, str, Expr]:
        """(the side holding `ref`, the operator read from that side, the other side)."""
        if ref in refs(self.left):
            return self.left, self.op, self.right
        return self.right, MIRRORED[self.op], self.left

    @staticmethod
    def point(expr: Expr, values: Callable[[MetricRef], float]) -> float:
        return _eval_refs(expr, values)

    @staticmethod
    def interval(expr: Expr, lookup: Callable[[MetricRef], Estimate]) -> Estimate:
        return _interval(expr, lookup)

    @staticmethod
    def affine(expr: Expr, ref: MetricRef) -> tuple[float, float] | None:
        """(k, c) when `expr` is k * ref + c with no other reference, else None."""
        others = [r for r in refs(expr) if r != ref]
        if others:
            return None
        at = [_eval_refs(expr, _constant(x)) for x in (0.0, 1.0, 2.0)]
        k, c = at[1] - at[0], at[0]
        if not all(math.isfinite(v) for v in at) or not math.isclose(at[2] - at[1], k) or k == 0:
            return None
        return k, c

    def bound(self) -> tuple[MetricRef, str, float] | None:
        """(metric, op, threshold) when this reads `k * metric + c op constant` with one
        metric, as `metric op threshold`; else None."""
        found = self.metrics()
        if len(found) != 1:
            return None
        ref = found[0]
        side, op, other = self.side_of(ref)
        affine = self.affine(side, ref)
        if affine is None:
            return None
        k, c = affine
        threshold = (self.point(other, lambda _r: math.nan) - c) / k
        if k < 0:
            op = MIRRORED[op]
        return ref, op, threshold

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
        arch = None
        if self._peek()[1] == "[":
            self.i += 1
            arch = self._take("name", expected="an architecture (single, dual)")
            self._take("punct", "]")
        return MetricRef(name, tuple(selector), window, arch)


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
