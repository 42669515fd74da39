"""The scenario tables of the scaling modes: `[scaling]` (load mode, scaling mode, caps and
the controllers' settings: protocol/scaling.py) and `[warehouse]` (the capacity model of the
warehouse under test: sim/warehouse.py). Same rules as the rest of the loader: a bad key or
value names the file, the key and what is allowed."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from protocol import scaling as sc
from protocol.variants import SCALING_SWITCHES
from sim.warehouse import WarehouseModel

# key -> (ScalingConfig field, unit, minimum, positive, whole, doc)
SCALING_KEYS: dict[str, tuple[str, str, float | None, bool, bool, str]] = {
    "min_workers": ("min_workers", "count", 1, False, True, "worker processes at least"),
    "max_workers": ("max_workers", "count", 1, False, True, "worker processes at most; absent: "
                    "unbounded"),
    "min_connections": ("min_connections", "count", 0, False, True, "floor per worker on a "
                        "target total (x workers)"),
    "max_connections": ("max_connections", "count", 1, False, True, "per-worker cap; also "
                        "sizes AUTO/BOUNDED worker counts"),
    "per_worker_connections": ("per_worker_connections", "count", 1, False, True,
                               "fixed per-worker connections (a second cap)"),
    "concurrent_connections": ("concurrent_connections", "count", 1, False, True,
                               "the total threads that size an AUTO/BOUNDED QPS run and cap_eff"),
    "start_concurrency": ("start_concurrency", "count", 1, False, True,
                          "FIND_MAX: the first step's total"),
    "concurrency_increment": ("concurrency_increment", "count", 1, False, True,
                              "FIND_MAX: added per STABLE step"),
    "step_duration_s": ("step_duration_s", "s", None, True, False, "FIND_MAX: step length"),
    "qps_stability_pct": ("qps_drop_pct", "%", None, True, False, "FIND_MAX: a QPS drop "
                          "beyond this vs the previous step is DEGRADED"),
    "latency_stability_pct": ("latency_rise_pct", "%", None, True, False, "FIND_MAX: a p95 "
                              "rise beyond this vs step 1 is DEGRADED"),
    "max_error_rate_pct": ("error_pct", "%", 0, False, False, "FIND_MAX: error rate limit"),
    "target_qps": ("target_qps", "QPS", None, True, False, "QPS: the rate to hold"),
    "starting_threads": ("starting_threads", "count", 0, False, True, "QPS: the initial "
                         "total (0: min_connections per worker)"),
    "max_thread_increase": ("max_thread_increase", "count", 1, False, True,
                            "QPS: largest increase per decision"),
    "qps_eval_period_s": ("qps_eval_period_s", "s", None, True, False,
                          "QPS: evaluations at least this far apart"),
    "qps_ramp_s": ("qps_ramp_s", "s", 0, False, False, "QPS: a new target's ramp"),
    "bounds_patience": ("bounds_patience", "iterations", 1, False, True,
                        "QPS+BOUNDED: under target at the ceiling this often stops the run"),
}
WAREHOUSE_KEYS: dict[str, tuple[str, float | None, bool, bool, str]] = {
    "slots": ("count", 1, False, True, "queries served at full speed at once; beyond, each "
              "query's latency is x in-flight / slots"),
    "burst_horizon_s": ("s", None, True, False, "bulk bursts re-read the load at least this "
                        "often"),
}


def _value(err, where: str, v: Any, unit: str, minimum, positive: bool, whole: bool):
    kind = "a whole number" if whole else "a number"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (whole and not isinstance(v, int)):
        raise err(f"{where} must be {kind} ({unit}), not {v!r}")
    if v != v or v in (float("inf"), float("-inf")):
        raise err(f"{where} must be finite, not {v!r}")
    if positive and v <= 0:
        raise err(f"{where} must be > 0 ({unit}), not {v!r}")
    if minimum is not None and v < minimum:
        raise err(f"{where} must be >= {minimum} ({unit}), not {v!r}")
    return v if whole else float(v)


def apply_scaling(path: str, table: Any, cfg, err):
    """RunConfig with the [scaling] table applied. With a load mode, the worker count at start
    and the per-worker connection bound come from the mode (§9.1-9.3)."""
    if not isinstance(table, dict):
        raise err(f"{path}: [scaling] must be a table")
    allowed = {"load_mode", "scaling_mode", *SCALING_KEYS}
    extra = sorted(set(table) - allowed)
    if extra:
        raise err(f"{path}: unknown key scaling.{extra[0]!r}; allowed: "
                  f"{', '.join(sorted(allowed))}")
    kw: dict[str, Any] = {}
    for k, choices in (("load_mode", sc.LOAD_MODES), ("scaling_mode", sc.SCALING_MODES)):
        if k in table:
            if table[k] not in choices:
                raise err(f"{path}: scaling.{k} must be one of {', '.join(choices)}, "
                          f"not {table[k]!r}")
            kw[k] = table[k]
    for k, (fname, unit, minimum, positive, whole, _doc) in SCALING_KEYS.items():
        if k in table:
            kw[fname] = _value(lambda m: err(f"{path}: {m}"), f"scaling.{k}", table[k], unit,
                               minimum, positive, whole)
    s = sc.ScalingConfig(**kw)
    if s.max_workers is not None and s.max_workers < s.min_workers:
        raise err(f"{path}: scaling.max_workers ({s.max_workers}) must be >= "
                  f"scaling.min_workers ({s.min_workers})")
    if s.load_mode == "QPS" and s.target_qps is None:
        raise err(f"{path}: scaling.target_qps is required when scaling.load_mode is QPS")
    if s.load_mode == "CONCURRENCY":
        return replace(cfg, scaling=s)
    n = sc.initial_worker_count(s)
    per = max(sc.initial_target(s, g, n) for g in range(n))
    caps = [x for x in (s.max_connections, s.per_worker_connections) if x]
    return replace(cfg, scaling=s, workers=n,
                   connections_per_worker=max(per, min(caps) if caps else per))


def warehouse(path: str, table: Any, err) -> WarehouseModel:
    if not isinstance(table, dict):
        raise err(f"{path}: [warehouse] must be a table")
    extra = sorted(set(table) - set(WAREHOUSE_KEYS))
    if extra:
        raise err(f"{path}: unknown key warehouse.{extra[0]!r}; allowed: "
                  f"{', '.join(sorted(WAREHOUSE_KEYS))}")
    kw = {k: _value(lambda m: err(f"{path}: {m}"), f"warehouse.{k}", v, *WAREHOUSE_KEYS[k][:4])
          for k, v in table.items()}
    return WarehouseModel(**kw)


def docs_lines() -> list[str]:
    d = sc.ScalingConfig()
    lines = ["", "## `[scaling]`", "",
             "Load and scaling modes (reference-protocol.md §9; `protocol/scaling.py`). "
             "Absent: a plain CONCURRENCY run of `run.workers` x `run.connections_per_worker` "
             "with no controller, metrics posts or rollups. `load_mode` is one of "
             + ", ".join(f"`{m}`" for m in sc.LOAD_MODES) + " (default `CONCURRENCY`), "
             "`scaling_mode` one of " + ", ".join(f"`{m}`" for m in sc.SCALING_MODES)
             + " (default `AUTO`). With `QPS` or `FIND_MAX` the worker count at start and "
             "each worker's first target come from the mode (`run.workers` and "
             "`run.connections_per_worker` are replaced); FIND_MAX has no duration limit until "
             "it has finished. The switches "
             + ", ".join(f"`{k}`" for k in SCALING_SWITCHES)
             + " choose between the reference's behaviour and the fixed one "
             "(`protocol/variants.py`). Scenarios: "
             "`scenarios/findmax.toml`, `scenarios/qps.toml`, `scenarios/bounded.toml`.", "",
             "| key | unit | default | allowed | meaning |", "|---|---|---|---|---|"]
    for k, (fname, unit, minimum, positive, _w, doc) in SCALING_KEYS.items():
        allowed = "> 0" if positive else f">= {minimum}"
        lines.append(f"| `{k}` | {unit} | {getattr(d, fname)} | {allowed} | {doc} |")
    w = WarehouseModel()
    lines += ["", "## `[warehouse]`", "",
              "The benchmark warehouse's capacity (`sim/warehouse.py`), a closed queueing "
              "model: with N benchmark queries in flight each takes its sampled "
              "`latency.benchmark` times max(1, N / `slots`), so throughput saturates at "
              "`slots` / mean latency and latency climbs with concurrency. Absent: benchmark "
              "latency does not depend on load. The true capacity goes into the trace header "
              "(`params.warehouse`).", "",
              "| key | unit | default | allowed | meaning |", "|---|---|---|---|---|"]
    for k, (unit, minimum, positive, _w, doc) in WAREHOUSE_KEYS.items():
        allowed = "> 0" if positive else f">= {minimum}"
        lines.append(f"| `{k}` | {unit} | {getattr(w, k)} | {allowed} | {doc} |")
    return lines
