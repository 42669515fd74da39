"""A row of the benchmark tables (what, target, measured, met, note) as the sections build
it, and a ratio as the tables print it."""


def row(what: str, target: str, measured: str, met: bool | None, note: str = "",
        **data) -> dict:
    """met: True or False against the target, None for a row without one."""
    return {"what": what, "target": target, "measured": measured, "met": met, "note": note,
            **({"data": data} if data else {})}


def ratio_text(ratio: float, target: float) -> str:
    """Two decimals, or three where two would round the ratio onto its target (1.797 is not
    "1.80x" beside a target of ">= 1.8x" that it misses)."""
    if round(ratio, 2) == target and ratio != target:
        return f"{ratio:.3f}x"
    return f"{ratio:.2f}x"
