"""Two sweeps side by side: for each setting both hold, which figures moved and whether the
move is outside the bootstrap 95% intervals (the two intervals do not overlap) or within
them (the runs cannot tell the two apart)."""
from __future__ import annotations

import json

from phaselab.errors import UsageError

# (figure, statistic) pairs compared; each has a 95% interval in sweep.json.
COMPARED = (("detection_ms", "p50"), ("detection_ms", "p95"), ("start_ms", "p95"),
            ("tag_ms", "p50"), ("barrier_load_per_s", "p50"),
            ("barrier_load_per_worker_per_s", "p50"), ("steady_load_per_s", "p50"),
            ("cost_usd_per_run", "p50"))


def load(path: str) -> dict:
    """A sweep.json; a missing or foreign file is a UsageError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (give the sweep.json a sweep wrote)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a sweep.json ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise UsageError(f"{path}: not a sweep.json (no 'rows' list)")
    return doc


def _cmp(a: dict | None, b: dict | None, stat: str) -> dict:
    va, vb = (a or {}).get(stat), (b or {}).get(stat)
    out = {"a": va, "b": vb, "change": None, "verdict": "no data"}
    if va is None or vb is None:
        return out
    out["change"] = (vb - va) / va if va else None
    lo_a, hi_a = a.get(f"{stat}_lo"), a.get(f"{stat}_hi")
    lo_b, hi_b = b.get(f"{stat}_lo"), b.get(f"{stat}_hi")
    if None in (lo_a, hi_a, lo_b, hi_b):
        out["verdict"] = "no interval"
    elif hi_b < lo_a:
        out["verdict"] = "moved down"
    elif lo_b > hi_a:
        out["verdict"] = "moved up"
    else:
        out["verdict"] = "within intervals"
    return out


def compare(a: dict, b: dict) -> dict:
    ra = {r["label"]: r for r in a["rows"]}
    rb = {r["label"]: r for r in b["rows"]}
    rows = []
    for label in [*ra, *(k for k in rb if k not in ra)]:
        if label not in ra or label not in rb:
            rows.append({"setting": label, "only_in": "A" if label in ra else "B"})
            continue
        figs = [{"figure": f"{fig}.{stat}", **_cmp(ra[label].get(fig), rb[label].get(fig), stat)}
                for fig, stat in COMPARED]
        rows.append({"setting": label, "figures": figs,
                     "violations_a": ra[label].get("violations", []),
                     "violations_b": rb[label].get("violations", [])})
    moved = sum(f["verdict"].startswith("moved") for r in rows for f in r.get("figures", []))
    total = sum(len(r.get("figures", [])) for r in rows)
    return {"rows": rows, "moved": moved, "compared": total}
