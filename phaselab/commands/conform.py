"""`phaselab conform PATH`: the upstream (M recorded runs) beside the `reference` variant (N
seeded simulations of the same scenario, latencies fitted to the recorded statements), and
where they differ more than the simulation's spread allows."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from phaselab import conformance as cf
from phaselab import scenario as scn
from phaselab.commands import upstream as up
from phaselab.errors import UsageError
from phaselab.files import read_trace_arg
from protocol.trace import Trace
from sim.run import simulate
from upstream import statement_map
from upstream.judging import judge_recorded

NAME = "conform"
HELP = "compare the upstream's recorded runs with simulations of the reference variant"


def add_arguments(p) -> None:
    p.add_argument("path", metavar="PATH", nargs="?",
                   help="your checkout of the upstream (omit with --upstream-trace)")
    p.add_argument("--runs", type=int, default=1, metavar="M", help="upstream runs to record")
    p.add_argument("--upstream-trace", action="append", default=[], metavar="FILE",
                   help="a trace from `phaselab upstream --trace` instead of (or besides) runs")
    p.add_argument("--seeds", type=int, default=20, metavar="N", help="simulated seeds")
    p.add_argument("--variant", default="reference")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=2)
    p.add_argument("--warmup", type=int, default=4, metavar="S")
    p.add_argument("--measure", type=int, default=8, metavar="S")
    p.add_argument("--map", metavar="FILE")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S")
    p.add_argument("--server-queue", action="store_true",
                   help="model the embedded server as a queue (calibrate --server on) instead "
                        "of each statement kind's measured latency")
    p.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    p.add_argument("--plot", metavar="PNG", help="also draw each measure's range and the "
                   "upstream's values")
    p.add_argument("--json", action="store_true")


def _upstream_args(args) -> argparse.Namespace:
    return argparse.Namespace(path=args.path, workers=args.workers,
                              connections=args.connections, warmup=args.warmup,
                              measure=args.measure, map=args.map, timeout=args.timeout,
                              keep=None, trace=None, json=True)


def run(args) -> int:
    if args.seeds < 1 or args.runs < 0:
        raise UsageError(f"--seeds must be >= 1 and --runs >= 0 (got {args.seeds}, {args.runs})")
    if args.variant not in scn.PRESETS:
        raise UsageError(f"--variant {args.variant}: allowed: {sorted(scn.PRESETS)}")
    if not args.path and (args.runs and not args.upstream_trace):
        raise UsageError("give PATH (a checkout) or --upstream-trace FILE")
    for name, f in (("--markdown", args.markdown), ("--plot", args.plot)):
        if f and not Path(f).resolve().parent.is_dir():
            raise UsageError(f"{name} {f}: the folder does not exist")
    traces: list[list[dict]] = []
    for f in args.upstream_trace:
        res = read_trace_arg(f)
        tr = Trace(res.records)
        if tr.header.get("world") != "upstream":
            raise UsageError(f"--upstream-trace {f}: not a trace from `phaselab upstream` "
                             f"(world = {tr.header.get('world')!r})")
        traces.append(res.records)
    smap = None
    if args.path and args.runs:
        ua = _upstream_args(args)
        path, smap, commit = up.resolve(ua)
        for i in range(args.runs):
            Console(stderr=True).print(f"[dim]conform: upstream run {i + 1}/{args.runs}[/dim]")
            result, conv, _v, interrupted = up.execute(ua, path, smap, commit)
            if interrupted:
                return 130
            if conv is None:
                raise UsageError(f"PATH {args.path}: the upstream run failed: "
                                 f"{result.get('problems')}")
            traces.append(conv.records)
    if not traces:
        raise UsageError("no upstream run: give PATH with --runs >= 1, or --upstream-trace")
    hdr = Trace(traces[0]).header
    if smap is None:
        mp = Path(args.map) if args.map else statement_map.MAPS_DIR / hdr["upstream"]["map"]
        try:
            smap = statement_map.load(mp)
        except statement_map.MapError as exc:
            raise UsageError(f"--map: {exc}") from None
    raw = cf.simulation_scenario(traces[0], smap.config, args.variant, args.server_queue)
    sc = scn.from_dict(raw, "<conform>")
    sims = []
    for seed in range(1, args.seeds + 1):
        res = simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=args.variant,
                       scenario=sc.raw)
        sims.append(Trace(res.records))
    up_traces = [Trace(t) for t in traces]
    rows = cf.compare([cf.measures(t) for t in up_traces], [cf.measures(t) for t in sims])
    verdicts = [{j.property_id: j.outcome for j in judge_recorded(t, _coverage(t, smap))}
                for t in up_traces]
    props = cf.compare_properties(verdicts, cf.property_rates(sims), args.seeds)
    out = {"variant": args.variant, "seeds": args.seeds, "upstream_runs": len(traces),
           "server_queue": args.server_queue,
           "scenario": raw, "measures": rows, "properties": props,
           "differences": [r["measure"] for r in rows if r["differs"]]
           + [p["property"] for p in props if p["differs"]]}
    if args.markdown:
        Path(args.markdown).write_text(markdown(out))
    if args.plot:
        from phaselab.conformance_plot import conformance_plot
        conformance_plot(args.plot, f"{smap.label}: upstream ({len(traces)} run(s)) vs "
                         f"{args.variant} ({args.seeds} seeds)", rows)
    if args.json:
        print(json.dumps(out, default=str))
    else:
        _render(Console(), out)
    return 0


def _coverage(trace: Trace, smap) -> dict:
    """The coverage the trace was converted with (its header), else its map's declaration."""
    cov = (trace.header.get("upstream") or {}).get("coverage")
    return cov if cov is not None else smap.coverage


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, tuple):
        return f"{_fmt(v[0])} – {_fmt(v[1])}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def markdown(out: dict) -> str:
    lines = [f"Upstream runs: {out['upstream_runs']}; `{out['variant']}` simulated with "
             f"{out['seeds']} seeds (latencies fitted to the first upstream run's statements"
             + (", the embedded server as a queue" if out.get("server_queue") else "")
             + "). **differs**: an upstream value outside the simulation's range.", "",
             "| measure | simulation median | simulation range | upstream | |",
             "|---|---|---|---|---|"]
    for r in out["measures"]:
        lines.append(f"| {r['measure']} | {_fmt(r['sim_median'])} | {_fmt(r['sim_range'])} | "
                     f"{_fmt(r['upstream'])} | {'**differs**' if r['differs'] else ''} |")
    lines += ["", "| property | simulation: seeds violating | upstream | |", "|---|---|---|---|"]
    for p in out["properties"]:
        lines.append(f"| {p['property']} | {p['sim_violated']} | {_fmt(p['upstream'])} | "
                     f"{'**differs**' if p['differs'] else ''} |")
    return "\n".join(lines) + "\n"


def _render(c: Console, out: dict) -> None:
    t = Table(title=f"Measures: upstream ({out['upstream_runs']} runs) vs {out['variant']} "
              f"({out['seeds']} seeds)", title_justify="left")
    for col in ("measure", "sim median", "sim range", "upstream", ""):
        t.add_column(col)
    for r in out["measures"]:
        t.add_row(r["measure"], _fmt(r["sim_median"]), _fmt(r["sim_range"]),
                  _fmt(r["upstream"]), "[red]differs[/red]" if r["differs"] else "")
    c.print(t)
    p = Table(title="Properties", title_justify="left")
    for col in ("property", "sim: seeds violating", "upstream", ""):
        p.add_column(col)
    for r in out["properties"]:
        p.add_row(r["property"], r["sim_violated"], escape(_fmt(r["upstream"])),
                  "[red]differs[/red]" if r["differs"] else "")
    c.print(p)
    c.print(f"{len(out['differences'])} differences: {escape(', '.join(out['differences']))}")
