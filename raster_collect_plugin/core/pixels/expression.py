"""Band-math expressions parsed safely: arithmetic on band names and numbers, nothing else.

An expression such as ``(nir - red) / (nir + red + 1e-10)`` is parsed with :mod:`ast` and
checked against a whitelist (numbers, names, + - * / **, unary minus, parentheses). The same
parsed tree is evaluated on arrays (numpy, xarray, dask) and rendered as JavaScript for Sentinel
Hub evalscripts, so a formula is written once.

Expressions are bounded so that evaluating one is cheap: at most ``MAX_LENGTH`` characters and
``MAX_NODES`` parts, constants of magnitude at most ``MAX_CONSTANT``, and an exponent must be a
plain number of magnitude at most ``MAX_EXPONENT`` (``9**9**9`` is refused, not computed).
Numbers are evaluated as floats, so no arbitrary-precision integer arithmetic ever runs.
A value that is not finite (a division by zero, ``0 ** -1``) is NaN, as the evalscripts treat
it (no observation), never an infinity that a composite or a zone's mean would carry.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Mapping

import numpy as np

_BINARY: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: np.true_divide, ast.Pow: np.power,  # x / 0 is inf (later NaN), never an error
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
MAX_LENGTH = 500
MAX_NODES = 200
MAX_CONSTANT = 1e9
MAX_EXPONENT = 16


class ExpressionError(ValueError):
    """The expression is not allowed or refers to unknown names."""


@dataclass(frozen=True)
class Expression:
    """A validated band-math expression."""

    text: str
    tree: ast.Expression
    names: FrozenSet[str]

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Evaluate with ``values`` (band arrays and parameters) bound to the names."""
        missing = sorted(self.names - set(values))
        if missing:
            raise ExpressionError(f"expression {self.text!r} needs {missing}")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return finite_or_nan(_evaluate(self.tree.body, values))

    def to_javascript(self, rename: Mapping[str, str] = None) -> str:
        """The expression as JavaScript (``a ** b`` becomes ``Math.pow(a, b)``)."""
        return _javascript(self.tree.body, dict(rename or {}))


def finite_or_nan(value: Any) -> Any:
    """``value`` with every infinity made NaN (numbers, numpy, xarray and dask arrays)."""
    if np.ndim(value) == 0 and not hasattr(value, "dims"):
        return value if np.isfinite(value) else float("nan")
    if hasattr(value, "dims"):  # xarray keeps its coordinates
        return value.where(np.isfinite(value))
    return np.where(np.isfinite(value), value, np.nan)


def parse(text: str) -> Expression:
    """Parse and validate ``text``; raises ExpressionError naming the offending part."""
    text = str(text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; at most "
                              f"{MAX_LENGTH} are allowed: simplify it")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse expression {_clip(text)!r}: {error.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"the expression {_clip(text)!r} is nested too deeply: "
                              "simplify it") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"the expression has {len(nodes)} parts; at most {MAX_NODES} "
                              "are allowed: simplify it")
    names = set()
    for node in nodes:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            _check_exponent(text, node.right)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool) and not abs(node.value) <= MAX_CONSTANT:
            raise ExpressionError(f"the constant {_clip(str(node.value))} is too large: "
                                  f"numbers up to {MAX_CONSTANT:g} are allowed")
        if isinstance(node, (ast.Expression, ast.Load)) or type(node) in _BINARY:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            continue
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            continue
        if isinstance(node, (ast.USub, ast.UAdd)):
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            continue
        if isinstance(node, ast.Name) and node.id.isidentifier() and not node.id.startswith("_"):
            names.add(node.id)
            continue
        snippet = ast.get_source_segment(text.strip(), node) or type(node).__name__
        raise ExpressionError(
            f"{snippet!r} is not allowed in a band expression: use band names, numbers, "
            f"+ - * / ** and parentheses")
    return Expression(text.strip(), tree, frozenset(names))


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[:size] + "..."


def _check_exponent(text: str, node: ast.AST) -> None:
    value = node
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, (ast.USub, ast.UAdd)):
        value = value.operand
    if not (isinstance(value, ast.Constant) and isinstance(value.value, (int, float))
            and not isinstance(value.value, bool) and abs(value.value) <= MAX_EXPONENT):
        snippet = ast.get_source_segment(text.strip(), node) or "the exponent"
        raise ExpressionError(f"exponent {_clip(snippet)!r} is not allowed: an exponent must "
                              f"be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}")


def _evaluate(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Constant):
        return float(node.value)  # never Python's unbounded integers
    if isinstance(node, ast.Name):
        return values[node.id]
    raise ExpressionError(f"unsupported node {type(node).__name__}")


def _javascript(node: ast.AST, rename: Dict[str, str]) -> str:
    if isinstance(node, ast.BinOp):
        left, right = _javascript(node.left, rename), _javascript(node.right, rename)
        if isinstance(node.op, ast.Pow):
            return f"Math.pow({left}, {right})"
        return f"({left} {_SYMBOLS[type(node.op)]} {right})"
    if isinstance(node, ast.UnaryOp):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"({sign}{_javascript(node.operand, rename)})"
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.Name):
        return rename.get(node.id, node.id)
    raise ExpressionError(f"unsupported node {type(node).__name__}")
