"""The real backend against the embedded fakesnow server: SQL of every statement kind through
the driver, trace records, worker processes, and that nothing outlives its owner."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from protocol import effects as fx
from protocol.trace import TraceWriter
from real_backend.connection import (ConnectError, ConnSpec, create_run_schema, drop_run_schema,
                                     embedded_spec, open_connection)
from real_backend.driver import RealDriver, merge_trace_files
from real_backend.embedded_server import EmbeddedServer
from real_backend.sql import SqlText

pytestmark = pytest.mark.live
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = "run-1"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids, timeout=5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.fixture(scope="module")
def server():
    with EmbeddedServer() as kw:
        yield kw


@pytest.fixture(scope="module")
def schema(server):
    spec, sql = embedded_spec(server), SqlText("PHASELAB", "RUN_TEST")
    tc = open_connection(spec)
    create_run_schema(tc, sql)
    yield spec, sql
    drop_run_schema(tc, sql)
    tc.close()


def test_server_start_and_kwargs(server):
    srv = server["_server"]
    assert server["host"] == "127.0.0.1" and server["protocol"] == "http"
    assert srv.start_s < 30 and os.path.isdir(srv.db_path) and _alive(srv.pid)


def test_orchestrator_statements_and_trace(schema):
    spec, sql = schema
    tw = TraceWriter()
    seen = {}

    def actor():
        seen["missing"] = yield fx.ReadRunStatus("nope")
        yield fx.CreateRun(RUN, 2, {"warmup_s": 1})
        seen["w1"] = yield fx.WriteRunStatus(RUN, {"STATUS": "STARTING", "START_TIME": fx.NOW},
                                             fx.Guard(status_in=("PREPARED",)))
        seen["w2"] = yield fx.WriteRunStatus(RUN, {"STATUS": "STARTING"},
                                             fx.Guard(status_in=("PREPARED",)))
        seen["w3"] = yield fx.WriteRunStatus(
            RUN, {"STATUS": "RUNNING", "PHASE": "WARMUP", "WARMUP_START_TIME": fx.NOW,
                  "START_TIME": fx.NOW, "WORKER_TARGETS": {"worker-0": {"target_connections": 3}}},
            fx.Guard(status_not_in=("COMPLETED", "FAILED")), coalesce=("START_TIME",))
        yield fx.Sleep(0.05)
        seen["row"] = yield fx.ReadRunStatus(RUN)
        # the reference three statements, then the atomic allocation
        seen["s0"] = yield fx.ReadNextSeq(RUN)
        yield fx.BumpNextSeq(RUN)
        seen["s1"] = yield fx.ReadNextSeq(RUN)
        seen["a"] = []
        for _ in range(3):
            seen["a"].append((yield fx.AllocSeq(RUN)))
        for seq, typ in zip(seen["a"], ("START", "SET_PHASE", "STOP")):
            yield fx.InsertEvent(RUN, seq, typ, {"scope": "RUN", "phase": "WARMUP"})
        seen["ev"] = yield fx.FetchEvents(RUN, seen["a"][0], 10)
        yield fx.MergeHeartbeat(RUN, "worker-0", 0, "READY", "WARMUP", 1, 3)
        yield fx.MergeHeartbeat(RUN, "worker-1", 1, "READY")
        yield fx.MergeHeartbeat(RUN, "worker-1", 1, "COMPLETED")
        seen["none"] = yield fx.MarkHeartbeats(RUN, "DEAD", 60.0, ("DEAD", "COMPLETED"))
        seen["stale"] = yield fx.MarkHeartbeats(RUN, "STALE", -1.0, ("STALE", "DEAD", "COMPLETED"))
        seen["dead"] = yield fx.MarkHeartbeats(RUN, "DEAD", -1.0, ("DEAD", "COMPLETED"),
                                               "updated_at")
        seen["counts"] = yield fx.CountHeartbeats(RUN)
        yield fx.WriteTestResult(RUN, RUN, "RUNNING", "PENDING", insert=True)
        yield fx.WriteTestResult(RUN, "child-0", "RUNNING", None, insert=True)
        seen["tr"] = yield fx.WriteTestResult(RUN, "child-0", "COMPLETED", "COMPLETED")
        seen["enr"] = yield fx.ReadEnrichmentStatus(RUN, parent_first=True)
        seen["enr2"] = yield fx.ReadEnrichmentStatus(RUN, parent_first=False)
        yield fx.Enrich(RUN)
        seen["setup"] = yield fx.Setup("worker-0")
        try:
            yield fx.WriteRunStatus(RUN, {"NOT_A_COLUMN": 1})
        except fx.StatementFailed as exc:
            seen["failed"] = exc
        return "done"

    with RealDriver(spec, sql, tw) as d:
        assert d.run(actor(), "orchestrator") == "done"

    assert seen["missing"] is None
    assert (seen["w1"], seen["w2"], seen["w3"]) == (True, False, True)
    row = seen["row"]
    assert (row.status, row.phase, row.worker_targets) == ("RUNNING", "WARMUP", {"worker-0": 3})
    assert row.elapsed > row.warmup_elapsed > 0 and row.measurement_elapsed is None
    assert (seen["s0"], seen["s1"]) == (1, 2)
    assert seen["a"] == [1, 2, 3]
    assert [(e.seq, e.type) for e in seen["ev"]] == [(2, "SET_PHASE"), (3, "STOP")]
    assert seen["none"] == () and seen["stale"] == ("worker-0",)
    assert seen["dead"] == ("worker-0",)
    c = seen["counts"]
    assert (c.registered, c.active, c.completed, c.dead, c.ready) == (2, 0, 2, 1, 0)
    assert c.rows == {"worker-0": "DEAD", "worker-1": "COMPLETED"}
    assert seen["tr"] is True and (seen["enr"], seen["enr2"]) == ("PENDING", "COMPLETED")
    assert seen["setup"]["rows"] == 100
    assert seen["failed"].outcome == "fail" and "not settable" in str(seen["failed"])

    recs = tw.records
    assert [r["t"] for r in recs] == sorted(r["t"] for r in recs)
    invokes = {r["id"]: r for r in recs if r["kind"] == "invoke"}
    done = {r["id"]: r for r in recs if r["kind"] in ("ok", "fail", "info")}
    assert invokes.keys() == done.keys() and len(invokes) == 31
    assert invokes[1]["args"] == {}  # ReadRunStatus: run_id is not repeated in args
    writes = [r for r in recs if r["kind"] == "status_write"]
    assert [w["matched"] for w in writes] == [True, True, False, True]
    w3 = writes[3]
    assert w3["after"] == {"status": "RUNNING", "phase": "WARMUP"} and w3["before"] is None
    assert w3["set"]["START_TIME"] == pytest.approx(writes[1]["set"]["START_TIME"], abs=0.003)
    assert 0 < w3["set"]["WARMUP_START_TIME"] <= w3["t"] + 0.5
    emits = [r for r in recs if r["kind"] == "event_emit"]
    assert [(e["seq"], e["type"], e["scope"]) for e in emits] == [
        (1, "START", "RUN"), (2, "SET_PHASE", "RUN"), (3, "STOP", "RUN")]
    hbs = [(r["worker"], r["status"], r["writer"]) for r in recs if r["kind"] == "heartbeat"]
    assert hbs == [("worker-0", "READY", "worker"), ("worker-1", "READY", "worker"),
                   ("worker-1", "COMPLETED", "worker"), ("worker-0", "STALE", "orchestrator"),
                   ("worker-0", "DEAD", "orchestrator")]
    fail = done[max(done)]
    assert fail["kind"] == "fail" and fail["op"] == "write_run_status"


def test_benchmark_connections_tags_and_tasks(schema):
    spec, sql = schema
    tw = TraceWriter()
    out = {}

    def bench(conn, n):
        results = []
        for _ in range(n):
            results.append((yield fx.BenchmarkQuery("worker-0", conn)))
        return results

    def sleeper():
        yield fx.Sleep(30)
        out["sleeper_woke"] = True

    def actor():
        c0 = yield fx.Connect("worker-0", "c0", "flakebench:test_id=t:phase=WARMUP")
        c1 = yield fx.Connect("worker-0", "c1", "flakebench:test_id=t:phase=WARMUP")
        out["before"] = yield fx.BenchmarkQuery("worker-0", c0)
        outcomes = yield fx.Parallel(tuple(
            fx.SetQueryTag("worker-0", c, "flakebench:test_id=t:phase=RUNNING") for c in (c0, c1)))
        out["outcomes"] = outcomes
        try:
            yield fx.Parallel((fx.SetQueryTag("worker-0", c0, "ok"),
                               fx.SetQueryTag("worker-0", c1, "bad\ntag")))
        except fx.StatementFailed as exc:
            out["parallel_failed"] = exc
        yield fx.SetQueryTag("worker-0", c1, "flakebench:test_id=t:phase=RUNNING")
        h = yield fx.Spawn(bench(c1, 3), "task-1")
        s = yield fx.Spawn(sleeper(), "sleeper")
        out["joined"] = yield fx.Join((h,), timeout=10)
        out["sleeper_joined"] = yield fx.Join((s,), timeout=0.1)
        yield fx.Cancel((s,))
        out["sleeper_cancelled"] = yield fx.Join((s,), timeout=5)
        out["task"] = h.result
        t0 = yield fx.Now()
        yield fx.Note("marker", {"worker": "worker-0", "name": "first_query"})
        out["t0"] = t0

    with RealDriver(spec, sql, tw) as d:
        d.run(actor(), "worker-0")

    assert out["before"].tag.endswith("phase=WARMUP") and out["before"].ok
    assert out["outcomes"] == [True, True] and out["parallel_failed"].op == "alter_tag"
    assert out["joined"] is True and out["sleeper_joined"] is False
    assert out["sleeper_cancelled"] is True and "sleeper_woke" not in out
    assert [r.tag.endswith("phase=RUNNING") and r.ok for r in out["task"]] == [True] * 3
    assert all(r.finish >= r.start for r in out["task"])
    conns = [(r["conn"], r["action"], r["tag"][-7:]) for r in tw.records if r["kind"] == "conn"]
    assert sorted(conns) == [("c0", "altered", "RUNNING"), ("c0", "altered", "ok"),
                             ("c0", "created", "=WARMUP"), ("c1", "altered", "RUNNING"),
                             ("c1", "altered", "RUNNING"), ("c1", "created", "=WARMUP")]
    failed = [r for r in tw.records if r["kind"] == "fail"]
    assert len(failed) == 1 and failed[0]["op"] == "alter_tag"
    assert not [r for r in tw.records if r.get("op") == "benchmark"]
    note = [r for r in tw.records if r["kind"] == "marker"][0]
    assert note["actor"] == "worker-0" and note["name"] == "first_query"


def test_connect_error_is_clear_and_has_no_password():
    spec = ConnSpec("embedded", {"host": "127.0.0.1", "port": 9, "protocol": "http",
                                 "account": "a", "user": "u", "password": "Sup3rS3cret"})
    with pytest.raises(ConnectError) as ei:
        open_connection(spec, login_timeout=2, network_timeout=2)
    assert "127.0.0.1:9" in str(ei.value) and "Sup3rS3cret" not in str(ei.value)


def test_worker_processes_heartbeat_and_merge(schema, tmp_path):
    spec, sql = schema
    main = tmp_path / "trace.jsonl"
    run_id = "run-workers"
    with open(main, "w") as sink:
        tw = TraceWriter(sink)
        d = RealDriver(spec, sql, tw, run_dir=str(tmp_path), worker_config={
            "entry": "real_backend.toy_actors:heartbeat_worker", "run_id": run_id,
            "args": {"beats": 3, "period_s": 0.1}})
        d.record("driver", "run", run_id=run_id, seed=None, world="live")

        def orchestrator():
            for g in range(2):
                yield fx.SpawnWorker(f"worker-{g}", g, 2)
            deadline = (yield fx.Now()) + 30
            while (yield fx.LiveWorkers()) and (yield fx.Now()) < deadline:
                yield fx.Sleep(0.2)
            return (yield fx.CountHeartbeats(run_id))

        with d:
            counts = d.run(orchestrator(), "orchestrator")
            d._workers.join_reapers(2)
    merged = tmp_path / "merged.jsonl"
    merge_trace_files(str(merged), [str(main), *d.worker_parts()])
    recs = [json.loads(line) for line in merged.read_text().splitlines()]
    assert counts.rows == {"worker-0": "COMPLETED", "worker-1": "COMPLETED"}
    assert recs[0]["kind"] == "run" and [r["t"] for r in recs[1:]] == sorted(r["t"] for r in recs[1:])
    for g in range(2):
        hb = [r["status"] for r in recs if r["kind"] == "heartbeat" and r["actor"] == f"worker-{g}"]
        assert hb == ["READY", "READY", "RUNNING", "COMPLETED"]
        procs = [(r["action"], r.get("code"), r["actor"]) for r in recs
                 if r["kind"] == "proc" and r["worker"] == f"worker-{g}"]
        assert procs == [("spawn", None, "orchestrator"), ("exit", 0, "driver")]
    ids = [r["id"] for r in recs if r["kind"] == "invoke"]
    assert len(ids) == len(set(ids))  # unique across processes


def test_terminate_workers(schema, tmp_path):
    spec, sql = schema
    tw = TraceWriter()
    d = RealDriver(spec, sql, tw, run_dir=str(tmp_path), worker_config={
        "entry": "real_backend.toy_actors:heartbeat_worker", "run_id": "run-term",
        "args": {"beats": 1, "period_s": 0.0, "linger_s": 60}})

    def orchestrator():
        yield fx.SpawnWorker("worker-0", 0, 1)
        yield fx.Sleep(3.0)  # let it start and write its heartbeat
        n = yield fx.TerminateWorkers(kill_after_s=3.0)
        return n, (yield fx.LiveWorkers())

    with d:
        assert d.run(orchestrator(), "orchestrator") == (1, 0)
    exits = [r for r in tw.records if r["kind"] == "proc" and r["action"] == "exit"]
    assert [r["code"] for r in exits] == [-15]  # unwound, then died of the SIGTERM


def test_server_gone_after_exit_and_after_exception():
    with EmbeddedServer() as kw:
        pid, path = kw["_server"].pid, kw["_server"].dir
    assert _wait_gone([pid]) == [] and not os.path.exists(path)
    with pytest.raises(RuntimeError, match="boom"):
        with EmbeddedServer() as kw:
            pid, path = kw["_server"].pid, kw["_server"].dir
            raise RuntimeError("boom")
    assert _wait_gone([pid]) == [] and not os.path.exists(path)


PARENT = textwrap.dedent("""
    import json, sys, time
    from protocol import effects as fx
    from protocol.trace import TraceWriter
    from real_backend.connection import embedded_spec, open_connection, create_run_schema
    from real_backend.driver import RealDriver
    from real_backend.embedded_server import EmbeddedServer
    from real_backend.sql import SqlText
    with EmbeddedServer() as kw:
        spec, sql = embedded_spec(kw), SqlText("PHASELAB", "RUN_KILL")
        create_run_schema(open_connection(spec), sql, fill_rows=1)
        d = RealDriver(spec, sql, TraceWriter(), run_dir=sys.argv[1], worker_config={
            "entry": "real_backend.toy_actors:heartbeat_worker", "run_id": "r",
            "args": {"beats": 2, "period_s": 0.1, "linger_s": 120}})
        def orch():
            pids = []
            for g in range(2):
                pids.append((yield fx.SpawnWorker(f"worker-{g}", g, 2)))
            print(json.dumps({"pids": [kw["_server"].pid, *pids], "dir": kw["_server"].dir}),
                  flush=True)
            yield fx.Sleep(120)
        d.run(orch(), "orchestrator")
""")


@pytest.mark.parametrize("how", ["sigkill", "sigint"])
def test_killing_the_parent_leaves_no_process(tmp_path, how):
    p = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True,
                         # SIGINT at its default even when the suite runs as a background
                         # job (which starts with it ignored)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        info = json.loads(p.stdout.readline())
        time.sleep(1.5)  # the workers are connected and heartbeating
        assert all(_alive(pid) for pid in info["pids"])
        p.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
        p.wait(timeout=15)
        assert _wait_gone(info["pids"], timeout=8) == []
        deadline = time.monotonic() + 3
        while os.path.exists(info["dir"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(info["dir"])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
