"""Real backend pieces that need no server: identifiers, redaction, SQL text, trace merging."""
from __future__ import annotations

import json

import pytest

from protocol import effects as fx
from real_backend import sql as S
from real_backend.clock import RunClock
from real_backend.connection import ConnectError, redact, snowflake_spec
from real_backend.driver import merge_trace_files
from real_backend.identifiers import validate_identifier


@pytest.mark.parametrize("good", ["PHASELAB", "run_1", "_x", "A$B", "a" * 255])
def test_identifier_accepts(good):
    assert validate_identifier(good, "schema") == good.upper()


@pytest.mark.parametrize("bad", ["", "1abc", "a-b", "a.b", "a b", 'x"; DROP', "a" * 256, None, 5])
def test_identifier_rejects_naming_setting_and_rule(bad):
    with pytest.raises(ValueError) as ei:
        validate_identifier(bad, "SNOWFLAKE_WAREHOUSE")
    msg = str(ei.value)
    assert "SNOWFLAKE_WAREHOUSE" in msg and "letter or underscore" in msg


def test_sqltext_validates_names():
    with pytest.raises(ValueError, match="schema"):
        S.SqlText("DB", "bad-schema")


def test_redact_secrets_pem_and_key_values(monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "hunter2-env")
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"
    text = (f"login failed password=s3cr3t! for 'hunter2-env' with {pem} "
            "{'password': 'abc def', \"private_key_file_pwd\": \"pp\", token=tok123}")
    out = redact(text, ["s3cr3t!"])
    for secret in ("s3cr3t!", "hunter2-env", "MIIEvQIBADANBg", "abc def", "tok123", '"pp"'):
        assert secret not in out
    assert "login failed" in out and "***" in out


def test_snowflake_spec_from_env_has_no_secrets():
    env = {"SNOWFLAKE_ACCOUNT": "acc", "SNOWFLAKE_USER": "me", "SNOWFLAKE_PASSWORD": "pw!x",
           "SNOWFLAKE_WAREHOUSE": "WH_1", "SNOWFLAKE_PRIVATE_KEY_FILE": "/k.p8"}
    spec = snowflake_spec(env=env)
    assert "pw!x" not in json.dumps(spec.to_json())
    assert spec.options["warehouse"] == "WH_1"
    with pytest.raises(ValueError, match="SNOWFLAKE_WAREHOUSE"):
        snowflake_spec(env={**env, "SNOWFLAKE_WAREHOUSE": "wh;drop"})
    with pytest.raises(ConnectError, match="SNOWFLAKE_ACCOUNT"):
        snowflake_spec(env={"SNOWFLAKE_USER": "me"})


def test_write_run_status_sql():
    sql = S.SqlText("DB", "S")
    q = sql.write_run_status(fx.WriteRunStatus(
        "r1", {"STATUS": "RUNNING", "WARMUP_START_TIME": fx.NOW, "WORKER_TARGETS": {"w": 2}},
        fx.Guard(status_in=("STARTING",), phase_in=("WARMUP", "")),
        coalesce=("WARMUP_START_TIME",)))
    assert q.text == (
        "UPDATE DB.S.RUN_STATUS SET STATUS = ?, WARMUP_START_TIME = COALESCE(WARMUP_START_TIME, "
        "CURRENT_TIMESTAMP()), WORKER_TARGETS = PARSE_JSON(?), UPDATED_AT = CURRENT_TIMESTAMP() "
        "WHERE RUN_ID = ? AND STATUS IN (?) AND PHASE IN (?, ?)")
    assert q.params == ("RUNNING", '{"w": 2}', "r1", "STARTING", "WARMUP", "")
    with pytest.raises(ValueError, match="not settable"):
        sql.write_run_status(fx.WriteRunStatus("r1", {"RUN_ID; --": 1}))


def test_every_statement_has_sql_and_the_driver_a_handler():
    from real_backend.driver import RealDriver
    ops = {c.op for c in vars(fx).values()
           if isinstance(c, type) and issubclass(c, fx.Statement) and c is not fx.Statement}
    missing = [op for op in ops if op != "benchmark" and not hasattr(RealDriver, "_do_" + op)]
    assert not missing


def test_ddl_hybrid_switch_and_measurement_column():
    std, hyb = S.SqlText("D", "S").ddl(), S.SqlText("D", "S", hybrid=True).ddl()
    assert all(q.text.startswith("CREATE TABLE") for q in std)
    assert all(q.text.startswith("CREATE HYBRID TABLE") for q in hyb)
    assert "MEASUREMENT_START_TIME" in std[0].text
    assert all("PRIMARY KEY" in q.text for q in hyb)


def test_tag_literal_is_escaped_and_checked():
    assert S.quote_tag("a'b\\c") == "'a\\'b\\\\c'"
    with pytest.raises(ValueError):
        S.quote_tag("x\n'; DROP TABLE t")


def test_heartbeat_counts_and_enrichment():
    c = S.heartbeat_counts([("w0", "READY"), ("w1", "DEAD"), ("w2", "STALE"), ("w3", "COMPLETED")])
    assert (c.registered, c.active, c.completed, c.dead, c.ready) == (4, 2, 2, 1, 1)
    rows = [("child", "COMPLETED"), ("r1", None)]
    assert S.enrichment_status(rows, "r1", parent_first=True) == "COMPLETED"
    assert S.enrichment_status([("child", "FAILED"), ("r1", "PENDING")], "r1", True) == "PENDING"
    assert S.enrichment_status([("child", "FAILED"), ("r1", "PENDING")], "r1", False) == "FAILED"


def test_merge_trace_files_orders_by_t_header_first(tmp_path):
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    a.write_text('{"t":0,"actor":"driver","kind":"run"}\n{"t":2.0,"actor":"o","kind":"x"}\n')
    b.write_text('{"t":1.0,"actor":"worker-0","kind":"y"}\n{"t":3.0,"actor":"worker-0","ki')
    assert merge_trace_files(str(out), [str(a), str(b), str(tmp_path / "missing")]) == 3
    kinds = [json.loads(l)["kind"] for l in out.read_text().splitlines()]
    assert kinds == ["run", "y", "x"]


def test_run_clock_join_shares_epoch():
    c = RunClock.start()
    w = RunClock.join(c.epoch_wall)
    assert abs(c.now() - w.now()) < 0.05
