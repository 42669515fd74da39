"""Shared pieces of the loader fuzz tests (tests/test_fuzz_*.py): arbitrary JSON/TOML-like
values, mutations of a valid document, and the one rule every loader must follow: it returns
a valid object or raises the project's usage error; anything else is a bug.

Inputs a fuzz test found are kept in tests/fuzz_corpus/<loader>/ and replayed by
tests/test_fuzz_corpus.py.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

from hypothesis import strategies as st

from phaselab.errors import UsageError
from phaselab.scenario import ScenarioError

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
USAGE_ERRORS = (UsageError, ScenarioError)

_NUMBERS = st.one_of(
    st.integers(-10, 10), st.integers(-2 ** 63, 2 ** 63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 0.0, -1, 1e-9, 1e-300, 1e12, 1e30, 1e308, 10 ** 30, -0.0,
                     math.inf, -math.inf, math.nan]))
SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=12),
                    st.sampled_from(["fixed", "reference", "uniform", "lognormal", "poll",
                                     "push", "nan", "inf", "1", "", "run", "RUNNING"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def paths(doc, prefix=()):
    """Every (path, value) inside a JSON-like document, the root excluded."""
    out = []
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        return out
    for k, v in items:
        out.append((prefix + (k,), v))
        out.extend(paths(v, prefix + (k,)))
    return out


@st.composite
def mutated(draw, doc, values=VALUES, max_edits: int = 3):
    """`doc` with 1..max_edits edits: a value replaced, a key deleted or a key added."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_edits))):
        where = paths(doc)
        if not where:
            break
        path, _old = draw(st.sampled_from(where))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(values)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(values)
    return doc


def loads_or_usage_error(fn, *args):
    """Call a loader; a usage error is an allowed outcome (returns None), anything else
    propagates and fails the test."""
    try:
        return fn(*args)
    except USAGE_ERRORS:
        return None
