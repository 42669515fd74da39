"""Reading the recorder's logs: one JSON-lines file per process (recorder/sitecustomize.py).

A process killed mid-line leaves a truncated last line; it is counted and skipped, as
`phaselab check` does with a trace.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ProcessLog:
    pid: int
    argv: list[str]
    start: float  # wall clock of the process record
    records: list[dict] = field(default_factory=list)
    bad_lines: int = 0

    @property
    def end(self) -> float:
        return max((r.get("t1", r.get("t", self.start)) for r in self.records),
                   default=self.start)


def read_dir(folder: str | Path) -> list[ProcessLog]:
    logs = []
    for path in sorted(Path(folder).glob("proc-*.jsonl")):
        recs, bad = [], 0
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    bad += 1
        head = next((r for r in recs if r.get("k") == "process"), None)
        if head is None:
            continue
        argv = head.get("orig_argv") or head.get("argv") or []
        logs.append(ProcessLog(int(head.get("pid", 0)), [str(a) for a in argv],
                               float(head["t"]), recs, bad))
    return sorted(logs, key=lambda p: p.start)
