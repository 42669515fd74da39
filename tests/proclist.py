"""Which processes are there: the one /proc reader the live tests and benchmarks/abuse_smoke.py
share, to tell what a live run left behind."""
from __future__ import annotations

import os

from real_backend.embedded_server import process_state


def procs() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, command line) of every live process (zombies left out)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            if rest[0] == "Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            out[int(d)] = (int(rest[1]), cmd)
        except (OSError, IndexError, ValueError):
            continue
    return out


def children(pid: int) -> dict[int, str]:
    """Direct children of `pid` with their command lines."""
    return {p: cmd for p, (ppid, cmd) in procs().items() if ppid == pid}


def descendants(root: int, known: dict[int, str]) -> dict[int, str]:
    """Adds every live descendant of `root` to `known` (pid -> command line, refreshed: a
    child first seen between fork and exec still shows its parent's command line)."""
    table = procs()
    frontier, visited = [root], {root}
    while frontier:
        p = frontier.pop()
        for pid, (ppid, cmd) in table.items():
            if ppid == p and pid not in visited:
                known[pid] = cmd
                visited.add(pid)
                frontier.append(pid)
    return known


state = process_state  # the process state letter (R, S, T stopped, Z zombie...) or None


def alive(pid: int) -> bool:
    """Running or stopped; a zombie (exited, not yet reaped) counts as gone."""
    return state(pid) not in (None, "Z")


def mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains `text` (e.g. a run's TMPDIR: the server's
    data dir, worker configs and the watchdog's config all live there)."""
    return {p: cmd for p, (_, cmd) in procs().items() if text in cmd}
