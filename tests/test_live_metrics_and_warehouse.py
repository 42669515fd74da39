"""The metrics path the controllers steer by (protocol/live_metrics.py, sim/live.py) and the
warehouse's capacity model (sim/warehouse.py)."""
import pytest

from protocol.live_metrics import LiveCache, MetricsSnapshot
from protocol.actors.worker_scaling import percentile
from sim.live import QueryLog
from sim.warehouse import WarehouseModel


def snap(w, ops, phase="MEASUREMENT", status="RUNNING", target=2, qps=10.0, p95=100.0):
    return MetricsSnapshot(w, int(w[-1]), phase, status, target, ops, 0, qps, p95, p95)


def test_cache_sums_fresh_snapshots_and_takes_the_max_p95():
    c = LiveCache()
    c.post(0.0, snap("worker-0", 100, p95=120.0))
    c.post(0.5, snap("worker-1", 50, p95=90.0, target=3))
    a = c.aggregate(1.0)
    assert (a.workers, a.total_ops, a.current_qps, a.target_connections, a.p95_ms) == \
        (2, 150, 20.0, 5, 120.0)


def test_cache_prunes_snapshots_older_than_five_seconds():
    c = LiveCache()
    c.post(0.0, snap("worker-0", 100))
    c.post(3.0, snap("worker-1", 50))
    assert c.aggregate(5.0).workers == 2
    assert c.aggregate(5.5).workers == 1  # worker-0's is 5.5 s old: gone
    assert c.aggregate(8.5).workers == 0  # an empty cache: what the QPS controller reads as 0


def test_cache_leaves_out_dead_workers_and_finished_phases():
    c = LiveCache()
    c.post(0.0, snap("worker-0", 100, status="DEAD"))
    c.post(0.0, snap("worker-1", 50, phase="PROCESSING"))
    c.post(0.0, snap("worker-2", 7, phase="WARMUP"))
    a = c.aggregate(0.1)
    assert (a.workers, a.total_ops, a.phases) == (1, 7, ("WARMUP",))


def test_percentile_is_nearest_rank():
    xs = list(range(1, 101))
    assert percentile(xs, 95) == 95 and percentile(xs, 99) == 99 and percentile([], 95) is None


def test_query_log_counts_since_a_reset_and_up_to_now():
    log = QueryLog()
    log.add("worker-0", [0.0, 1.0, 2.0], [0.5, 1.2, 2.6])
    c = log.counters("worker-0", since=0.6, now=2.0)
    assert c.ops == 1 and c.latencies_ms == pytest.approx((200.0,))
    assert log.counters("worker-0", since=0.0, now=3.0).ops == 3


def test_warehouse_throughput_saturates_and_latency_climbs():
    w = WarehouseModel(slots=8)
    xs = [w.throughput(n, 0.1) for n in (2, 4, 8, 16, 32)]
    assert xs[:3] == pytest.approx([20.0, 40.0, 80.0])
    assert xs[3:] == pytest.approx([80.0, 80.0])  # saturated at slots / service time
    assert w.slowdown(16) == 2.0 and w.slowdown(4) == 1.0
    assert w.capacity(0.1) == pytest.approx({"max_qps": 80.0, "knee_concurrency": 8.0})
    assert w.capacity(0.1, think_s=0.1)["knee_concurrency"] == pytest.approx(16.0)
