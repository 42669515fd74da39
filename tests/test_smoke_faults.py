"""`phaselab smoke --faults`: the SPEC parser and its errors, the live fault layer's
decisions and injection (no server needed), the stall's SIGCONT on every way out, and live
runs with a killed worker, a failing statement kind and a 3 s server stall: each ends in a
terminal status with a clean verdict on `fixed` and leaves nothing behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import proclist
from phaselab.errors import UsageError
from phaselab.live_faults import HEAL_MARGIN_S, describe, load
from protocol import effects as fx
from protocol import faults as fm
from protocol.checks import judge
from protocol.trace import Trace, TraceWriter, read_trace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def phaselab(*args, env=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "phaselab.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _env(tmp) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env["TMPDIR"] = str(tmp)  # every temporary dir of the run lands here: leftovers show
    return env


# --- the SPEC ------------------------------------------------------------------------------

def test_inline_spec_becomes_the_simulations_fault_spec():
    fs = load("crash=worker-1:hook,fail=merge_heartbeat:0.3,info=default:0.1,drop=fetch_events"
              ":0.2,applied=0.7,stall=3@4,clock=worker-0:2.5,drift=worker-1:0.01,heal=20",
              workers=2, default_heal_s=5, backend="embedded")
    assert fs.heal_at_s == 20 and fs.info_applied == 0.7
    assert fs.crashes == (fm.WorkerCrash("worker-1", fm.HOOK),)
    assert fs.statements["merge_heartbeat"] == fm.StatementFaults(fail=0.3)
    assert fs.statements["default"] == fm.StatementFaults(info=0.1)
    assert fs.statements["fetch_events"] == fm.StatementFaults(drop=0.2)
    assert fs.stalls == (fm.Window(4.0, 3.0),)
    assert fs.clock_offset_s == {"worker-0": 2.5} and fs.clock_drift == {"worker-1": 0.01}
    # the worker defaults to worker-0; a number is a run-clock time; heal covers the run
    fs = load("worker_crash=draining", workers=1, default_heal_s=5, backend="embedded")
    assert fs.crashes == (fm.WorkerCrash("worker-0", fm.DRAINING),)
    assert fs.heal_at_s == 5 + HEAL_MARGIN_S
    fs = load("crash=worker-0:7.5", workers=1, default_heal_s=5, backend="embedded")
    assert fs.crashes == (fm.WorkerCrash("worker-0", fm.AT_TIME, 7.5),)


def test_a_toml_file_in_the_simulations_format_is_read(tmp_path):
    f = tmp_path / "faults.toml"
    f.write_text('[sim]\nseed = 3\n[faults]\nheal_at_s = 12\ncrash = {worker-0 = "hook"}\n'
                 '[faults.statements]\ninsert_event = {fail = 0.5}\n')
    fs = load(str(f), workers=2, default_heal_s=5, backend="embedded")
    assert fs.heal_at_s == 12 and fs.statements["insert_event"].fail == 0.5
    assert fs.crashes == (fm.WorkerCrash("worker-0", fm.HOOK),)


@pytest.mark.parametrize("spec, needle", [
    ("slow=fetch_events:0.1", "'slow' cannot be injected into a live run"),
    ("throttle=1", "'throttle' cannot be injected"),
    ("app_restart=1", "'app_restart' cannot be injected"),
    ("boom=1", "unknown fault 'boom'"),
    ("fail=heartbeat:0.3", "unknown statement kind faults.statements.heartbeat; allowed:"),
    ("fail=benchmark:0.3", "unknown statement kind faults.statements.benchmark"),
    ("fail=merge_heartbeat:1.5", "faults.statements.merge_heartbeat.fail must be <= 1"),
    ("fail=merge_heartbeat", "expected fail=KIND:P"),
    ("fail=merge_heartbeat:lots", "fail: 'lots' is not a number"),
    ("crash=worker-7:hook", "worker-7 is not a worker of this run (--workers 2"),
    ("crash=worker-1:lunch", "faults.crash.worker-1 must be a step"),
    ("crash=hook,crash=worker-0:draining", "worker-0 is given twice"),
    ("stall=3", "expected stall=LENGTH@START"),
    ("stall=0@3", "faults.stall.length_s must be > 0"),
    ("clock=worker-3:1", "worker-3 is not a worker"),
    ("heal=0,crash=hook", "faults.heal_at_s must be > 0"),
    ("fail=fetch_events:0", "no fault can fire"),
    (",", "empty"),
])
def test_bad_inline_specs_name_the_fault_and_what_is_allowed(spec, needle):
    with pytest.raises(UsageError) as exc:
        load(spec, workers=2, default_heal_s=5, backend="embedded")
    assert str(exc.value).startswith("--faults") and needle in str(exc.value), str(exc.value)


@pytest.mark.parametrize("text, needle", [
    ("[faults]\nheal_at_s = 10\nthrottle = {start_s = 1, length_s = 2}\n",
     "faults.throttle cannot be injected into a live run"),
    ("[faults]\nheal_at_s = 10\n[faults.statements]\nfetch_events = {slow = 0.2}\n",
     "faults.statements.fetch_events.slow cannot be injected"),
    ("[faults]\ncrash = {worker-0 = \"hook\"}\n", "faults.heal_at_s is missing"),
    ("[sim]\nseed = 1\n", "has no [faults] table"),
    ("[faults\n", "not valid TOML"),
])
def test_bad_fault_files_name_the_file_and_key(tmp_path, text, needle):
    f = tmp_path / "f.toml"
    f.write_text(text)
    with pytest.raises(UsageError) as exc:
        load(str(f), workers=2, default_heal_s=5, backend="embedded")
    assert str(exc.value).startswith(f"--faults {f}") and needle in str(exc.value)


def test_a_stall_needs_the_embedded_server():
    with pytest.raises(UsageError, match="needs --backend embedded, not snowflake"):
        load("stall=3@4", workers=2, default_heal_s=5, backend="snowflake")


@pytest.mark.parametrize("spec, needle", [("slow=fetch_events:0.1", "slow"),
                                          ("/nonexistent/f.toml", "no such fault file")])
def test_bad_faults_exit_2_from_the_command_with_nothing_started(tmp_path, spec, needle):
    p = phaselab("smoke", "--faults", spec, env=_env(tmp_path), timeout=60)
    assert p.returncode == 2, (p.returncode, p.stderr[-1500:])
    assert "--faults" in p.stderr and needle in p.stderr and "Traceback" not in p.stderr
    assert os.listdir(tmp_path) == []  # no server, no run directory was made


# --- the live fault layer, without a server -----------------------------------------------

class _FakeConn:
    """Stands in for a TaggedConnection: records what was sent."""

    def __init__(self, log):
        self.log, self.tag = log, "phaselab"

    def execute(self, text, params=()):
        self.log.append(text)
        conn = self

        class Cur:
            rowcount = 1

            def fetchone(self):
                return None

            def fetchall(self):
                return []

            def close(self):
                pass
        return Cur()

    def close(self):
        self.log.append("CLOSE")


def _driver(spec: fm.FaultSpec, worker: str | None = "worker-0", seed: int = 1):
    from real_backend import sql as S
    from real_backend.clock import RunClock
    from real_backend.driver import RealDriver, _Task
    from real_backend.faults import LiveFaults
    sent: list[str] = []
    d = RealDriver(None, S.SqlText("PHASELAB", "PHASELAB_RUN_T", False, False),
                   TraceWriter(None), RunClock.start(), read_back=False)
    d._open = lambda tag: _FakeConn(sent)
    d.faults = LiveFaults(spec, seed, worker, d.record, d.clock.now)
    return d, _Task("worker-0", "main", threading.Event()), sent


def _spec(**statements) -> fm.FaultSpec:
    return fm.FaultSpec(heal_at_s=100.0, info_timeout_s=0.01, statements={
        op: fm.StatementFaults(**p) for op, p in statements.items()})


HB = fx.MergeHeartbeat("run-1", "worker-0", 0, "READY")


def test_an_injected_fail_is_never_sent_and_is_recorded_as_the_simulation_does():
    d, task, sent = _driver(_spec(merge_heartbeat={"fail": 1.0}))
    with pytest.raises(fx.StatementFailed) as exc:
        d._statement(HB, task)
    assert exc.value.outcome == "fail"
    assert not any("MERGE" in s for s in sent)
    kinds = [(r["kind"], r.get("error")) for r in d.trace.records]
    assert kinds == [("invoke", None), ("fail", "injected error")]
    assert d.faults.last_status is None  # nothing was written


@pytest.mark.parametrize("applied", [0.0, 1.0])
def test_an_injected_info_is_sent_or_not_as_drawn_and_reported_unknown(applied):
    spec = fm.FaultSpec(heal_at_s=100.0, info_timeout_s=0.01, info_applied=applied,
                        statements={"merge_heartbeat": fm.StatementFaults(info=1.0)})
    d, task, sent = _driver(spec)
    with pytest.raises(fx.StatementFailed) as exc:
        d._statement(HB, task)
    assert exc.value.outcome == "info"
    recs = d.trace.records
    info = [r for r in recs if r["kind"] == "info"]
    assert info and info[0]["applied"] is bool(applied) and info[0]["error"] == "timeout"
    assert any("MERGE" in s for s in sent) is bool(applied)
    assert bool([r for r in recs if r["kind"] == "heartbeat"]) is bool(applied)
    assert (d.faults.last_status == "READY") is bool(applied)


def test_a_drop_closes_the_session_and_the_next_statement_reopens_it():
    d, task, sent = _driver(_spec(fetch_events={"drop": 1.0}))
    with pytest.raises(fx.StatementFailed):
        d._statement(fx.FetchEvents("run-1", 0, 10), task)
    assert sent[-1] == "CLOSE" and task.control is None
    d._statement(fx.ReadRunStatus("run-1"), task)  # not faulted: goes through
    faults = [r for r in d.trace.records if r["kind"] == "fault"]
    assert [(f["fault"], f["op"]) for f in faults] == [("reconnect", "read_run_status")]
    assert [r["kind"] for r in d.trace.records][-1] == "ok"


def test_an_actor_that_does_not_handle_a_failure_dies_of_it_with_a_crash_record():
    d, task, _ = _driver(_spec(read_run_status={"fail": 1.0}), worker=None)

    def actor():
        yield fx.ReadRunStatus("run-1")
    with pytest.raises(fx.StatementFailed):
        d.run(actor(), "orchestrator")
    crash = [r for r in d.trace.records if r["kind"] == "crash"]
    assert [(r["actor"], r["outcome"]) for r in crash] == [("orchestrator", "fail")]


def test_settle_returns_failed_parts_in_place_instead_of_raising():
    """tasks.py retries just the connections that failed; the live driver used to raise."""
    d, task, _ = _driver(_spec(connect={"fail": 1.0}))
    conns = tuple(fx.Connect("worker-0", f"worker-0-c{i}", "t") for i in range(3))
    out = d._parallel(fx.Parallel(conns, settle=True), task)
    assert len(out) == 3 and all(isinstance(x, fx.StatementFailed) for x in out)
    with pytest.raises(fx.StatementFailed):
        d._parallel(fx.Parallel(conns), task)


def test_draws_are_reproducible_per_call_and_differ_by_seed():
    def schedule(seed):
        d, task, _ = _driver(_spec(read_run_status={"fail": 0.5}), seed=seed)
        out = []
        for _ in range(40):
            try:
                d._statement(fx.ReadRunStatus("run-1"), task)
                out.append("ok")
            except fx.StatementFailed:
                out.append("fail")
        return out
    a = schedule(7)
    assert a == schedule(7) and a != schedule(8)
    assert 8 < a.count("fail") < 32  # about half


def test_a_worker_dies_at_its_crash_step_only_and_only_before_healing(monkeypatch):
    from real_backend.faults import LiveFaults
    died = []
    now = [0.0]

    def layer(worker, heal=100.0, crashes=(fm.WorkerCrash("worker-1", fm.WAIT_LOOP),)):
        fl = LiveFaults(fm.FaultSpec(heal_at_s=heal, crashes=crashes), 0, worker,
                        lambda *a, **k: None, lambda: now[0])
        monkeypatch.setattr(fl, "die", died.append)
        return fl
    read = fx.ReadRunStatus("run-1")
    fl = layer("worker-1")
    fl.before(read)  # no READY heartbeat yet: not the wait loop
    fl.after(fx.MergeHeartbeat("run-1", "worker-1", 1, "READY"))
    fl.before(read)
    assert died == [fm.WAIT_LOOP]
    other = layer("worker-0")
    other.after(fx.MergeHeartbeat("run-1", "worker-0", 0, "READY"))
    other.before(read)
    healed = layer("worker-1", heal=1.0)
    now[0] = 2.0
    healed.after(fx.MergeHeartbeat("run-1", "worker-1", 1, "READY"))
    healed.before(read)
    assert died == [fm.WAIT_LOOP]  # neither the other worker nor after healing
    drain = layer("worker-1", crashes=(fm.WorkerCrash("worker-1", fm.DRAINING),))
    now[0] = 0.0
    drain.after(fx.MergeHeartbeat("run-1", "worker-1", 1, "DRAINING"))
    assert died == [fm.WAIT_LOOP, fm.DRAINING]


def test_a_timed_crash_fires_at_its_run_clock_second_in_that_worker_only(monkeypatch):
    from real_backend.faults import LiveFaults
    t0 = time.monotonic()
    spec = fm.FaultSpec(heal_at_s=10.0, crashes=(fm.WorkerCrash("worker-1", fm.AT_TIME, 0.3),))
    died = []
    fl = LiveFaults(spec, 0, "worker-1", lambda *a, **k: None, lambda: time.monotonic() - t0)
    monkeypatch.setattr(fl, "die", lambda step: died.append((step, time.monotonic() - t0)))
    fl.start_timed_crash().join(5)
    assert [s for s, _ in died] == [fm.AT_TIME] and died[0][1] >= 0.3
    other = LiveFaults(spec, 0, "worker-0", lambda *a, **k: None, lambda: 0.0)
    assert other.start_timed_crash() is None


def test_a_skewed_worker_clock_moves_its_heartbeat_stamps():
    spec = fm.FaultSpec(heal_at_s=100.0, clock_offset_s={"worker-0": 30.0})
    d, task, _ = _driver(spec)
    d._statement(HB, task)
    hb = next(r for r in d.trace.records if r["kind"] == "heartbeat")
    assert 29.0 < hb["stamp"] - hb["t"] < 31.0
    d, task, _ = _driver(fm.FaultSpec(heal_at_s=100.0, clock_offset_s={"worker-1": 30.0}))
    d._statement(HB, task)
    hb = next(r for r in d.trace.records if r["kind"] == "heartbeat")
    assert abs(hb["stamp"] - hb["t"]) < 1.0  # another worker's skew is not this one's


def test_describe_lists_what_fired():
    recs = [{"t": 1.0, "kind": "fail", "op": "fetch_events", "error": "injected error"},
            {"t": 1.5, "kind": "fail", "op": "fetch_events", "error": "Read timed out"},
            {"t": 2.0, "kind": "fault", "fault": "worker_crash", "worker": "worker-1",
             "step": "hook"},
            {"t": 3.0, "kind": "fault", "fault": "stall", "action": "start", "until": 6.0}]
    assert describe(recs) == ["1 x fail on fetch_events",
                              "worker-1 killed (SIGKILL) at step hook, t=2.0 s",
                              "server stopped (SIGSTOP) at t=3.0 s until t=6.0 s"]


# --- the stall: SIGSTOP, SIGCONT on every way out -------------------------------------------

class _Victim:
    """A stand-in server: a sleeping process with the ServerProcess attributes a stall uses."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.pid = self.proc.pid
        self.stalled = threading.Event()

    def end(self):
        self.proc.kill()
        self.proc.wait()


def _wait_state(pid, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proclist.state(pid) not in want:
        time.sleep(0.02)
    return proclist.state(pid)


def test_a_stall_stops_the_server_for_its_window_then_continues_it():
    from real_backend.faults import ServerStall
    v, recs = _Victim(), []
    t0 = time.monotonic()
    try:
        st = ServerStall(fm.FaultSpec(heal_at_s=10.0, stalls=(fm.Window(0.2, 0.6),)), v,
                         lambda: time.monotonic() - t0, lambda *a, **k: recs.append(k))
        st.start()
        assert _wait_state(v.pid, ("T", "t")) in ("T", "t") and v.stalled.is_set()
        st.join(5)
        assert _wait_state(v.pid, ("S", "R")) in ("S", "R") and not v.stalled.is_set()
        assert [(r["fault"], r["action"]) for r in recs] == [("stall", "start"),
                                                             ("stall", "end")]
    finally:
        v.end()


def test_a_stall_longer_than_any_run_is_cut_short_by_the_run_end():
    """stall=1e308@0 is a valid spec: the wait for its end once raised OverflowError in the
    stall thread (a traceback on stderr); it must wait quietly until the run's end resumes."""
    from real_backend.faults import ServerStall
    v, recs, errors = _Victim(), [], []
    t0 = time.monotonic()
    hook, threading.excepthook = threading.excepthook, errors.append
    try:
        st = ServerStall(fm.FaultSpec(heal_at_s=1e309, stalls=(fm.Window(0.0, 1e308),)), v,
                         lambda: time.monotonic() - t0, lambda *a, **k: recs.append(k))
        st.start()
        assert _wait_state(v.pid, ("T", "t")) in ("T", "t")
        time.sleep(0.2)
        assert st.is_alive() and not errors, errors
        st.resume()
        assert _wait_state(v.pid, ("S", "R")) in ("S", "R")
        st.join(2)
        assert not st.is_alive() and not errors and recs[-1].get("cut_short") is True
    finally:
        threading.excepthook = hook
        v.end()


def test_resume_during_a_stall_continues_the_server_at_once():
    """The run's Ctrl-C / crash path (live.py's finally, atexit) calls resume()."""
    from real_backend.faults import ServerStall
    v, recs = _Victim(), []
    t0 = time.monotonic()
    try:
        st = ServerStall(fm.FaultSpec(heal_at_s=100.0, stalls=(fm.Window(0.0, 60.0),)), v,
                         lambda: time.monotonic() - t0, lambda *a, **k: recs.append(k))
        st.start()
        assert _wait_state(v.pid, ("T", "t")) in ("T", "t")
        st.resume()
        assert _wait_state(v.pid, ("S", "R")) in ("S", "R")
        st.join(2)
        assert not st.is_alive() and recs[-1].get("cut_short") is True
    finally:
        v.end()


# --- live runs --------------------------------------------------------------------------------

def _live(tmp, faults: str, *extra: str) -> tuple[int, dict, Trace, str]:
    trace = tmp / "t.jsonl"
    p = phaselab("smoke", "--workers", "2", "--connections", "2", "--warmup", "1",
                 "--measure", "4", "--variant", "fixed", "--faults", faults, "--seed", "3",
                 "--trace", str(trace), "--json", *extra, env=_env(tmp))
    assert p.stdout, p.stderr[-2000:]
    return p.returncode, json.loads(p.stdout), Trace(read_trace(str(trace)).records), p.stderr


def _judged_clean(tr: Trace, out: dict) -> dict:
    js = {j.property_id: j for j in judge(tr)}
    bad = [str(v) for j in js.values() for v in j.violations]
    assert not bad and out["verdict"]["ok"], bad
    after = js["LIVE-AFTER-HEAL"]
    assert after.not_judged is None, after.not_judged  # judged, and passed
    return js


def _nothing_left(tmp, out=None):
    if out is not None:
        assert out["schema_dropped"] and out["schema_fate"] == "dropped", out["schema_fate"]
    deadline = time.monotonic() + 5  # a reaped worker's zombie may linger a moment
    while time.monotonic() < deadline and proclist.mentioning(str(tmp)):
        time.sleep(0.1)
    assert proclist.mentioning(str(tmp)) == {}  # server, workers, watchdog
    assert os.listdir(tmp) == ["t.jsonl"]  # server data dir and run dir removed


@pytest.mark.live
def test_live_killed_worker_fails_the_run_cleanly(tmp_path):
    rc, out, tr, err = _live(tmp_path, "crash=worker-1:hook")
    assert rc == 0, (out["problems"], out["verdict"], err[-1500:])
    assert (out["status"], out["reason"]) == ("FAILED", "finished")
    crash = [r for r in tr.of("fault") if r.get("fault") == "worker_crash"]
    assert [(r["worker"], r["step"]) for r in crash] == [("worker-1", "hook")]
    ex = [r for r in tr.of("proc") if r.get("action") == "exit" and r.get("worker") == "worker-1"]
    assert [(r["code"], r["signal"], r["requested"]) for r in ex] == [(-9, "SIGKILL", False)]
    assert ex[0]["t"] >= crash[0]["t"]
    d = out["deaths"]
    assert [x["worker"] for x in d] == ["worker-1"] and d[0]["detected_by"], d
    assert d[0]["after_s"] <= tr.param("dead_s") + tr.param("health_refresh_s") \
        + tr.param("P") + tr.param("L")
    # the only fault killed a worker: the timed properties are judged, not waived
    v = {j.property_id: j.outcome for j in judge(tr)}
    assert v["HB-DEAD-DETECTION"] == "passed", v
    _judged_clean(tr, out)
    _nothing_left(tmp_path, out)


@pytest.mark.live
def test_live_failing_statement_kind_is_retried_to_completion(tmp_path):
    rc, out, tr, err = _live(tmp_path, "fail=merge_heartbeat:0.4")
    assert rc == 0, (out["problems"], out["verdict"], err[-1500:])
    assert out["status"] in ("COMPLETED", "FAILED", "CANCELLED") and out["reason"] == "finished"
    injected = [r for r in tr.of("fail") if r.get("error") == "injected error"]
    assert injected and {r["op"] for r in injected} == {"merge_heartbeat"}
    assert out["faults"]["fired"][0].endswith("fail on merge_heartbeat")
    assert out["status"] == "COMPLETED"  # fixed retries a failed heartbeat: nobody dies
    _judged_clean(tr, out)
    _nothing_left(tmp_path, out)


@pytest.mark.live
def test_live_3s_server_stall_is_survived(tmp_path):
    rc, out, tr, err = _live(tmp_path, "stall=3@5")
    assert rc == 0, (out["problems"], out["verdict"], err[-1500:])
    assert out["status"] in ("COMPLETED", "FAILED", "CANCELLED") and out["reason"] == "finished"
    st = [r for r in tr.of("fault") if r.get("fault") == "stall"]
    assert [r["action"] for r in st] == ["start", "end"]
    assert 2.9 <= st[1]["t"] - st[0]["t"] <= 4.0 and not st[1].get("cut_short")
    # the server answered nothing meanwhile: statements issued in the stall timed out
    hit = [r for r in tr.records if r["kind"] in ("fail", "info")
           and st[0]["t"] <= r["t"] <= st[1]["t"] + tr.param("L")]
    assert hit, "no statement noticed the stall"
    _judged_clean(tr, out)
    _nothing_left(tmp_path, out)


@pytest.mark.live
def test_live_reference_left_starting_by_an_unhandled_timeout_is_caught(tmp_path):
    """The same checkers find the reference's error-path bug live: its start_run does not
    handle a timed-out event insert, the orchestrator task dies, the run stays STARTING."""
    rc, out, tr, err = _live(tmp_path, "info=insert_event:1", "--variant", "reference")
    assert rc == 1 and out["reason"] == "finished" and out["status"] == "STARTING", err[-1500:]
    assert [r["actor"] for r in tr.of("crash")] == ["orchestrator"]
    assert "died of an unhandled statement error" in out["error"]
    assert [v["property"] for v in out["verdict"]["violated"]] == ["LIVE-AFTER-HEAL"]
    _nothing_left(tmp_path)


@pytest.mark.live
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupt_or_kill_during_a_stall_leaves_the_server_continued_and_reaped(tmp_path, sig):
    """Ctrl-C: the run's own clean-up continues the server and stops it; SIGKILL of phaselab:
    the watchdog continues it, and a continued server exits by itself (its parent is gone)."""
    p = subprocess.Popen([sys.executable, "-m", "phaselab.cli", "smoke", "--workers", "1",
                          "--connections", "1", "--warmup", "0", "--measure", "30",
                          "--faults", "stall=40@1", "--json"], cwd=ROOT, env=_env(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    kids: dict[int, str] = {}
    try:
        server = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proclist.descendants(p.pid, kids)
            server = next((k for k, v in kids.items() if "embedded_server_main" in v), None)
            if server and proclist.state(server) in ("T", "t"):
                break
            time.sleep(0.1)
        assert server and proclist.state(server) in ("T", "t"), kids
        p.send_signal(sig)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if sig == signal.SIGINT:
        assert p.returncode == 130 and "Traceback" not in stderr, stderr[-2000:]
        assert json.loads(stdout)["reason"] == "interrupted"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and ([k for k in kids if proclist.alive(k)]
                                           or os.listdir(tmp_path)):
        time.sleep(0.2)
    assert not [k for k in kids if proclist.alive(k)], {k: kids[k] for k in kids
                                                        if proclist.alive(k)}
    assert os.listdir(tmp_path) == []


# --- the run picture ----------------------------------------------------------------------

def test_the_run_picture_marks_deaths_and_stalls_only_where_they_happened():
    from phaselab.reports import fault_marks
    from phaselab.reports.run_plot import figure
    base = [{"t": 0.0, "kind": "run", "world": "live", "params": {}},
            {"t": 1.0, "kind": "worker_state", "worker": "worker-0", "phase": "WARMUP"},
            {"t": 1.0, "kind": "worker_state", "worker": "worker-1", "phase": "WARMUP"},
            {"t": 9.0, "kind": "run_end", "status": "COMPLETED", "phase": "COMPLETED"}]
    faulty = base[:3] + [
        {"t": 2.0, "kind": "fault", "fault": "stall", "action": "start", "until": 5.0},
        {"t": 5.0, "kind": "fault", "fault": "stall", "action": "end"},
        {"t": 6.0, "kind": "fault", "fault": "worker_crash", "worker": "worker-1",
         "step": "hook"},
        {"t": 6.1, "kind": "proc", "action": "exit", "worker": "worker-1", "code": -9,
         "requested": False},
        {"t": 8.5, "kind": "proc", "action": "exit", "worker": "worker-0", "code": 0,
         "requested": True}] + base[3:]
    tr = Trace(faulty)
    assert fault_marks.deaths(tr) == {"worker-1": 6.0}
    assert fault_marks.stalls(tr) == [(2.0, 5.0)]

    def gids(trace):
        fig = figure(trace, "t")
        return {a.get_gid() for ax in fig.axes for a in ax.get_children() if a.get_gid()}
    assert {"death:worker-1", "stall"} <= gids(tr)
    assert not {g for g in gids(Trace(base)) if g.startswith("death") or g == "stall"}


def test_the_live_header_states_the_faults_and_a_fault_free_one_is_unchanged():
    from phaselab.smoke import smoke_config
    from protocol.variants import variant
    from real_backend.live import LiveSettings, header
    cfg, sw = smoke_config(2, 2, 1.0, 4.0), variant("fixed")
    spec = load("crash=worker-1:hook", workers=2, default_heal_s=5, backend="embedded")
    plain = header(cfg, sw, "fixed", LiveSettings(), "smoke-x", None)
    faulty = header(cfg, sw, "fixed", LiveSettings(faults=spec, fault_seed=4), "smoke-x", None)
    assert "faults" not in plain and plain["params"]["seq_gaps"] is False
    assert "heal_deadline_s" not in plain["params"]
    assert faulty["faults"]["crashes"] == [{"worker": "worker-1", "step": "hook", "at_s": 0.0}]
    # an injected info is reported when the connector's statement timeout would report it
    assert faulty["faults"]["info_timeout_s"] == 1.0 and faulty["live"]["fault_seed"] == 4
    assert faulty["params"]["seq_gaps"] is True  # a timed-out NEXTVAL may leave a gap
    assert faulty["params"]["heal_deadline_s"] >= faulty["params"]["heal_at_s"] == 35.0
    assert fm.spec_from_dict(faulty["faults"]).as_dict() == faulty["faults"]
