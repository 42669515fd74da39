"""For `fixed`, every checked property holds on every example of the scenario space.

Hypothesis chooses the scenario (1-8 workers, 1-20 connections, warmup 0-30 s, measurement
1-60 s, poll and heartbeat periods, latency ranges, think time, dashboards, user stops) and
the schedule (a tape of latencies and tie-breaks). A failure prints the replay case: save it
under tests/regressions/ and `phaselab run --replay FILE` reproduces it.
"""
from hypothesis import Phase, given, settings, strategies as st

from phaselab import replay
from protocol.trace import dumps
from proptest import FULL, SMALL, describe, example


def _clean(data, space):
    raw, sched, out = example(data, "fixed", space)
    assert out.violations == [], describe(replay.case(raw, 0, out.ids, sched,
                                                      str(out.violations[0])))


@given(st.data())
def test_fixed_holds_on_the_full_space(data):
    _clean(data, FULL)


@settings(max_examples=settings.default.max_examples * 8)
@given(st.data())
def test_fixed_holds_on_small_fast_runs(data):
    _clean(data, SMALL)


@settings(max_examples=3, phases=[Phase.generate])
@given(st.data())
def test_a_tape_schedule_replays_byte_for_byte(data):
    """What Hypothesis chose is reproduced by the recorded tape alone."""
    raw, sched, out = example(data, "fixed", SMALL)
    again = replay.run_case(raw, 0, sched)
    assert [dumps(r) for r in again.result.records] == [dumps(r) for r in out.result.records]
