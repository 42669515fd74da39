"""Just enough SQL reading to take column values out of recorded statements.

Not a parser: the statement map picks the statements (by pattern), and these helpers read
the three shapes that carry control-plane values (UPDATE ... SET ... WHERE, INSERT (cols)
SELECT/VALUES, MERGE ... USING (SELECT ? AS col, ...)), binding each `?` to the recorded
parameter in order. A value they cannot read is left out, never guessed.
"""
from __future__ import annotations

import json
import re
from typing import Any

NOW = object()  # CURRENT_TIMESTAMP(): the database's clock when the statement ran
_WS = re.compile(r"\s+")


def normalize(sql: str) -> str:
    """Whitespace collapsed, trimmed, no trailing semicolon (what map patterns see)."""
    return _WS.sub(" ", str(sql)).strip().rstrip(";").strip()


def _split_top(text: str, sep: str = ",") -> list[tuple[str, int]]:
    """Split at `sep` outside quotes and parentheses; each part with its start offset."""
    parts, depth, quote, start = [], 0, False, 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            quote = not quote
        elif not quote:
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            elif c == sep and depth == 0:
                parts.append((text[start:i], start))
                start = i + 1
        i += 1
    parts.append((text[start:], start))
    return parts


def placeholders(sql: str) -> list[int]:
    """Offsets of each `?` outside quotes, in order."""
    out, quote = [], False
    for i, c in enumerate(sql):
        if c == "'":
            quote = not quote
        elif c == "?" and not quote:
            out.append(i)
    return out


def _param_at(sql: str, params: list | None, offset: int) -> Any:
    marks = placeholders(sql)
    if offset not in marks or params is None:
        return None
    i = marks.index(offset)
    return params[i] if i < len(params) else None


def value_of(expr: str, sql: str, params: list | None, offset: int) -> tuple[bool, Any]:
    """(known, value) of one SQL expression starting at `offset` in `sql`."""
    e = expr.strip()
    lead = offset + (len(expr) - len(expr.lstrip()))
    if e == "?":
        return True, _param_at(sql, params, lead)
    m = re.fullmatch(r"PARSE_JSON\(\s*\?\s*\)", e, re.IGNORECASE)
    if m:
        raw = _param_at(sql, params, lead + e.index("?"))
        try:
            return True, json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return True, raw
    if re.fullmatch(r"'(?:[^']|'')*'", e):
        return True, e[1:-1].replace("''", "'")
    if re.fullmatch(r"-?\d+(\.\d+)?", e):
        return True, float(e) if "." in e else int(e)
    if e.upper() == "NULL":
        return True, None
    if re.fullmatch(r"CURRENT_TIMESTAMP(\(\))?", e, re.IGNORECASE):
        return True, NOW
    m = re.fullmatch(r"COALESCE\(\s*\w+\s*,\s*CURRENT_TIMESTAMP(\(\))?\s*\)", e, re.IGNORECASE)
    if m:  # set once: the first such write stores its time (later ones keep it)
        return True, NOW
    m = re.fullmatch(r"CASE WHEN \? = '([^']*)' THEN CURRENT_TIMESTAMP(\(\))? ELSE NULL END", e,
                     re.IGNORECASE)
    if m:
        return True, NOW if _param_at(sql, params, lead + e.index("?")) == m.group(1) else None
    return False, None


def update_parts(sql: str, params: list | None) -> tuple[dict, dict]:
    """(set columns that could be read, guard) of `UPDATE t SET a = x, ... WHERE ...`."""
    m = re.search(r"\bSET\s(.*?)(\sWHERE\s(.*))?$", sql, re.IGNORECASE | re.DOTALL)
    if not m:
        return {}, {}
    set_text, base = m.group(1), m.start(1)
    out = {}
    for part, off in _split_top(set_text):
        col, eq, expr = part.partition("=")
        if not eq:
            continue
        known, v = value_of(expr, sql, params, base + off + len(col) + 1)
        if known:
            out[col.strip().upper()] = v
    guard = where_guard(sql[m.start(3):], sql, params, m.start(3)) if m.group(3) else {}
    return out, guard


def where_guard(where: str, sql: str, params: list | None, base: int) -> dict:
    """STATUS/PHASE conditions of a WHERE clause as the trace's guard."""
    guard = {}
    for col, key in (("STATUS", "status"), ("PHASE", "phase")):
        m = re.search(rf"\b{col}\s+(NOT\s+)?IN\s*\(([^)]*)\)", where, re.IGNORECASE)
        if m:
            vals = [v.strip().strip("'") for v in m.group(2).split(",")]
            guard[f"{key}_{'not_in' if m.group(1) else 'in'}"] = vals
            continue
        m = re.search(rf"(?<![\w.]){col}\s*=\s*('[^']*'|\?)", where, re.IGNORECASE)
        if m:
            known, v = value_of(m.group(1), sql, params, base + m.start(1))
            if known:
                guard[f"{key}_in"] = [v]
    return guard


def insert_columns(sql: str, params: list | None) -> dict:
    """Columns of `INSERT INTO t (a, b) SELECT x, y` or `... VALUES (x, y)` that could be read."""
    m = re.search(r"INSERT INTO \S+\s*\(([^)]*)\)\s*(SELECT\s(.*)|VALUES\s*\((.*)\))$", sql,
                  re.IGNORECASE | re.DOTALL)
    if not m:
        return {}
    cols = [c.strip().upper() for c in m.group(1).split(",")]
    vals_at = m.start(3) if m.group(3) is not None else m.start(4)
    vals = _split_top(m.group(3) if m.group(3) is not None else m.group(4))
    out = {}
    for col, (expr, off) in zip(cols, vals):
        known, v = value_of(expr, sql, params, vals_at + off)
        if known:
            out[col] = v
    return out


def merge_source(sql: str, params: list | None) -> dict:
    """Columns of `MERGE ... USING (SELECT x AS a, y AS b) ...` that could be read."""
    m = re.search(r"USING\s*\(\s*SELECT\s(.*?)\)\s*(AS\s+)?\w+\s+ON\s", sql,
                  re.IGNORECASE | re.DOTALL)
    if not m:
        return {}
    out = {}
    for part, off in _split_top(m.group(1)):
        mm = re.fullmatch(r"(.*)\sAS\s+(\w+)\s*", part, re.IGNORECASE | re.DOTALL)
        if not mm:
            continue
        known, v = value_of(mm.group(1), sql, params, m.start(1) + off)
        if known:
            out[mm.group(2).upper()] = v
    return out
