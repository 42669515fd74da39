"""In-memory control tables with the meaning of each statement kind, guards included.

Each `apply_*` runs at the instant a statement takes effect and returns (result, records),
the records being the database-truth trace records of docs/trace.md. Nothing here knows
SimPy: time is passed in.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from protocol import effects as fx
from protocol import phases as ph
from protocol.events import Event

TIME_COLUMNS = ("START_TIME", "WARMUP_START_TIME", "WARMUP_END_TIME",
                "MEASUREMENT_START_TIME", "END_TIME")


@dataclass
class Heartbeat:
    status: str
    stamp: float  # LAST_HEARTBEAT: the worker's clock
    updated_at: float  # UPDATED_AT: the database's clock
    count: int = 1


@dataclass
class Tables:
    tz_offset_s: float = 0.0  # the database session time zone's UTC offset (§7.3)
    visibility_lag_s: float = 0.0  # other sessions see a commit this much later
    strict: bool = False  # raise IllegalTransition instead of recording it
    run: dict[str, Any] | None = None
    events: list[tuple[float, Event]] = field(default_factory=list)
    heartbeats: dict[str, Heartbeat] = field(default_factory=dict)
    test_results: dict[str, dict] = field(default_factory=dict)
    finishes: deque = field(default_factory=deque)  # benchmark finish times, last LIVE_TTL_S
    # (commit time, writer, row) per RUN_STATUS change, kept only with a visibility lag
    run_versions: list[tuple[float, str, dict]] = field(default_factory=list)

    def _version(self, now: float, actor: str) -> None:
        if self.visibility_lag_s > 0:
            self.run_versions.append((now, actor, dict(self.run)))

    def _visible_run(self, now: float, actor: str | None):
        """The RUN_STATUS row as `actor`'s session sees it: its own writes at once, other
        sessions' writes visibility_lag_s after their commit (hybrid-table staleness)."""
        if self.visibility_lag_s <= 0 or actor is None:
            return self.run
        cutoff = now - self.visibility_lag_s
        for t, writer, row in reversed(self.run_versions):
            if t <= cutoff or writer == actor:
                return row
        return None

    # --- RUN_STATUS -----------------------------------------------------------------------

    def create_run(self, now: float, eff: fx.CreateRun, actor: str, op_id: int):
        self.run = {"STATUS": ph.PREPARED, "PHASE": "", "NEXT_SEQUENCE_ID": 1,
                    "WORKER_TARGETS": {}, "TOTAL_WORKERS_EXPECTED": eff.workers_expected,
                    "UPDATED_AT": now, **{c: None for c in TIME_COLUMNS}}
        rec = {"kind": "status_write", "op_id": op_id, "writer": actor, "guard": {},
               "set": {"STATUS": ph.PREPARED, "PHASE": ""}, "matched": True,
               "before": None, "after": {"status": ph.PREPARED, "phase": ""}, "db_time": now}
        self._version(now, actor)
        return None, [rec]

    def read_run_status(self, now: float, eff: fx.ReadRunStatus, actor: str | None = None):
        r = self._visible_run(now, actor)
        if r is None:
            return None, []

        def since(col):
            return None if r[col] is None else now - r[col]
        return fx.RunRow(r["STATUS"], r["PHASE"], since("START_TIME"),
                         since("WARMUP_START_TIME"), since("MEASUREMENT_START_TIME"),
                         dict(r["WORKER_TARGETS"]), db_now=now,
                         updated_elapsed=since("UPDATED_AT")), []

    def write_run_status(self, now: float, eff: fx.WriteRunStatus, actor: str, op_id: int):
        r = self.run
        before = {"status": r["STATUS"], "phase": r["PHASE"]}
        matched = eff.guard.admits(r["STATUS"], r["PHASE"])
        applied: dict[str, Any] = {}
        if matched:
            for col, val in eff.set.items():
                if col in eff.coalesce and r.get(col) is not None:
                    continue
                applied[col] = now if val == fx.NOW else val
            new_status = applied.get("STATUS", r["STATUS"])
            new_phase = applied.get("PHASE", r["PHASE"])
            if self.strict:
                ph.check_status_edge(r["STATUS"], new_status, actor)
                ph.check_phase_edge(r["PHASE"], new_phase, actor)
            r.update(applied)
            r["UPDATED_AT"] = now
            self._version(now, actor)
        after = {"status": r["STATUS"], "phase": r["PHASE"]}
        rec = {"kind": "status_write", "op_id": op_id, "writer": actor,
               "guard": eff.guard.as_dict(), "set": applied if matched else dict(eff.set),
               "matched": matched, "before": before, "after": after, "db_time": now}
        return matched, [rec]

    # --- sequence ids and events ----------------------------------------------------------

    def read_next_seq(self, now, eff):
        return self.run["NEXT_SEQUENCE_ID"], []

    def bump_next_seq(self, now, eff):
        self.run["NEXT_SEQUENCE_ID"] += 1
        return None, []

    def alloc_seq(self, now, eff):
        s = self.run["NEXT_SEQUENCE_ID"]
        self.run["NEXT_SEQUENCE_ID"] = s + 1
        return s, []

    def insert_event(self, now: float, eff: fx.InsertEvent, actor: str, op_id: int):
        e = Event(eff.seq, eff.type, dict(eff.data))
        self.events.append((now, e))
        rec = {"kind": "event_emit", "op_id": op_id, "seq": e.seq, "type": e.type,
               "scope": e.scope, "payload": dict(eff.data), "emitter": actor}
        return None, [rec]

    def fetch_events(self, now: float, eff: fx.FetchEvents):
        cutoff = now - self.visibility_lag_s
        rows = [e for (c, e) in self.events if c <= cutoff and e.seq > eff.after]
        rows.sort(key=lambda e: e.seq)  # stable: equal ids keep commit order
        return tuple(rows[:eff.limit]), []

    # --- heartbeats -----------------------------------------------------------------------

    def merge_heartbeat(self, now: float, eff: fx.MergeHeartbeat, stamp: float):
        hb = self.heartbeats.get(eff.worker_id)
        if hb is None:
            self.heartbeats[eff.worker_id] = Heartbeat(eff.status, stamp, now)
        else:
            hb.status, hb.stamp, hb.updated_at, hb.count = eff.status, stamp, now, hb.count + 1
        return None, [{"kind": "heartbeat", "worker": eff.worker_id, "status": eff.status,
                       "writer": "worker", "stamp": stamp}]

    def age(self, now: float, hb: Heartbeat, basis: str) -> float:
        if basis == "updated_at":
            return now - hb.updated_at
        # CURRENT_TIMESTAMP() in the session zone minus a UTC worker-clock stamp (§7.3)
        return (now + self.tz_offset_s) - hb.stamp

    def mark_heartbeats(self, now: float, eff: fx.MarkHeartbeats):
        marked, recs = [], []
        for wid in sorted(self.heartbeats):
            hb = self.heartbeats[wid]
            age = self.age(now, hb, eff.basis)
            if hb.status not in eff.unless and age > eff.age_s:
                hb.status = eff.status  # UPDATED_AT stays the worker's last write, as in
                marked.append(wid)  # real_backend/sql.py: the basis of "updated_at" ages
                recs.append({"kind": "heartbeat", "worker": wid, "status": eff.status,
                             "writer": "orchestrator", "age": age})
        return tuple(marked), recs

    def count_heartbeats(self, now: float, eff: fx.CountHeartbeats):
        rows = {w: hb.status for w, hb in sorted(self.heartbeats.items())}
        st = list(rows.values())
        return fx.HeartbeatCounts(
            registered=len(st), active=sum(s in ph.HB_ACTIVE for s in st),
            completed=sum(s in ph.HB_FINAL for s in st), dead=st.count(ph.HB_DEAD),
            ready=st.count(ph.HB_READY), rows=rows), []

    # --- live metrics (the dashboard's view, docs/trace.md ws_payload) ---------------------

    LIVE_TTL_S = 5.0  # the API cache drops worker snapshots older than this (§10.1)

    def query_finished(self, now: float) -> None:
        """A benchmark query finished: the sim's stand-in for the workers' metrics POSTs."""
        self.finishes.append(now)
        while self.finishes and self.finishes[0] < now - self.LIVE_TTL_S:
            self.finishes.popleft()

    def read_live_metrics(self, now: float, eff: fx.ReadLiveMetrics):
        """QPS = queries finished in the last second; ops present while any finished within
        the cache TTL; workers_active = heartbeat rows in an active status (the rollup)."""
        recent = [t for t in self.finishes if t > now - self.LIVE_TTL_S]
        qps = float(sum(t > now - 1.0 for t in recent))
        active = sum(hb.status in ph.HB_ACTIVE for hb in self.heartbeats.values())
        return fx.LiveMetrics(bool(recent), qps, active), []

    # --- results --------------------------------------------------------------------------

    def write_test_result(self, now: float, eff: fx.WriteTestResult):
        row = self.test_results.setdefault(eff.test_id, {"parent": eff.test_id == eff.run_id})
        row["STATUS"] = eff.status
        if eff.enrichment_status is not None:
            row["ENRICHMENT_STATUS"] = eff.enrichment_status
        return None, []

    def read_enrichment_status(self, now: float, eff: fx.ReadEnrichmentStatus):
        parent = self.test_results.get(eff.run_id, {}).get("ENRICHMENT_STATUS")
        children = [r.get("ENRICHMENT_STATUS") for t, r in self.test_results.items()
                    if not r["parent"]]
        if not eff.parent_first and children:
            return (children[0] or "PENDING"), []
        if parent in ("COMPLETED", "FAILED", "SKIPPED"):
            return parent, []
        return (parent or None), []
