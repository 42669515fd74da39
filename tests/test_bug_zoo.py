"""The bug zoo: each known regression, as a preset of protocol/variants.py, is found by the
property search within a stated example budget, and the shrunk counterexample names the
property it breaks. Budgets are derandomized example counts (profile-independent), so each
test is reproducible and fails if the search stops catching its bug.
"""
import pytest

from proptest import SMALL, assert_found_and_replays, describe, search

ZOO = [
    # (preset, example budget, properties the shrunk counterexample may name)
    # seed issue 1: the wait loop moves its cursor over SET_PHASE (rare at default timings:
    # the search has to find a slow status read around the RUNNING write)
    ("wait-loop-swallows-set-phase", 150, {"EV-NO-SWALLOW"}),
    # seed issue 2: pools of 8 created after the wait: the start-up-time property
    ("slow-pool-start", 50, {"RUN-START-LATENCY", "HB-READY-MEANS-READY"}),
    # seed issue 3: qpsHistory pushed during PROCESSING
    ("qps-history-in-processing", 150, {"UI-QPS-HISTORY-GATE"}),
    # seed issue 4: enrichment read from child rows first, the stream never sees COMPLETED
    ("ws-enrichment-children-first", 150, {"WS-NO-STUCK-PROCESSING", "WS-END-RULE"}),
    # ours: the reconcile adopts MEASUREMENT without running the hook
    ("reconcile-skips-hook", 300, {"PH-HOOK-ONCE", "TAG-MEASUREMENT"}),
    # ours: the hook bumps the epoch before it ALTERs the sessions
    ("epoch-before-tag", 50, {"EPOCH-TAG-AGREE"}),
    # ours: READY written before executor setup
    ("ready-before-setup", 50, {"HB-READY-MEANS-READY"}),
    # ours: phase events copied as is, so a late SET_PHASE(WARMUP) moves a worker back
    ("phase-copy-regresses", 1000, {"PH-NO-REGRESS", "PH-HOOK-ONCE"}),
    # ours: the duration counted from START_TIME, PREPARING eats the measurement
    ("duration-from-start-time", 50, {"RUN-MEASUREMENT-LENGTH"}),
]


@pytest.mark.parametrize("preset,budget,expected", ZOO, ids=[z[0] for z in ZOO])
def test_search_finds_and_shrinks(preset, budget, expected, tmp_path):
    case = search(preset, budget, SMALL, only=expected)  # the bug, not other findings
    assert_found_and_replays(preset, budget, expected, case, tmp_path)  # a small file


def test_fixed_passes_the_zoo_search():
    """The same search on `fixed` finds nothing, so the zoo tests measure the bugs."""
    case = search("fixed", 150, SMALL)
    assert case is None, describe(case)
