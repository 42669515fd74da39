"""The smoke report without a live run (live_run replaced by a canned result): properties the
trace cannot support are shown as not judged, worker deaths are listed with what noticed
them, and the clean-up line names only what was done."""
from __future__ import annotations

import json

from phaselab import cli
from phaselab.commands import smoke as cmd
from real_backend.live import LiveResult
from tests.trace_builder import clean_run


def _canned(records, **kw):
    def fake_live_run(cfg, sw, variant, settings, scenario=None, progress=None):
        if progress:
            progress("cleanup", {"schema": None, "server": None})
        res = LiveResult("run-1", "PHASELAB_RUN_X", "embedded", records, "COMPLETED",
                         "COMPLETED", "finished", 1.0, 0.1, 0.1, schema_dropped=True,
                         schema_fate="dropped")
        for k, v in kw.items():
            setattr(res, k, v)
        return res
    return fake_live_run


def test_report_shows_not_judged_properties(monkeypatch, capsys):
    b = clean_run(world="live")
    for p in ("stale_s", "dead_s"):
        b.header["params"].pop(p)
    monkeypatch.setattr(cmd, "live_run", _canned(b.build().records))
    rc = cli.main(["smoke", "--json"])
    out = json.loads(capsys.readouterr().out)
    nj = {x["property"]: x["reason"] for x in out["verdict"]["not_judged"]}
    assert "HB-GAP" in nj and "stale_s" in nj["HB-GAP"] and "dead_s" in nj["HB-DEAD-DETECTION"]
    assert rc == 0  # not judged is not a violation
    cli.main(["smoke"])
    text = capsys.readouterr().out
    assert "Not judged" in text and "HB-GAP" in text


def test_report_lists_a_worker_death_and_what_noticed_it(monkeypatch, capsys):
    b = clean_run(world="live")
    b.add(20.0, "proc", "driver", worker="worker-1", action="exit", code=-9, signal="SIGKILL",
          requested=False)
    b.event(20.4, 5, "STOP", reason="worker_failure")
    b.add(38.0, "proc", "driver", worker="worker-0", action="exit", code=-15, signal="SIGTERM",
          requested=True)  # asked to stop: not a death
    monkeypatch.setattr(cmd, "live_run", _canned(b.build().records))
    cli.main(["smoke", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["deaths"] == [{"worker": "worker-1", "t": 20.0, "code": -9, "signal": "SIGKILL",
                              "detected_t": 20.4, "detected_by": "STOP worker_failure",
                              "after_s": 0.4}]
    cli.main(["smoke"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Worker death: worker-1 killed by SIGKILL at t=20.0 s" in text
    assert "noticed 0.4 s later (STOP worker_failure)" in text


def test_cleanup_line_says_only_what_is_done():
    assert cmd._cleanup_text({"schema": None, "server": None}) == \
        "removing the run's temporary files"
    assert cmd._cleanup_text({"schema": "D.S", "server": "stop"}).startswith(
        "dropping schema D.S, stopping the embedded server")
    assert "lost server" in cmd._cleanup_text({"schema": None, "server": "lost"})
