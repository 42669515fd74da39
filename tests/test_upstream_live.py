"""The recorder and the server shim against a real embedded server (marked `live`), and the
whole `phaselab upstream` on a checkout (marked `upstream`: only when PHASELAB_UPSTREAM names
one; it makes the checkout's venv from the package index the first time)."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from real_backend.embedded_server import ServerProcess
from upstream import launch

SCRIPT = r'''
import logging, sys
import snowflake.connector
logging.basicConfig(level=logging.INFO)
log = logging.getLogger("target.main")
import target_mod
# credentials and host of somewhere else: the recorder must redirect and not log them
conn = snowflake.connector.connect(account="elsewhere", user="u", password="s3cret-pw",
                                   host="example.invalid", paramstyle="qmark",
                                   session_parameters={"QUERY_TAG": "app:phase=WARMUP"})
cur = conn.cursor()
cur.execute("CREATE DATABASE IF NOT EXISTS PHASELAB")
cur.execute("CREATE SCHEMA IF NOT EXISTS PHASELAB.PUBLIC")
cur.execute("CREATE HYBRID TABLE PHASELAB.PUBLIC.T (ID INT PRIMARY KEY, V VARCHAR)")
cur.execute("INSERT INTO PHASELAB.PUBLIC.T (ID, V) SELECT ?, ?", [1, "a"])
cur.execute("SELECT ID, V FROM PHASELAB.PUBLIC.T WHERE ID = ?", [1])
print(cur.fetchall())
cur.execute("ALTER SESSION SET QUERY_TAG = 'app:phase=RUNNING'")
log.info("Phase set to %s", "MEASUREMENT")
logging.getLogger("other").info("not recorded")
target_mod.hook(2)
try:
    cur.execute("MERGE INTO PHASELAB.PUBLIC.T AS t USING (SELECT ? AS ID) AS s ON t.ID = s.ID "
                "WHEN MATCHED THEN UPDATE SET V = ?", [1, "b", "extra"])
except Exception as exc:
    print("refused:", type(exc).__name__)
conn.close()
'''


@pytest.mark.live
def test_recorder_and_shim_against_the_embedded_server(tmp_path):
    (tmp_path / "target_mod.py").write_text("def hook(x):\n    return x * 2\n")
    rec = tmp_path / "rec"
    rec.mkdir()
    server = ServerProcess(shim="upstream.server_shim")
    try:
        kw = server.kwargs()
        conf = {"redirect": {k: kw[k] for k in ("host", "port", "protocol", "account", "user",
                                                 "password")},
                "loggers": ["target.main"], "log_level": "INFO",
                "wraps": [{"module": "target_mod", "function": "hook", "note": "hook"}]}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(launch.RECORDER_DIR),
                                                            str(tmp_path)]),
               "PHASELAB_RECORD_DIR": str(rec), "PHASELAB_RECORD_CONFIG": json.dumps(conf)}
        t0 = time.monotonic()
        script = tmp_path / "target_main.py"
        script.write_text(SCRIPT)
        out = subprocess.run([sys.executable, str(script), "--password", "s3cret-pw"],
                             env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        took = time.monotonic() - t0
        assert out.returncode == 0, out.stderr[-2000:]
        assert "refused: ProgrammingError" in out.stdout
        assert took < 60  # the refusal is an SQL error, not a minute of connector retries
        shim = [json.loads(x) for x in open(Path(server.dir) / "shim.jsonl")]
    finally:
        server.stop()
    (log,) = glob.glob(str(rec / "proc-*.jsonl"))
    text = Path(log).read_text()
    assert "s3cret-pw" not in text and "example.invalid" not in text
    recs = [json.loads(x) for x in text.splitlines()]
    kinds = [r["k"] for r in recs]
    assert kinds[0] == "process" and "connect" in kinds and "connect_done" in kinds
    stmts = [r for r in recs if r["k"] == "stmt"][2:]
    assert stmts[0]["sql"].startswith("CREATE HYBRID TABLE")  # recorded as the target sent it
    assert [s["error"] is None for s in stmts] == [True, True, True, True, False]
    assert stmts[1]["params"] == [1, "a"] and stmts[1]["rowcount"] == 1
    rows = [r for r in recs if r["k"] == "rows"]
    assert len(rows) == 1  # fetchall's inner fetchone calls are not logged again
    assert rows[0]["rows"] == [[1, "a"]] and rows[0]["stmt"] == stmts[2]["id"]
    logs = [r["msg"] for r in recs if r["k"] == "log"]
    assert logs == ["Phase set to MEASUREMENT"]
    calls = [r for r in recs if r["k"] == "call"]
    assert len(calls) == 1 and calls[0]["note"] == "hook" and calls[0]["t1"] >= calls[0]["t0"]
    connect = next(r for r in recs if r["k"] == "connect")
    assert connect["session_parameters"] == {"QUERY_TAG": "app:phase=WARMUP"}
    assert "password" not in connect["args"]
    rules = {n.get("rules", [None])[0] if n["what"] == "rewrite" else n["what"] for n in shim}
    assert {"hybrid-table", "query-tag", "refused"} <= rules


@pytest.mark.upstream
@pytest.mark.skipif(not os.environ.get("PHASELAB_UPSTREAM"),
                    reason="PHASELAB_UPSTREAM is not set (a checkout of the upstream tool)")
def test_upstream_run_completes_gives_a_verdict_and_leaves_nothing(tmp_path):
    private_tmp = tmp_path / "tmp"  # our own TMPDIR: other runs on the machine use /tmp too
    private_tmp.mkdir()
    trace = tmp_path / "up.jsonl"
    out = subprocess.run([sys.executable, "-m", "phaselab.cli", "upstream",
                          os.environ["PHASELAB_UPSTREAM"], "--workers", "2", "--warmup", "3",
                          "--measure", "6", "--trace", str(trace), "--json"],
                         capture_output=True, text=True, timeout=1200,
                         env={**os.environ, "TMPDIR": str(private_tmp)})
    assert out.returncode in (0, 1), out.stderr[-3000:]
    r = json.loads(out.stdout)
    assert r["completed"], r["problems"]
    assert r["worker_exit_codes"] == [0, 0] and r["status"] == "COMPLETED"
    outcomes = {p["property"]: p["outcome"] for p in r["properties"]}
    assert set(outcomes.values()) <= {"passed", "failed", "not judged"}
    assert outcomes["EV-NO-SWALLOW"] == "not judged"  # the recording lacks skipped events
    assert outcomes["RUN-STATUS-EDGES"] == "passed"
    assert r["statements"]["benchmark_queries"] > 0 and trace.stat().st_size > 0
    assert out.returncode == (0 if r["verdict"]["ok"] else 1)
    left = list(private_tmp.iterdir())
    assert not left, f"left behind: {left}"  # server folder, recording, the target's files
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert r["run_id"] not in ps  # no worker of this run is still alive


@pytest.mark.upstream
@pytest.mark.skipif(not os.environ.get("PHASELAB_UPSTREAM"),
                    reason="PHASELAB_UPSTREAM is not set (a checkout of the upstream tool)")
def test_ctrl_c_mid_run_exits_130_and_leaves_nothing(tmp_path):
    import signal

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "phaselab.cli", "upstream",
                             os.environ["PHASELAB_UPSTREAM"], "--warmup", "30", "--measure",
                             "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(private_tmp)})
    import re

    seen, run_id = "", None
    deadline = time.monotonic() + 600
    while run_id is None or "step run" not in seen:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, f"exited early: {seen[-2000:]}"
        seen += line
        m = re.search(r"run_id=([0-9a-f-]{36})", seen.replace("\n", ""))
        run_id = m.group(1) if m and "started" in seen else None
        assert time.monotonic() < deadline, seen[-2000:]
    time.sleep(5)  # the workers are up and running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    left = list(private_tmp.iterdir())
    assert not left, f"left behind: {left}"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert run_id not in ps
