"""How a worker learns that the run changed: the poll schemes a scenario can choose.

The upstream worker sleeps a fixed interval between RUN_STATUS reads in its wait loop and
polls control events every second in its main loop. The alternatives here replace only those
pauses, so the control flow of worker.py stays the reference's:

| scheme     | wait-loop pause                       | main-loop event-poll period           |
|------------|---------------------------------------|---------------------------------------|
| `poll`     | status_poll_s                         | event_poll_s                          |
| `jittered` | status_poll_s x U[1-j, 1+j]           | event_poll_s x U[1-j, 1+j]            |
| `adaptive` | fast_s for window_s after READY,      | fast_s within window_s of an expected |
|            | slow_s after that                     | change (warmup end, duration end),    |
|            |                                       | slow_s otherwise                      |
| `push`     | until a notice, at most fallback_s    | fallback_s; a notice polls at once    |

Pure like the rest of protocol/: jitter comes from the driver (`Random`), notices from the
driver's notification channel (`Notify` / `AwaitNotice`).
"""
from __future__ import annotations

from protocol import phases as ph
from protocol.effects import (AwaitNotice, MergeHeartbeat, Notify, Now, Parallel, Random,
                              RunRow, Sleep, StatementFailed, Tick, WriteTestResult)

SCHEMES = ("poll", "jittered", "adaptive", "push")


def _jittered(cfg, base: float):
    u = yield Random()
    j = cfg.poll_jitter
    return base * (1.0 - j + 2.0 * j * u)


def worst_period(cfg, base: float) -> float:
    """The longest pause a scheme can take where the plain scheme takes `base` (for bounds)."""
    return {"poll": base, "jittered": base * (1.0 + cfg.poll_jitter),
            "adaptive": max(cfg.adaptive_fast_s, cfg.adaptive_slow_s),
            "push": cfg.push_fallback_s}[cfg.coordination]


# --- the wait loop ------------------------------------------------------------------------

def wait_pause(w):
    """The pause between two RUN_STATUS reads of the wait loop. Returns a RunRow when a
    notice carried the row as written (push), so the loop need not read it; else None."""
    cfg = w.cfg
    scheme = cfg.coordination
    if scheme == "poll":
        yield Sleep(cfg.status_poll_s)
    elif scheme == "jittered":
        yield Sleep((yield from _jittered(cfg, cfg.status_poll_s)))
    elif scheme == "adaptive":
        now = yield Now()
        since = now - w.poll.setdefault("wait_start", now)
        yield Sleep(cfg.adaptive_fast_s if since < cfg.adaptive_window_s else cfg.adaptive_slow_s)
    else:
        notice = yield AwaitNotice(w.worker_id, cfg.push_fallback_s)
        if notice is not None and notice.status and notice.phase:
            return RunRow(notice.status, notice.phase, None, None, None, {})
    return None


# --- the main loop ------------------------------------------------------------------------

def _expected_change(w, now: float) -> float | None:
    """When the run's phase should next change, by the worker's own clock: warmup_s after the
    wait ended (WARMUP -> MEASUREMENT), duration_s after MEASUREMENT was adopted (STOP)."""
    p, cfg = w.poll, w.cfg
    if w.current_phase == ph.MEASUREMENT:
        p.setdefault("measurement_seen", now)
        return p["measurement_seen"] + cfg.duration_s
    if w.current_phase == ph.WARMUP and "running_seen" in p:
        return p["running_seen"] + cfg.warmup_s
    return None


def event_period(w, now: float):
    """The main loop's next control-event poll period, chosen right after a poll."""
    cfg = w.cfg
    scheme = cfg.coordination
    if scheme == "jittered":
        return (yield from _jittered(cfg, cfg.event_poll_s))
    if scheme == "adaptive":
        exp = _expected_change(w, now)
        # the orchestrator acts at its first poll after the instant: allow one poll period late
        near = exp is not None and (exp - cfg.adaptive_window_s <= now
                                    <= exp + cfg.orchestrator_poll_s + cfg.adaptive_window_s)
        return cfg.adaptive_fast_s if near else cfg.adaptive_slow_s
    if scheme == "push":
        return cfg.push_fallback_s
    return cfg.event_poll_s


def wait_ended(w, now: float) -> None:
    """Remember when RUNNING was seen (adaptive polling expects warmup_s after it)."""
    w.poll["running_seen"] = now


def main_pause(w, due: tuple = ()):
    """The main loop's sleep; in push mode a notice ends it early -> the Notice, else None.
    `due`: the loop's (last, period) pairs, so a driver can skip ticks with nothing due."""
    cfg = w.cfg
    if cfg.coordination == "push":
        return (yield AwaitNotice(w.worker_id, cfg.main_loop_sleep_s))
    yield Tick(cfg.main_loop_sleep_s, due)
    return None


# --- the orchestrator's side of push ------------------------------------------------------

def announce_write(st, set_: dict):
    """After a matched RUN_STATUS write: ring the workers with the row's new STATUS/PHASE."""
    if st.cfg.coordination == "push" and ("STATUS" in set_ or "PHASE" in set_):
        yield Notify(st.run_id, str(set_.get("STATUS") or ""), str(set_.get("PHASE") or ""))


def announce_event(st, type_: str):
    """After a control event was inserted: ring the workers so they fetch it now."""
    if st.cfg.coordination == "push":
        yield Notify(st.run_id, event=type_)


# --- seed 002's start-up proposals --------------------------------------------------------

def running_writes(w, active: int):
    """Heartbeat RUNNING and the child TEST_RESULTS insert at once (seed 002, priority 2).
    Returns False when the insert failed (the worker then dies, as in the sequential path);
    a failed heartbeat only loses the heartbeat."""
    try:
        yield Parallel((
            MergeHeartbeat(w.run_id, w.worker_id, w.group_id, ph.HB_RUNNING, w.current_phase,
                           active, w.current_target),
            WriteTestResult(w.run_id, w.test_id, ph.RUNNING, insert=True)))
    except StatementFailed as exc:
        return exc.op != "write_test_result"
    return True
