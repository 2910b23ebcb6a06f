"""Band-math expressions parsed safely: arithmetic on band names and numbers, nothing else.

An expression such as ``(nir - red) / (nir + red + 1e-10)`` is parsed with :mod:`ast` and
checked against a whitelist (numbers, names, + - * / **, unary minus, parentheses). The same
parsed tree is evaluated on arrays (numpy, xarray, dask) and rendered as JavaScript for Sentinel
Hub evalscripts, so a formula is written once.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Mapping

_BINARY: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


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
        return _evaluate(self.tree.body, values)

    def to_javascript(self, rename: Mapping[str, str] = None) -> str:
        """The expression as JavaScript (``a ** b`` becomes ``Math.pow(a, b)``)."""
        return _javascript(self.tree.body, dict(rename or {}))


def parse(text: str) -> Expression:
    """Parse and validate ``text``; raises ExpressionError naming the offending part."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse expression {text!r}: {error.msg}") from None
    names = set()
    for node in ast.walk(tree):
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


def _evaluate(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Constant):
        return node.value
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
