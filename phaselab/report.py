"""Rendering one run's summary and verdict for the terminal (rich) and as JSON."""
from __future__ import annotations

from collections import OrderedDict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from phaselab.timeline import MARKERS


def verdict(judgements) -> dict:
    """protocol.checks.judge's outcome: violations grouped by property id, in check order, with
    a count and the first example; the properties the trace could not judge, with why; and how
    many passed. `ok` means nothing was violated (not judged is not a violation, nor a pass)."""
    groups: "OrderedDict[str, dict]" = OrderedDict()
    not_judged = []
    passed = 0
    for j in judgements:
        if j.not_judged is not None:
            not_judged.append({"property": j.property_id, "reason": j.not_judged})
            continue
        passed += not j.violations
        for v in j.violations:
            g = groups.setdefault(v.property_id, {"property": v.property_id, "count": 0,
                                                  "first": v.message, "records": list(v.records)})
            g["count"] += 1
    return {"ok": not groups, "violated": list(groups.values()), "not_judged": not_judged,
            "passed": passed}


def json_verdict(verdict: dict) -> dict:
    from phaselab.catalogue import line
    return {"ok": verdict["ok"], "passed": verdict["passed"],
            "violated": [{**{k: g[k] for k in ("property", "count", "first", "records")},
                          "meaning": line(g["property"])} for g in verdict["violated"]],
            "not_judged": verdict["not_judged"]}


def _ms(x):
    return "—" if x is None else f"{x:,.0f}"


def render_run(console: Console, title: str, summary: dict, verdict_: dict,
               footer: list[str], not_run: str | None = None) -> None:
    console.print(f"[bold]{escape(title)}[/bold]")
    tl = Table(title="Phase timeline (s since run start)", title_justify="left")
    tl.add_column("STATUS / PHASE written")
    tl.add_column("at", justify="right")
    adopted = summary["adopted"]
    workers = sorted(adopted)
    for w in workers:
        tl.add_column(f"{w} adopts", justify="right")
    shown = set()
    for p in summary["phases"]:
        new = p["phase"] not in shown  # adoption belongs to the write that changed PHASE
        shown.add(p["phase"])
        cells = [f"{adopted[w][p['phase']]:.3f}" if new and p["phase"] in adopted.get(w, {})
                 else "" for w in workers]
        tl.add_row(f"{p['status']} / {p['phase'] or '∅'}", f"{p['t']:.3f}", *cells)
    console.print(tl)

    mk = Table(title="Start-up markers (ms after the RUNNING write)", title_justify="left")
    mk.add_column("worker")
    for m in MARKERS:
        mk.add_column(m.replace("_", " "), justify="right")
    for w, marks in summary["markers_ms"].items():
        mk.add_row(w, *(_ms(marks[m]) for m in MARKERS))
    console.print(mk)

    tags = summary["tags"]
    if tags:
        tg = Table(title="Benchmark queries by QUERY_TAG phase", title_justify="left")
        tg.add_column("worker")
        tg.add_column("WARMUP", justify="right")
        tg.add_column("RUNNING", justify="right")
        for w in sorted(tags):
            tg.add_row(w, str(tags[w].get("WARMUP", 0)), str(tags[w].get("RUNNING", 0)))
        console.print(tg)

    fin = summary["final"]
    console.print(f"Final: STATUS {fin['status']}, PHASE {fin['phase'] or '∅'} at "
                  f"t={fin['t_end']:.3f} s ({fin['ended']})")
    if verdict_["ok"] and not_run:  # silence about a run that did not happen is not "clean"
        console.print(f"[yellow]Verdict: nothing to judge: {escape(not_run)}[/yellow]")
    elif verdict_["ok"]:
        console.print("[green]Verdict: no property violated[/green]")
    else:
        if not_run:
            console.print(f"[yellow]Note: {escape(not_run)}[/yellow]")
        console.print(f"[red]Verdict: {len(verdict_['violated'])} propert"
                      f"{'y' if len(verdict_['violated']) == 1 else 'ies'} violated[/red]")
        from phaselab.catalogue import line
        for g in verdict_["violated"]:
            console.print(f"  [red]{g['property']}[/red] ×{g['count']}: {escape(g['first'])}")
            console.print(f"    [dim]{g['property']}: {escape(line(g['property']))}[/dim]")
    if verdict_["not_judged"]:
        console.print(f"[yellow]Not judged ({len(verdict_['not_judged'])}): the trace lacks "
                      f"the data[/yellow]")
        for nj in verdict_["not_judged"]:
            console.print(f"  [yellow]{nj['property']}[/yellow]: {escape(nj['reason'])}")
    for line in footer:
        console.print(line, markup=False)
