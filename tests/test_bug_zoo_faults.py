"""The bug zoo's error paths (issue 9): each preset puts one reference handling back into
`fixed`, and the property search over scenarios *with the fault model drawn*
(search_space.SMALL_FAULTS) finds it within a stated example budget, naming the property.
Budgets are derandomized example counts; no shrinking here, to keep the suite fast (the
found case still replays exactly)."""
import pytest
from hypothesis import settings

from phaselab.search_space import SMALL_FAULTS
from proptest import assert_found_and_replays, describe, search

THOROUGH = settings._current_profile == "thorough"  # a nightly run, not CI
# Long searches run with HYPOTHESIS_PROFILE=thorough only; CI holds their bugs in fast,
# deterministic form: tests/regressions/fault-dead-worker-beats-user-stop.json.
SLOW = pytest.mark.skipif(not THOROUGH, reason="a long search (HYPOTHESIS_PROFILE=thorough)")

ZOO = [
    # a statement error nobody catches ends the actor (start_run, the poll loop, a task):
    # the run is left PREPARED/STARTING/RUNNING for ever
    ("errors-end-actors", 100, {"LIVE-AFTER-HEAL"}),
    # the only worker died before its first heartbeat: no row, the run stays STARTING
    ("starting-left-after-all-exit", 200, {"LIVE-AFTER-HEAL"}),
    # the API restarted: a young run is neither cancelled nor driven again (T13 age rules)
    ("restart-leaves-run-undriven", 100, {"LIVE-AFTER-HEAL"}),
    # every worker process died while RUNNING: the final step writes COMPLETED, no STOP
    ("all-exited-running-completes", 100, {"RUN-STOP-ANNOUNCED", "LIVE-AFTER-HEAL"}),
    # a dead-worker FAILED (guard NOT IN terminal) overwrites a user stop's CANCELLING
    pytest.param("failed-overwrites-cancelling", 800, {"RUN-STATUS-EDGES", "RUN-USER-STOP-WINS"},
                 marks=SLOW),
]


@pytest.mark.parametrize("preset,budget,expected", ZOO, ids=["errors-end-actors", "starting-left-after-all-exit",
                                      "restart-leaves-run-undriven",
                                      "all-exited-running-completes",
                                      "failed-overwrites-cancelling"])
def test_fault_search_finds_the_error_path_bug(preset, budget, expected, tmp_path):
    case = search(preset, budget, SMALL_FAULTS, only=expected, shrink=False)
    assert_found_and_replays(preset, budget, expected, case, tmp_path)  # a small file


def test_fixed_passes_the_fault_search():
    """The same search on `fixed` finds nothing, so the zoo tests measure the bugs."""
    case = search("fixed", 100, SMALL_FAULTS, shrink=False)
    assert case is None, describe(case)
