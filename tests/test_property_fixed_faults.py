"""For `fixed`, every property holds on every example of the scenario space *with the fault
model drawn* (each example switches on a random subset of fault kinds), and a fault run's
tape replays byte for byte."""
from hypothesis import Phase, given, settings, strategies as st

from phaselab import replay
from phaselab.search_space import FULL_FAULTS, SMALL_FAULTS
from protocol.trace import dumps
from proptest import describe, example


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(st.data())
def test_fixed_holds_under_faults_on_the_full_space(data):
    raw, sched, out = example(data, "fixed", FULL_FAULTS)
    assert out.violations == [], describe(replay.case(raw, 0, out.ids, sched,
                                                      str(out.violations[0])))


@settings(max_examples=3, phases=[Phase.generate])
@given(st.data())
def test_a_fault_tape_replays_byte_for_byte(data):
    raw, sched, out = example(data, "fixed", SMALL_FAULTS)
    again = replay.run_case(raw, 0, sched)
    assert [dumps(r) for r in again.result.records] == [dumps(r) for r in out.result.records]
