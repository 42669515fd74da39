"""`phaselab upstream PATH`: run the user's own checkout of the upstream tool, unmodified,
against the embedded server, record every statement, and judge the trace honestly.

Glue only: the recorder, the statement map, the driver and the judging live in upstream/;
the server is real_backend's launcher with upstream/server_shim.py loaded into it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from phaselab import report
from phaselab.errors import UsageError
from phaselab.files import write_atomically
from phaselab.timeline import summarize
from protocol.trace import Trace, dumps
from real_backend.embedded_server import ServerProcess
from upstream import launch, recording, server_shim, statement_map, venv
from upstream.convert import ConvertError, RunFacts, convert
from upstream.judging import judge_recorded

NAME = "upstream"
HELP = "run an unmodified upstream checkout against the embedded server and judge its trace"
BENCH_TABLE = "PHASELAB_BENCH"


def add_arguments(p) -> None:
    p.add_argument("path", metavar="PATH", help="your checkout of the upstream tool")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=2, help="per worker")
    p.add_argument("--warmup", type=int, default=4, metavar="S",
                   help="whole seconds (the upstream's templates hold integers)")
    p.add_argument("--measure", type=int, default=8, metavar="S", help="whole seconds")
    p.add_argument("--map", metavar="FILE",
                   help="statement map (default: the one in upstream/maps/ for the checkout's "
                        "commit)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="the run step's limit; then it is stopped and cleaned up")
    p.add_argument("--keep", metavar="DIR",
                   help="copy the recording (per-process logs, outputs, shim log) here")
    p.add_argument("--trace", metavar="FILE", help="write the converted JSON-lines trace here")
    p.add_argument("--json", action="store_true")


def _commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def resolve(args) -> tuple[Path, statement_map.StatementMap, str | None]:
    """Check every argument before anything starts; UsageError names the argument."""
    for name, v, lo in (("--workers", args.workers, 1), ("--connections", args.connections, 1),
                        ("--warmup", args.warmup, 0), ("--measure", args.measure, 1)):
        if v < lo:
            raise UsageError(f"{name} must be >= {lo}, not {v}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0, not {args.timeout}")
    path = Path(args.path).expanduser().resolve()
    if not path.is_dir():
        raise UsageError(f"PATH {args.path}: not a folder (give your checkout of the upstream)")
    try:
        venv.requirements(path)
    except venv.VenvError as exc:
        raise UsageError(f"PATH {args.path}: {exc}") from None
    commit = _commit(path)
    map_path = Path(args.map) if args.map else statement_map.for_version(commit)
    if map_path is None:
        known = ", ".join(p.name for p in statement_map.available())
        raise UsageError(f"PATH {args.path}: no statement map for commit {commit or 'unknown'} "
                         f"(maps: {known}); give one with --map FILE")
    try:
        smap = statement_map.load(map_path)
    except statement_map.MapError as exc:
        raise UsageError(f"--map: {exc}") from None
    driver_needs = path / "scripts" / "run_worker.py"
    if smap.tool["driver"] == "flakebench" and not driver_needs.is_file():
        raise UsageError(f"PATH {args.path}: no scripts/run_worker.py; is this a "
                         f"{smap.tool['name']} checkout?")
    for name, f in (("--trace", args.trace), ("--keep", args.keep)):
        if f and not Path(f).expanduser().resolve().parent.is_dir():
            raise UsageError(f"{name} {f}: the folder it would go in does not exist")
    return path, smap, commit


def _say(console: Console, quiet: bool):
    def say(what: str, info: dict) -> None:
        if quiet and what == "message":
            return
        text = {"venv": info.get("text"), "server": "starting the embedded server",
                "step": f"step {info.get('step')}",
                "message": f"  {info.get('step')}: " + ", ".join(
                    f"{k}={v}" for k, v in info.items() if k not in ("step", "db_times")),
                "convert": "converting the recording to a trace",
                "cleanup": "stopping the server, removing the recording"}.get(what, what)
        console.print(f"[dim]upstream: {escape(str(text))}[/dim]")
    return say


def run(args) -> int:
    path, smap, commit = resolve(args)
    result, _conv, verdict, interrupted = execute(args, path, smap, commit)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        _render(Console(), result, verdict)
    if interrupted:
        return 130
    return 0 if result["completed"] and verdict is not None and verdict["ok"] else 1


def execute(args, path: Path, smap, commit: str | None):
    """One recorded run, converted and judged: (result, conversion, verdict, interrupted).
    Everything it started is gone when it returns, whatever happened."""
    err = Console(stderr=True)
    say = _say(err, False)
    try:
        vdir = venv.ensure(path, lambda s: say("venv", {"text": s}))
    except venv.VenvError as exc:
        raise UsageError(f"PATH {args.path}: {exc}") from None
    t_start = time.monotonic()
    record_dir = Path(tempfile.mkdtemp(prefix="phaselab-upstream-"))
    server = None
    shim_notes: list[dict] = []
    try:
        say("server", {})
        server = ServerProcess(shim="upstream.server_shim")
        kw = server.kwargs()
        redirect = {k: kw[k] for k in ("host", "port", "protocol", "account", "user",
                                       "password")}
        recording_conf = {"redirect": redirect, "loggers": smap.recording.get("loggers", []),
                          "log_level": smap.recording.get("log_level", "INFO"),
                          "wraps": smap.recording.get("wrap", [])}
        settings = {"SNOWFLAKE_ACCOUNT": kw["account"], "SNOWFLAKE_USER": kw["user"],
                    "SNOWFLAKE_PASSWORD": kw["password"], "APP_PORT": "9",
                    "TMPDIR": str(record_dir), **smap.settings}
        params = {"table": BENCH_TABLE, "database": smap.settings.get("RESULTS_DATABASE"),
                  "schema": smap.settings.get("RESULTS_SCHEMA"), "workers": args.workers,
                  "connections": args.connections, "warmup_s": args.warmup,
                  "measure_s": args.measure}
        outcome = launch.run_target(path, vdir, record_dir, {"driver": smap.tool["driver"],
                                    "setup": smap.tool.get("setup", [])}, recording_conf,
                                    settings, params, args.timeout, progress=say)
        shim_notes = _read_jsonl(Path(server.dir) / "shim.jsonl")
        if args.keep:
            shutil.copy(server.log_path, record_dir / "server.log")
            (record_dir / "shim.jsonl").write_text(
                "".join(json.dumps(n) + "\n" for n in shim_notes))
            launch.keep_outputs(record_dir, Path(args.keep).expanduser().resolve())
    except KeyboardInterrupt:
        outcome = None
    finally:
        say("cleanup", {})
        if server is not None:
            server.stop()
    try:
        if outcome is None:
            return ({"completed": False, "problems": ["interrupted before the run started"]},
                    None, None, True)
        return _judge(args, smap, commit, outcome, record_dir, shim_notes,
                      time.monotonic() - t_start)
    finally:
        shutil.rmtree(record_dir, ignore_errors=True)


def _read_jsonl(p: Path) -> list[dict]:
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def shim_summary(notes: list[dict]) -> list[dict]:
    """Each shim rule or refusal with how often it was used and one example statement."""
    groups: dict[tuple, dict] = {}
    for n in notes:
        if n.get("what") == "rewrite":
            keys = [("rewrite", r) for r in n.get("rules", [])]
        elif n.get("what") == "tolerated":
            keys = [("tolerated", n.get("rule"))]
        else:
            keys = [("refused", (n.get("error") or "")[:80])]
        for key in keys:
            g = groups.setdefault(key, {"kind": key[0], "rule": key[1], "count": 0,
                                        "example": (n.get("sql") or "")[:120]})
            g["count"] += 1
    why = {r["name"]: r["why"] for r in server_shim.rules()}
    for g in groups.values():
        g["why"] = why.get(g["rule"], "the embedded server could not run it; answered as an "
                           "SQL error so the client fails fast instead of retrying")
    return sorted(groups.values(), key=lambda g: (g["kind"], -g["count"]))


def _judge(args, smap, commit, outcome, record_dir, shim_notes, wall_s):
    fin = outcome.message("finished")
    created = outcome.message("created")
    run_id = fin.get("run_id") or created.get("run_id")
    steps = [{"step": s.name, "exit_code": s.code, "wall_s": round(s.wall_s, 2),
              "timed_out": s.timed_out} for s in outcome.steps]
    problems = [outcome.error] if outcome.error else []
    if outcome.interrupted:
        problems.append("interrupted (Ctrl-C): the run was stopped and cleaned up")
    result = {"checkout": str(Path(args.path).resolve()), "commit": commit,
              "map": smap.path.name, "run_id": run_id, "steps": steps,
              "workers": args.workers, "connections": args.connections,
              "warmup_s": args.warmup, "measure_s": args.measure,
              "worker_exit_codes": fin.get("worker_exit_codes"),
              "status": fin.get("status"), "phase": fin.get("phase"),
              "shims": shim_summary(shim_notes), "wall_s": round(wall_s, 1),
              "trace": args.trace, "kept": args.keep}
    verdict = conv = None
    if run_id:
        facts = RunFacts(run_id, args.workers, args.connections, args.warmup, args.measure,
                         fin.get("worker_exit_codes") or [], fin.get("status"),
                         fin.get("phase"), "interrupted" if outcome.interrupted else (
                             "finished" if fin else "crash"),
                         db_times=fin.get("db_times") or {})
        try:
            conv = convert(recording.read_dir(record_dir), smap, facts,
                           scenario={"command": "upstream", "tool": smap.label})
        except ConvertError as exc:
            problems.append(f"the recording could not be converted: {exc}")
            conv = None
        if conv is not None:
            if args.trace:
                write_atomically(args.trace, (dumps(r) for r in conv.records))
            trace = Trace(conv.records)
            judgements = judge_recorded(trace, conv.coverage)
            verdict = report.verdict(judgements)
            result.update(_statement_summary(conv), summary=summarize(trace),
                          coverage=conv.coverage,
                          properties=[{"property": j.property_id, "outcome": j.outcome,
                                       "first": j.violations[0].message if j.violations
                                       else None, "not_judged": j.not_judged}
                                      for j in judgements],
                          verdict=report.json_verdict(verdict))
    completed = (not problems and fin.get("status") == "COMPLETED"
                 and all(c == 0 for c in (fin.get("worker_exit_codes") or [1])))
    if not completed and not problems:
        problems.append(f"the run did not complete cleanly: STATUS {fin.get('status')}, "
                        f"worker exit codes {fin.get('worker_exit_codes')}")
    result["completed"], result["problems"] = completed, problems
    return result, conv, verdict, outcome.interrupted


def _statement_summary(conv) -> dict:
    s = conv.stats
    lat = s["latency_s"]

    def pct(xs, q):
        return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else None
    return {"statements": {
        "control_by_op": dict(sorted(s["ops"].items())),
        "benchmark_queries": s["queries"],
        "by_actor": s["statements"],
        "unmapped": sum(s["unmapped"].values()),
        "unmapped_top": Counter(s["unmapped"]).most_common(8),
        "errors": Counter(s["errors"]).most_common(8),
        "setup": s["setup_statements"], "harness": s["harness_statements"],
        "latency_ms": {k: {"n": len(v), "p50": pct(v, 0.5), "p90": pct(v, 0.9),
                           "max": round(1000 * v[-1], 1)} for k, v in sorted(lat.items()) if v},
        "truncated_lines": s["bad_lines"]}}


def _render(out: Console, r: dict, verdict: dict | None) -> None:
    out.print(f"[bold]phaselab upstream — {escape(r['map'])} on {escape(r['checkout'])} "
              f"(commit {escape(str(r['commit'])[:12])}), run {escape(str(r['run_id']))}, "
              f"{r['workers']} workers x {r['connections']} connections, "
              f"w={r['warmup_s']} s, d={r['measure_s']} s[/bold]")
    t = Table(title="Steps (the checkout's own processes)", title_justify="left")
    for c in ("step", "exit code", "wall s"):
        t.add_column(c)
    for s in r["steps"]:
        t.add_row(s["step"], str(s["exit_code"]) + (" (timed out)" if s["timed_out"] else ""),
                  f"{s['wall_s']:.1f}")
    out.print(t)
    out.print(f"Final STATUS {r['status']} / PHASE {r['phase']}; worker exit codes "
              f"{r['worker_exit_codes']}", markup=False)
    if "summary" in r:
        report.render_run(out, "Run as recorded", r["summary"], verdict, [])
        st = r["statements"]
        out.print(f"Statements: {sum(st['control_by_op'].values())} control "
                  f"({', '.join(f'{k} {v}' for k, v in st['control_by_op'].items())}), "
                  f"{st['benchmark_queries']} benchmark queries, {st['unmapped']} other "
                  f"(not in the map), {st['setup']} set-up, {st['harness']} harness.",
                  markup=False)
        pt = Table(title="Verdict per property", title_justify="left")
        for c in ("property", "outcome", "detail"):
            pt.add_column(c)
        for p in r["properties"]:
            color = {"passed": "green", "failed": "red"}.get(p["outcome"], "yellow")
            pt.add_row(p["property"], f"[{color}]{p['outcome']}[/{color}]",
                       escape(p["first"] or p["not_judged"] or ""))
        out.print(pt)
    if r["shims"]:
        sh = Table(title="Server-side shims used (upstream/server_shim.py)", title_justify="left")
        for c in ("kind", "rule / error", "times", "why", "example"):
            sh.add_column(c)
        for g in r["shims"]:
            sh.add_row(g["kind"], escape(str(g["rule"])), str(g["count"]), escape(g["why"]),
                       escape(g["example"]))
        out.print(sh)
    for p in r["problems"]:
        out.print(f"[red]{escape(str(p))}[/red]")
    out.print(f"Wall {r['wall_s']} s; server stopped, recording removed"
              + (f"; trace in {r['trace']}" if r["trace"] else "")
              + (f"; recording kept in {r['kept']}" if r["kept"] else ""), markup=False)
