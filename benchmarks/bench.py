"""Speed targets of phaselab, each printed beside its measured figure (CI does not run this).

    .venv/bin/python benchmarks/bench.py [--only SECTION]... [--check] [--json]
        [--write docs/performance.md] [--plot FILE] [--note TEXT]

Rows come from section modules in benchmarks/, each exposing `measure(progress) -> list[dict]`
with keys what, target, measured, met (True / False / None: no target) and note:
`sim_speed` (the simulator: interpreter, baseline, large and 1,000-worker runs, growth curve)
and `parallel` (the main-job sweep and explore on 1 and 2 processes, Dask). `--check` exits 1 when any target is missed, so a
regression is seen when the benchmark is run by hand or nightly. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

SECTIONS = ("sim_speed", "parallel")
MISSED_EXIT = 1


def section_modules(only: list[str] | None = None) -> list[tuple[str, object]]:
    """(name, module) for each section to run: all, or those named in `only`."""
    return [(name, importlib.import_module(name)) for name in SECTIONS
            if not only or name in only]


def gather(sections: list[tuple[str, object]], progress: Callable[[str], None]) -> list[dict]:
    rows = []
    for name, mod in sections:
        for r in mod.measure(lambda msg, _n=name: progress(f"[{_n}] {msg}")):
            rows.append({"section": name, **r})
    return rows


def verdict(rows: list[dict]) -> int:
    """The exit code of --check: MISSED_EXIT when any row with a target missed it."""
    return MISSED_EXIT if any(r.get("met") is False for r in rows) else 0


def met_word(met: bool | None) -> str:
    return {True: "met", False: "**MISSED**", None: ""}[met]


def table(rows: list[dict]) -> list[str]:
    lines = ["| what | target | measured | met | note |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['target']} | {r['measured']} | {met_word(r['met'])} "
                     f"| {r.get('note', '')} |")
    return lines


LIMITS = """\
## Where the time goes, and what limits it

The profile (`.venv/bin/python benchmarks/profile_runs.py --write docs/performance-profile.md`,
tables in [performance-profile.md](performance-profile.md)) shows no single hot spot left:
the cost of a big run is spread over SimPy's event loop (heap, step, process resume), the
interpreter's dispatch, the protocol's own actor code and the trace records. Each speed row
states the limit of the bare event loop: the run's SimPy event count at the bare loop's cost
per event, i.e. the speed if everything but SimPy were free.

**Idle main-loop ticks are skipped.** Every worker's main loop wakes every
`main_loop_sleep_s` (50 ms), and most wake-ups find no poll, reconcile or heartbeat due: at
1,000 workers they were 64% of a run's SimPy events. The loop's pause is now a `Tick` that
carries what the next iteration would act on, and the simulator sleeps through the
iterations that would find nothing due (`SimDriver.idle_until`). Each tick still draws its
tie-breaking jitter, from a stream of its process's own, so a trace is byte-identical with
skipping on or off (tests/test_idle_ticks.py); moving those draws off the run's one stream
changed every trace once (the pinned digests were re-pinned and two saved regressions
re-seeded). The 1,000 x 10 run went from 1.65 M to 0.74 M SimPy events.

**What limits the 100 x 100 run is bursts, not events.** Its 7.1 M queries are simulated in
about 63,000 bursts (10,000 benchmark sessions, each a burst per 20 s horizon or phase
change), and a burst costs tens of microseconds of Python and numpy (sampling, cumulative
sums, the query_batch record with its start times, the task's generator frames): that, not
the event loop, is most of the run's time. Reaching 100x would take bursts per worker
instead of per session (one numpy draw for all of a worker's connections), which changes
what the task actors are; it is the next step, not done here.

Why the growth is not quite linear: the work (SimPy events, statements, bursts) grows in
proportion to workers x connections at a fixed connection count, but the CPU cost of each
event grows with the run's size (the growth row's note gives it per run): the event heap
holds one entry per waiting task (log n per push and pop), and a bigger run's working set
(its generators, pending events and the trace it keeps) fits the caches less well.

What was removed without changing a trace: SimPy's Timeout constructor chain on every sleep
and statement wait (`sim/fastevents.py` builds the same event and queues it under the same
key), `Environment.step` as a call per event (inlined run loop), the isinstance chains and
one or two generator frames per statement, burst or note (handlers and statement meanings
found by type once), a Python method per random draw (the stream is served by C-level
iterators over batches of Python floats), two numpy passes per burst when there is no think
time, and the cyclic garbage collector during a run (`sim/gcpause.py`: it re-traversed the
surviving trace records, about a fifth of a 1,000-worker run, while a run makes almost no
cyclic garbage).
"""


def markdown(rows: list[dict], machine: str, note: str, plot_link: str | None) -> str:
    lines = ["# Performance", "",
             "Measured by `.venv/bin/python benchmarks/bench.py --write docs/performance.md` "
             "(CI does not run it; `--check` exits 1 when a target is missed). Wall times "
             "depend on the machine and on what else runs; ratios are taken within one run, "
             "the compared loops interleaved, so that both sides see the same machine. "
             f"This run: {machine}." + (f" {note}" if note else ""), ""]
    lines += table(rows)
    if plot_link:
        lines += ["", "## Growth", "",
                  "Wall time of one run against workers x connections (log-log; the dashed "
                  "line is linear growth from the smallest run):", "",
                  f"![simulator cost against run size]({plot_link})"]
    lines += ["", LIMITS]
    return "\n".join(lines)


def machine_line(load_start: float) -> str:
    return (f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, load average {load_start:.1f} at start, "
            f"{os.getloadavg()[0]:.1f} at end")


def growth_of(rows: list[dict]) -> dict | None:
    for r in rows:
        if "growth" in r.get("data", {}):
            return r["data"]
    return None


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench.py", description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="SECTION",
                    choices=SECTIONS,
                    help="run only this section (repeatable)")
    ap.add_argument("--check", action="store_true",
                    help=f"exit {MISSED_EXIT} when any target is missed")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--write", metavar="FILE", help="write the markdown report to FILE")
    ap.add_argument("--plot", metavar="FILE",
                    help="the growth curve PNG (default with --write: img/sim-growth.png "
                         "beside FILE)")
    ap.add_argument("--note", default="", help="a sentence for the report (e.g. the load)")
    args = ap.parse_args(argv)
    for opt in ("write", "plot"):
        path = getattr(args, opt)
        if path is not None and not Path(path).resolve().parent.is_dir():
            ap.error(f"--{opt} {path}: its folder does not exist")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]

    def progress(msg: str) -> None:
        print(f"bench {time.perf_counter() - t0:6.1f} s  {msg}", file=sys.stderr, flush=True)

    rows = gather(section_modules(args.only), progress)
    machine = machine_line(load_start)
    plot_path, plot_link = args.plot, None
    if plot_path is None and args.write:
        (Path(args.write).resolve().parent / "img").mkdir(exist_ok=True)
        plot_path = str(Path(args.write).resolve().parent / "img" / "sim-growth.png")
    growth = growth_of(rows)
    if plot_path and growth is not None:
        from growth_plot import plot
        from phaselab.files import write_via_temp
        write_via_temp(plot_path, lambda tmp: plot(growth["growth"], growth.get("large"), tmp,
                                                   machine), suffix=".png")
        plot_link = os.path.relpath(plot_path, Path(args.write).resolve().parent
                                    if args.write else Path.cwd())
    text = markdown(rows, machine, args.note, plot_link)
    if args.json:
        print(json.dumps({"machine": machine, "note": args.note, "rows": rows,
                          "plot": plot_path}, indent=1, default=str))
    else:
        print(text)
    if args.write:
        from phaselab.files import write_via_temp
        write_via_temp(args.write, lambda tmp: Path(tmp).write_text(text + "\n",
                                                                    encoding="utf-8"))
    missed = [r["what"] for r in rows if r.get("met") is False]
    if missed:
        progress(f"{len(missed)} target(s) missed: " + "; ".join(missed))
    return verdict(rows) if args.check else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
