"""Counterexamples the search found in `fixed` and that were fixed, replayed from their files.

Each file in tests/regressions/ is a replay case (phaselab/replay.py). Replayed as saved it
must be clean now; a case with `fails_with` (the switch values before the fix) must still show
its violation with them, so the test proves it could fail.
"""
import copy
import glob
import os

import pytest

from phaselab import replay

HERE = os.path.dirname(__file__)
CASES = sorted(glob.glob(os.path.join(HERE, "regressions", "*.json")))


def test_there_are_regressions():
    assert CASES


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p) for p in CASES])
def test_fixed_case_is_clean_now(path):
    _, c, out = replay.replay(path)
    assert out.violations == [], (c["note"], [str(v) for v in out.violations])


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p) for p in CASES])
def test_case_fails_without_its_fix(path):
    c = replay.load(path)
    if not c.get("fails_with"):
        pytest.skip("a checker fix: the old checker is gone")
    raw = copy.deepcopy(c["scenario"])
    raw["variant"]["switches"] = {**raw["variant"].get("switches", {}), **c["fails_with"]}
    out = replay.run_case(raw, c["seed"], c["schedule"])
    assert set(c["violated"]) <= set(out.ids)
