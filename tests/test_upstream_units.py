"""The upstream layer without the upstream: SQL reading, the statement map, the converter on
small recordings made here, honest judging, the server shim's rules and the command's
argument checks. Nothing here needs a checkout or the network."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from phaselab.cli import main
from protocol.trace import Trace
from trace_builder import clean_run, is_
from upstream import server_shim, sqltext
from upstream import statement_map as sm
from upstream.convert import RunFacts, convert
from upstream.judging import NEEDS, judge_recorded, lacking
from upstream.recording import read_dir

MAP = sm.MAPS_DIR / "flakebench-6cb34b8.toml"
RUN = "11111111-2222-3333-4444-555555555555"


# --- sqltext -----------------------------------------------------------------------------

def test_update_binds_placeholders_in_order_and_reads_the_guard():
    sql = sqltext.normalize("""UPDATE DB.S.RUN_STATUS SET STATUS = 'RUNNING', PHASE = ?,
        WARMUP_START_TIME = CASE WHEN ? = 'WARMUP' THEN CURRENT_TIMESTAMP() ELSE NULL END,
        NOTE = UPPER(?) WHERE RUN_ID = ? AND STATUS = 'STARTING'""")
    cols, guard = sqltext.update_parts(sql, ["WARMUP", "WARMUP", "x", RUN])
    assert cols["STATUS"] == "RUNNING" and cols["PHASE"] == "WARMUP"
    assert cols["WARMUP_START_TIME"] is sqltext.NOW
    assert "NOTE" not in cols  # an expression it cannot read is left out, not guessed
    assert guard == {"status_in": ["STARTING"]}


def test_case_when_false_sets_null_and_not_in_guard():
    sql = sqltext.normalize("UPDATE T.RUN_STATUS SET PHASE = ?, WARMUP_START_TIME = CASE WHEN "
                            "? = 'WARMUP' THEN CURRENT_TIMESTAMP() ELSE NULL END WHERE RUN_ID = ? "
                            "AND STATUS NOT IN ('COMPLETED', 'FAILED')")
    cols, guard = sqltext.update_parts(sql, ["MEASUREMENT", "MEASUREMENT", RUN])
    assert cols == {"PHASE": "MEASUREMENT", "WARMUP_START_TIME": None}
    assert guard == {"status_not_in": ["COMPLETED", "FAILED"]}


def test_insert_select_and_merge_source_columns():
    ins = sqltext.insert_columns("INSERT INTO D.RUN_CONTROL_EVENTS ( EVENT_ID, EVENT_TYPE, "
                                 "EVENT_DATA, SEQUENCE_ID ) SELECT ?, ?, PARSE_JSON(?), ?",
                                 ["e1", "STOP", '{"scope": "RUN", "reason": "x"}', 4])
    assert ins == {"EVENT_ID": "e1", "EVENT_TYPE": "STOP",
                   "EVENT_DATA": {"scope": "RUN", "reason": "x"}, "SEQUENCE_ID": 4}
    mg = sqltext.merge_source("MERGE INTO D.WORKER_HEARTBEATS AS target USING ( SELECT ? AS "
                              "RUN_ID, ? AS WORKER_ID, 'READY' AS STATUS ) AS src ON "
                              "target.RUN_ID = src.RUN_ID", [RUN, "worker-1"])
    assert mg == {"RUN_ID": RUN, "WORKER_ID": "worker-1", "STATUS": "READY"}


def test_question_marks_inside_quotes_are_not_placeholders():
    sql = "UPDATE T SET A = 'what?', B = ? WHERE ID = ?"
    cols, _ = sqltext.update_parts(sql, [7, 1])
    assert cols == {"A": "what?", "B": 7}


# --- the statement map -------------------------------------------------------------------

def test_shipped_map_loads_and_names_actors_and_roles():
    m = sm.load(MAP)
    assert m.actor_of(["python", "scripts/run_worker.py", "--worker-group-id", "3"]) == \
        "worker-3"
    assert m.actor_of(["python", "/x/upstream/drivers/flakebench.py", "run"]) == "orchestrator"
    assert m.actor_of(["python", "-m", "backend.setup_schema"]) == "setup"
    assert m.role_of("flakebench:test_id=a:phase=WARMUP") == "benchmark"
    assert m.role_of("phaselab-harness") == "harness"
    assert m.role_of("flakebench") == "control"
    assert sm.for_version("6cb34b8c0ffee") == MAP


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("format = 1", "format = 9"), ["format", "9"]),
    (lambda t: t.replace('op = "alter_tag"', 'op = "alter_tags"'), ["op", "alter_tags",
                                                                    "allowed"]),
    (lambda t: t.replace("match = '/\\*UB_KIND='", "match = '(unclosed'"), ["match",
                                                                          "regular expression"]),
    (lambda t: t + '\n[[statement]]\nname = "x"\nmatch = "y"\ncolour = "red"\n',
     ["unknown key", "colour"]),
    (lambda t: t.replace('driver = "flakebench"', 'driver = "nothere"'), ["driver", "nothere"]),
    (lambda t: t.replace('dashboard = { level = "absent"', 'dashboard = { level = "maybe"'),
     ["level", "maybe"]),
])
def test_a_bad_map_is_refused_naming_file_and_key(tmp_path, edit, words):
    bad = tmp_path / "bad.toml"
    text = MAP.read_text()
    new = edit(text)
    assert new != text
    bad.write_text(new)
    with pytest.raises(sm.MapError) as exc:
        sm.load(bad)
    assert "bad.toml" in str(exc.value)
    for w in words:
        assert w in str(exc.value)


# --- the converter on a recording made here ----------------------------------------------

T0 = 1_000_000.0


def _write(folder: Path, pid: int, argv: list[str], records: list[dict]) -> None:
    with open(folder / f"proc-{pid}.jsonl", "w") as f:
        first = records[0].get("t", records[0].get("t0"))
        f.write(json.dumps({"k": "process", "t": first - 0.5, "pid": pid, "ppid": 1, "argv": argv,
                            "orig_argv": ["python", *argv]}) + "\n")
        for r in records:
            f.write(json.dumps(r) + "\n")


def _stmt(i, conn, t0, t1, sql, params=None, rowcount=1, error=None):
    return {"k": "stmt", "id": i, "conn": conn, "call": "execute", "thread": "T", "t0": T0 + t0,
            "t1": T0 + t1, "sql": sql, "params": params, "rowcount": rowcount, "error": error}


def _recording(tmp_path: Path) -> Path:
    d = tmp_path / "rec"
    d.mkdir()
    P = "FLAKEBENCH.TEST_RESULTS"
    _write(d, 10, ["/x/drivers/flakebench.py", "run"], [
        {"k": "connect", "conn": 1, "t": T0 + 0.1, "session_parameters": {"QUERY_TAG": "flakebench"}},
        {"k": "connect_done", "conn": 1, "t": T0 + 0.2},
        _stmt(1, 1, 0.3, 0.4, f"INSERT INTO {P}.RUN_STATUS (RUN_ID, STATUS, PHASE) SELECT ?, ?, ?",
              [RUN, "PREPARED", ""]),
        _stmt(2, 1, 0.5, 0.6, f"UPDATE {P}.RUN_STATUS SET STATUS = 'STARTING', PHASE = "
              "'PREPARING', START_TIME = CURRENT_TIMESTAMP() WHERE RUN_ID = ?", [RUN]),
        _stmt(3, 1, 0.7, 0.8, f"INSERT INTO {P}.RUN_CONTROL_EVENTS ( EVENT_ID, RUN_ID, "
              "EVENT_TYPE, EVENT_DATA, SEQUENCE_ID ) SELECT ?, ?, ?, PARSE_JSON(?), ?",
              ["e", RUN, "START", '{"scope": "RUN", "phase": "WARMUP"}', 1]),
        _stmt(4, 1, 3.0, 3.1, f"UPDATE {P}.RUN_STATUS SET STATUS = 'RUNNING', PHASE = ? WHERE "
              "RUN_ID = ? AND STATUS = 'STARTING'", ["WARMUP", RUN], rowcount=0),
        _stmt(5, 1, 3.2, 3.3, "SHOW WAREHOUSES LIKE 'X'"),
        {"k": "connect", "conn": 2, "t": T0 + 3.4, "session_parameters": {"QUERY_TAG": "phaselab-harness"}},
        _stmt(6, 2, 3.5, 3.6, f"SELECT STATUS, PHASE FROM {P}.RUN_STATUS WHERE RUN_ID = ?", [RUN]),
    ])
    tag = "flakebench:test_id=abc:phase="
    _write(d, 11, ["scripts/run_worker.py", "--run-id", RUN, "--worker-group-id", "0"], [
        {"k": "connect", "conn": 1, "t": T0 + 1.0, "session_parameters": {"QUERY_TAG": "flakebench"}},
        {"k": "connect", "conn": 2, "t": T0 + 1.1, "session_parameters": {"QUERY_TAG": tag + "WARMUP"}},
        {"k": "connect_done", "conn": 2, "t": T0 + 1.2},
        _stmt(1, 1, 1.3, 1.4, f"MERGE INTO {P}.WORKER_HEARTBEATS AS target USING ( SELECT ? AS "
              "RUN_ID, ? AS WORKER_ID, ? AS STATUS, ? AS LAST_HEARTBEAT ) AS src ON x = y",
              [RUN, "worker-0", "READY", "1970-01-12T13:46:41+00:00"]),
        _stmt(2, 1, 2.0, 2.1, f"SELECT STATUS, PHASE, SCENARIO_CONFIG FROM {P}.RUN_STATUS "
              "WHERE RUN_ID = ?", [RUN]),
        {"k": "rows", "stmt": 2, "t": T0 + 2.1, "rows": [["RUNNING", "WARMUP", "{}"]], "n": 1},
        {"k": "log", "t": T0 + 2.2, "logger": "__main__", "level": "INFO",
         "msg": "_wait_for_start: status=RUNNING, proceeding!"},
        _stmt(3, 2, 2.5, 2.6, f"SELECT /*UB_KIND=POINT_LOOKUP*/ * FROM {P}.B WHERE id = ?", [5]),
        {"k": "call", "note": "hook", "t0": T0 + 2.7, "t1": T0 + 2.9},
        _stmt(4, 2, 2.75, 2.8, "ALTER SESSION SET QUERY_TAG = '" + tag + "RUNNING'"),
        {"k": "log", "t": T0 + 2.95, "logger": "__main__", "level": "INFO",
         "msg": "Phase set to MEASUREMENT"},
        _stmt(5, 2, 3.0, 3.05, f"SELECT /*UB_KIND=POINT_LOOKUP*/ * FROM {P}.B WHERE id = ?", [6]),
        _stmt(6, 1, 3.1, 3.2, f"UPDATE {P}.WORKER_HEARTBEATS SET STATUS = 'DEAD' WHERE RUN_ID "
              "= ?", [RUN], rowcount=0),
    ])
    _write(d, 12, ["-m", "backend.setup_schema"], [_stmt(1, 1, -5, -4.9, "CREATE TABLE X (A INT)")])
    return d


def _convert(tmp_path, **facts):
    f = RunFacts(RUN, 1, 1, 1, 2, [0], "COMPLETED", "PROCESSING", **facts)
    return convert(read_dir(_recording(tmp_path)), sm.load(MAP), f)


def test_converter_builds_database_truth_from_statements(tmp_path):
    c = _convert(tmp_path, db_times={"START_TIME": T0 + 0.55})
    tr = Trace(c.records)
    sw = tr.of("status_write")
    assert [w["set"].get("STATUS") for w in sw] == ["PREPARED", "STARTING", "RUNNING"]
    assert sw[1]["set"]["START_TIME"] == T0 + 0.55  # read back from the database
    assert sw[2]["guard"] == {"status_in": ["STARTING"]} and sw[2]["matched"] is False
    (ev,) = tr.of("event_emit")
    assert (ev["seq"], ev["type"], ev["scope"], ev["payload"]) == (1, "START", "RUN",
                                                                    {"phase": "WARMUP"})
    (hb,) = tr.of("heartbeat")
    assert (hb["worker"], hb["status"], hb["writer"]) == ("worker-0", "READY", "worker")
    assert tr.header["params"]["workers"] == 1 and tr.header["world"] == "upstream"
    # t = 0 is the start of the run's process (0.5 s before its first record)
    assert sw[0]["t"] == pytest.approx(0.4 - 0.1 + 0.5)


def test_converter_tracks_each_connections_tag_and_notes(tmp_path):
    c = _convert(tmp_path)
    tr = Trace(c.records)
    q1, q2 = tr.of("query")
    assert q1["tag"].endswith("phase=WARMUP") and q2["tag"].endswith("phase=RUNNING")
    assert q1["conn"] == q2["conn"] == "c2" and q1["epoch"] is None
    conns = [(r["action"], r["tag"][-7:]) for r in tr.of("conn")]
    assert conns == [("created", "=WARMUP"), ("altered", "RUNNING")]
    (hook,) = tr.of("hook")
    assert hook["end"] - hook["start"] == pytest.approx(0.2) and hook["epoch"] == 1
    states = [(s["phase"], s["source"]) for s in tr.of("worker_state")]
    assert states == [("WARMUP", "wait"), ("MEASUREMENT", "event")]
    assert {m["name"] for m in tr.of("marker")} == {"wait_returned", "first_query"}
    assert c.stats["unmapped"] == {"SHOW WAREHOUSES LIKE '…'": 1}
    assert c.stats["harness_statements"] == 1 and c.stats["setup_statements"] == 1
    assert tr.of("run_end")[0]["status"] == "COMPLETED"


def test_marks_that_changed_no_row_make_mark_evidence_complete(tmp_path):
    c = _convert(tmp_path)
    assert c.coverage["heartbeat_marks"]["level"] == "complete"
    assert sm.load(MAP).coverage["heartbeat_marks"]["level"] == "partial"


# --- honest judging ----------------------------------------------------------------------

FULL = {ev: {"level": "complete", "why": ""} for ev in sm.EVIDENCE}


def _verdict(trace, coverage):
    return {j.property_id: j for j in judge_recorded(trace, coverage)}


def test_partial_evidence_turns_a_false_alarm_into_not_judged():
    # a worker that handled SET_PHASE but whose note is missing looks like a swallow
    b = clean_run().drop(is_("event_seen", worker="worker-1", seq=2))
    assert _verdict(b.build(), FULL)["EV-NO-SWALLOW"].outcome == "failed"
    cov = {**FULL, "event_seen": {"level": "partial", "why": "only some are logged"}}
    j = _verdict(b.build(), cov)["EV-NO-SWALLOW"]
    assert j.outcome == "not judged" and "event_seen is partial" in j.not_judged
    assert "only some are logged" in j.not_judged


def test_complete_evidence_is_judged_both_ways():
    clean = _verdict(clean_run().build(), FULL)
    assert clean["RUN-STATUS-EDGES"].outcome == "passed"
    bad = clean_run().status(40.0, "COMPLETED", "RUNNING")
    assert _verdict(bad.build(), FULL)["RUN-STATUS-EDGES"].outcome == "failed"


def test_a_pass_on_partial_evidence_is_not_judged_but_a_sound_violation_stands():
    cov = {**FULL, "worker_state": {"level": "partial", "why": "w"}}
    assert _verdict(clean_run().build(), cov)["PH-NO-REGRESS"].outcome == "not judged"
    back = clean_run().wstate(30.0, "worker-0", phase="WARMUP", source="reconcile")
    assert _verdict(back.build(), cov)["PH-NO-REGRESS"].outcome == "failed"


def test_absent_evidence_and_unknown_properties_are_not_judged():
    cov = {**FULL, "dashboard": {"level": "absent", "why": "no web app"}}
    assert _verdict(clean_run().build(), cov)["WS-END-RULE"].outcome == "not judged"
    assert lacking("SOME-NEW-PROPERTY", FULL)[0][1]["level"] == "unknown"
    assert lacking("RUN-STATUS-EDGES", {}) == [("status_write", {
        "level": "absent", "why": "the statement map does not declare it"})]
    assert set(NEEDS) >= {"RUN-STATUS-EDGES", "EPOCH-TAG-AGREE"}


# --- server shim rules -------------------------------------------------------------------

@pytest.mark.parametrize("sql, rule, expect", [
    ("CREATE HYBRID TABLE IF NOT EXISTS R (A INT)", "hybrid-table", "CREATE TABLE IF NOT EXISTS"),
    ("CREATE OR ALTER TABLE T (A INT)", "create-or-alter", "CREATE TABLE IF NOT EXISTS T"),
    ("ALTER SESSION SET QUERY_TAG = 'x:phase=RUNNING'", "query-tag", "SELECT 'Statement"),
    ("COMMENT ON TABLE T IS 'hi'", "comment", "SELECT 'Statement"),
    ("COPY INTO T FROM (SELECT $1 FROM @S/) FILE_FORMAT = (TYPE = PARQUET) ON_ERROR = CONTINUE",
     "copy-on-error", "(TYPE = PARQUET)"),
    ("REMOVE @DB.S.STAGE/abc/0/", "remove-stage", "SELECT 'Statement"),
    ("CREATE TABLE E (A INT, CONSTRAINT FK FOREIGN KEY (A) REFERENCES R(A))", "foreign-key",
     "CREATE TABLE E (A INT)"),
])
def test_each_shim_rule_rewrites_its_statement(sql, rule, expect):
    new, used = server_shim.rewrite(sql)
    assert used == [rule] and expect in new
    assert "ON_ERROR" not in new


def test_ordinary_statements_pass_the_shim_unchanged():
    for sql in ("SELECT STATUS FROM RUN_STATUS WHERE RUN_ID = ?",
                "UPDATE RUN_STATUS SET STATUS = 'RUNNING' WHERE RUN_ID = ?",
                "MERGE INTO WORKER_HEARTBEATS AS t USING (SELECT ? AS A) AS s ON t.A = s.A"):
        assert server_shim.rewrite(sql) == (sql, [])
    assert {r["name"] for r in server_shim.rules()} >= {"hybrid-table", "view"}


# --- the command's argument checks (nothing starts) --------------------------------------

def _fake_checkout(tmp_path: Path) -> Path:
    co = tmp_path / "co"
    (co / "scripts").mkdir(parents=True)
    (co / "scripts" / "run_worker.py").write_text("")
    (co / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = []\n')
    return co


@pytest.mark.parametrize("argv, words", [
    (["upstream", "/no/such/folder"], ["PATH", "not a folder"]),
    (["upstream", "{co}", "--workers", "0"], ["--workers", ">= 1"]),
    (["upstream", "{co}", "--measure", "0"], ["--measure"]),
    (["upstream", "{co}"], ["no statement map", "--map"]),
    (["upstream", "{co}", "--map", "/no/map.toml"], ["--map", "no such statement map"]),
    (["upstream", "{co}", "--map", str(MAP), "--trace", "/no/dir/t.jsonl"], ["--trace"]),
    (["upstream", "{empty}", "--map", str(MAP)], ["pyproject.toml"]),
])
def test_bad_arguments_exit_2_naming_the_argument(tmp_path, capsys, argv, words):
    co = _fake_checkout(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = [a.format(co=co, empty=empty) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for w in words:
        assert w in err


def test_check_judges_a_saved_upstream_trace_by_its_coverage(tmp_path, capsys):
    from protocol.trace import dumps
    b = clean_run().drop(is_("event_seen", worker="worker-1", seq=2))
    tr = b.build()
    cov = {**FULL, "event_seen": {"level": "partial", "why": "only some are logged"}}
    path = tmp_path / "up.jsonl"
    hdr = {**tr.header, "world": "upstream", "upstream": {"coverage": cov}}
    path.write_text("".join(dumps(r) + "\n" for r in [hdr] + tr.records[1:]))
    assert main(["check", str(path), "--json"]) == 0  # the false alarm is not judged
    out = json.loads(capsys.readouterr().out)
    nj = {n["property"] for n in out["verdict"]["not_judged"]}
    assert "EV-NO-SWALLOW" in nj
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(dumps(r) + "\n" for r in tr.records))
    assert main(["check", str(plain)]) == 1  # without coverage it is judged (and fails)


# --- every way out of a step cleans up ---------------------------------------------------

STEP = r"""
import json, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(str(child.pid))
def term(*_):
    open(sys.argv[2], "w").write("asked to stop")
    time.sleep(120)  # ignores the request: only the kill ends it
signal.signal(signal.SIGTERM, term)
print(json.dumps({"step": "started"}), flush=True)
time.sleep(120)
"""


def test_a_step_that_overruns_is_asked_to_stop_then_killed_with_its_children(tmp_path,
                                                                             monkeypatch):
    from upstream import launch
    monkeypatch.setattr(launch, "STOP_GRACE_S", 1.0)
    script = tmp_path / "step.py"
    script.write_text(STEP)
    pidfile, asked = tmp_path / "child.pid", tmp_path / "asked"
    seen = []
    res = launch.run_step("run", [sys.executable, str(script), str(pidfile), str(asked)],
                          tmp_path, dict(os.environ), tmp_path, timeout_s=3.0,
                          on_message=seen.append)
    assert res.timed_out and seen == [{"step": "started"}]
    assert asked.read_text() == "asked to stop"
    child = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the step's child {child} is still alive")
