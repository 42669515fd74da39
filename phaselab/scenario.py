"""Scenario files: TOML in, a validated Scenario out, or a ScenarioError naming file and key.

The key table below is the one place a key is defined: the loader checks against it and
docs/scenarios.md is generated from it (`phaselab docs scenarios`).
"""
from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from typing import Any

from phaselab.errors import UsageError
from phaselab.inputs import budget
from phaselab.inputs.nesting import check_depth, loads_toml
from phaselab.inputs.text import read_text
from protocol.config import RunConfig
from protocol.variants import PRESETS, SWITCH_CHOICES, Switches, UnknownVariant, variant
from sim.latency import BadDistribution, LatencyModel, parse as parse_dist
from sim.run import SimSettings
from sim.server_queue import ServerModel
from phaselab import scenario_scaling


class ScenarioError(ValueError):
    """Bad input; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class Key:
    unit: str
    minimum: float | None  # inclusive lower bound, None for no bound
    positive: bool  # strictly greater than 0
    doc: str


RUN_KEYS: dict[str, Key] = {
    "workers": Key("count", 1, False, "worker processes at start"),
    "connections_per_worker": Key("count", 1, False, "benchmark connections (tasks) per worker"),
    "warmup_s": Key("s", 0, False, "warmup length w; 0 starts in MEASUREMENT"),
    "duration_s": Key("s", None, True, "measurement length d"),
    "think_time_s": Key("s", 0, False, "pause between a task's benchmark queries"),
    "dashboards": Key("count", 0, False, "browser dashboards following the run (WebSocket "
                      "server loop + browser, ws_payload/ws_close/ui records)"),
    "orchestrator_poll_s": Key("s", None, True, "orchestrator poll-loop sleep"),
    "health_refresh_s": Key("s", None, True, "background heartbeat count period outside STARTING"),
    "status_poll_s": Key("s", None, True, "worker wait-loop sleep between RUN_STATUS reads"),
    "event_poll_s": Key("s", None, True, "worker control-event poll period (wait and main loop)"),
    "heartbeat_s": Key("s", None, True, "worker heartbeat period"),
    "reconcile_s": Key("s", None, True, "worker RUN_STATUS reconcile period"),
    "main_loop_sleep_s": Key("s", None, True, "worker main-loop sleep"),
    "event_limit_wait": Key("rows", 1, False, "LIMIT of a wait-loop event poll"),
    "event_limit_main": Key("rows", 1, False, "LIMIT of a main-loop event poll"),
    "wait_timeout_s": Key("s", None, True, "worker gives up waiting for RUNNING (DEAD, exit 3)"),
    "drain_timeout_s": Key("s", None, True, "worker drain timeout after STOP"),
    "stale_s": Key("s", None, True, "heartbeat age that marks a worker STALE"),
    "dead_s": Key("s", None, True, "heartbeat age that marks a worker DEAD"),
    "stop_grace_s": Key("s", None, True, "user stop: wait for workers before SIGTERM"),
    "kill_after_s": Key("s", None, True, "user stop: SIGTERM to SIGKILL"),
    "enrichment_poll_s": Key("s", None, True, "enrichment poll period"),
    "enrichment_timeout_s": Key("s", None, True, "enrichment gives up after this"),
    "user_stop_at_s": Key("s", -1, False, "a user stop this long after the run began; -1: none"),
    "deadline_s": Key("s", 0, False, "overall run deadline; 0 derives it from the phase bounds"),
}

SIM_KEYS: dict[str, Key] = {
    "tz_offset_s": Key("s", None, False, "database session time zone's UTC offset (§7.3)"),
    "worker_clock_offset_s": Key("s", None, False, "worker wall clock minus database clock"),
    "visibility_lag_s": Key("s", 0, False, "how much later other sessions see a commit"),
}
SIM_BOOL_KEYS = {"strict_transitions": "raise on an illegal STATUS/PHASE write instead of "
                                       "recording it for the checkers",
                 "bulk_queries": "generate benchmark queries in bursts between control "
                                 "decisions (sim/bulk.py; exact at phase and tag boundaries)"}

# [coordination]: how workers learn of a change (protocol/actors/polling.py). Each key maps
# to a RunConfig field.
COORD_SCHEMES = ("poll", "jittered", "adaptive", "push")
COORD_KEYS: dict[str, tuple[str, Key]] = {
    "jitter": ("poll_jitter", Key("fraction", 0, False, "jittered: each sleep is the interval "
                                  "x U[1 - jitter, 1 + jitter]; at most 1")),
    "fast_s": ("adaptive_fast_s", Key("s", None, True, "adaptive: poll period near an "
                                      "expected transition")),
    "slow_s": ("adaptive_slow_s", Key("s", None, True, "adaptive: poll period otherwise")),
    "window_s": ("adaptive_window_s", Key("s", 0, False, "adaptive: how near an expected "
                                          "transition counts as near")),
    "fallback_s": ("push_fallback_s", Key("s", None, True, "push: the slow poll kept as a "
                                          "fallback (wait loop and event poll)")),
}
COORD_BOOL_KEYS = {
    "parallel_startup": ("parallel_startup", "heartbeat RUNNING and the test-row insert in "
                         "parallel (seed 002, priority 2)"),
    "prespawn_tasks": ("prespawn_tasks", "benchmark tasks start as soon as the wait ends, "
                       "before those two writes (seed 002, priority 3)"),
}

# [cost]: what the control plane costs, as warehouse busy time. A statement keeps one of
# `statements_in_parallel` slots of a warehouse busy for its latency.
COST_KEYS: dict[str, Key] = {
    "usd_per_credit": Key("USD", 0, False, "price of one credit"),
    "warehouse_credits_per_hour": Key("credits/h", 0, False, "the control warehouse's rate "
                                      "(XS = 1)"),
    "statements_in_parallel": Key("count", None, True, "statements the warehouse runs at once"),
}
COST_DEFAULTS = {"usd_per_credit": 3.0, "warehouse_credits_per_hour": 1.0,
                 "statements_in_parallel": 8.0}

# Statement kinds with a latency class (docs/trace.md), plus the non-statement costs.
LATENCY_OPS = (
    "default", "create_run", "read_run_status", "write_run_status", "read_next_seq",
    "bump_next_seq", "alloc_seq", "insert_event", "fetch_events", "merge_heartbeat",
    "mark_heartbeats", "count_heartbeats", "write_test_result", "read_enrichment_status",
    "enrich", "setup", "connect", "alter_tag", "benchmark", "proc_start", "read_live_metrics",
    "notify",
)
DEFAULT_LATENCY = {"dist": "uniform", "low": 0.05, "high": 0.15}
TOP_LEVEL = ("run", "variant", "latency", "sim", "seed", "coordination", "cost", "server",
             "faults", "scaling", "warehouse")
SERVER_KEYS: dict[str, Key] = {
    "slots": Key("count", 1, False, "statements served at once (fakesnow serialises: 1)"),
}


@dataclass(frozen=True)
class Scenario:
    path: str
    cfg: RunConfig
    variant: str
    switches: Switches
    switch_overrides: dict
    sim: SimSettings
    seed: int
    raw: dict  # the resolved scenario, as written to the trace header
    cost: dict = field(default_factory=lambda: dict(COST_DEFAULTS))


def _number(path: str, where: str, value: Any, spec: Key, integer: bool) -> float | int:
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            integer and not isinstance(value, int)):
        raise ScenarioError(f"{path}: {where} must be {kind} ({spec.unit}), not {value!r}")
    if not math.isfinite(value):
        raise ScenarioError(f"{path}: {where} must be finite, not {value!r}")
    if spec.positive and value <= 0:
        raise ScenarioError(f"{path}: {where} must be > 0 ({spec.unit}), not {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise ScenarioError(f"{path}: {where} must be >= {spec.minimum} ({spec.unit}), "
                            f"not {value!r}")
    return value if integer else float(value)


def _table(path: str, raw: dict, name: str) -> dict:
    val = raw.get(name, {})
    if not isinstance(val, dict):
        raise ScenarioError(f"{path}: [{name}] must be a table")
    return val


def _unknown(path: str, where: str, got, allowed) -> None:
    extra = sorted(set(got) - set(allowed))
    if extra:
        raise ScenarioError(f"{path}: unknown key {where}{extra[0]!r}; allowed: "
                            f"{', '.join(sorted(allowed))}")


# Keys that must agree with each other: (keys, holds(cfg), what is allowed). Checked after
# every key is valid on its own, in this order; the message names the keys and their values.
CONSISTENCY: list[tuple[tuple[str, ...], Any, str]] = [
    (("stale_s", "dead_s"), lambda c: c.stale_s < c.dead_s,
     "a worker is marked STALE before DEAD: stale_s must be < dead_s"),
    (("heartbeat_s", "stale_s"), lambda c: c.heartbeat_s < c.stale_s,
     "a live worker's heartbeat must be younger than stale_s: heartbeat_s must be < stale_s"),
    (("user_stop_at_s",), lambda c: c.user_stop_at_s == -1 or c.user_stop_at_s >= 0,
     "user_stop_at_s is -1 (no user stop) or >= 0 seconds after the run began"),
    (("deadline_s", "warmup_s", "duration_s"),
     lambda c: c.deadline_s == 0 or c.deadline_s > c.warmup_s + c.duration_s,
     "a run must be able to start and finish its phases before the deadline: deadline_s "
     "must be 0 (derived) or > warmup_s + duration_s"),
    (("adaptive_fast_s", "adaptive_slow_s"),
     lambda c: c.coordination != "adaptive" or c.adaptive_fast_s <= c.adaptive_slow_s,
     "adaptive polling: coordination.fast_s must be <= coordination.slow_s"),
]
_COORD_NAMES = {fname: f"coordination.{k}" for k, (fname, _spec) in COORD_KEYS.items()}


def _consistent(path: str, cfg: RunConfig) -> None:
    for keys, holds, allowed in CONSISTENCY:
        if not holds(cfg):
            found = ", ".join(f"{_COORD_NAMES.get(k, 'run.' + k)} = {getattr(cfg, k)!r}"
                              for k in keys)
            raise ScenarioError(f"{path}: {found}: {allowed}")


def from_dict(raw: dict, path: str = "<scenario>") -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a table of keys, not {type(raw).__name__}")
    try:
        check_depth(raw, path)
    except UsageError as exc:
        raise ScenarioError(str(exc)) from None
    _unknown(path, "", raw, TOP_LEVEL)
    run = _table(path, raw, "run")
    _unknown(path, "run.", run, RUN_KEYS)
    defaults = RunConfig()
    cfg_kwargs = {}
    for f in fields(RunConfig):
        if f.name in run:
            integer = isinstance(getattr(defaults, f.name), int)
            cfg_kwargs[f.name] = _number(path, f"run.{f.name}", run[f.name],
                                         RUN_KEYS[f.name], integer)
    cfg = RunConfig(**cfg_kwargs, **_coordination(path, raw))
    _consistent(path, cfg)

    var = _table(path, raw, "variant")
    _unknown(path, "variant.", var, ("name", "switches"))
    name = var.get("name", "fixed")
    if not isinstance(name, str):
        raise ScenarioError(f"{path}: variant.name must be one of {', '.join(PRESETS)}, "
                            f"not {name!r}")
    overrides = var.get("switches", {})
    if not isinstance(overrides, dict):
        raise ScenarioError(f"{path}: variant.switches must be a table")
    try:
        sw = variant(name, overrides)
    except UnknownVariant as exc:
        raise ScenarioError(f"{path}: variant: {exc}") from None

    lat = _table(path, raw, "latency")
    _unknown(path, "latency.", lat, LATENCY_OPS)
    try:
        dists = {op: parse_dist(spec, f"latency.{op}") for op, spec in lat.items()}
        default = dists.pop("default", None) or parse_dist(DEFAULT_LATENCY, "latency.default")
    except BadDistribution as exc:
        raise ScenarioError(f"{path}: {exc}") from None

    simt = _table(path, raw, "sim")
    _unknown(path, "sim.", simt, [*SIM_KEYS, *SIM_BOOL_KEYS])
    sim_kwargs: dict[str, Any] = {k: _number(path, f"sim.{k}", v, SIM_KEYS[k], False)
                                  for k, v in simt.items() if k in SIM_KEYS}
    for k in SIM_BOOL_KEYS:
        if k in simt:
            if not isinstance(simt[k], bool):
                raise ScenarioError(f"{path}: sim.{k} must be true or false, not {simt[k]!r}")
            sim_kwargs[k] = simt[k]
    if sim_kwargs.pop("bulk_queries", False):  # a sim knob the actors must know about
        cfg = replace(cfg, bulk_queries=True)
    if "scaling" in raw:  # load and scaling modes (phaselab/scenario_scaling.py)
        cfg = scenario_scaling.apply_scaling(path, raw["scaling"], cfg, ScenarioError)
    if "warehouse" in raw:
        sim_kwargs["warehouse"] = scenario_scaling.warehouse(path, raw["warehouse"],
                                                             ScenarioError)
    settings = SimSettings(LatencyModel(dists, default), **sim_kwargs,
                           server=_server(path, raw), **_faults(path, raw))

    seed = raw.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise ScenarioError(f"{path}: seed must be a whole number from 0 to 2^63 - 1, "
                            f"not {seed!r}")
    cost = _table(path, raw, "cost")
    _unknown(path, "cost.", cost, COST_KEYS)
    cost = {**COST_DEFAULTS, **{k: _number(path, f"cost.{k}", v, COST_KEYS[k], False)
                                for k, v in cost.items()}}
    return Scenario(path, cfg, name, sw, dict(overrides), settings, seed, raw, cost)


def _server(path: str, raw: dict) -> ServerModel | None:
    """The [server] table (sim/server_queue.py): slots and [server.service] per kind."""
    if "server" not in raw:
        return None
    srv = _table(path, raw, "server")
    _unknown(path, "server.", srv, [*SERVER_KEYS, "service"])
    slots = _number(path, "server.slots", srv.get("slots", 1), SERVER_KEYS["slots"], True)
    svc = srv.get("service", {})
    if not isinstance(svc, dict):
        raise ScenarioError(f"{path}: [server.service] must be a table")
    _unknown(path, "server.service.", svc, LATENCY_OPS)
    try:
        dists = {op: parse_dist(spec, f"server.service.{op}") for op, spec in svc.items()}
    except BadDistribution as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    default = dists.pop("default", None)
    return ServerModel(int(slots), dists, default)


def _faults(path: str, raw: dict) -> dict:
    """The [faults] table (phaselab/fault_spec.py) as SimSettings fields; absent: none."""
    if "faults" not in raw:
        return {}
    from phaselab.fault_spec import FaultSpecError, parse
    from protocol.faults import POST_METRICS
    try:
        spec, slow = parse(raw["faults"], LATENCY_OPS + (POST_METRICS,))
    except FaultSpecError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return {"faults": spec, "slow_latency": slow}


def _coordination(path: str, raw: dict) -> dict:
    """The [coordination] table as RunConfig fields."""
    co = _table(path, raw, "coordination")
    _unknown(path, "coordination.", co, ["scheme", *COORD_KEYS, *COORD_BOOL_KEYS])
    out: dict[str, Any] = {}
    if "scheme" in co:
        if not isinstance(co["scheme"], str) or co["scheme"] not in COORD_SCHEMES:
            raise ScenarioError(f"{path}: coordination.scheme must be one of "
                                f"{', '.join(COORD_SCHEMES)}, not {co['scheme']!r}")
        out["coordination"] = co["scheme"]
    for k, (fname, spec) in COORD_KEYS.items():
        if k in co:
            out[fname] = _number(path, f"coordination.{k}", co[k], spec, False)
    if out.get("poll_jitter", 0) > 1:
        raise ScenarioError(f"{path}: coordination.jitter must be <= 1, not {co['jitter']!r}")
    for k, (fname, _doc) in COORD_BOOL_KEYS.items():
        if k in co:
            if not isinstance(co[k], bool):
                raise ScenarioError(f"{path}: coordination.{k} must be true or false, "
                                    f"not {co[k]!r}")
            out[fname] = co[k]
    return out


def load(path: str, sets: list[str] | None = None) -> Scenario:
    try:
        raw = loads_toml(read_text(path, "scenario file (TOML)"), path)
    except UsageError as exc:
        raise ScenarioError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc})") from None
    return from_dict(apply_sets(raw, sets or [], path), path)


def parse_value(text: str) -> Any:
    """A --set value: TOML syntax if it parses (numbers, true, inline tables), else a string."""
    try:
        return loads_toml(f"v = {text}", f"--set value {text[:40]!r}")["v"]
    except UsageError as exc:
        raise ScenarioError(str(exc)) from None
    except tomllib.TOMLDecodeError:
        return text


def resolve_key(key: str) -> list[str]:
    """`workers` is short for `run.workers`; a switch name for `variant.switches.<name>`."""
    parts = key.split(".")
    if len(parts) == 1:
        if key in RUN_KEYS:
            return ["run", key]
        if key in SWITCH_CHOICES:
            return ["variant", "switches", key]
        if key in SIM_KEYS or key in SIM_BOOL_KEYS:
            return ["sim", key]
        if key == "scheme" or key in COORD_KEYS or key in COORD_BOOL_KEYS:
            return ["coordination", key]
        if key == "seed":
            return ["seed"]
    return parts


def apply_sets(raw: dict, sets: list[str], path: str) -> dict:
    out = copy.deepcopy(raw)
    for item in sets:
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected key=value, e.g. --set event_poll_s=0.5")
        key, text = item.split("=", 1)
        parts = resolve_key(key.strip())
        if not all(parts):
            raise ScenarioError(f"--set {item!r}: the key must be a name or a dotted path "
                                f"like run.workers, not {key.strip()!r}")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ScenarioError(f"--set {key}: {p} is not a table in {path}")
        node[parts[-1]] = parse_value(text.strip())
    return out


def with_overrides(sc: Scenario, seed: int | None = None, variant_name: str | None = None,
                   sets: list[str] | None = None) -> Scenario:
    raw = apply_sets(sc.raw, sets or [], sc.path)
    if variant_name is not None:
        raw.setdefault("variant", {})["name"] = variant_name
    if seed is not None:
        raw["seed"] = seed
    return from_dict(raw, sc.path)


def docs_markdown() -> str:
    """docs/scenarios.md, generated from the key tables above."""
    d = RunConfig()
    lines = ["# Scenario files", "",
             "A scenario is a TOML file. Every key is optional; an unknown key, a wrong type or "
             "a value out of range stops phaselab before anything runs, naming the file and the "
             "key (exit 2). Any key can be overridden on the command line with "
             "`--set key=value` (`--set workers=8`, `--set latency.connect={dist=\"fixed\", "
             "value=1.0}`, `--set tag_switch=per_task_atomic`).",
             "", "This file is generated by `phaselab docs scenarios`; do not edit it by hand.",
             "", "## `[run]`", "", "| key | unit | default | allowed | meaning |",
             "|---|---|---|---|---|"]
    for k, spec in RUN_KEYS.items():
        allowed = "> 0" if spec.positive else f">= {spec.minimum}"
        lines.append(f"| `{k}` | {spec.unit} | {getattr(d, k)} | {allowed} | {spec.doc} |")
    lines += ["", "## `[variant]`", "",
              f"`name`: one of {', '.join(f'`{p}`' for p in PRESETS)} (default `fixed`). "
              "`[variant.switches]` overrides single behaviour switches of that preset:", "",
              "| switch | allowed | reference | fixed |", "|---|---|---|---|"]
    for k, allowed in SWITCH_CHOICES.items():
        al = {bool: "true, false", int: "whole number >= 1"}.get(allowed) if isinstance(
            allowed, type) else ", ".join(f"`{a}`" for a in allowed)
        lines.append(f"| `{k}` | {al} | {getattr(PRESETS['reference'], k)} | "
                     f"{getattr(PRESETS['fixed'], k)} |")
    lines += ["", "What each switch does is documented where it is defined, in "
              "`protocol/variants.py`.", "", "## `[latency]`", "",
              "Seconds per statement kind, as a table with `dist` and its parameters. Kinds not "
              f"named take `default` (itself defaulting to {DEFAULT_LATENCY}).", "",
              "| dist | keys |", "|---|---|",
              "| `fixed` | `value` |", "| `uniform` | `low`, `high` |",
              "| `normal` | `mean`, `sd`, optional `low` (0), `high` (mean + 4 sd): truncated |",
              "| `lognormal` | `median`, `sigma`, optional `cap` (median·e^(4σ)) |",
              "| `empirical` | `samples`: a list of seconds, drawn uniformly |", "",
              "Kinds: " + ", ".join(f"`{o}`" for o in LATENCY_OPS) + ". `connect` is one "
              "benchmark connection (a batch takes its slowest), `proc_start` a worker process "
              "start, `enrich` the PROCESSING step, `benchmark` one benchmark query.", "",
              "## `[sim]`", "", "| key | unit | default | allowed | meaning |",
              "|---|---|---|---|---|"]
    sd = SimSettings(LatencyModel({}, parse_dist(DEFAULT_LATENCY, "x")))
    for k, spec in SIM_KEYS.items():
        allowed = f">= {spec.minimum}" if spec.minimum is not None else "any"
        lines.append(f"| `{k}` | {spec.unit} | {getattr(sd, k)} | {allowed} | {spec.doc} |")
    for k, doc in SIM_BOOL_KEYS.items():
        default = getattr(sd, k) if hasattr(sd, k) else getattr(d, k)
        lines.append(f"| `{k}` | bool | {str(default).lower()} | true, false | {doc} |")
    lines += ["", "## `[coordination]`", "",
              "How workers learn that the run changed (`protocol/actors/polling.py`). `scheme` "
              "is one of " + ", ".join(f"`{c}`" for c in COORD_SCHEMES) + " (default `poll`): "
              "`poll` sleeps `run.status_poll_s` in the wait loop and polls events every "
              "`run.event_poll_s`; `jittered` draws each of those sleeps around the interval; "
              "`adaptive` polls fast near an expected transition and slowly otherwise; `push` "
              "waits for a notice from the orchestrator (latency kind `notify`) and keeps a "
              "slow poll as a fallback.", "",
              "| key | unit | default | allowed | meaning |", "|---|---|---|---|---|"]
    for k, (fname, spec) in COORD_KEYS.items():
        allowed = "> 0" if spec.positive else f">= {spec.minimum}"
        lines.append(f"| `{k}` | {spec.unit} | {getattr(d, fname)} | {allowed} | {spec.doc} |")
    for k, (fname, doc) in COORD_BOOL_KEYS.items():
        lines.append(f"| `{k}` | bool | {str(getattr(d, fname)).lower()} | true, false | {doc} |")
    lines += ["", "## `[cost]`", "",
              "The cost model of the control plane, used by `phaselab sweep`: each control "
              "statement keeps one of `statements_in_parallel` slots of a warehouse busy for its "
              "latency, so a run hour costs (statement-seconds per second) x 3600 x "
              "`warehouse_credits_per_hour` / 3600 / `statements_in_parallel` x "
              "`usd_per_credit`. Hybrid-table request charges and storage are not modelled.", "",
              "| key | unit | default | allowed | meaning |", "|---|---|---|---|---|"]
    for k, spec in COST_KEYS.items():
        allowed = "> 0" if spec.positive else f">= {spec.minimum}"
        lines.append(f"| `{k}` | {spec.unit} | {COST_DEFAULTS[k]} | {allowed} | {spec.doc} |")
    lines += ["", "## `[server]`", "",
              "A shared backend with limited capacity (`sim/server_queue.py`); absent: none, "
              "every statement costs only its [latency]. With it, a statement waits for one of "
              "`slots` places, holds it for a service time drawn from `[server.service]` for "
              "its kind (same distributions as [latency]; kinds not named take "
              "`server.service.default`, or skip the queue when there is none), then pays its "
              "[latency] as the client and network part. Bulk query bursts skip the queue. "
              "`phaselab calibrate` writes this table from a smoke trace.", "",
              "| key | unit | default | allowed | meaning |", "|---|---|---|---|---|"]
    for k, spec in SERVER_KEYS.items():
        lines.append(f"| `{k}` | {spec.unit} | 1 | >= {spec.minimum} | {spec.doc} |")
    lines += scenario_scaling.docs_lines()
    from phaselab.fault_spec import docs_markdown as faults_markdown
    lines += ["", *faults_markdown()]
    lines += ["## `seed`", "", "Top-level whole number from 0 to 2^63 - 1 (default 1): the "
              "seed a run uses when `--seed` is not given.", ""]
    lines += ["## Keys that must agree", "",
              "Checked after each key is valid on its own; the message names the keys and "
              "their values.", ""]
    lines += [f"- {', '.join(f'`{k}`' for k in keys)}: {allowed}."
              for keys, _holds, allowed in CONSISTENCY]
    lines += ["- `[latency]`: `high` >= `low`; a lognormal's `cap` >= its `median` (and "
              "given when `sigma` is so large that median·e^(4σ) overflows).", ""]
    return "\n".join(lines + budget.markdown())
