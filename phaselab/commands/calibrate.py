"""`phaselab calibrate`: a scenario file fitted to a live trace, checked by simulating it."""
from __future__ import annotations

import json
import os

from phaselab.console import stdout_console
from rich.markup import escape
from rich.table import Table

from phaselab import calibrate as cal, scenario as scn
from phaselab.errors import UsageError
from phaselab.files import check_output, read_trace_arg, write_atomically
from phaselab.inputs import budget
from sim.run import simulate

NAME = "calibrate"
HELP = "fit statement latencies (and a server queue) from a smoke trace into a scenario"
CHECK_SEEDS = 5


def add_arguments(p) -> None:
    p.add_argument("trace")
    p.add_argument("--out", required=True, metavar="FILE", help="the scenario TOML to write")
    p.add_argument("--server", choices=("auto", "on", "off"), default="auto",
                   help="model the backend as a queue (auto: when the trace is from the "
                        "embedded server)")
    p.add_argument("--allow-large", action="store_true",
                   help="check-simulate a run above the size limits of docs/scenarios.md")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    check_output(args.out, "--out", [args.trace])
    rr = read_trace_arg(args.trace)
    h = rr.records[0]
    if h.get("world") != "live":
        raise UsageError(f"{args.trace}: a {h.get('world')} trace; calibrate needs a live one "
                         f"(phaselab smoke --trace FILE)")
    if not isinstance((h.get("live") or {}).get("run_config"), dict):
        raise UsageError(f"{args.trace}: the header has no live.run_config (an older trace?); "
                         f"record a new one with phaselab smoke --trace FILE")
    backend = (h.get("live") or {}).get("backend", "embedded")
    server = args.server == "on" or (args.server == "auto" and backend == "embedded")
    raw, notes = cal.calibrate(rr.records, server)
    # what `phaselab run` will accept; a bad value came from the trace's live.run_config
    sc = scn.from_dict(raw, f"{args.trace}: live.run_config")
    budget.check_scenario(sc, args.allow_large, CHECK_SEEDS)
    comments = [f"Calibrated by phaselab calibrate from {os.path.basename(args.trace)} "
                f"(live run {h.get('run_id')}, backend {backend}).",
                f"Measured load: {notes['load']['rate_per_s']} statements/s over "
                f"{notes['load']['span_s']} s."]
    if notes["server"]:
        s = notes["server"]
        comments.append(f"Server: {s['slots']} slot(s); service = p{int(s['service_quantile'] * 100)}"
                        f" of each kind's latency; busy {s['utilisation']:.0%} at the measured "
                        f"rate; capacity about {s['capacity_per_s']} statements/s.")
    sims = [simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=sc.variant,
                     scenario=raw).records for seed in range(1, CHECK_SEEDS + 1)]
    comp = cal.startup_comparison(rr.records, sims)
    factors = [c["factor"] for c in comp.values() if c["factor"] is not None]
    worst = max(factors, default=None)
    write_atomically(args.out, cal.to_toml(raw, comments))
    if args.json:
        print(json.dumps({"trace": args.trace, "out": args.out, "server": notes["server"],
                          "load": notes["load"], "kinds": notes["kinds"],
                          "startup": comp, "worst_factor": worst, "seeds": CHECK_SEEDS}))
        return 0
    out = stdout_console()
    out.print(f"[bold]phaselab calibrate {escape(args.trace)}[/bold] -> {escape(args.out)}")
    for c in comments[1:]:
        out.print(c, markup=False)
    t = Table(title=f"Start-up markers, ms after RUNNING: measured vs simulated with "
                    f"{args.out} (median over workers; {CHECK_SEEDS} seeds)",
              title_justify="left")
    for c in ("marker", "measured", "simulated", "factor", "after wait: measured",
              "simulated", "factor"):
        t.add_column(c, justify="left" if c == "marker" else "right")
    for m, c in comp.items():
        sw = c["since_wait"] or {}
        t.add_row(m, str(c["measured_ms"]), str(c["simulated_ms"]), str(c["factor"]),
                  *(str(sw.get(k, "")) for k in ("measured_ms", "simulated_ms", "factor")))
    out.print(t)
    out.print(f"Worst factor {worst}. Simulate: phaselab run {args.out}", markup=False)
    return 0
