"""`phaselab diff A/sweep.json B/sweep.json`: which settings moved between two sweeps, and
whether each move is outside the bootstrap intervals."""
from __future__ import annotations

import json

from phaselab.console import stdout_console
from phaselab.reports import diff

NAME = "diff"
HELP = "compare two sweeps: which figures moved, and whether outside the 95% intervals"
EXAMPLE = "phaselab diff out/compare-before/sweep.json out/compare/sweep.json"


def add_arguments(p) -> None:
    p.add_argument("a", metavar="A", help="the sweep.json to compare from (before)")
    p.add_argument("b", metavar="B", help="the sweep.json to compare with (after)")
    p.add_argument("--all", action="store_true",
                   help="show every figure, not only those that moved or changed by 10%% or more")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")


def _num(x) -> str:
    return "—" if x is None else f"{x:,.4g}"


def run(args) -> int:
    a, b = diff.load(args.a), diff.load(args.b)
    res = diff.compare(a, b)
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, **res}, default=str))
        return 0
    from rich.table import Table
    from rich.text import Text
    con = stdout_console()
    t = Table(title=f"phaselab diff {args.a} -> {args.b}", title_justify="left")
    for c in ("setting", "figure", "A", "B", "change", "verdict"):
        t.add_column(c, justify="right" if c in ("A", "B", "change") else "left")
    hidden = 0
    for r in res["rows"]:
        if "only_in" in r:
            t.add_row(r["setting"], "", "", "", "", f"only in {r['only_in']}")
            continue
        if r["violations_a"] != r["violations_b"]:
            t.add_row(r["setting"], "violations", ", ".join(r["violations_a"]) or "none",
                      ", ".join(r["violations_b"]) or "none", "",
                      Text("changed", style="bold red"))
        for f in r["figures"]:
            big = f["change"] is not None and abs(f["change"]) >= 0.10
            if not (args.all or f["verdict"].startswith("moved") or big):
                hidden += 1
                continue
            style = "bold" if f["verdict"].startswith("moved") else ""
            t.add_row(r["setting"], f["figure"], _num(f["a"]), _num(f["b"]),
                      "—" if f["change"] is None else f"{f['change']:+.0%}",
                      Text(f["verdict"], style=style))
    con.print(t)
    con.print(f"{res['moved']} of {res['compared']} figures moved outside their 95% intervals"
              + (f"; {hidden} unchanged ones hidden (--all shows them)" if hidden else "")
              + ". Within intervals: these runs cannot tell A and B apart.",
              markup=False, highlight=False)
    return 0
