"""`phaselab smoke`: one live run against the embedded server or Snowflake, judged by the
same checkers as a simulation, with the measured latencies and load."""
from __future__ import annotations

import json
import signal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from phaselab import live_faults, smoke_modes
from phaselab import report, smoke
from phaselab.reports import run_report
from phaselab.errors import UsageError
from phaselab.files import check_output, write_atomically
from phaselab.inputs import budget
from phaselab.inputs.numbers import COUNT, seconds, whole
from phaselab.timeline import summarize
from protocol.checks import judge
from protocol.phases import TERMINAL
from protocol.trace import Trace, dumps
from protocol.variants import UnknownVariant, variant
from real_backend.live import BACKENDS, LiveSettings, LiveSetupError, live_run

NAME = "smoke"
HELP = "one live run (embedded fakesnow server or Snowflake), its timeline and verdict"


def add_arguments(p) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="embedded")
    p.add_argument("--workers", type=COUNT, default=3)
    p.add_argument("--connections", type=COUNT, default=4, help="per worker")
    p.add_argument("--warmup", type=seconds(0), default=3.0, metavar="S")
    p.add_argument("--measure", type=seconds(0, strict=True), default=5.0, metavar="S")
    p.add_argument("--think-time", type=seconds(0, maximum=3600), default=2.0, metavar="S",
                   help="pause between a benchmark task's queries")
    p.add_argument("--variant", default="fixed")
    p.add_argument("--mode", choices=smoke_modes.MODES, default="CONCURRENCY",
                   help="load mode (FIND_MAX: steps up to workers x connections, spawning "
                        "workers mid-run; QPS: holds --target-qps); phaselab/smoke_modes.py")
    p.add_argument("--step", type=float, default=3.0, metavar="S",
                   help="FIND_MAX step length / QPS evaluation period")
    p.add_argument("--target-qps", type=float, default=4.0, help="QPS mode's target")
    p.add_argument("--connection-name", help="a connections.toml entry (snowflake)")
    p.add_argument("--statement-timeout", type=seconds(0, strict=True, maximum=3600),
                   default=None, metavar="S",
                   help="connector timeouts (default 1 s embedded, 10 s Snowflake); the "
                        "trace declares L = 2 x this + 1 s")
    p.add_argument("--login-timeout", type=seconds(0, strict=True, maximum=3600),
                   default=None, metavar="S",
                   help="default 10 s embedded, 60 s Snowflake (or the named connection's)")
    p.add_argument("--control-tag", default="phaselab",
                   help="QUERY_TAG of control connections (the reference uses flakebench)")
    p.add_argument("--faults", metavar="SPEC",
                   help="inject faults (phaselab/live_faults.py): a TOML file with a [faults] "
                        "table, or inline, e.g. crash=worker-1:hook,fail=merge_heartbeat:0.3,"
                        "stall=3@4 (keys: " + live_faults.ALLOWED + ")")
    p.add_argument("--seed", type=whole(0), default=0,
                   help="seeds the fault draws (each process and task derives its own)")
    p.add_argument("--trace", metavar="FILE", help="write the merged JSON-lines trace here")
    p.add_argument("--allow-large", action="store_true",
                   help="a run above the size limits for the backend (docs/scenarios.md)")
    run_report.add_options(p)
    p.add_argument("--json", action="store_true")


def _check_args(args) -> None:
    for name, v, lo, strict in (("--workers", args.workers, 1, False),
                                ("--connections", args.connections, 1, False),
                                ("--warmup", args.warmup, 0, False),
                                ("--measure", args.measure, 0, True),
                                ("--think-time", args.think_time, 0, False),
                                ("--statement-timeout", args.statement_timeout, 0, True),
                                ("--login-timeout", args.login_timeout, 0, True),
                                ("--step", args.step, 0, True),
                                ("--target-qps", args.target_qps, 0, True)):
        if v is None:
            continue
        if (v <= lo) if strict else (v < lo):
            raise UsageError(f"{name} must be {'>' if strict else '>='} {lo}, not {v}")
    if args.trace:
        check_output(args.trace, "--trace")
    budget.check_live(args.backend, args.workers, args.connections, args.warmup + args.measure,
                      args.allow_large)
    if args.connection_name and args.backend != "snowflake":
        raise UsageError("--connection-name is for --backend snowflake")


class _Progress:
    """A one-line status on stderr while the run goes (rich), silent when not a terminal."""

    def __init__(self, console: Console):
        self.console = console
        self.status = console.status("starting") if console.is_terminal else None

    def __enter__(self):
        if self.status:
            self.status.__enter__()
        return self

    def __exit__(self, *exc):
        if self.status:
            self.status.__exit__(*exc)

    def __call__(self, what: str, info: dict) -> None:
        if what == "running":
            text = (f"run t={info['t']:.1f} s  {info['status']}  workers alive "
                    f"{info['workers']}  (deadline {info['deadline']:.0f} s)")
        else:
            text = {"server": "starting the embedded server",
                    "connect": f"connecting to {info.get('where')}",
                    "schema": f"creating schema {info.get('schema')}",
                    "stopping": f"stopping ({info.get('reason')})",
                    "cleanup": _cleanup_text(info)}.get(what, what)
            if not self.status:
                self.console.print(f"[dim]smoke: {escape(text)}[/dim]")
        if self.status:
            self.status.update(text)


def _cleanup_text(info: dict) -> str:
    """Only what is being done: no schema to drop before one was created, no server on
    Snowflake."""
    steps = []
    if info.get("schema"):
        steps.append(f"dropping schema {info['schema']}")
    if info.get("server") == "stop":
        steps.append("stopping the embedded server")
    elif info.get("server") == "lost":
        steps.append("removing the lost server's data")
    steps.append("removing the run's temporary files")
    return ", ".join(steps)


class _StopSignals:
    """SIGTERM and SIGHUP end a smoke run the way Ctrl-C does (KeyboardInterrupt in the main
    thread): the run stops, cleans up and exits 130; without this they would kill the process
    outright and leave the server, the workers and the run directory to the watchdogs."""

    def __enter__(self):
        def interrupt(signum, frame):
            raise KeyboardInterrupt(signal.Signals(signum).name)
        self.old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
        return self

    def __exit__(self, *exc):
        for sig, old in self.old.items():
            signal.signal(sig, old)


def run(args) -> int:
    _check_args(args)
    wanted = run_report.check_options(args)
    try:
        sw = variant(args.variant)
    except UnknownVariant as exc:
        raise UsageError(f"--variant: {exc}") from None
    cfg = smoke.smoke_config(args.workers, args.connections, args.warmup, args.measure,
                             args.think_time, backend=args.backend)
    cfg = smoke_modes.apply_mode(cfg, args.mode, args.workers, args.connections, args.step,
                                 args.target_qps)
    faults = (live_faults.load(args.faults, args.workers, args.warmup + args.measure,
                               args.backend) if args.faults else None)
    settings = LiveSettings(backend=args.backend, statement_timeout_s=args.statement_timeout,
                            login_timeout_s=args.login_timeout,
                            connection_name=args.connection_name, control_tag=args.control_tag,
                            faults=faults, fault_seed=args.seed)
    err = Console(stderr=True)
    try:
        with _StopSignals(), _Progress(err) as prog:
            res = live_run(cfg, sw, args.variant, settings,
                           scenario={"command": "smoke", "backend": args.backend,
                                     **({"mode": args.mode} if args.mode != "CONCURRENCY"
                                        else {})}, progress=prog)
    except LiveSetupError as exc:
        raise UsageError(f"--backend {args.backend}: {exc}") from None
    except KeyboardInterrupt:  # during set-up: live_run has already cleaned up
        err.print("smoke: interrupted; everything it had started is removed",
                  markup=False, highlight=False)
        return 130
    if args.trace and res.records:
        write_atomically(args.trace, (dumps(r) for r in res.records))
    trace = Trace(res.records)
    summary = summarize(trace)
    verdict = report.verdict(judge(trace))
    lat = smoke.latency_table(smoke.statement_latencies(res.records))
    bn = smoke.bottleneck(res.records, trace.header)
    slow = smoke.over_bound(res.records, trace.header)
    fails = smoke.failures(res.records)
    server = smoke.server_comparison(summary["tags"], res.run_id, res.server_counts)
    died = smoke.deaths(res.records)
    completed = res.reason == "finished" and res.status == "COMPLETED"
    # under faults, FAILED or CANCELLED can be the right end (a killed worker fails the
    # run); what must hold is that the run ended on its own in a terminal status
    ended = res.reason == "finished" and res.status in TERMINAL
    fired = live_faults.describe(res.records) if faults is not None else []
    problems = []
    if faults is not None and not ended:
        problems.append(f"the run did not end in a terminal status: STATUS {res.status}, "
                        f"ended by {res.reason}" + (f" ({res.error})" if res.error else ""))
    elif faults is None and not completed:
        problems.append(f"the run did not complete: STATUS {res.status}, ended by "
                        f"{res.reason}" + (f" ({res.error})" if res.error else ""))
    if not res.schema_dropped:
        problems.append(f"schema {res.schema} may not have been dropped")
    title = (f"phaselab smoke — {args.backend} backend, run {res.run_id}, variant "
             f"{args.variant}, {args.workers} workers x {args.connections} connections")
    extra = run_report.finish(args, trace, title, summary, verdict, wanted)
    if args.json:
        print(json.dumps({
            "thresholds": extra["thresholds"], "plot": args.plot, "html": args.html,
            "backend": args.backend, "run_id": res.run_id, "schema": res.schema,
            "variant": args.variant, "status": res.status, "phase": res.phase,
            "reason": res.reason, "error": res.error, "completed": completed,
            "schema_dropped": res.schema_dropped, "schema_fate": res.schema_fate,
            "tables": res.tables,
            "wall_s": round(res.wall_s, 3),
            "setup_s": round(res.setup_s, 3), "server_start_s": res.server_start_s,
            "summary": summary, "verdict": report.json_verdict(verdict),
            "latency_ms": lat, "failures": fails, "over_L": slow, "bottleneck": bn,
            "server_counts": server, "L": trace.param("L"), "trace": args.trace,
            "deaths": died,
            "faults": None if faults is None else {
                "spec": faults.as_dict(), "seed": args.seed, "fired": fired},
            "problems": problems}, default=str))
    else:
        from phaselab.console import stdout_console
        out = stdout_console()
        report.render_run(out, f"phaselab smoke — {args.backend} backend, run {res.run_id}, "
                          f"variant {args.variant}, {args.workers} workers x "
                          f"{args.connections} connections", summary, verdict, [])
        if faults is not None:
            out.print("Faults injected (seed " + str(args.seed) + "): "
                      + ("; ".join(fired) if fired else "none fired"), markup=False)
        _render_deaths(out, died)
        _render_latency(out, lat, fails)
        _render_load(out, bn, slow, trace.param("L"))
        if server:
            _render_server(out, server)
        for p in problems:
            out.print(f"[red]{escape(str(p))}[/red]")
        if res.tables and res.tables != "standard" or args.backend == "snowflake":
            out.print(f"Control tables: {res.tables}", markup=False)
        out.print(f"Wall {res.wall_s:.1f} s (set-up {res.setup_s:.1f} s); schema {res.schema} "
                  f"{res.schema_fate}"
                  + (f"; trace in {args.trace}" if args.trace else ""), markup=False)
        for line in extra["lines"]:
            out.print(line, markup=False)
    if res.reason == "interrupted":
        return 130
    return extra["exit"](0 if verdict["ok"] and (ended if faults is not None else completed)
                         else 1)


def _render_deaths(out: Console, died: list[dict]) -> None:
    for d in died:
        how = f"killed by {d['signal']}" if d["signal"] else f"exited with code {d['code']}"
        seen = (f"noticed {d['after_s']:.1f} s later ({d['detected_by']})" if d["detected_by"]
                else "nothing in the run noticed it")
        out.print(f"[red]Worker death:[/red] {escape(d['worker'])} {how} at t={d['t']:.1f} s, "
                  f"not asked to stop; {escape(seen)}")


def _render_latency(out: Console, lat: dict, fails: dict) -> None:
    t = Table(title="Statement latency as measured (ms, successful statements)",
              title_justify="left")
    for c in ("statement", "n", "p50", "p90", "p99", "max", "failed"):
        t.add_column(c, justify="left" if c == "statement" else "right")
    for op, row in lat.items():
        f = fails.get(op)
        t.add_row(op, str(row["n"]), *(f"{row[k]:,.1f}" for k in ("p50", "p90", "p99", "max")),
                  f"{f['fail']} fail, {f['info']} unknown" if f else "")
    out.print(t)


def _render_load(out: Console, bn: dict, slow: list, L) -> None:
    ld = bn["load"]
    out.print(f"Load: {ld['control']} control statements + {ld['benchmark']} benchmark queries "
              f"in {ld['span_s']:.1f} s = {ld['rate_per_s']:.1f}/s (busiest second "
              f"{ld['peak_per_s']}); benchmark median {bn['benchmark_median_ms']} ms vs "
              f"{bn['idle_benchmark_ms']} ms on the idle server; server busy about "
              f"{bn['utilisation']:.0%} of the time")
    if bn["bottleneck"]:
        out.print("[yellow]The backend server was the bottleneck:[/yellow] "
                  + escape("; ".join(bn["reasons"])))
    else:
        out.print("The backend server was not the bottleneck.")
    for sat in bn.get("saturated", []):
        out.print(f"At t={sat['second']} s the server was saturated for about a second "
                  f"({sat['busy']:.0%} busy, mostly {', '.join(sat['kinds'])}): latencies "
                  f"measured then include queueing.", markup=False)
    if slow:
        out.print(f"[red]{len(slow)} statements took longer than L = {L} s[/red]: "
                  f"{escape(str(slow[:3]))}")


def _render_server(out: Console, server: dict) -> None:
    sources = server["sources"]
    t = Table(title="Benchmark queries per QUERY_TAG: the trace, and what Snowflake reports "
                    "(not totals)", title_justify="left")
    t.add_column("tag")
    t.add_column("trace", justify="right")
    for name, src in sources.items():
        t.add_column(f"{name} ({src['label']})", justify="right")
    for r in server["rows"]:
        t.add_row(r["tag"], str(r["trace"]),
                  *("n/a" if r[name] is None else str(r[name]) for name in sources))
    out.print(t)
    for name, src in sources.items():
        out.print(f"{name}: {src['label']}: {src['why']}", markup=False)
    over = [(r["tag"], n) for r in server["rows"] for n in r["over_trace"]]
    for tag, name in over:
        out.print(f"[red]{escape(name)} counts more queries for {escape(tag)} than the trace "
                  "recorded[/red]")
    out.print(server["note"], markup=False)
