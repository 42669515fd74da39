"""A live smoke run in FIND_MAX mode on the embedded server (issue 11): real worker
processes post metrics, the orchestrator steps the total up, spawns a worker mid-run, and the
run completes with a clean verdict on `fixed`, judged by the same checkers."""
from __future__ import annotations

import json
import os

import pytest

from protocol.checks import judge
from protocol.trace import Trace, read_trace
from test_smoke_live import _env, phaselab


@pytest.fixture(scope="module")
def findmax_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("findmax")
    trace = tmp / "findmax.jsonl"
    # 1 connection per worker, at most 2 workers: step 2 needs a second process (§5.5).
    # A 3 s statement timeout: at 1 s, heartbeats on a saturated machine (load 17 on 2
    # cores) timed out as `info`, which HB-GRAMMAR / HB-GAP count as not written.
    p = phaselab("smoke", "--mode", "FIND_MAX", "--workers", "2", "--connections", "1",
                 "--step", "2", "--think-time", "0.5", "--variant", "fixed",
                 "--statement-timeout", "3",
                 "--trace", str(trace), "--json", env=_env(tmp), timeout=180)
    assert p.stdout, p.stderr[-2000:]
    return {"rc": p.returncode, "out": json.loads(p.stdout), "trace": str(trace), "tmp": tmp,
            "stderr": p.stderr}


@pytest.mark.live
def test_findmax_smoke_completes_clean_on_fixed(findmax_run):
    out = findmax_run["out"]
    assert findmax_run["rc"] == 0, (out["verdict"], out["problems"],
                                    findmax_run["stderr"][-2000:])
    assert (out["status"], out["phase"]) == ("COMPLETED", "COMPLETED")
    assert out["verdict"]["ok"] and out["verdict"]["violated"] == []
    assert os.listdir(findmax_run["tmp"]) == ["findmax.jsonl"]  # run dir, metrics files gone


@pytest.mark.live
def test_findmax_smoke_is_judged_by_the_scaling_checkers(findmax_run):
    tr = Trace(read_trace(findmax_run["trace"]).records)
    assert tr.param("load_mode") == "FIND_MAX"
    steps = [e for e in tr.of("ctrl_eval") if e["controller"] == "FIND_MAX"]
    assert steps and steps[-1]["decision"]["kind"] == "finish"
    outcome = {j.property_id: j.outcome for j in judge(tr)}
    for pid in ("SC-TARGET-ARITH", "SC-WORKER-COUNT", "SC-FINDMAX-TERMINATES",
                "SC-FINDMAX-RESULT", "UI-ROLLUP-CONVERGE", "SC-FINDMAX-STEP", "SC-WORKER-CAP",
                "EPOCH-AGG-MONOTONE"):
        assert outcome[pid] == "passed", pid
    spawns = [r["worker"] for r in tr.of("proc") if r["action"] == "spawn"]
    assert spawns == ["worker-0", "worker-1"]  # the second one mid-run, for step 2
