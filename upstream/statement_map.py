"""A statement map: the data that turns one tool version's recording into a phaselab trace.

One TOML file per upstream version in upstream/maps/ (format: docs/upstream.md). Loading
checks every key, so a mistake names the file, the key and what is allowed, instead of
surfacing as a wrong trace later.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MAPS_DIR = Path(__file__).resolve().parent / "maps"
FORMAT = 1
OPS = {"create_run", "read_run_status", "write_run_status", "read_next_seq", "bump_next_seq",
       "alloc_seq", "insert_event", "fetch_events", "merge_heartbeat", "mark_heartbeats",
       "count_heartbeats", "write_test_result", "read_enrichment_status", "enrich", "setup",
       "connect", "alter_tag"}
EMITS = {"status_write", "event_emit", "heartbeat", "health", "conn_altered", "query"}
LEVELS = {"complete", "partial", "absent"}
EVIDENCE = {"status_write", "event_emit", "heartbeat", "heartbeat_marks", "conn", "query",
            "query_epoch", "hook", "marker", "proc", "worker_state", "event_seen", "dashboard",
            "targets", "ctrl_eval"}
MARKERS = {"wait_returned", "heartbeat_running", "test_row_inserted", "tasks_spawned",
           "main_loop", "first_query", "first_measurement_query", "ready", "pool_ready"}


class MapError(Exception):
    """A statement map that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class StatementRule:
    name: str
    match: re.Pattern
    op: str | None = None
    emit: str | None = None
    role: str | None = None
    args: dict = field(default_factory=dict)
    value: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NoteRule:
    logger: str | None
    match: re.Pattern | None
    call: str | None
    marker: str | None = None
    state: dict | None = None
    seen: dict | None = None
    hook: bool = False


@dataclass(frozen=True)
class StatementMap:
    path: Path
    tool: dict
    settings: dict
    config: dict
    recording: dict
    processes: list[tuple[re.Pattern, str]]
    connections: list[tuple[re.Pattern, str]]
    statements: list[StatementRule]
    notes: list[NoteRule]
    coverage: dict[str, dict]

    @property
    def label(self) -> str:
        return f"{self.tool['name']} {self.tool['version']}"

    def actor_of(self, argv: list[str] | None) -> str | None:
        line = " ".join(argv or [])
        for rx, actor in self.processes:
            m = rx.search(line)
            if m:
                return actor.format(**m.groupdict())
        return None

    def role_of(self, tag: str | None) -> str:
        for rx, role in self.connections:
            if rx.search(tag or ""):
                return role
        return "control"

    def rule_for(self, sql: str, role: str) -> tuple[StatementRule, re.Match] | None:
        for r in self.statements:
            if r.role is not None and r.role != role:
                continue
            m = r.match.search(sql)
            if m:
                return r, m
        return None


def _rx(where: str, pattern, flags: int = re.IGNORECASE) -> re.Pattern:
    if not isinstance(pattern, str):
        raise MapError(f"{where}: must be a regular expression string, not {pattern!r}")
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise MapError(f"{where}: bad regular expression {pattern!r}: {exc}") from None


def _keys(where: str, table: dict, allowed: set, required: set = frozenset()) -> None:
    if not isinstance(table, dict):
        raise MapError(f"{where}: must be a table")
    extra = sorted(set(table) - allowed)
    if extra:
        raise MapError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")
    missing = sorted(set(required) - set(table))
    if missing:
        raise MapError(f"{where}: missing key(s) {missing}")


def _positions(where: str, table) -> dict:
    if table is None:
        return {}
    if not isinstance(table, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              and v >= 0 for v in table.values()):
        raise MapError(f"{where}: must map names to positions (integers >= 0), not {table!r}")
    return dict(table)


def load(path: str | Path) -> StatementMap:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MapError(f"{path}: no such statement map") from None
    except tomllib.TOMLDecodeError as exc:
        raise MapError(f"{path}: not valid TOML: {exc}") from None
    f = str(path)
    _keys(f, data, {"format", "tool", "config", "recording", "process", "connection",
                    "statement", "note", "coverage"}, {"format", "tool", "statement"})
    if data["format"] != FORMAT:
        raise MapError(f"{f}: format = {data['format']!r}; this phaselab reads format {FORMAT}")
    tool = data["tool"]
    _keys(f"{f} [tool]", tool, {"name", "version", "driver", "setup", "settings"},
          {"name", "version", "driver"})
    drivers = Path(__file__).resolve().parent / "drivers"
    if not (drivers / f"{tool['driver']}.py").is_file():
        raise MapError(f"{f} [tool] driver = {tool['driver']!r}: no upstream/drivers/"
                       f"{tool['driver']}.py")
    setup = tool.get("setup", [])
    if not isinstance(setup, list) or not all(isinstance(s, list) and all(
            isinstance(a, str) for a in s) for s in setup):
        raise MapError(f"{f} [tool] setup: must be a list of argument lists")
    settings = tool.get("settings", {})
    if not isinstance(settings, dict):
        raise MapError(f"{f} [tool.settings]: must be a table")
    rec = data.get("recording", {})
    _keys(f"{f} [recording]", rec, {"loggers", "log_level", "wrap"})
    for i, w in enumerate(rec.get("wrap", [])):
        _keys(f"{f} [[recording.wrap]] #{i + 1}", w, {"module", "function", "note"},
              {"module", "function", "note"})
    processes = []
    for i, p in enumerate(data.get("process", [])):
        w = f"{f} [[process]] #{i + 1}"
        _keys(w, p, {"argv", "actor"}, {"argv", "actor"})
        processes.append((_rx(f"{w} argv", p["argv"], 0), str(p["actor"])))
    connections = []
    for i, c in enumerate(data.get("connection", [])):
        w = f"{f} [[connection]] #{i + 1}"
        _keys(w, c, {"tag", "role"}, {"tag", "role"})
        connections.append((_rx(f"{w} tag", c["tag"], 0), str(c["role"])))
    statements = []
    for i, s in enumerate(data["statement"]):
        w = f"{f} [[statement]] #{i + 1}"
        _keys(w, s, {"name", "match", "op", "emit", "role", "args", "value"}, {"name", "match"})
        if s.get("op") is not None and s["op"] not in OPS:
            raise MapError(f"{w} op = {s['op']!r}; allowed: {sorted(OPS)}")
        if s.get("emit") is not None and s["emit"] not in EMITS:
            raise MapError(f"{w} emit = {s['emit']!r}; allowed: {sorted(EMITS)}")
        statements.append(StatementRule(str(s["name"]), _rx(f"{w} match", s["match"]),
                                        s.get("op"), s.get("emit"), s.get("role"),
                                        _positions(f"{w} args", s.get("args")),
                                        _positions(f"{w} value", s.get("value"))))
    notes = []
    for i, n in enumerate(data.get("note", [])):
        w = f"{f} [[note]] #{i + 1}"
        _keys(w, n, {"logger", "match", "call", "marker", "state", "seen", "hook"})
        if ("call" in n) == ("match" in n):
            raise MapError(f"{w}: give either `match` (a log line) or `call` (a wrapped call)")
        if n.get("marker") is not None and n["marker"] not in MARKERS:
            raise MapError(f"{w} marker = {n['marker']!r}; allowed: {sorted(MARKERS)}")
        notes.append(NoteRule(n.get("logger"), _rx(f"{w} match", n["match"], 0)
                              if "match" in n else None, n.get("call"), n.get("marker"),
                              n.get("state"), n.get("seen"), bool(n.get("hook", False))))
    coverage = {}
    for k, v in data.get("coverage", {}).items():
        w = f"{f} [coverage] {k}"
        if k not in EVIDENCE:
            raise MapError(f"{w}: unknown evidence; allowed: {sorted(EVIDENCE)}")
        _keys(w, v, {"level", "why"}, {"level"})
        if v["level"] not in LEVELS:
            raise MapError(f"{w} level = {v['level']!r}; allowed: {sorted(LEVELS)}")
        coverage[k] = {"level": v["level"], "why": v.get("why", "")}
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise MapError(f"{f} [config]: must be a table")
    return StatementMap(path, tool, {str(k): str(v) for k, v in settings.items()}, config,
                        rec, processes, connections, statements, notes, coverage)


def available() -> list[Path]:
    return sorted(MAPS_DIR.glob("*.toml"))


def for_version(version: str | None) -> Path | None:
    """The map whose [tool] version is a prefix of the checkout's commit (or equal)."""
    for p in available():
        try:
            v = tomllib.loads(p.read_text()).get("tool", {}).get("version")
        except tomllib.TOMLDecodeError:
            continue
        if v and version and (version.startswith(v) or v.startswith(version)):
            return p
    return None
