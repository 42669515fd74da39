"""How deep decoded TOML or JSON may nest.

Python's TOML and JSON parsers recurse once per level and raise RecursionError near 1000;
deep but parseable documents would make later code (deepcopy, checkers) recurse too. No
phaselab input needs more than a handful of levels, so anything past MAX_DEPTH is refused.
"""
from __future__ import annotations

import json
import tomllib
from typing import Any

from phaselab.errors import UsageError

MAX_DEPTH = 32


def depth_error(name: str) -> UsageError:
    return UsageError(f"{name}: nested more than {MAX_DEPTH} levels deep; phaselab inputs "
                      f"need only a few")


def check_depth(value: Any, name: str, limit: int = MAX_DEPTH) -> None:
    """Walk without recursion; raise a UsageError naming `name` past `limit` levels."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if d > limit:
            raise depth_error(name)
        stack.extend((c, d + 1) for c in children)


def loads_json(text: str, name: str) -> Any:
    """json.loads with depth and non-finite numbers (NaN, Infinity) refused."""
    def no_constant(c: str):
        raise ValueError(f"{c} is not a number JSON allows")
    try:
        value = json.loads(text, parse_constant=no_constant)
    except RecursionError:
        raise depth_error(name) from None
    check_depth(value, name)
    return value


def loads_toml(text: str, name: str) -> dict:
    try:
        value = tomllib.loads(text)
    except RecursionError:
        raise depth_error(name) from None
    check_depth(value, name)
    return value
