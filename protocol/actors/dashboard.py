"""A browser dashboard following a run: the WebSocket server loop and the browser (§10.3-10.4).

One actor plays both ends of one connection, because in the reference they are joined by a
socket and nothing else: the server loop reads RUN_STATUS, the enrichment status (only when
STATUS is COMPLETED) and the live metrics every 1 s tick, derives the phase and sends a
payload; the browser keeps the 30-sample QPS history and its average, accepts status only by
rank, runs the elapsed timer, and closes the socket by its own rule. Simplifications: reads
are not cached (every tick reads afresh, which only makes the stream fresher than the
reference's 0.5-5 s caches) and the browser's 250 ms timer is sampled at each message.

Records (docs/trace.md): `ws_payload` per message sent, `ui` per message handled (and per
HTTP re-fetch), `ws_close` when either end closes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from protocol import phases as ph
from protocol.actors.common import note
from protocol.config import RunConfig
from protocol.effects import (Now, ReadEnrichmentStatus, ReadLiveMetrics, ReadRunStatus, Sleep,
                              StatementFailed)
from protocol.variants import Switches

TICK_S = 1.0  # server loop tick
CLOSE_PAUSE_S = 0.5  # after a COMPLETED payload, then close
REFETCH_S = 0.5  # browser: HTTP re-fetch after a close that left a COMPLETED run unfinished
HTTP_POLL_S = 1.0  # browser: status poll until the run is active enough for a socket
HISTORY = 30  # qpsHistory length (messages, not seconds)
ENRICHMENT_DONE = ("COMPLETED", "FAILED", "SKIPPED")
STOPPED = "STOPPED"  # read by the reference, written by nothing

# The browser's status ranks; unknown statuses (STARTING included) rank 0.
STATUS_RANK = {ph.PREPARED: 1, ph.RUNNING: 2, ph.STOPPING: 3, ph.CANCELLING: 3,
               ph.COMPLETED: 4, ph.FAILED: 4, ph.CANCELLED: 4}
SOCKET_STATUSES = (ph.RUNNING, ph.CANCELLING, ph.STOPPING)  # the browser opens a socket
PUSH_PHASES = ("", ph.WARMUP, ph.RUNNING, ph.MEASUREMENT)  # the qpsHistory phase gate
TIMER_PHASES = (ph.WARMUP, ph.MEASUREMENT, ph.PROCESSING)  # the elapsed timer runs
UI_RANK = {p: i for i, p in enumerate((ph.PREPARING, ph.WARMUP, ph.MEASUREMENT, ph.PROCESSING,
                                       ph.P_COMPLETED))}


def derive_phase(status: str, phase: str, enrichment: str | None, sent_processing: bool,
                 cache_phase: str = "") -> str:
    """§10.3: RUN_STATUS.PHASE, else the cache phase, else STATUS; terminal STATUS wins;
    STOPPING shows PROCESSING; COMPLETED shows PROCESSING until enrichment is done and a
    PROCESSING payload went out on this connection. PHASE = COMPLETED is not consulted."""
    derived = phase or cache_phase or status
    if status in (STOPPED, ph.FAILED, ph.CANCELLED, ph.COMPLETED):
        derived = status
    if status == ph.STOPPING:
        derived = ph.PROCESSING
    if status == ph.COMPLETED:
        done = enrichment in ENRICHMENT_DONE and sent_processing
        derived = ph.P_COMPLETED if done else ph.PROCESSING
    return derived


@dataclass
class Browser:
    """The dashboard page's state for one run."""
    sw: Switches
    history: list = field(default_factory=list)
    qps_avg: float | None = None
    status: str | None = None  # the accepted status
    timer_start: float | None = None
    timer_total: float = 0.0  # elapsed shown, frozen when the timer stops
    timer_running_since: float | None = None

    def accept(self, status: str) -> str | None:
        if self.status is None or STATUS_RANK.get(status, 0) >= STATUS_RANK.get(self.status, 0):
            self.status = status
        return self.status

    def push_allowed(self, phase: str, ops: bool, workers_active: int | None) -> bool:
        if not ops:
            return False
        if self.sw.ui_qps_gate == "ops_only":  # seed issue 3: pushed regardless of phase
            return True
        return phase in PUSH_PHASES and (workers_active is None or workers_active > 0)

    def timer(self, now: float, phase: str) -> float:
        """The local elapsed timer: starts at 0 at the first active phase, PROCESSING counts."""
        if phase in TIMER_PHASES:
            if self.timer_running_since is None:
                self.timer_running_since = now
        elif self.timer_running_since is not None:
            self.timer_total += now - self.timer_running_since
            self.timer_running_since = None
        run = now - self.timer_running_since if self.timer_running_since is not None else 0.0
        return self.timer_total + run


def _read(effect):
    try:
        return (yield effect)
    except StatementFailed:
        return None


def dashboard(cfg: RunConfig, sw: Switches, run_id: str, conn: str):
    """One browser tab and its WebSocket connection, from page load to close."""
    b = Browser(sw)
    while True:  # the page polls over HTTP until the run has a stream to follow
        row = yield from _read(ReadRunStatus(run_id))
        if row is not None:
            if row.status in SOCKET_STATUSES or (row.status == ph.COMPLETED
                                                  and row.phase == ph.PROCESSING):
                break
            if row.status in ph.TERMINAL:
                return
        yield Sleep(HTTP_POLL_S)
    give_up_s = cfg.enrichment_timeout_s + cfg.enrichment_poll_s + 30.0
    sent_processing = False
    completed_at = None
    derived = ""
    status = row.status
    sent = ""
    while True:
        row = yield from _read(ReadRunStatus(run_id))
        if row is None:
            yield Sleep(TICK_S)
            continue
        status = row.status
        enrichment = None
        if status == ph.COMPLETED:
            lookup = ReadEnrichmentStatus(run_id, sw.ws_enrichment_lookup == "parent_first")
            enrichment = yield from _read(lookup)
        live = yield from _read(ReadLiveMetrics(run_id))
        ops = bool(live and live.ops_present)
        qps = live.current_per_sec if live else 0.0
        active = live.workers_active if live else None
        derived = derive_phase(status, row.phase, enrichment, sent_processing)
        if (sw.ws_phase_never_back and derived in UI_RANK and sent in UI_RANK
                and UI_RANK[derived] < UI_RANK[sent]):
            derived = sent
        sent = derived
        phase_el = {ph.WARMUP: row.warmup_elapsed,
                    ph.MEASUREMENT: row.measurement_elapsed}.get(row.phase)
        yield note("ws_payload", conn=conn, phase=derived, status=status,
                   enrichment=enrichment, elapsed=row.elapsed, phase_elapsed=phase_el,
                   workers_active=active, qps=qps, ops=ops)
        if derived in (ph.PROCESSING, ph.P_COMPLETED):
            sent_processing = True
        # the browser handles the message
        now = yield Now()
        push = qps if b.push_allowed(derived, ops, active) else None
        if push is not None:
            b.history = (b.history + [push])[-HISTORY:]
            b.qps_avg = sum(b.history) / len(b.history)
        yield note("ui", conn=conn, push=push, qps_avg_30s=b.qps_avg,
                   history=len(b.history), elapsed=b.timer(now, derived),
                   status=b.accept(status), phase=derived)
        if derived == ph.P_COMPLETED:  # the end rule
            yield Sleep(CLOSE_PAUSE_S)
            yield note("ws_close", conn=conn, closer="server", phase=derived)
            return
        keep = status in SOCKET_STATUSES or (status == ph.COMPLETED
                                             and derived == ph.PROCESSING)
        if status == ph.COMPLETED and completed_at is None:
            completed_at = now
        if not keep or (completed_at is not None and now - completed_at > give_up_s):
            yield note("ws_close", conn=conn, closer="client", phase=derived,
                       reason="status" if not keep else "gave_up")
            break
        yield Sleep(TICK_S)
    if status == ph.COMPLETED and derived != ph.P_COMPLETED:  # fallback HTTP re-fetch
        yield Sleep(REFETCH_S)
        row = yield from _read(ReadRunStatus(run_id))
        enrichment = yield from _read(ReadEnrichmentStatus(run_id, True))
        if row is not None:
            now = yield Now()
            yield note("ui", conn=conn, push=None, qps_avg_30s=b.qps_avg,
                       history=len(b.history), elapsed=b.timer(now, row.phase),
                       status=b.accept(row.status), phase=row.phase, refetch=True,
                       enrichment=enrichment)
