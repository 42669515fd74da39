"""The shared-server queue of the simulation: statements wait for a slot, load shows in
latency, and the [server] scenario table is validated."""
from __future__ import annotations

import pytest

from phaselab import scenario as scn
from phaselab.smoke import statement_latencies
from sim.run import simulate

BASE = {"run": {"workers": 3, "connections_per_worker": 4, "warmup_s": 2, "duration_s": 3,
                "think_time_s": 0.2},
        "latency": {"default": {"dist": "fixed", "value": 0.001},
                    "connect": {"dist": "fixed", "value": 0.05},
                    "proc_start": {"dist": "fixed", "value": 0.5}}}


def _median_ms(sc, op):
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=3)
    v = sorted(statement_latencies(res.records)[op])
    return v[len(v) // 2] * 1000, res


def test_queue_adds_waiting_under_load_and_checkers_stay_clean():
    from protocol.checks import check
    from protocol.trace import Trace
    plain = scn.from_dict(BASE)
    served = scn.from_dict({**BASE, "server": {"slots": 1, "service": {
        "default": {"dist": "fixed", "value": 0.02}}}})
    two = scn.from_dict({**BASE, "server": {"slots": 2, "service": {
        "default": {"dist": "fixed", "value": 0.02}}}})
    m0, _ = _median_ms(plain, "benchmark")
    m1, r1 = _median_ms(served, "benchmark")
    m2, _ = _median_ms(two, "benchmark")
    assert m0 == pytest.approx(1.0, abs=0.01) and m1 > 21.0 and m2 < m1  # served, then queued
    assert r1.status == "COMPLETED" and check(Trace(r1.records)) == []
    assert r1.records[0]["params"]["L"] > plain.sim.latency.control_bound()


@pytest.mark.parametrize("server,needle", [
    ({"slots": 0}, "server.slots must be >= 1"),
    ({"slots": 1.5}, "server.slots must be a whole number"),
    ({"queue": 3}, "unknown key server.'queue'"),
    ({"service": {"nope": {"dist": "fixed", "value": 1}}}, "server.service."),
    ({"service": {"benchmark": {"dist": "fixed"}}}, "server.service.benchmark"),
])
def test_server_table_is_validated(server, needle):
    with pytest.raises(scn.ScenarioError, match=needle.replace(".", r"\.").replace("'", ".")):
        scn.from_dict({**BASE, "server": server}, "x.toml")


def _live_trace(statements: list[tuple[float, str, float]]) -> list[dict]:
    """A minimal live trace: (start, op, latency) per statement, after a live header."""
    recs = [{"t": 0.0, "actor": "phaselab", "kind": "run", "world": "live",
             "live": {"backend": "embedded"}, "params": {}}]
    for i, (t, op, lat) in enumerate(statements):
        recs.append({"t": t, "actor": "worker-0", "kind": "invoke", "op": op, "id": i})
        recs.append({"t": t + lat, "actor": "worker-0", "kind": "ok", "op": op, "id": i})
    return recs


def test_saturated_seconds_weigh_server_time_not_statement_counts():
    from phaselab.smoke import saturated_seconds, service_times, statement_latencies
    # 40 cheap 10 ms reads in second 1 (0.4 s of work) and 8 MERGEs of 200 ms in second 3
    # (1.6 s of work): only second 3 needed more than a second of server time.
    cheap = [(1.0 + i * 0.02, "read_run_status", 0.010) for i in range(40)]
    heavy = [(3.0 + i * 0.1, "merge_heartbeat", 0.200) for i in range(8)]
    recs = _live_trace(cheap + heavy)
    sat = saturated_seconds(recs, service_times(statement_latencies(recs)))
    assert [s["second"] for s in sat] == [3]
    assert sat[0]["kinds"] == ["merge_heartbeat"] and sat[0]["busy"] > 1.0
