"""The mutation campaign's mutants of `fixed` (tools/mutate.py applies them one at a time).

Each is (id, file, exact snippet, replacement, what the slip is). A snippet that no longer
occurs exactly once after a merge makes the mutant "not applicable", never a crash; fix the
snippet here when the code it mutates moves.
"""
from __future__ import annotations

W, O, T = "protocol/actors/worker.py", "protocol/actors/orchestrator.py", "protocol/actors/tasks.py"
C, U, P = "protocol/actors/common.py", "protocol/actors/user_stop.py", "protocol/actors/polling.py"

MUTATIONS: list[tuple[str, str, str, str, str]] = [
    # --- worker: wait loop (W17) --------------------------------------------------------
    ("M01", W, """            if row.status in ph.TERMINAL:
                w.terminal_seen = row.status
                return False
        now = yield Now()""", """        now = yield Now()""",
     "dropped: the wait loop no longer leaves on a terminal STATUS (only a STOP gets it out)"),
    ("M02", W, """                if w.sw.wait_loop_consumes_events:
                    w.cursor = e.seq
                yield seen(w, e, "wait", "ignored")""", """                w.cursor = e.seq
                yield seen(w, e, "wait", "ignored")""",
     "missing condition: the wait loop moves the cursor over what it ignores"),
    ("M03", W, """                    request_stop(w, "", e.data)
                    yield seen(w, e, "wait", "applied")""", """                    yield seen(w, e, "wait", "applied")""",
     "dropped: a STOP in the wait loop is noted but not requested"),
    ("M04", W, """            if row.phase and row.phase != w.current_phase:
                yield from set_phase(w, row.phase, "wait")  # a plain copy: no hook
            if row.status == ph.RUNNING:
                return True""", """            if row.status == ph.RUNNING:
                return True
            if row.phase and row.phase != w.current_phase:
                yield from set_phase(w, row.phase, "wait")  # a plain copy: no hook""",
     "swapped: the wait loop returns on RUNNING before it copies the PHASE"),
    ("M05", W, """        if now - last_poll >= cfg.event_poll_s:
            last_poll = now
            for e in (yield from fetch(w, cfg.event_limit_wait)):""", """        if now - last_poll > cfg.event_poll_s:
            last_poll = now
            for e in (yield from fetch(w, cfg.event_limit_wait)):""",
     "off by one: >= becomes > on the wait loop's event-poll period"),
    ("M06", W, """            yield from heartbeat(w, ph.HB_READY)
        pushed = yield from polling.wait_pause(w)""", """            yield from heartbeat(w, ph.HB_RUNNING)
        pushed = yield from polling.wait_pause(w)""",
     "wrong constant: the waiting worker beats RUNNING instead of READY"),
    # --- worker: main loop (W22) --------------------------------------------------------
    ("M07", W, """    if e.seq <= w.cursor:
        yield seen(w, e, "main", "skipped_cursor")""", """    if e.seq < w.cursor:
        yield seen(w, e, "main", "skipped_cursor")""",
     "off by one: the main loop re-handles the row at its cursor"),
    ("M08", W, """        request_stop(w, e.data.get("reason", ""), e.data)
        yield seen(w, e, "main", "applied")
        return False""", """        request_stop(w, e.data.get("reason", ""), e.data)
        yield seen(w, e, "main", "applied")
        return True""",
     "flipped: a STOP no longer ends the batch"),
    ("M09", W, """    w.exit_status = ph.COMPLETED if reason == ev.DURATION_ELAPSED else ph.CANCELLED""",
     """    w.exit_status = ph.CANCELLED if reason == ev.DURATION_ELAPSED else ph.COMPLETED""",
     "swapped: a duration STOP exits CANCELLED, a user stop COMPLETED"),
    ("M10", W, """            and ph.PHASE_RANK[phase] < ph.PHASE_RANK.get(w.current_phase, 0)):""",
     """            and ph.PHASE_RANK[phase] > ph.PHASE_RANK.get(w.current_phase, 0)):""",
     "flipped comparison: forward-only adoption refuses forward moves"),
    ("M11", W, """        yield from adopt_phase(w, pool, str(e.data.get("phase") or ""), "event")""",
     """        yield from adopt_phase(w, pool, str(e.data.get("phase") or ""), "event", hook=False)""",
     "missing call: SET_PHASE(MEASUREMENT) adopted without the measurement hook"),
    ("M12", W, """    if row.status in ph.TERMINAL:
        w.stopping = True
        w.exit_status = row.status
        return
    want""", """    want""",
     "dropped: the reconcile ignores a terminal STATUS"),
    ("M13", W, """    yield from adopt_phase(w, pool, row.phase, "reconcile", hook=w.sw.reconcile_runs_hook)
""", "",
     "dropped: the reconcile no longer adopts the PHASE"),
    ("M14", W, """        if now - last_reconcile >= cfg.reconcile_s:""",
     """        if now - last_reconcile >= 10 * cfg.reconcile_s:""",
     "wrong constant: the reconcile runs every 10 R"),
    ("M15", W, """        start_in_measurement = w.current_phase == ph.MEASUREMENT""",
     """        start_in_measurement = snapshot_phase == ph.MEASUREMENT""",
     "wrong base: 'start in measurement' from the W4 snapshot (seed bug, warmup 0)"),
    ("M16", W, """    if sw.pool_init == "before_ready":
        yield from heartbeat(w, ph.HB_INITIALIZING)  # W12""", """    if sw.pool_init != "before_ready":
        yield from heartbeat(w, ph.HB_INITIALIZING)  # W12""",
     "flipped comparison: the pool is initialised after the wait (the 60 s start)"),
    ("M17", W, """    ok = w.exit_status in (ph.COMPLETED, ph.CANCELLED)""",
     """    ok = w.exit_status in (ph.COMPLETED,)""",
     "state missing from a set: a cancelled worker exits DEAD with code 1"),
    ("M18", W, """    if snapshot_status in ph.TERMINAL:  # W16""",
     """    if snapshot_status == ph.COMPLETED:  # W16""",
     "state missing from a set: W16 leaves only for COMPLETED, not FAILED/CANCELLED"),
    # --- benchmark tasks and the hook ---------------------------------------------------
    ("M19", T, """        if not bump_first:
            w.epoch += 1""", """        if not bump_first:
            pass""",
     "dropped: the hook never starts the measurement epoch"),
    ("M20", T, """                if w.epoch != epoch:
                    continue  # the hook ran meanwhile: take (tag, epoch) afresh""", "",
     "dropped: a task keeps the epoch it read before re-tagging (tag/epoch race)"),
    ("M21", T, """                       counted=epoch == w.epoch, ok=res.ok)""",
     """                       counted=True, ok=res.ok)""",
     "wrong condition: a query that spans the hook is counted"),
    # --- orchestrator -------------------------------------------------------------------
    ("M22", O, """            yield from emit_event(st, ev.SET_PHASE, ev.set_phase(ip, counts.ready))
""", "",
     "missing event: RUNNING written without SET_PHASE of the start phase"),
    ("M23", O, """            phase = ph.MEASUREMENT
            yield from emit_event(st, ev.SET_PHASE, ev.set_phase(ph.MEASUREMENT))""",
     """            phase = ph.MEASUREMENT""",
     "missing event: MEASUREMENT written but never announced (the issue's first hole)"),
    ("M24", O, """        yield from emit_event(st, ev.STOP, ev.stop(ev.DURATION_ELAPSED))
        if (yield from write(st, {"STATUS": ph.STOPPING}, Guard(status_in=(ph.RUNNING,)))):
            status = ph.STOPPING""", """        if (yield from write(st, {"STATUS": ph.STOPPING}, Guard(status_in=(ph.RUNNING,)))):
            status = ph.STOPPING
        yield from emit_event(st, ev.STOP, ev.stop(ev.DURATION_ELAPSED))""",
     "swapped: STOPPING written before the duration STOP is emitted"),
    ("M25", O, """w_el is not None and w_el >= cfg.warmup_s:""",
     """w_el is not None and w_el >= cfg.warmup_s - 1:""",
     "off by one: the warmup ends a second early"),
    ("M26", O, """        base, budget = elapsed(st, row.measurement_elapsed, row.db_now), cfg.duration_s""",
     """        base, budget = elapsed(st, row.elapsed, row.db_now), cfg.duration_s""",
     "wrong base: the duration counted from START_TIME, not the MEASUREMENT write"),
    ("M27", O, """counts.ready >= st.group_count:""", """counts.ready >= st.group_count - 1:""",
     "off by one: the READY gate opens one worker short"),
    ("M28", O, """            and not st.stopping):
        dead""", """            and status == ph.RUNNING and not st.stopping):
        dead""",
     "state missing from a set: a dead worker while STARTING does not fail the run"),
    ("M29", O, """        guard = (Guard(status_in=(ph.STOPPING, ph.RUNNING)) if st.sw.start_run_guard
                 else NOT_TERMINAL)""", """        guard = NOT_TERMINAL""",
     "wrong guard: the final step may overwrite CANCELLING with COMPLETED"),
    ("M30", O, """                                  "MEASUREMENT_START_TIME": NOW},
                             Guard(phase_in=(ph.WARMUP,))""", """                                  },
                             Guard(phase_in=(ph.WARMUP,))""",
     "dropped: the warmup end no longer stamps MEASUREMENT_START_TIME"),
    ("M31", O, """    basis = st.sw.heartbeat_age_basis""", """    basis = "last_heartbeat\"""",
     "wrong clock: heartbeat ages from the worker's stamp in the session time zone"),
    ("M32", O, """        if st.stopping:
            break
        if status in ph.TERMINAL and live == 0:""", """        if status in ph.TERMINAL and live == 0:""",
     "dropped: the poll loop does not leave when a user stop set the flag"),
    # --- shared emission, user stop, polling ---------------------------------------------
    ("M33", C, """        st.emit_busy = True
        try:
            seq = yield from allocate_seq(st)""", """        try:
            seq = yield from allocate_seq(st)""",
     "dropped: emitters are no longer serialised"),
    ("M34", U, """    if row.status != ph.CANCELLING and not unstarted:""",
     """    if row.status == ph.RUNNING and not unstarted:""",
     "state missing from a set: a user stop while STARTING emits no STOP"),
    ("M35", U, """        yield from emit_event(st, ev.STOP, ev.stop(ev.USER_REQUESTED, "stopped by user",
                                                   st.cfg.drain_timeout_s, "api"))
    yield from write(st, {"STATUS": ph.CANCELLING}, NOT_TERMINAL)""", """        yield from emit_event(st, ev.STOP, ev.stop(ev.USER_REQUESTED, "stopped by user",
                                                   st.cfg.drain_timeout_s, "api"))
    st.stopping = True
    yield from write(st, {"STATUS": ph.CANCELLING}, NOT_TERMINAL)""",
     "swapped: the stopping flag is set before CANCELLING is written"),
    ("M36", U, """    while waited < st.cfg.stop_grace_s and (yield LiveWorkers()) > 0:""",
     """    while waited < 0 and (yield LiveWorkers()) > 0:""",
     "wrong constant: stop_run does not wait for the workers before terminating them"),
    ("M37", P, """        yield Sleep((yield from _jittered(cfg, cfg.status_poll_s)))""",
     """        yield Sleep((yield from _jittered(cfg, cfg.event_poll_s)))""",
     "wrong constant: the jittered wait loop pauses around the event-poll period"),
    ("M38", P, """        notice = yield AwaitNotice(w.worker_id, cfg.push_fallback_s)
        if notice is not None and notice.status and notice.phase:""", """        notice = yield AwaitNotice(w.worker_id, cfg.push_fallback_s)
        if notice is not None and notice.status and notice.phase and False:""",
     "dropped: a push notice no longer carries the row into the wait loop"),
]
