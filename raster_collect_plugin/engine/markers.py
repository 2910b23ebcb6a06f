"""Environment markers (PEP 508) of the shipped lock files, evaluated with the standard library
only: the doctor reads the locks in a Python that may have nothing installed."""

from __future__ import annotations

import os
import platform
import re
import sys
from typing import Dict, List, Optional

from .versions import compare

_TOKEN = re.compile(r"\s*(\(|\)|===|==|!=|<=|>=|~=|<|>|\bnot in\b|\bin\b|\band\b|\bor\b|"
                    r"'[^']*'|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_.]*)")
_VERSION_VARIABLES = {"python_version", "python_full_version", "implementation_version",
                      "platform_release"}


def default_environment() -> Dict[str, str]:
    """The marker variables of the running Python."""
    return {
        "sys_platform": sys.platform, "platform_machine": platform.machine(),
        "platform_system": platform.system(), "os_name": os.name,
        "python_version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "python_full_version": platform.python_version(),
        "implementation_name": sys.implementation.name,
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "implementation_version": platform.python_version(),
    }


def _tokens(text: str) -> List[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read the marker {text!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _compare(left: str, operator: str, right: str, versions: bool) -> bool:
    if operator == "in":
        return left in right
    if operator == "not in":
        return left not in right
    if versions:
        return compare(left, operator, right)
    return {"==": left == right, "===": left == right, "!=": left != right}.get(operator, False)


def evaluate(marker: str, environment: Optional[Dict[str, str]] = None) -> bool:
    """True when ``marker`` holds in ``environment`` (default: the running Python)."""
    values = dict(default_environment(), **(environment or {}))
    tokens = _tokens(marker)
    position = 0

    def value() -> tuple:
        nonlocal position
        token = tokens[position]
        position += 1
        if token[0] in "'\"":
            return token[1:-1], False
        return values.get(token, ""), token in _VERSION_VARIABLES

    def atom() -> bool:
        nonlocal position
        if tokens[position] == "(":
            position += 1
            result = either()
            position += 1  # ")"
            return result
        left, left_version = value()
        operator = tokens[position]
        position += 1
        right, right_version = value()
        return _compare(left, operator, right, left_version or right_version)

    def both() -> bool:
        nonlocal position
        result = atom()
        while position < len(tokens) and tokens[position] == "and":
            position += 1
            result = atom() and result
        return result

    def either() -> bool:
        nonlocal position
        result = both()
        while position < len(tokens) and tokens[position] == "or":
            position += 1
            result = both() or result
        return result

    return either()
