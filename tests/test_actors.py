"""Targeted tests of actor behaviours that only whole-run tests used to catch (issue 10's
mutation campaign): each drives one actor step with a scripted interpreter
(tests/actor_driver.py) and asserts one decision or one order of statements."""
from dataclasses import replace

import pytest

from protocol import events as ev
from protocol import phases as ph
from protocol.actors import orchestrator as orch
from protocol.actors import polling
from protocol.actors import user_stop as us
from protocol.actors import worker as wk
from protocol.actors.common import OrchestratorState, emit_event
from protocol.actors.tasks import BenchmarkPool
from protocol.config import RunConfig
from protocol.effects import (AllocSeq, AwaitNotice, Connect, FetchEvents, HeartbeatCounts,
                              InsertEvent, LiveWorkers, MergeHeartbeat, Notice, ReadRunStatus,
                              RunRow, SetQueryTag, Sleep, WriteRunStatus)
from protocol.variants import FIXED, REFERENCE
from tests.actor_driver import Driver

CFG = RunConfig(workers=2, connections_per_worker=2, warmup_s=10.0, duration_s=20.0,
                status_poll_s=0.2, event_poll_s=1.0, heartbeat_s=1.0, wait_timeout_s=30.0)


def row(status, phase, **kw):
    return RunRow(status, phase, kw.get("elapsed"), kw.get("warmup_elapsed"),
                  kw.get("measurement_elapsed"), kw.get("targets", {}))


def worker_state(sw=FIXED, cfg=CFG, wid="worker-0", group=0):
    return wk.WorkerState("run-1", wid, group, 2, cfg, sw)


def answers(status_rows, events=(), fail_reads=0):
    """An answer function: RUN_STATUS reads return status_rows in turn (the last repeats);
    FetchEvents returns the events above the cursor."""
    rows = list(status_rows)
    state = {"reads": 0}

    def answer(e, d):
        if isinstance(e, ReadRunStatus):
            state["reads"] += 1
            if state["reads"] <= fail_reads:
                from protocol.effects import StatementFailed
                raise StatementFailed(e.op, "injected")
            return rows.pop(0) if len(rows) > 1 else rows[0]
        if isinstance(e, FetchEvents):
            return tuple(x for x in events if x.seq > e.after)[:e.limit]
        if isinstance(e, Connect):
            return f"h-{e.conn_id}" if hasattr(e, "conn_id") else object()
        return None
    return answer


# --- the worker's wait loop (W17) ---------------------------------------------------------

def test_wait_loop_leaves_on_a_terminal_status_without_any_event():
    w = worker_state()
    d = Driver(answers([row(ph.STARTING, ph.PREPARING), row(ph.CANCELLED, ph.PREPARING)]))
    assert d.run(wk.wait_loop(w)) is False
    assert w.terminal_seen == ph.CANCELLED
    assert d.t <= CFG.status_poll_s + 1e-9  # the second read saw it: one pause, no more
    assert len(d.statements("read_run_status")) == 2


@pytest.mark.parametrize("status", sorted(ph.TERMINAL))
def test_wait_loop_treats_every_terminal_status_as_the_end(status):
    w = worker_state()
    assert Driver(answers([row(status, ph.PREPARING)])).run(wk.wait_loop(w)) is False
    assert w.terminal_seen == status


def test_wait_loop_returns_on_running_and_copies_the_phase():
    w = worker_state()
    d = Driver(answers([row(ph.STARTING, ph.PREPARING), row(ph.RUNNING, ph.WARMUP)]))
    assert d.run(wk.wait_loop(w)) is True
    assert w.current_phase == ph.WARMUP
    assert d.notes("worker_state")[-1]["source"] == "wait"
    assert not d.statements("alter_tag") and w.epoch == 0  # a plain copy: no hook


def test_fixed_wait_loop_leaves_the_cursor_on_set_phase_and_stop():
    evs = (ev.Event(1, ev.START, ev.start(ph.WARMUP, 2)),
           ev.Event(2, ev.SET_PHASE, ev.set_phase(ph.WARMUP)),
           ev.Event(3, ev.STOP, ev.stop(ev.USER_REQUESTED)))
    w = worker_state()
    d = Driver(answers([row(ph.STARTING, ph.PREPARING)], evs))
    assert d.run(wk.wait_loop(w)) is False
    seen = d.notes("event_seen")
    assert [(s["seq"], s["outcome"], s["cursor"]) for s in seen] == [
        (1, "ignored", 0), (2, "ignored", 0), (3, "applied", 0)]
    assert w.cursor == 0 and w.stopping


def test_reference_wait_loop_moves_the_cursor_over_what_it_ignores():
    evs = (ev.Event(1, ev.START, ev.start(ph.WARMUP, 2)),
           ev.Event(2, ev.SET_PHASE, ev.set_phase(ph.WARMUP)))
    w = worker_state(REFERENCE)
    d = Driver(answers([row(ph.STARTING, ph.PREPARING)] * 3 + [row(ph.RUNNING, ph.WARMUP)],
                       evs))
    assert d.run(wk.wait_loop(w)) is True
    assert w.cursor == 2


def test_wait_loop_polls_events_every_event_poll_and_beats_every_heartbeat():
    """Exactly every event_poll_s / heartbeat_s (a status poll of 0.25 s adds up exactly),
    not one status poll later."""
    w = worker_state(cfg=replace(CFG, status_poll_s=0.25))
    rows = [row(ph.STARTING, ph.PREPARING)] * 10 + [row(ph.RUNNING, ph.WARMUP)]
    d = Driver(answers(rows))
    d.run(wk.wait_loop(w))
    fetch_t = [t for t, e in d.log if isinstance(e, FetchEvents)]
    beat_t = [t for t, e in d.log if isinstance(e, MergeHeartbeat)]
    assert fetch_t == [0.0, 1.0, 2.0] and beat_t == [0.0, 1.0, 2.0]
    assert all(e.status == ph.HB_READY for _, e in d.log if isinstance(e, MergeHeartbeat))


def test_wait_loop_gives_up_after_the_wait_timeout():
    w = worker_state()
    d = Driver(answers([row(ph.STARTING, ph.PREPARING)]))
    assert d.run(wk.wait_loop(w)) is False
    assert CFG.wait_timeout_s < d.t <= CFG.wait_timeout_s + CFG.status_poll_s + 1e-9
    assert w.terminal_seen is None and not w.stopping


# --- the main loop: events, reconcile, adoption -----------------------------------------

def pool_for(w):
    return BenchmarkPool(w)


def test_handle_event_moves_the_cursor_and_applies_set_phase_with_the_hook():
    w = worker_state()
    w.current_phase = ph.WARMUP
    p = pool_for(w)
    d = Driver(answers([row(ph.RUNNING, ph.MEASUREMENT)]))
    assert d.run(wk.handle_event(w, p, ev.Event(3, ev.SET_PHASE,
                                                ev.set_phase(ph.MEASUREMENT)))) is True
    assert (w.cursor, w.current_phase, w.epoch) == (3, ph.MEASUREMENT, 1)
    assert w.tag.endswith(":phase=RUNNING")
    assert d.notes("hook") and d.notes("event_seen")[-1]["outcome"] == "applied"


def test_handle_event_skips_rows_at_or_below_the_cursor():
    w = worker_state()
    w.cursor = 4
    d = Driver()
    assert d.run(wk.handle_event(w, pool_for(w), ev.Event(4, ev.STOP, ev.stop("x")))) is True
    assert d.notes("event_seen")[-1]["outcome"] == "skipped_cursor" and not w.stopping


def test_handle_event_skips_another_workers_target_but_passes_it():
    w = worker_state()
    e = ev.Event(5, ev.SET_WORKER_TARGET, ev.set_worker_target("worker-1", 1, 7, 0, "qps_scaling_up"))
    d = Driver()
    assert d.run(wk.handle_event(w, pool_for(w), e)) is True
    assert w.cursor == 5 and w.current_target == 0
    assert d.notes("event_seen")[-1]["outcome"] == "skipped_scope"


@pytest.mark.parametrize("reason,status", [(ev.DURATION_ELAPSED, ph.COMPLETED),
                                           (ev.USER_REQUESTED, ph.CANCELLED)])
def test_a_stop_ends_the_batch_with_the_matching_exit_status(reason, status):
    w = worker_state()
    d = Driver()
    assert d.run(wk.handle_event(w, pool_for(w), ev.Event(2, ev.STOP,
                                                          ev.stop(reason)))) is False
    assert w.stopping and w.exit_status == status and w.cursor == 2


def test_main_loop_handles_nothing_after_a_stop_in_its_batch():
    w = worker_state()
    w.current_phase = ph.WARMUP
    evs = (ev.Event(1, ev.STOP, ev.stop(ev.DURATION_ELAPSED)),
           ev.Event(2, ev.SET_PHASE, ev.set_phase(ph.MEASUREMENT)))
    d = Driver(answers([row(ph.RUNNING, ph.WARMUP)], evs))
    d.run(wk.main_loop(w, pool_for(w)))
    assert [s["seq"] for s in d.notes("event_seen")] == [1]
    assert w.cursor == 1 and w.current_phase == ph.WARMUP


def test_forward_only_adoption_never_moves_back():
    for sw, moved in ((FIXED, False), (REFERENCE, True)):
        w = worker_state(sw)
        w.current_phase = ph.MEASUREMENT
        d = Driver()
        assert d.run(wk.adopt_phase(w, pool_for(w), ph.WARMUP, "event")) is moved
        assert w.current_phase == (ph.WARMUP if moved else ph.MEASUREMENT)


def test_reconcile_stops_on_a_terminal_status_and_adopts_measurement_with_the_hook():
    w = worker_state()
    w.current_phase = ph.WARMUP
    d = Driver(answers([row(ph.RUNNING, ph.MEASUREMENT)]))
    d.run(wk.reconcile(w, pool_for(w)))
    assert w.current_phase == ph.MEASUREMENT and w.epoch == 1 and not w.stopping
    assert d.notes("worker_state")[-1]["source"] == "reconcile"
    d = Driver(answers([row(ph.CANCELLED, ph.MEASUREMENT)]))
    d.run(wk.reconcile(w, pool_for(w)))
    assert w.stopping and w.exit_status == ph.CANCELLED


def test_measurement_hook_tags_then_counts_one_epoch():
    w = worker_state(replace(FIXED, tag_switch="alter_pool_then_epoch"))
    p = pool_for(w)
    p.conns = {0: "h0", 1: "h1"}
    d = Driver()
    d.run(p.measurement_hook(w))
    alters = d.statements("alter_tag")
    assert len(alters) == 2 and all(isinstance(a, SetQueryTag) for a in alters)
    assert w.epoch == 1 and w.measurement_active
    assert all(t.endswith(":phase=RUNNING") for t in p.conn_tags.values())
    assert d.notes("hook") == [{"worker": "worker-0", "start": 0.0, "end": 0.0, "epoch": 1}]


# --- the orchestrator's poll iteration ------------------------------------------------------

def orch_state(sw=FIXED, cfg=CFG):
    st = OrchestratorState("run-1", cfg, sw)
    st.group_count = cfg.workers
    return st


def counts(ready=2, dead=0):
    rows = {f"worker-{i}": ph.HB_READY for i in range(ready)}
    rows.update({f"worker-{ready + i}": ph.HB_DEAD for i in range(dead)})
    return HeartbeatCounts(ready + dead, ready, 0, dead, ready, rows)


def orch_answer(health, matched=True):
    seqs = iter(range(1, 100))

    def answer(e, d):
        if isinstance(e, AllocSeq):
            return next(seqs)
        if isinstance(e, WriteRunStatus):
            return matched
        if getattr(e, "op", None) == "count_heartbeats":
            return health
        return None
    return answer


def order(d: Driver) -> list[str]:
    out = []
    for _, e in d.log:
        if isinstance(e, WriteRunStatus):
            out.append("write " + "/".join(f"{k}={v}" for k, v in e.set.items()
                                           if k in ("STATUS", "PHASE")))
        elif isinstance(e, InsertEvent):
            out.append(f"emit {e.type} " + str(e.data.get("phase") or e.data.get("reason")))
    return out


@pytest.mark.parametrize("warmup,phase", [(10.0, ph.WARMUP), (0.0, ph.MEASUREMENT)])
def test_ready_gate_writes_running_then_announces_its_phase(warmup, phase):
    st = orch_state(cfg=replace(CFG, warmup_s=warmup))
    d = Driver(orch_answer(counts(ready=2)))
    assert d.run(orch.poll_iteration(st, row(ph.STARTING, ph.PREPARING))) == ph.RUNNING
    assert order(d)[:2] == [f"write STATUS=RUNNING/PHASE={phase}", f"emit SET_PHASE {phase}"]
    w = d.statements("write_run_status")[0]
    assert w.guard.status_in == (ph.STARTING,)


def test_ready_gate_waits_for_every_worker():
    st = orch_state()
    d = Driver(orch_answer(counts(ready=1)))
    assert d.run(orch.poll_iteration(st, row(ph.STARTING, ph.PREPARING))) == ph.STARTING
    assert order(d) == []


def test_warmup_end_writes_measurement_then_announces_it():
    st = orch_state()
    d = Driver(orch_answer(None))
    r = row(ph.RUNNING, ph.WARMUP, warmup_elapsed=CFG.warmup_s, measurement_elapsed=None)
    d.run(orch.poll_iteration(st, r))
    assert order(d) == ["write PHASE=MEASUREMENT", "emit SET_PHASE MEASUREMENT"]
    assert d.statements("write_run_status")[0].guard.phase_in == (ph.WARMUP,)


def test_warmup_is_not_ended_early():
    st = orch_state()
    d = Driver(orch_answer(None))
    d.run(orch.poll_iteration(st, row(ph.RUNNING, ph.WARMUP,
                                      warmup_elapsed=CFG.warmup_s - 0.01)))
    assert order(d) == []


def test_duration_stop_is_emitted_before_stopping_and_not_before_d():
    st = orch_state()
    early = row(ph.RUNNING, ph.MEASUREMENT, measurement_elapsed=CFG.duration_s - 0.01,
                warmup_elapsed=CFG.warmup_s + CFG.duration_s - 0.01)
    d = Driver(orch_answer(None))
    assert d.run(orch.poll_iteration(st, early)) == ph.RUNNING and order(d) == []
    due = row(ph.RUNNING, ph.MEASUREMENT, measurement_elapsed=CFG.duration_s,
              warmup_elapsed=CFG.warmup_s + CFG.duration_s)
    d = Driver(orch_answer(None))
    assert d.run(orch.poll_iteration(st, due)) == ph.STOPPING
    assert order(d) == ["emit STOP duration_elapsed", "write STATUS=STOPPING"]


def test_dead_worker_fails_the_run_stop_first():
    st = orch_state()
    d = Driver(orch_answer(counts(ready=1, dead=1)))
    assert d.run(orch.poll_iteration(st, row(ph.STARTING, ph.PREPARING))) == ph.FAILED
    assert order(d) == ["emit STOP worker_failure", "write STATUS=FAILED"]


def test_final_step_completes_a_stopping_run_and_cancels_a_cancelling_one():
    st = orch_state()
    d = Driver(lambda e, d: row(ph.STOPPING, ph.MEASUREMENT) if isinstance(e, ReadRunStatus)
               else True)
    d.run(orch.final_step(st))
    assert order(d)[0] == "write STATUS=COMPLETED/PHASE=PROCESSING"
    assert d.statements("write_run_status")[0].guard.status_in == (ph.STOPPING, ph.RUNNING)
    d = Driver(lambda e, d: row(ph.CANCELLING, ph.MEASUREMENT)
               if isinstance(e, ReadRunStatus) else True)
    d.run(orch.final_step(st))
    assert order(d) == ["write STATUS=CANCELLED"]


def test_atomic_emit_allocates_then_inserts_one_event():
    st = orch_state()
    d = Driver(orch_answer(None))
    assert d.run(emit_event(st, ev.STOP, ev.stop(ev.USER_REQUESTED))) == 1
    ops = [e.op for e in d.statements()]
    assert ops == ["alloc_seq", "insert_event"] and not st.emit_busy


def test_user_stop_announces_then_writes_cancelling_then_sets_the_flag():
    st = orch_state()
    flags = []

    def answer(e, d):
        if isinstance(e, (InsertEvent, WriteRunStatus)):
            flags.append((e.op, st.stopping))
        return 1 if isinstance(e, AllocSeq) else True
    d = Driver(answer)
    d.run(us.announce(st, row(ph.RUNNING, ph.MEASUREMENT)))
    assert order(d) == ["emit STOP user_requested", "write STATUS=CANCELLING"]
    assert flags == [("insert_event", False), ("write_run_status", False)] and st.stopping


def test_user_stop_waits_for_workers_then_cancels():
    st = orch_state()
    live = iter([2, 1, 0, 0])

    def answer(e, d):
        if isinstance(e, LiveWorkers):
            return next(live)
        if isinstance(e, ReadRunStatus):
            return row(ph.CANCELLING, ph.MEASUREMENT)
        return True
    d = Driver(answer)
    d.run(us.finish_stop(st))
    assert order(d) == ["write STATUS=CANCELLED"] and d.t == 2.0


def test_main_loop_reconciles_every_reconcile_period():
    """The EV-CONVERGE bound (E + R + L) assumes a RUN_STATUS read every reconcile_s."""
    cfg = replace(CFG, reconcile_s=5.0, event_poll_s=1.0, main_loop_sleep_s=0.25)
    w = worker_state(cfg=cfg)
    w.current_phase = ph.WARMUP
    d = Driver(answers([row(ph.RUNNING, ph.WARMUP)] * 3 + [row(ph.CANCELLED, ph.WARMUP)]))
    d.run(wk.main_loop(w, pool_for(w)))
    reads = [t for t, e in d.log if isinstance(e, ReadRunStatus)]
    assert reads == [5.0, 10.0, 15.0, 20.0] and w.exit_status == ph.CANCELLED


def test_worker_starting_in_measurement_runs_the_hook_before_its_main_loop():
    """Warmup 0: the wait loop sees RUNNING with MEASUREMENT, so W21 runs the hook before
    the main loop's first step (the W4 snapshot still said PREPARING)."""
    cfg = replace(CFG, warmup_s=0.0)
    rows = answers([row(ph.STARTING, ph.PREPARING), row(ph.STARTING, ph.PREPARING),
                    row(ph.RUNNING, ph.MEASUREMENT)])

    def answer(e, d):  # the duration STOP is visible from t = 2 s on
        if isinstance(e, FetchEvents):
            return (ev.Event(1, ev.STOP, ev.stop(ev.DURATION_ELAPSED)),) if d.t >= 2.0 else ()
        return rows(e, d)
    d = Driver(answer)
    assert d.run(wk.worker(cfg, FIXED, "run-1", "worker-0", 0, 2)) == 0
    kinds = [(e.kind, e.fields.get("name")) for _, e in d.log
             if getattr(e, "kind", None) in ("hook", "marker")]
    assert kinds.index(("hook", None)) < kinds.index(("marker", "main_loop"))
    assert d.notes("hook")[0]["epoch"] == 1


@pytest.mark.parametrize("sw,basis", [(FIXED, "updated_at"), (REFERENCE, "last_heartbeat")])
def test_health_marks_ages_on_the_variants_clock(sw, basis):
    """CLK-ONE-CLOCK: fixed ages heartbeats by UPDATED_AT (one clock), whatever the session
    time zone; the reference by the worker's own stamp."""
    st = orch_state(sw)
    d = Driver(orch_answer(counts()))
    d.run(orch.refresh_health(st))
    marks = d.statements("mark_heartbeats")
    assert [m.status for m in marks] == [ph.HB_DEAD, ph.HB_STALE]
    assert {m.basis for m in marks} == {basis}
    assert [m.age_s for m in marks] == [CFG.dead_s, CFG.stale_s]


def test_poll_loop_leaves_as_soon_as_a_user_stop_set_the_flag():
    st = orch_state()
    st.spawned = ["worker-0", "worker-1"]
    st.stopping = True

    def answer(e, d):
        if isinstance(e, ReadRunStatus):
            return row(ph.CANCELLING, ph.MEASUREMENT)
        if isinstance(e, LiveWorkers):
            return 2  # the workers are still draining
        return orch_answer(None)(e, d)
    d = Driver(answer)
    d.run(orch.poll_loop(st))
    assert len(d.statements("read_run_status")) == 1


@pytest.mark.parametrize("reason", [ev.DURATION_ELAPSED, ev.USER_REQUESTED])
def test_a_stopped_worker_exits_cleanly_whatever_the_reason(reason):
    """A duration or user stop ends the worker with a final COMPLETED heartbeat and code 0;
    only a failure may end it DEAD."""
    w = worker_state()
    wk.request_stop(w, reason, {})
    d = Driver()
    assert d.run(wk.exit_sequence(w, pool_for(w))) == 0
    beats = [e.status for e in d.statements("merge_heartbeat")]
    assert beats == [ph.HB_DRAINING, ph.HB_COMPLETED]


def test_jittered_wait_pause_is_drawn_around_the_status_poll():
    w = worker_state(cfg=replace(CFG, coordination="jittered", poll_jitter=0.5))
    d = Driver()  # Random() -> 0.5: the middle of [1 - j, 1 + j]
    assert d.run(polling.wait_pause(w)) is None
    assert [e.seconds for e in d.effects() if isinstance(e, Sleep)] == [CFG.status_poll_s]


def test_push_notice_hands_the_row_to_the_wait_loop_without_a_read():
    w = worker_state(cfg=replace(CFG, coordination="push"))
    d = Driver(lambda e, d: Notice(ph.RUNNING, ph.WARMUP) if isinstance(e, AwaitNotice)
               else None)
    got = d.run(polling.wait_pause(w))
    assert (got.status, got.phase) == (ph.RUNNING, ph.WARMUP)
    calls = []

    def answer(e, drv):
        if isinstance(e, AwaitNotice):
            calls.append(drv.t)
            return Notice(ph.RUNNING, ph.WARMUP) if len(calls) == 1 else None
        return answers([row(ph.STARTING, ph.PREPARING)])(e, drv)
    d = Driver(answer)
    assert d.run(wk.wait_loop(w)) is True
    assert len(d.statements("read_run_status")) == 1  # the first turn's read only
