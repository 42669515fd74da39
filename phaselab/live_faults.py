"""`phaselab smoke --faults SPEC`: the faults a live run can suffer, from a file or inline.

SPEC is either a TOML file with a `[faults]` table in the simulation's format (a scenario
file will do: only its `[faults]` is read), or an inline list, e.g.
`crash=worker-1:hook,fail=merge_heartbeat:0.3,stall=3@4`. Either way it goes through
phaselab/fault_spec.py's parser, so the keys, ranges and messages are the simulation's; then
what the live backend cannot do is refused, naming the kind and what is allowed.
"""
from __future__ import annotations

import os
import tomllib

from phaselab.errors import UsageError
from phaselab.fault_spec import FaultSpecError, parse
from phaselab.inputs.nesting import loads_toml
from phaselab.inputs.text import read_text
from protocol import faults as fm

# Statement kinds a live fault can hit: every control statement the live driver sends.
LIVE_OPS = ("default", "create_run", "read_run_status", "write_run_status", "read_next_seq",
            "bump_next_seq", "alloc_seq", "insert_event", "fetch_events", "merge_heartbeat",
            "mark_heartbeats", "count_heartbeats", "write_test_result",
            "read_enrichment_status", "enrich", "setup", "connect", "alter_tag",
            "read_live_metrics")

STEPS = ", ".join(s for s in fm.CRASH_STEPS if s != fm.AT_TIME)

# inline key -> (what it sets, its form)
INLINE = {
    "heal": ("faults.heal_at_s: no fault fires from this run-clock second on (default: "
             "warmup + measure + 30 s, which covers start-up, the run and its exit sequence "
             "on a busy machine)", "SECONDS"),
    "crash": (f"a worker process SIGKILLs itself at a step ({STEPS}) or a run-clock second; "
              "the worker defaults to worker-0", "[worker-N:]STEP|SECONDS"),
    "fail": ("a statement kind (or `default`) fails with this probability per call, before "
             "it is sent", "KIND:P"),
    "info": ("a statement kind times out with this probability per call: sent or not (see "
             "`applied`), reported after the statement timeout with its outcome unknown",
             "KIND:P"),
    "drop": ("a statement kind's session drops with this probability per call (fails; the "
             "next statement reopens it)", "KIND:P"),
    "applied": ("faults.info_applied: the chance that an `info` statement was sent",
                "P (0 to 1)"),
    "stall": ("the embedded server is stopped (SIGSTOP) for LENGTH seconds from run-clock "
              "START, then continued", "LENGTH@START"),
    "clock": ("a worker's wall clock minus the database's, in seconds (its heartbeat "
              "stamps)", "worker-N:SECONDS"),
    "drift": ("seconds a worker's clock gains per second", "worker-N:RATE"),
}
ALIASES = {"worker_crash": "crash", "heal_at_s": "heal", "info_applied": "applied",
           "clock_offset_s": "clock", "clock_drift": "drift"}
NOT_LIVE = {  # fault kinds of the simulation the live backend cannot inject
    "slow": "a slow tail needs a latency distribution only the simulation draws from",
    "throttle": "the embedded server's capacity cannot be reduced from outside",
    "app_restart": "the orchestrator runs inside the phaselab process, which cannot die and "
                   "come back within one command",
}
ALLOWED = ", ".join(INLINE)


def _err(msg: str) -> UsageError:
    return UsageError(f"--faults: {msg}")


def _looks_like_file(spec: str) -> bool:
    return spec.endswith(".toml") or os.path.sep in spec or os.path.exists(spec)


def from_file(path: str) -> dict:
    text = read_text(path, "fault file (TOML with a [faults] table)", "--faults")
    try:
        raw = loads_toml(text, f"--faults {path}")
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--faults {path}: not valid TOML ({exc})") from None
    if "faults" not in raw:
        raise UsageError(f"--faults {path}: has no [faults] table (docs/scenarios.md, "
                         f"`[faults]`)")
    return raw["faults"]


def _num(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _err(f"{key}: {text!r} is not a number") from None


def _pair(key: str, value: str, form: str) -> tuple[str, str]:
    left, sep, right = value.rpartition(":")
    if not sep or not left or not right:
        raise _err(f"{key}={value!r}: expected {key}={form}")
    return left, right


def inline(spec: str) -> dict:
    """The inline form as a `[faults]` table (validated by fault_spec.parse afterwards)."""
    out: dict = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = ALIASES.get(key.strip(), key.strip()), value.strip()
        if key in NOT_LIVE:
            raise _err(f"{key!r} cannot be injected into a live run ({NOT_LIVE[key]}); "
                       f"allowed: {ALLOWED}")
        if key not in INLINE:
            raise _err(f"unknown fault {key!r} in {item!r}; allowed: {ALLOWED} "
                       f"(or a TOML file with a [faults] table)")
        if not sep or not value:
            raise _err(f"{key} needs a value: {key}={INLINE[key][1]}")
        form = INLINE[key][1]
        if key == "heal":
            out["heal_at_s"] = _num("heal", value)
        elif key == "applied":
            out["info_applied"] = _num("applied", value)
        elif key == "crash":
            worker, _, step = value.rpartition(":")
            worker = worker or "worker-0"
            crash = out.setdefault("crash", {})
            if worker in crash:
                raise _err(f"crash: {worker} is given twice; one crash per worker")
            crash[worker] = step if not _is_number(step) else float(step)
        elif key in ("fail", "info", "drop"):
            op, p = _pair(key, value, form)
            out.setdefault("statements", {}).setdefault(op, {})[key] = _num(key, p)
        elif key == "stall":
            length, sep, start = value.partition("@")
            if not sep:
                raise _err(f"stall={value!r}: expected stall={form}, e.g. stall=3@4 (3 s from "
                           f"t=4 s)")
            if "stall" in out:
                raise _err("stall is given twice; one stall per run")
            out["stall"] = {"start_s": _num("stall START", start),
                            "length_s": _num("stall LENGTH", length)}
        else:  # clock, drift
            worker, v = _pair(key, value, form)
            out.setdefault("clock_offset_s" if key == "clock" else "clock_drift",
                           {})[worker] = _num(key, v)
    if not out:
        raise _err(f"empty; give a TOML file or faults such as crash=worker-1:hook "
                   f"(allowed: {ALLOWED})")
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


HEAL_MARGIN_S = 30.0  # worker start-up (t counts from before the spawn), drain and exit


def load(spec: str, workers: int, default_heal_s: float, backend: str) -> fm.FaultSpec:
    """`--faults SPEC` -> the FaultSpec a live run injects; UsageError (exit 2) on bad input
    or on a fault the live backend cannot do."""
    from_a_file = _looks_like_file(spec)
    raw = from_file(spec) if from_a_file else inline(spec)
    where = f"--faults {spec}" if from_a_file else "--faults"
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: [faults] must be a table")
    for key in NOT_LIVE:
        if key in raw:
            raise UsageError(f"{where}: faults.{key} cannot be injected into a live run "
                             f"({NOT_LIVE[key]}); live faults: statement fail/info/drop, "
                             f"crash, stall, clock_offset_s, clock_drift")
    if not from_a_file:
        raw.setdefault("heal_at_s", default_heal_s + HEAL_MARGIN_S)
    try:
        fs, _ = parse(raw, LIVE_OPS)
    except FaultSpecError as exc:
        raise UsageError(f"{where}: {exc}") from None
    slow = sorted(op for op, s in fs.statements.items() if s.slow > 0)
    if slow:
        raise UsageError(f"{where}: faults.statements.{slow[0]}.slow cannot be injected into "
                         f"a live run ({NOT_LIVE['slow']}); allowed per statement kind: fail, "
                         f"info, drop")
    ids = [f"worker-{k}" for k in range(workers)]
    named = [c.worker for c in fs.crashes] + [*fs.clock_offset_s, *fs.clock_drift]
    for w in named:
        if w not in ids:
            raise UsageError(f"{where}: {w} is not a worker of this run (--workers {workers}: "
                             f"{', '.join(ids)})")
    if fs.stalls and backend != "embedded":
        raise UsageError(f"{where}: stall stops the embedded server's process; it needs "
                         f"--backend embedded, not {backend}")
    if not fs.active():
        raise UsageError(f"{where}: no fault can fire (every probability is 0, or heal_at_s "
                         f"is 0)")
    return fs


def describe(records: list[dict]) -> list[str]:
    """One line per kind of fault that fired, from the trace: what a reader checks first."""
    lines = []
    injected: dict[tuple[str, str], int] = {}
    for r in records:
        if r.get("kind") in ("fail", "info") and r.get("error") in (
                "injected error", "connection dropped", "timeout"):
            kind = "drop" if r["error"] == "connection dropped" else r["kind"]
            injected[(kind, r.get("op"))] = injected.get((kind, r.get("op")), 0) + 1
    for (kind, op), n in sorted(injected.items()):
        lines.append(f"{n} x {kind} on {op}")
    for r in records:
        if r.get("kind") != "fault":
            continue
        f = r.get("fault")
        if f == "worker_crash":
            lines.append(f"{r.get('worker')} killed (SIGKILL) at step {r.get('step')}, "
                         f"t={r['t']:.1f} s")
        elif f == "stall" and r.get("action") == "start":
            lines.append(f"server stopped (SIGSTOP) at t={r['t']:.1f} s until "
                         f"t={r.get('until', 0):.1f} s")
        elif f == "stall" and r.get("action") == "end":
            lines.append(f"server continued (SIGCONT) at t={r['t']:.1f} s"
                         + (" (cut short: the run ended)" if r.get("cut_short") else ""))
    for r in records:
        if r.get("kind") == "crash":
            lines.append(f"{r.get('actor')} died of a statement error it did not handle "
                         f"({r.get('outcome')}: {r.get('error')}), t={r['t']:.1f} s")
    reconnects = sum(1 for r in records if r.get("kind") == "fault"
                     and r.get("fault") == "reconnect")
    if reconnects:
        lines.append(f"{reconnects} x a dropped session reopened")
    return lines
