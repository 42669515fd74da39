"""The scaling modes' part of the search space (issue 11): a load mode and its settings —
step sizes, guardrails, QPS target, ramp, caps that force mid-run spawns — drawn from the
same Chooser as the rest of the scenario, so they shrink with it (toward FIND_MAX, one
worker, one connection, short steps). Ceilings stay small so every run ends: on `fixed` the
search stops when the total cannot grow; the reference may step on until its deadline."""
from __future__ import annotations


def scaling_draw(c, frac) -> dict:
    """A [scaling] table; `frac` is search_space.frac (passed in: no import cycle)."""
    mode = ("FIND_MAX", "QPS")[c.integer(0, 1, "load_mode")]
    out = {"load_mode": mode,
           "scaling_mode": ("AUTO", "BOUNDED", "FIXED")[c.integer(0, 2, "scaling_mode")],
           "max_connections": c.integer(1, 6, "max_connections"),
           "max_workers": c.integer(1, 4, "max_workers"),
           "min_connections": c.integer(0, 2, "min_connections")}
    if mode == "FIND_MAX":
        out.update(start_concurrency=c.integer(1, 4, "start_concurrency"),
                   concurrency_increment=c.integer(1, 4, "concurrency_increment"),
                   step_duration_s=frac(c, 1.0, 5.0, "step_duration_s"),
                   latency_stability_pct=frac(c, 5.0, 50.0, "latency_stability_pct"),
                   qps_stability_pct=frac(c, 1.0, 20.0, "qps_stability_pct"))
    else:
        out.update(target_qps=frac(c, 5.0, 300.0, "target_qps"),
                   starting_threads=c.integer(0, 4, "starting_threads"),
                   concurrent_connections=c.integer(1, 8, "concurrent_connections"),
                   max_thread_increase=c.integer(1, 15, "max_thread_increase"),
                   qps_eval_period_s=frac(c, 1.0, 10.0, "qps_eval_period_s"),
                   qps_ramp_s=frac(c, 0.0, 5.0, "qps_ramp_s"))
    return out
