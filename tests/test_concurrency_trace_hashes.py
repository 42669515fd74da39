"""Issue 11's hard constraint: adding the scaling modes leaves CONCURRENCY traces untouched.

The hashes were taken from main's code without the modes (commit 1be003d; the reference
case re-taken from main at 6c687c2, whose c11c7eb changed the reference's whole-second
elapsed values), so a change to the actors, the driver or the header that moves a baseline
trace by one byte fails here and everybody's regressions stay where they were.
"""
import hashlib

import pytest

from protocol.trace import dumps
from simhelp import baseline, run_scenario

BEFORE_THE_MODES = [
    (1, "fixed", [], "d6cad6c301c793a1a118c085c5cce697f4e3f3d4b38c4e035b696a01f76f7be0"),
    (7, "reference", [], "c0413d80a51ae759424df322c24aa1f180373faa92a7192ebf71819e81758121"),
    (3, "fixed", ["bulk_queries=true"],
     "bafcadf65e2ff0d522c3cd8c711358405ff8830849a4eb0b071cab638b31a600"),
    (2, "reference", ["warmup_s=0", "dashboards=1"],
     "ed7c8a6f92fa1c7871eea32040a904e1623899995a5bbcbf8f619cae24b7adb5"),
]


@pytest.mark.parametrize("seed,variant,sets,digest", BEFORE_THE_MODES)
def test_concurrency_trace_is_byte_identical_to_before_the_modes(seed, variant, sets, digest):
    res = run_scenario(baseline(), seed=seed, variant=variant, sets=sets)
    got = hashlib.sha256("\n".join(dumps(r) for r in res.records).encode()).hexdigest()
    assert got == digest
