"""Where a simulated run spends its time: cProfile over the runs the speed targets are about,
printed as a table of the top costs (CI does not run this).

    .venv/bin/python benchmarks/profile_runs.py [--run baseline|large|thousand]... [--top N]
        [--sort tottime|cumtime] [--json] [--write FILE]

`baseline` is scenarios/baseline.toml per query (5 seeds), `large` the 100 x 100 run of
benchmarks/large_run.py, `thousand` the 1,000 x 10 run (benchmarks/sim_speed.py THOUSAND).
Under cProfile everything runs several times slower; the shares, not the seconds, are the
point. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from phaselab import scenario as scn  # noqa: E402
from sim.run import simulate  # noqa: E402
from sim_speed import LARGE, THOUSAND  # noqa: E402

RUNS = {
    "baseline": ([], range(1, 6)),
    "large": (LARGE, [1]),
    "thousand": (THOUSAND, [1]),
}


def profile(name: str) -> tuple[pstats.Stats, float]:
    sets, seeds = RUNS[name]
    sc = scn.load(str(ROOT / "scenarios" / "baseline.toml"), list(sets))
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    work = {"events": 0, "statements": 0, "bursts": 0, "runs": 0}
    for seed in seeds:
        prof.enable()
        res = simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=sc.variant,
                       scenario=sc.raw)
        prof.disable()
        work["events"] += res.events
        work["statements"] += sum(n for op, n in res.statements.items() if op != "benchmark")
        work["bursts"] += sum(r["kind"] == "query_batch" for r in res.records)
        work["runs"] += 1
    return pstats.Stats(prof), time.perf_counter() - t0, work


def main_loop_iterations(stats: pstats.Stats) -> int:
    """Idle main-loop iterations: polling.main_pause is entered once and resumed once after
    its sleep, so cProfile counts two calls per iteration."""
    return sum(v[1] for f, v in stats.stats.items()
               if f[2] == "main_pause" and f[0].endswith("polling.py")) // 2


def where(func: tuple) -> str:
    file, line, name = func
    p = Path(file)
    try:
        file = str(p.resolve().relative_to(ROOT))
    except ValueError:
        file = "/".join(p.parts[-2:]) if p.parts else file
    return f"{name} ({file}:{line})" if line else name


def top_rows(stats: pstats.Stats, sort: str, n: int) -> list[dict]:
    total = stats.total_tt or 1e-9
    rows = []
    for func, (cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append({"function": where(func), "calls": nc, "tottime_s": tt, "cumtime_s": ct,
                     "tottime_share": tt / total, "cumtime_share": ct / total})
    rows.sort(key=lambda r: r[f"{sort}_s"], reverse=True)
    return rows[:n]


def markdown(name: str, rows: list[dict], total: float, sort: str, work: dict) -> str:
    ev = work["events"] or 1
    out = [f"### {name}: top costs by {sort} (profiled total {total:.2f} s)", "",
           f"{work['runs']} run(s): {work['events']:,} SimPy events; {work['statements']:,} "
           f"control statements (two waits each: {2 * work['statements'] / ev:.0%} of the "
           f"events); {work['bursts']:,} query bursts; {work['main_loop']:,} worker main-loop "
           f"sleeps ({work['main_loop'] / ev:.0%} of the events).", "",
           "| function | calls | own time | own share | with callees | share |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| `{r['function']}` | {r['calls']:,} | {r['tottime_s']:.2f} s | "
                   f"{r['tottime_share']:.0%} | {r['cumtime_s']:.2f} s | "
                   f"{r['cumtime_share']:.0%} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", choices=sorted(RUNS),
                    help="which run to profile (repeatable; default: all three)")
    ap.add_argument("--top", type=int, default=15, help="rows per run (default 15)")
    ap.add_argument("--sort", choices=("tottime", "cumtime"), default="tottime")
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    ap.add_argument("--write", metavar="FILE", help="also write the output to FILE")
    args = ap.parse_args(argv)
    if args.top < 1:
        ap.error("--top: must be >= 1")
    names = args.run or ["baseline", "large", "thousand"]
    result, parts = {}, []
    for name in names:
        print(f"profiling {name} ...", file=sys.stderr, flush=True)
        stats, wall, work = profile(name)
        work["main_loop"] = main_loop_iterations(stats)
        rows = top_rows(stats, args.sort, args.top)
        result[name] = {"profiled_wall_s": wall, "total_s": stats.total_tt, "work": work,
                        "top": rows}
        parts.append(markdown(name, rows, stats.total_tt, args.sort, work))
        print(f"  {name}: {wall:.1f} s under the profiler", file=sys.stderr, flush=True)
    head = ["# Where a simulated run spends its time", "",
            "Generated by `.venv/bin/python benchmarks/profile_runs.py --write "
            "docs/performance-profile.md` (cProfile; CI does not run it). Under the profiler "
            "everything is several times slower and call-heavy code more so: read the shares "
            "and call counts, not the seconds. Own time is the function's own code, 'with "
            "callees' includes what it calls (for generators: while resumed).", "", ""]
    text = json.dumps(result, indent=1) if args.json else "\n".join(head) + "\n\n".join(parts)
    print(text)
    if args.write:
        Path(args.write).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
