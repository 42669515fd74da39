"""Abuse test of `phaselab smoke` (not run by CI): N live runs, each killed at a random instant
in a random way, and what each left behind and how long it took to end.

    .venv/bin/python benchmarks/abuse_smoke.py --runs 30 --seed 1 --out out/abuse.md

Kill kinds: worker-kill (SIGKILL one worker process), parent-int / parent-term / parent-hup
(SIGINT, SIGTERM, SIGHUP to the smoke process), parent-kill (SIGKILL to it: only the
watchdogs can clean up), server-kill (SIGKILL the embedded server), server-stop (SIGSTOP it).
Each run gets its own TMPDIR, so every directory it makes is counted. After the smoke
process has exited, the script waits up to --settle seconds for its descendants and
directories to go (the watchdogs need about a second), then counts what is left: processes
(every descendant ever seen), embedded servers among them, directories in TMPDIR, and schemas
the report says were not dropped (the server itself never survives a run). `exit_s` is kill to
smoke process exit, or for parent-kill kill to the last leftover gone. Exit 1 if anything was
left or a run ended later than --bound seconds after its kill.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import proclist  # noqa: E402
KINDS = ("worker-kill", "parent-int", "parent-term", "parent-hup", "parent-kill",
         "server-kill", "server-stop")
SIGNALS = {"parent-int": signal.SIGINT, "parent-term": signal.SIGTERM,
           "parent-hup": signal.SIGHUP, "parent-kill": signal.SIGKILL}


def _as_from_a_terminal() -> None:
    """A background job of a non-interactive shell starts with SIGINT ignored, and under
    nohup SIGHUP too; Python keeps them so until smoke installs its own handlers (a signal
    that lands while it still imports would be ignored). A smoke run started from a terminal
    has them at their defaults: test that."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


_descendants = proclist.descendants  # the one /proc reader, shared with the live tests
_alive = proclist.alive


def one_run(i: int, kind: str, at_s: float, args, base: str) -> dict:
    tmp = tempfile.mkdtemp(prefix=f"run{i:02d}-", dir=base)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env["TMPDIR"] = tmp
    cmd = [sys.executable, "-m", "phaselab.cli", "smoke", "--json", "--variant", args.variant]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True, preexec_fn=_as_from_a_terminal)
    seen: dict[int, str] = {}
    target = None
    while time.monotonic() - t0 < at_s and p.poll() is None:
        _descendants(p.pid, seen)
        time.sleep(0.1)
    t_kill = time.monotonic()
    if p.poll() is None:
        _descendants(p.pid, seen)
        if kind in SIGNALS:
            target, sig = p.pid, SIGNALS[kind]
        else:
            want = "worker_main" if kind == "worker-kill" else "embedded_server_main"
            sig = signal.SIGSTOP if kind == "server-stop" else signal.SIGKILL
            # at an instant before any such process exists, wait for the first one
            while p.poll() is None and target is None:
                cands = [pid for pid, c in _descendants(p.pid, seen).items()
                         if want in c and _alive(pid)]
                target = random.Random(i).choice(sorted(cands)) if cands else None
                if target is None:
                    time.sleep(0.05)
            t_kill = time.monotonic()
        if target is not None:
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                target = None
    try:
        while p.poll() is None and time.monotonic() - t_kill < args.bound * 3:
            _descendants(p.pid, seen)
            time.sleep(0.1)
        if p.poll() is None:
            p.kill()
        stdout, stderr = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    t_exit = time.monotonic()
    deadline = t_exit + args.settle
    while time.monotonic() < deadline:
        if not [pid for pid in seen if _alive(pid)] and not os.listdir(tmp):
            break
        time.sleep(0.1)
    t_clean = time.monotonic()
    left = {pid: c for pid, c in seen.items() if _alive(pid)}
    dirs = os.listdir(tmp)
    for pid in left:  # leave the machine as we found it (ours, by pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        out = json.loads(stdout) if stdout.strip() else {}
    except ValueError:
        out = {}
    schemas = 0 if not out or out.get("schema_dropped", True) else 1
    exit_s = (t_clean if kind == "parent-kill" else t_exit) - t_kill
    return {"run": i, "kind": kind, "at_s": round(at_s, 1), "rc": p.returncode,
            "status": out.get("status"), "reason": out.get("reason"),
            "exit_s": round(exit_s, 1), "procs_left": len(left),
            "servers_left": sum("embedded_server_main" in c for c in left.values()),
            "dirs_left": len(dirs), "schemas_left": schemas,
            "tracebacks": stderr.count("Traceback"),
            "deaths": len(out.get("deaths") or []),
            "hit": target is not None}


def table(rows: list[dict], bound: float) -> str:
    cols = ("run", "kind", "at_s", "hit", "rc", "status", "reason", "exit_s", "procs_left",
            "servers_left", "dirs_left", "schemas_left", "tracebacks", "deaths")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    lines.append("")
    lines.append(f"Totals over {len(rows)} runs: processes left "
                 f"{sum(r['procs_left'] for r in rows)}, servers left "
                 f"{sum(r['servers_left'] for r in rows)}, directories left "
                 f"{sum(r['dirs_left'] for r in rows)}, schemas left "
                 f"{sum(r['schemas_left'] for r in rows)}, tracebacks "
                 f"{sum(r['tracebacks'] for r in rows)}; slowest exit "
                 f"{max(r['exit_s'] for r in rows):.1f} s (bound {bound:g} s).")
    per = {}
    for r in rows:
        per.setdefault(r["kind"], []).append(r["exit_s"])
    lines.append("")
    lines.append("| kind | runs | exit_s max | exit_s median |")
    lines.append("|---|---|---|---|")
    for k, v in sorted(per.items()):
        v = sorted(v)
        lines.append(f"| {k} | {len(v)} | {v[-1]:.1f} | {v[len(v) // 2]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help=f"comma-separated, from: {', '.join(KINDS)}")
    ap.add_argument("--variant", default="fixed")
    ap.add_argument("--max-at", type=float, default=16.0,
                    help="kill instants are uniform in [0.5, this] s after launch")
    ap.add_argument("--bound", type=float, default=30.0,
                    help="a run must end within this many seconds of its kill")
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad or args.runs < 1:
        print(f"--kinds: unknown {bad}; allowed: {', '.join(KINDS)}" if bad
              else "--runs must be >= 1", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    base = tempfile.mkdtemp(prefix="phaselab-abuse-")
    rows = []
    try:
        for i in range(args.runs):
            kind = kinds[i % len(kinds)] if args.runs >= len(kinds) else rng.choice(kinds)
            at = rng.uniform(0.5, args.max_at)
            r = one_run(i, kind, at, args, base)
            rows.append(r)
            print(f"[{i + 1}/{args.runs}] {kind} at {at:.1f} s: rc {r['rc']}, exit "
                  f"{r['exit_s']} s, left {r['procs_left']} procs / {r['dirs_left']} dirs",
                  file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = table(rows, args.bound)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(json.dumps(rows) if args.json else text)
    bad_runs = [r for r in rows if r["procs_left"] or r["dirs_left"] or r["schemas_left"]
                or r["exit_s"] > args.bound]
    return 1 if bad_runs else 0


if __name__ == "__main__":
    sys.exit(main())
