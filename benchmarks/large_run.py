"""One big simulated run alone, in its own process so its peak memory is its own. Prints one
JSON line. Default: the large run, 100 workers x 100 connections, 10 s warmup, 60 s
measurement, bulk queries; `--set key=value` (repeatable) replaces those settings."""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from phaselab import scenario as scn  # noqa: E402
from protocol.checks import check  # noqa: E402
from protocol.trace import Trace  # noqa: E402
from sim.run import simulate  # noqa: E402

SETS = ["workers=100", "connections_per_worker=100", "warmup_s=10", "duration_s=60",
        "bulk_queries=true"]


def main(argv: list[str]) -> int:
    do_check = "--check" in argv
    sets = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--set"] or SETS
    sc = scn.load(str(ROOT / "scenarios" / "baseline.toml"), sets)
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=1, variant=sc.variant, scenario=sc.raw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"sets": sets, "wall_s": wall, "cpu_s": cpu, "sim_time_s": res.sim_time_s,
           "status": res.status, "phase": res.phase, "records": len(res.records),
           "queries": res.statements.get("benchmark", 0), "events": res.events,
           "workers": sc.cfg.workers, "connections": sc.cfg.connections_per_worker}
    if do_check:
        t1 = time.perf_counter()
        out["violations"] = sorted({v.property_id for v in check(Trace(res.records))})
        out["check_s"] = time.perf_counter() - t1
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
