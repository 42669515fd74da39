"""Snowflake readiness without an account (issue 8): the SQL text, the connect arguments,
the default timeouts, authentication from the environment or a named connection, the
hybrid-table fallback and the labelling of server-side counts."""
from __future__ import annotations

import pytest

from phaselab.smoke import server_comparison
from protocol.checks import check
from real_backend import connection as C
from real_backend import history, live
from real_backend.driver import _outcome
from real_backend.sql import SqlText
from tests.trace_builder import TraceBuilder, assert_violation

from protocol import effects as fx

SF = C.ConnSpec("snowflake", {"account": "acct", "user": "u", "statement_timeout_s": 10})
NO_ENV: dict = {}


def test_sequence_is_ordered_on_snowflake_only():
    e = fx.CreateRun("run-1", 2)
    assert SqlText("D", "S", hybrid=True, snowflake=True).create_run(e)[0].text.endswith(" ORDER")
    assert "ORDER" not in SqlText("D", "S").create_run(e)[0].text  # fakesnow rejects it


def test_a_nextval_that_failed_may_have_consumed_a_value():
    from snowflake.connector import errors
    timeout = errors.OperationalError("timed out")
    assert _outcome(timeout, "alloc_seq") == "info"
    assert _outcome(errors.ProgrammingError("000630 statement timeout"), "alloc_seq") == "info"
    assert _outcome(ValueError("bad tag"), "alloc_seq") == "fail"  # never sent
    assert _outcome(timeout, "read_run_status") == "fail"
    assert _outcome(timeout, "write_run_status") == "info"


def test_snowflake_sessions_are_utc_with_bounded_statements():
    kw = C.connect_kwargs(SF, query_tag="phaselab", env=NO_ENV)
    s = kw["session_parameters"]
    assert s["TIMEZONE"] == "UTC" and s["QUERY_TAG"] == "phaselab"
    assert s["STATEMENT_TIMEOUT_IN_SECONDS"] == 10 and s["HYBRID_TABLE_LOCK_TIMEOUT"] == 10
    assert kw["network_timeout"] == kw["socket_timeout"] == 10
    assert "READ_LATEST_WRITES" not in s  # standard tables: nothing to ask for
    hyb = C.ConnSpec("snowflake", {**SF.options, "hybrid_session": True})
    assert C.connect_kwargs(hyb, env=NO_ENV)["session_parameters"]["READ_LATEST_WRITES"] is True
    emb = C.connect_kwargs(C.ConnSpec("embedded", {"host": "h", "statement_timeout_s": 1}))
    assert "TIMEZONE" not in emb["session_parameters"]  # fakesnow: always UTC, no ALTER
    assert "hybrid_session" not in emb and "hybrid_session" not in kw


def test_default_timeouts_per_backend():
    emb = live.LiveSettings().resolved()
    sf = live.LiveSettings(backend="snowflake").resolved()
    assert (emb.statement_timeout_s, emb.login_timeout_s, emb.setup_timeout_s) == (1, 10, 60)
    assert (sf.statement_timeout_s, sf.login_timeout_s, sf.setup_timeout_s) == (10, 60, 300)
    assert live.LiveSettings(backend="snowflake", statement_timeout_s=3).resolved() \
        .statement_timeout_s == 3
    from protocol.config import RunConfig
    from protocol.variants import FIXED
    h = live.header(RunConfig(), FIXED, "fixed", live.LiveSettings(backend="snowflake"), "r", {})
    assert h["params"]["L"] == 21.0 and h["params"]["seq_gaps"] is True
    assert live.header(RunConfig(), FIXED, "fixed", live.LiveSettings(), "r", {})["params"]["L"] == 3.0


def test_named_connection_is_honoured_whole(monkeypatch):
    entry = {"account": "a", "user": "u", "password": "pw-from-toml", "login_timeout": 45,
             "session_parameters": {"USE_CACHED_RESULT": False, "TIMEZONE": "America/New_York",
                                    "QUERY_TAG": "theirs"}}
    monkeypatch.setattr(C, "named_connection", lambda name: dict(entry))
    spec = C.ConnSpec("snowflake", {"statement_timeout_s": 10}, "prod")
    kw = C.connect_kwargs(spec, query_tag="ours")
    s = kw["session_parameters"]
    assert kw["connection_name"] == "prod" and kw["login_timeout"] == 45
    assert s["USE_CACHED_RESULT"] is False  # kept, not replaced by ours
    assert s["TIMEZONE"] == "UTC" and s["QUERY_TAG"] == "ours"  # what the run needs
    given = C.ConnSpec("snowflake", {"statement_timeout_s": 10, "login_timeout": 7}, "prod")
    assert C.connect_kwargs(given)["login_timeout"] == 7  # --login-timeout wins
    assert "password" not in kw  # the connector takes the entry's own secrets from the entry
    # live: without --login-timeout a named connection keeps its own
    sp = live.backend_spec(live.LiveSettings(backend="snowflake", connection_name="prod")
                           .resolved(), None)
    assert "login_timeout" not in sp.options


def test_every_connector_auth_from_the_environment():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    kw = C.connect_kwargs(SF, env={"SNOWFLAKE_PRIVATE_KEY": pem})
    assert isinstance(kw["private_key"], bytes) and kw["authenticator"] == "SNOWFLAKE_JWT"
    kw = C.connect_kwargs(SF, env={"SNOWFLAKE_TOKEN": "tok"})
    assert kw["token"] == "tok" and kw["authenticator"] == "oauth"
    pat = C.ConnSpec("snowflake", {**SF.options, "authenticator": "PROGRAMMATIC_ACCESS_TOKEN"})
    assert C.connect_kwargs(pat, env={"SNOWFLAKE_TOKEN": "t"})["authenticator"] == \
        "PROGRAMMATIC_ACCESS_TOKEN"
    kw = C.connect_kwargs(SF, env={"SNOWFLAKE_PASSWORD": "pw", "SNOWFLAKE_PASSCODE": "123456"})
    assert kw["password"] == "pw" and kw["passcode"] == "123456"
    with pytest.raises(C.ConnectError, match="SNOWFLAKE_PRIVATE_KEY is not a PEM"):
        C.connect_kwargs(SF, env={"SNOWFLAKE_PRIVATE_KEY": "nope"})
    spec = C.snowflake_spec(env={"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u",
                                 "SNOWFLAKE_TOKEN_FILE_PATH": "/run/token"})
    assert spec.options["token_file_path"] == "/run/token"


def test_externalbrowser_is_refused_with_a_clear_message(monkeypatch):
    with pytest.raises(C.ConnectError, match="externalbrowser.*every worker process"):
        C.snowflake_spec(env={"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u",
                              "SNOWFLAKE_AUTHENTICATOR": "externalbrowser"})
    monkeypatch.setattr(C, "named_connection",
                        lambda name: {"account": "a", "authenticator": "EXTERNALBROWSER"})
    with pytest.raises(C.ConnectError, match="connection 'dev'.*externalbrowser"):
        C.snowflake_spec("dev")


class _FakeAdmin:
    """Executes nothing; refuses CREATE HYBRID TABLE like a trial account."""

    def __init__(self):
        self.sent = []

    def execute(self, text, params=()):
        self.sent.append(text)
        if "HYBRID TABLE" in text:
            raise RuntimeError("Unsupported feature 'HYBRID TABLE'.")

        class _Cur:
            def close(self):
                pass
        return _Cur()


def test_hybrid_tables_refused_fall_back_to_standard_and_say_so():
    admin = _FakeAdmin()
    res = live.LiveResult("r", "S", "snowflake", [], None, None, "crash", 0.0, 0.0, None)
    sql = live.create_with_fallback(admin, SqlText("D", "S", hybrid=True, snowflake=True), res)
    assert sql.hybrid is False and sql.snowflake is True
    assert res.tables.startswith("standard (hybrid tables refused: ") and "HYBRID" in res.tables
    assert any(t.startswith("DROP SCHEMA") for t in admin.sent)
    assert sum(t.startswith("CREATE TABLE") for t in admin.sent) == 5


def test_server_counts_are_labelled_and_never_compared_as_totals():
    class _Tc:
        def execute(self, text, params=()):
            if "ACCOUNT_USAGE" in text:
                raise RuntimeError("Object does not exist or not authorized.")

            class _Cur:
                def fetchall(self):
                    return [("flakebench:test_id=r-worker-0:phase=RUNNING", 7)]

                def close(self):
                    pass
            return _Cur()
    got = history.benchmark_counts_by_tag(_Tc(), SqlText("D", "S"), "r", 0.0)
    assert got["query_history"]["label"] == "sampled"
    assert got["aggregate"]["label"] == "unavailable" and got["aggregate"]["counts"] is None
    cmp = server_comparison({"worker-0": {"RUNNING": 12, "WARMUP": 3}}, "r", got)
    rows = {r["tag"].rsplit("=", 1)[1]: r for r in cmp["rows"]}
    assert rows["RUNNING"]["query_history"] == 7 and rows["RUNNING"]["aggregate"] is None
    assert rows["WARMUP"]["query_history"] == 0  # a sample may miss every one
    assert all("match" not in r for r in cmp["rows"]) and "never taken as the total" in cmp["note"]
    assert cmp["sources"]["query_history"]["label"] == "sampled"
    assert all(r["over_trace"] == [] for r in cmp["rows"])
    over = server_comparison({"worker-0": {"RUNNING": 5}}, "r", got)
    assert over["rows"][0]["over_trace"] == ["query_history"]  # more than the trace: a finding


def _events(*seqs):
    b = TraceBuilder()
    for i, s in enumerate(seqs):
        b.event(1.0 + i, s, "START" if i == 0 else "SET_PHASE", phase="WARMUP")
    return b


def test_sequence_gaps_excused_by_an_unknown_allocation_or_a_gap_tolerant_sequence():
    assert_violation(check(_events(1, 3).build(), only=["EV-SEQ-UNIQUE"]), "EV-SEQ-UNIQUE",
                     "[2]")
    b = _events(1, 3).op(1.5, "orchestrator", "alloc_seq", outcome="info")
    assert check(b.build(), only=["EV-SEQ-UNIQUE"]) == []  # the NEXTVAL that timed out
    b = _events(2, 5, 6)
    b.header["params"]["seq_gaps"] = True
    assert check(b.build(), only=["EV-SEQ-UNIQUE"]) == []  # START is the lowest: fine
    b = _events(2, 5, 5)
    b.header["params"]["seq_gaps"] = True
    assert_violation(check(b.build(), only=["EV-SEQ-UNIQUE"]), "EV-SEQ-UNIQUE", "seq 5 used 2")


def test_a_timed_out_session_is_abandoned_not_reused():
    from snowflake.connector import errors
    from real_backend.driver import _abandoned
    assert _abandoned(errors.OperationalError("Read timed out. (read timeout=1)"))
    assert _abandoned(errors.ProgrammingError("002002: connection is busy with another call"))
    assert not _abandoned(errors.ProgrammingError("001003: syntax error"))
    assert not _abandoned(ValueError("bad tag"))
