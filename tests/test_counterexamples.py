"""The reference's error-path bugs that only faults reach (issue 9), one replay file each in
tests/counterexamples/: on `reference` the case still violates its property (the bug is
there, and the file says which section of reference-protocol.md explains it); the same case
on `fixed` is clean (the fix holds)."""
import copy
import glob
import os

import pytest

from phaselab import replay

HERE = os.path.dirname(__file__)
CASES = sorted(glob.glob(os.path.join(HERE, "counterexamples", "reference-*.json")))


def test_there_are_counterexamples():
    assert len(CASES) >= 5


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p) for p in CASES])
def test_reference_still_fails_and_fixed_is_clean(path):
    c = replay.load(path)
    assert "§" in c["note"]  # the reference-protocol.md section that explains it
    out = replay.run_case(c["scenario"], c["seed"], c["schedule"])
    assert c["property"] in out.ids, (c["note"], out.ids)
    raw = copy.deepcopy(c["scenario"])
    raw["variant"] = {"name": "fixed"}
    fixed = replay.run_case(raw, c["seed"], c["schedule"])
    assert fixed.violations == [], [str(v) for v in fixed.violations]
