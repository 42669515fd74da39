"""One self-contained HTML file (tables, sentences and the PNG charts inlined as data URIs)
that opens offline, in any browser, and can be mailed or attached to a ticket."""
from __future__ import annotations

import base64
import html
import os

from phaselab.files import write_atomically

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.bad{color:#b00;font-weight:bold}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}p.answer{font-size:16px;
background:#f5f9ff;border-left:4px solid #36c;padding:.5em 1em}code{background:#f3f3f3}"""


def _img(path: str, alt: str) -> str:
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for c in row:
            text = html.escape("" if c is None else str(c))
            bad = ' class="bad"' if isinstance(c, str) and c.startswith("VIOLATED") else ""
            cells.append(f"<td{bad}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render(title: str, blocks: list[tuple]) -> str:
    """blocks: ('h2', text) | ('p', text) | ('answer', text) | ('pre', text) |
    ('table', headers, rows) | ('img', path, alt)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for b in blocks:
        kind = b[0]
        if kind == "h2":
            parts.append(f"<h2>{html.escape(b[1])}</h2>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(b[1])}</p>")
        elif kind == "answer":
            parts.append(f"<p class='answer'>{html.escape(b[1])}</p>")
        elif kind == "pre":
            parts.append(f"<pre>{html.escape(b[1])}</pre>")
        elif kind == "table":
            parts.append(_table(b[1], b[2]))
        elif kind == "img":
            if os.path.exists(b[1]):
                parts.append(_img(b[1], b[2]))
        else:
            raise ValueError(f"unknown block {kind!r}")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(path: str, title: str, blocks: list[tuple]) -> None:
    write_atomically(path, [render(title, blocks)])
