"""`phaselab smoke` end to end on the embedded server, a killed worker, `check` and
`calibrate` on the smoke trace, bad backend settings, and Snowflake (skipped without it)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import proclist
from phaselab import scenario as scn
from phaselab.calibrate import startup_comparison
from protocol.trace import read_trace
from sim.run import simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "Sup3r-S3cret-pw"
# calibrate -> simulate: the median time from a worker's own wait_returned to its first
# query, and of first_measurement_query from the RUNNING write, within this factor of the
# measured ones. Seen: 1.0-2.04 over six runs (medians of 3 workers, some under CPU load from
# parallel tests); a broken calibration (a missing kind, a unit slip) is off by 10x or more.
# wait_returned itself is where a 0.5 s status poll happened to fall: within one poll period.
STARTUP_FACTOR = 3.0


def phaselab(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "phaselab.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


_alive = proclist.alive
_children = proclist.children


def _env(tmp, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env["TMPDIR"] = str(tmp)  # every temporary dir of the run lands here: leftovers show
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    trace = tmp / "smoke.jsonl"
    t0 = time.monotonic()
    p = phaselab("smoke", "--workers", "3", "--connections", "4", "--warmup", "3",
                 "--measure", "5", "--variant", "fixed", "--trace", str(trace), "--json",
                 env=_env(tmp))
    wall = time.monotonic() - t0
    assert p.stdout, p.stderr
    return {"rc": p.returncode, "out": json.loads(p.stdout), "trace": str(trace), "wall": wall,
            "tmp": tmp, "stderr": p.stderr}


@pytest.mark.live
def test_smoke_completes_clean_under_60s(smoke_run):
    out = smoke_run["out"]
    assert smoke_run["rc"] == 0, (out["verdict"], out["problems"], smoke_run["stderr"][-2000:])
    assert (out["status"], out["phase"], out["reason"]) == ("COMPLETED", "COMPLETED", "finished")
    assert out["verdict"]["ok"] and out["verdict"]["violated"] == [], out["verdict"]
    assert out["verdict"]["passed"] > 0
    assert out["deaths"] == [] and out["schema_fate"] == "dropped"
    assert smoke_run["wall"] < 60 and out["schema_dropped"]
    assert out["over_L"] == [] and out["L"] == 3.0
    marks = out["summary"]["markers_ms"]
    assert sorted(marks) == ["worker-0", "worker-1", "worker-2"]
    assert all(m["first_measurement_query"] is not None for m in marks.values())
    for op in ("read_run_status", "merge_heartbeat", "fetch_events", "benchmark"):
        assert out["latency_ms"][op]["n"] > 0 and out["latency_ms"][op]["p50"] > 0
    assert isinstance(out["bottleneck"]["bottleneck"], bool) and out["bottleneck"]["load"]
    assert os.listdir(smoke_run["tmp"]) == ["smoke.jsonl"]  # server and run dirs removed
    # the same trace records both worlds write: world live, wall-clock header, merged parts
    h = read_trace(smoke_run["trace"]).records[0]
    assert h["world"] == "live" and h["seed"] is None and h["params"]["L"] == 3.0


@pytest.mark.live
def test_check_on_the_smoke_trace_gives_the_same_verdict(smoke_run):
    p = phaselab("check", smoke_run["trace"], "--json")
    assert p.returncode == smoke_run["rc"]
    assert json.loads(p.stdout)["verdict"] == smoke_run["out"]["verdict"]


@pytest.mark.live
def test_calibrate_then_simulate_reproduces_startup(smoke_run, tmp_path):
    out = tmp_path / "calibrated.toml"
    p = phaselab("calibrate", smoke_run["trace"], "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["server"]["slots"] >= 1 and report["server"]["capacity_per_s"] > 0
    sc = scn.load(str(out))  # `phaselab run` accepts it
    assert sc.sim.server is not None and sc.cfg.workers == 3
    sims = [simulate(sc.cfg, sc.switches, sc.sim, seed=s).records for s in range(1, 6)]
    comp = startup_comparison(read_trace(smoke_run["trace"]).records, sims)
    # wait_returned is where a status poll happens to fall: within one poll period.
    c = comp["wait_returned"]
    assert abs(c["measured_ms"] - c["simulated_ms"]) <= sc.cfg.status_poll_s * 1000, comp
    # The stated factor holds for the start-up chain after the wait (heartbeat RUNNING, test
    # row, task spawn, first query) and for the first measurement-tagged query. A single
    # statement's median over 3 workers (e.g. heartbeat_running alone) is too noisy to hold
    # to it while other tests load the CPU; those factors are reported, not asserted.
    assert comp["first_query"]["since_wait"]["factor"] <= STARTUP_FACTOR, comp
    assert comp["first_measurement_query"]["factor"] <= STARTUP_FACTOR, comp
    r = phaselab("run", str(out), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"]["ok"]


def _long_smoke(tmp) -> subprocess.Popen:
    """A 2-worker smoke run with a 30 s measurement, to interrupt while it runs."""
    return subprocess.Popen([sys.executable, "-m", "phaselab.cli", "smoke", "--workers", "2",
                             "--connections", "2", "--warmup", "2", "--measure", "30",
                             "--json"], cwd=ROOT, env=_env(tmp), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # SIGINT at its default as from a terminal, even when the suite
                            # itself runs as a background job (which starts with it ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_workers(p: subprocess.Popen, n: int = 2) -> dict[int, str]:
    """The run's child processes once its `n` worker processes are up (at most 40 s)."""
    kids: dict[int, str] = {}
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and sum("worker_main" in v for v in kids.values()) < n:
        kids = _children(p.pid)
        time.sleep(0.2)
    assert sum("worker_main" in v for v in kids.values()) == n, kids
    return kids


def _kill_worker_in_measurement(variant: str, delay_s: float):
    """One in-process live run (no warmup, 8 s of measurement, 2 workers); `delay_s` after
    the progress line first shows MEASUREMENT, SIGKILL one worker process."""
    from phaselab.smoke import smoke_config
    from protocol.variants import variant as preset
    from real_backend.live import live_run
    cfg = smoke_config(workers=2, connections=2, warmup_s=0.0, measure_s=8.0, think_time_s=1.0)
    state = {"victim": None}

    def kill_later():
        time.sleep(delay_s)
        kids = [k for k, v in _children(os.getpid()).items() if "worker_main" in v]
        state["victim"] = min(kids)
        os.kill(state["victim"], signal.SIGKILL)

    def progress(what, info):
        if what == "running" and "MEASUREMENT" in info["status"] and "t" not in state:
            state["t"] = info["t"]
            threading.Thread(target=kill_later, daemon=True).start()
    res = live_run(cfg, preset(variant), variant, progress=progress)
    return res, state


@pytest.mark.live
def test_a_worker_killed_in_measurement_is_reported_every_time():
    """Issue 8: a SIGKILL mid-measurement once gave COMPLETED, exit 0, no violation. At
    random instants of MEASUREMENT: fixed fails the run at once (STOP worker_failure) and the
    report lists the death; reference misses it and the verdict says so."""
    import random
    from phaselab.smoke import deaths
    from protocol.checks import judge
    from protocol.checks.base import hb_writer
    from protocol.trace import Trace
    rng = random.Random(8)
    missed = 0
    for variant in ("fixed", "fixed", "reference", "reference"):
        # fixed: anywhere in the first 4 s (margin before the STOP: on a busy machine the exit
        # is recorded, and the progress line seen, a little late). The reference's own DEAD
        # mark comes dead_s (8 s) after the last heartbeat, so an early death can be marked
        # before a slow run completes, and the reference then rightly passes (seen once in
        # CI, a kill 0.7 s in): kill it later, 3-4.5 s in, and judge by what the trace shows.
        delay = rng.uniform(0.2, 4.0) if variant == "fixed" else rng.uniform(3.0, 4.5)
        res, state = _kill_worker_in_measurement(variant, delay)
        assert state.get("victim"), (variant, res.status)
        tr = Trace(res.records)
        ex = [r for r in tr.of("proc") if r.get("action") == "exit" and not r.get("requested")
              and r.get("code")]
        assert [r.get("signal") for r in ex] == ["SIGKILL"], ex
        assert tr.statuses_at(ex[0]["t"]) == {"RUNNING"}  # the death was in MEASUREMENT
        dead = deaths(res.records)
        assert [d["worker"] for d in dead] == [ex[0]["worker"]]
        verdict = {j.property_id: j for j in judge(tr)}
        if variant == "fixed":
            assert res.status == "FAILED", (delay, res.status, res.reason)
            assert dead[0]["detected_by"] == "STOP worker_failure", dead
            assert dead[0]["after_s"] <= tr.param("P") + tr.param("L"), dead
            assert all(not j.violations for j in verdict.values()), \
                [v.message for j in verdict.values() for v in j.violations]
        else:
            msgs = [v.message for v in verdict["HB-DEAD-DETECTION"].violations]
            flagged = any(ex[0]["worker"] in m and "SIGKILL" in m for m in msgs)
            bound = tr.param("dead_s") + tr.param("health_refresh_s") + tr.param("P") \
                + tr.param("L")  # HB-DEAD-DETECTION's, from the death
            noticed = [h for h in tr.of("heartbeat") if h.get("worker") == ex[0]["worker"]
                       and hb_writer(h) == "orchestrator" and h.get("status") == "DEAD"
                       and h["t"] <= ex[0]["t"] + bound]
            assert flagged != bool(noticed), (delay, ex[0]["t"], res.status, res.reason,
                                              res.error, msgs, noticed)
            missed += flagged
        assert res.schema_dropped
    assert missed >= 1  # the reference missed at least one death, and the verdict said so


@pytest.mark.live
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_mid_run_clean_up_like_ctrl_c(tmp_path, sig):
    p = _long_smoke(tmp_path)
    try:
        kids = _wait_for_workers(p)
        assert any("embedded_server_main" in v for v in kids.values()), kids
        time.sleep(1)  # into the run
        p.send_signal(sig)
        t0 = time.monotonic()
        stdout, stderr = p.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, (p.returncode, stderr[-2000:])
    assert took < 20 and "Traceback" not in stderr, stderr[-2000:]
    assert json.loads(stdout)["reason"] == "interrupted"
    assert not [pid for pid in kids if _alive(pid)], kids
    assert os.listdir(tmp_path) == []  # the server's data dir and every temp file are gone


@pytest.mark.live
def test_sigkill_of_smoke_leaves_nothing_the_watchdog_cannot_remove(tmp_path):
    p = _long_smoke(tmp_path)
    try:
        kids = _wait_for_workers(p)
        assert any("watchdog" in v for v in kids.values()), kids
        time.sleep(1)
        p.kill()
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and ([k for k in kids if _alive(k)] or os.listdir(tmp_path)):
        time.sleep(0.2)
    assert not [k for k in kids if _alive(k)], kids
    assert os.listdir(tmp_path) == []  # run dir (configs, trace parts, logs) and server dir


@pytest.mark.live
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP])
def test_a_lost_server_ends_the_run_quickly_with_one_line(tmp_path, sig):
    p = _long_smoke(tmp_path)
    try:
        kids = _wait_for_workers(p)
        server = next(k for k, v in kids.items() if "embedded_server_main" in v)
        time.sleep(2)
        os.kill(server, sig)
        t0 = time.monotonic()
        stdout, stderr = p.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = json.loads(stdout)
    assert p.returncode == 1 and out["reason"] == "server_lost", (out["reason"], stderr[-1500:])
    assert took < 15, took  # the stated bound (docs/trace.md, run_end)
    assert "Traceback" not in stderr and "dropping schema" not in stderr, stderr[-2000:]
    assert any("server" in x and ("SIGKILL" in x or "stopped" in x) for x in out["problems"])
    assert not [k for k in kids if _alive(k)], kids
    assert os.listdir(tmp_path) == []


@pytest.mark.live
def test_unreachable_backend_exits_2_quickly_without_secret_or_leftovers(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    env = _env(tmp_path, SNOWFLAKE_ACCOUNT="acct", SNOWFLAKE_USER="someone",
               SNOWFLAKE_PASSWORD=SECRET, SNOWFLAKE_HOST="127.0.0.1",
               SNOWFLAKE_PORT=str(port), SNOWFLAKE_PROTOCOL="http",
               SNOWFLAKE_DATABASE="PHASELAB")
    t0 = time.monotonic()
    p = phaselab("smoke", "--backend", "snowflake", "--login-timeout", "3", env=env, timeout=60)
    assert p.returncode == 2 and time.monotonic() - t0 < 30
    assert "could not connect" in p.stderr and "127.0.0.1" in p.stderr
    assert "dropping" not in p.stderr and "stopping the" not in p.stderr  # neither was made
    assert SECRET not in p.stdout + p.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("extra,args,needle", [
    ({}, ["--backend", "snowflake"], "SNOWFLAKE_ACCOUNT"),
    ({"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PASSWORD": SECRET,
      "SNOWFLAKE_DATABASE": "bad;name"}, ["--backend", "snowflake"], "SNOWFLAKE_DATABASE"),
    ({}, ["--workers", "0"], "--workers"),
    ({}, ["--variant", "nope"], "unknown variant"),
])
def test_bad_settings_exit_2_at_once(tmp_path, extra, args, needle):
    p = phaselab("smoke", *args, env=_env(tmp_path, **extra), timeout=30)
    assert p.returncode == 2 and needle in p.stderr
    assert SECRET not in p.stdout + p.stderr and os.listdir(tmp_path) == []


def _snowflake_env() -> bool:
    return bool(os.environ.get("SNOWFLAKE_ACCOUNT") and os.environ.get("SNOWFLAKE_USER")
                and os.environ.get("SNOWFLAKE_DATABASE"))


@pytest.mark.snowflake
@pytest.mark.skipif(not _snowflake_env(),
                    reason="needs SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_DATABASE and a "
                           "password or key")
def test_smoke_on_snowflake(tmp_path):
    p = phaselab("smoke", "--backend", "snowflake", "--workers", "2", "--connections", "2",
                 "--statement-timeout", "10", "--json", env=dict(os.environ), timeout=600)
    out = json.loads(p.stdout)
    assert out["status"] == "COMPLETED" and out["schema_dropped"], out["problems"]
    assert out["server_counts"] is not None
