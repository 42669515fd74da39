"""`phaselab explore`: a Hypothesis search for property violations that shrinks what it finds.

Three stages, each deterministic for a seed, whatever the machine's load or `--jobs`:

1. **Search.** The example budget (`--max-examples`) is cut into shards whose sizes depend
   on the budget only, large first and smaller toward the end (plan()), so that processes
   finish together; shard i is one Hypothesis run seeded from (seed, i). An example is a
   swarm scenario (phaselab/search_space.py: each example enables a random subset of
   features) plus a schedule tape (sim/hypothesis_source.py). Nothing fails inside
   Hypothesis here, so it never stops early (its multi-bug search would stop on a wall-clock
   rule); every violation is recorded instead, keyed by property and cause, with the
   example's Hypothesis choices. Coverage (phaselab/coverage.py) is tallied and fed to
   `hypothesis.target()` to steer toward examples that reach more, and new, items.
2. **Past failures first.** With a database folder, the shrunk failures of earlier runs
   (same scenario, variant and space) are replayed before the search.
3. **Shrink.** Each distinct failure (property, cause) is replayed from its recorded choices
   and shrunk by Hypothesis with a test that fails only on that key, to a minimal scenario
   and schedule; at most SHRINK_CALLS simulations each. The minimal example is saved to the
   database folder and returned as a replay case (phaselab/replay.py).

Shards and shrinks run in `--jobs` processes or as Dask tasks (`--scheduler`); results are
merged in shard and key order, so the report does not depend on the number of processes.
`--time-budget` only stops starting new shards and shrinks (the findings then depend on the
machine's speed, and say so).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from phaselab import coverage, parallel, replay, scenario as scn
from phaselab.search_space import SPACES, HypChooser, Space
from protocol.checks import CHECKERS
from protocol.trace import Trace, dumps

SHARD_MAX = 200  # examples per shard at most (a shard is one Hypothesis run)
SHARD_MIN = 25
SHARD_TAPER = 4  # a shard takes at most 1/SHARD_TAPER of the examples left (plan())
SHRINK_CALLS = 400  # simulations one shrink may spend; then it keeps what it has
DEFAULT_DB = ".phaselab/explore-db"  # the example database folder, under the working dir


# --- what a failure is --------------------------------------------------------------------

def cause(message: str) -> str:
    """A violation message with its numbers, worker names and ids taken out: what differs
    between two failures of one property that have different causes."""
    m = re.sub(r"worker-\d+", "worker-N", message)
    m = re.sub(r"flakebench:test_id=\S*?:", "flakebench:test_id=…:", m)
    m = re.sub(r"\d+(\.\d+)?", "#", m)
    m = re.sub(r"(worker-N'?,\s*'?)+worker-N", "worker-N…", m)
    return m


def key_of(v) -> str:
    return f"{v.property_id}: {cause(v.message)}"


def meaning(property_id: str) -> str:
    """What a property asks: its line of the property catalogue (docs/properties.md)."""
    from phaselab import catalogue
    return catalogue.line(property_id)


# --- one example ----------------------------------------------------------------------------

def _merge(base: dict, drawn: dict) -> dict:
    """The scenario file's tables with the drawn keys on top (seed dropped: the tape decides)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items() if k != "seed"}
    for k, v in drawn.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


def space_for(job: "Job") -> Space:
    """The named space, also over the load mode and its settings on a `[scaling]` scenario."""
    space = SPACES[job.space]
    if "scaling" in job.scenario and not space.scaling:
        space = dataclasses.replace(space, scaling=True)
    return space


def draw_example(data, base: dict, variant: str, space: Space):
    """Scenario and schedule from Hypothesis, the run, its checkers: (raw, schedule, outcome)."""
    from sim.hypothesis_source import HypothesisSource
    raw = _merge(base, space.scenario(HypChooser(data), variant))
    src = HypothesisSource(data)
    out = replay.run_scenario(scn.from_dict(raw, "<explore>"), 0, src, keep=True)
    return raw, src.record(), out


@dataclass
class Example:
    """The smallest example seen for one failure key."""
    key: str
    property_id: str
    message: str
    records: int
    order: tuple  # (shard, call) where it was first kept: ties broken by it
    choices: tuple  # Hypothesis choices that replay it
    case: dict  # replay case (scenario, tape)
    excerpt: list = field(default_factory=list)


def _example(v, raw, sched, out, order, choices) -> Example:
    return Example(key_of(v), v.property_id, v.message, len(out.result.records), order,
                   tuple(choices), replay.case(raw, 0, out.ids, sched, str(v)[:300]),
                   [dumps(r)[:300] for r in v.records[:6]])


def _smaller(a: Example | None, b: Example) -> bool:
    return a is None or (b.records, b.order) < (a.records, a.order)


# --- stage 1: search shards ----------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    scenario: dict
    variant: str
    space: str
    seed: int
    shard: int = 0
    examples: int = 0
    key: str = ""  # shrink: the failure key
    choices: tuple = ()  # shrink/replay: the example to start from
    shrink_calls: int = 0  # shrink: simulations it may spend


@dataclass
class ShardResult:
    shard: int
    examples: int = 0
    counts: Counter = field(default_factory=Counter)  # coverage item -> examples
    hits: Counter = field(default_factory=Counter)  # failure key -> examples
    best: dict = field(default_factory=dict)  # failure key -> Example
    features: Counter = field(default_factory=Counter)  # swarm feature -> examples


def plan(max_examples: int) -> list[int]:
    """Shard sizes: a function of the budget alone, so any --jobs runs the same shards.

    Each shard takes 1/SHARD_TAPER of the examples still unplanned, between SHARD_MIN and
    the budget's largest shard (1/8 of it, at most SHARD_MAX), so shards shrink toward the
    end (guided self-scheduling): with up to about SHARD_TAPER processes the last to finish
    runs a small shard alone, not a whole one (ten equal shards left one process idle for
    1.5 s of a 2-process, 2,000-example search). The large shards come first, with the
    sizes and seeds they had before the taper; budgets up to 200 are cut as before."""
    largest = min(SHARD_MAX, max(SHARD_MIN, math.ceil(max_examples / 8)))
    sizes, left = [], max_examples
    while left > 0:
        size = min(left, largest, max(SHARD_MIN, math.ceil(left / SHARD_TAPER)))
        sizes.append(size)
        left -= size
    return sizes


def shard_seed(seed: int, i: int) -> int:
    return int.from_bytes(hashlib.sha256(f"phaselab-explore:{seed}:{i}".encode()).digest()[:8],
                          "big")


def _settings(**kw):
    from hypothesis import HealthCheck, settings
    base = dict(deadline=None, derandomize=False, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    return settings(**{**base, **kw})


def _no_wall_clock_limits() -> None:
    """Hypothesis caps shrinking at 5 minutes of wall clock; a loaded machine would then
    shrink less. Our cap is SHRINK_CALLS simulations (a count) instead."""
    try:
        from hypothesis.internal.conjecture import engine
        engine.MAX_SHRINKING_SECONDS = 10 ** 6
    except (ImportError, AttributeError):  # pragma: no cover - a Hypothesis without it
        pass


@contextlib.contextmanager
def _no_local_constants():
    """Hypothesis mixes into its draws literal constants harvested from every local module
    in sys.modules, so the examples of a seed depended on what else the process had
    imported (the CLI's commands, pytest's test modules, a fork server, a Dask worker):
    findings then differed with --jobs or --scheduler. The pool is held empty here."""
    try:
        from hypothesis.internal.conjecture import providers
        empty = providers.Constants()
        before = providers._get_local_constants
    except (ImportError, AttributeError):  # pragma: no cover - a Hypothesis without it
        yield
        return
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = before
        providers.CONSTANTS_CACHE.cache.clear()


def run_shard(job: Job, database=None) -> ShardResult:
    """Generate job.examples examples (or, with `database`, replay its saved ones only)."""
    from hypothesis import Phase, given, strategies as st, target
    space = space_for(job)
    res = ShardResult(job.shard)
    tally = coverage.Tally()

    @given(st.data())
    def search(data):
        raw, sched, out = draw_example(data, job.scenario, job.variant, space)
        res.examples += 1
        its = coverage.items(Trace(out.result.records))
        new = tally.add(its)
        target(float(len(its)), label="coverage items in the example")
        target(float(new), label="coverage items new to the search")
        res.features.update(Space.features_of(raw))
        firsts: dict = {}
        for v in out.violations:
            firsts.setdefault(key_of(v), v)
        for k, v in firsts.items():
            res.hits[k] += 1
            ex = _example(v, raw, sched, out, (job.shard, res.examples),
                          data.conjecture_data.choices)
            if _smaller(res.best.get(k), ex):
                res.best[k] = ex

    if database is not None:  # stage 2: only what the database holds
        s = _settings(max_examples=max(1, job.examples), database=database,
                      phases=[Phase.reuse])
    else:
        s = _settings(max_examples=job.examples, phases=[Phase.generate, Phase.target])
    search = _seeded(s(search), job.seed, db_key(job))
    with _no_local_constants():
        search()
    res.counts = tally.counts
    return res


def _seeded(test, seed: int, key: bytes):
    """Fix a @given test's random seed and database key. (hypothesis.seed() would also turn
    the database off, and the database is how a recorded example is handed to the shrinker
    and how past failures come back.)"""
    test._hypothesis_internal_use_seed = seed
    test._hypothesis_internal_database_key = key
    return test


def db_key(job: Job) -> bytes:
    """The database key of a search: the scenario, variant and space (not the seed)."""
    blob = json.dumps([job.scenario, job.variant, job.space], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest().encode()


# --- stage 3: shrink one failure ------------------------------------------------------------

class Found(Exception):
    pass


@dataclass
class Shrunk:
    key: str
    example: Example | None  # None: the recorded choices did not reproduce it
    calls: int = 0
    capped: bool = False


def shrink(job: Job) -> Shrunk:
    """Replay job.choices and let Hypothesis shrink it while job.key still fails."""
    from hypothesis import Phase, given, strategies as st
    from hypothesis.database import InMemoryExampleDatabase, choices_to_bytes
    _no_wall_clock_limits()
    space = space_for(job)
    db = InMemoryExampleDatabase()
    key = hashlib.sha256(f"shrink:{job.key}".encode()).digest()
    # One trailing choice more than the example uses: Hypothesis then does not take the entry
    # for an already-shrunk failure (its fast path), and shrinks it.
    db.save(key, choices_to_bytes(tuple(job.choices) + (0,)))
    state = {"calls": 0, "best": None, "best_choices": None}

    @given(st.data())
    def still_fails(data):
        state["calls"] += 1
        if state["calls"] > job.shrink_calls and state["best"] is not None:
            # Out of budget: draw the example's choices without simulating it; only the
            # best example found so far still fails, so the shrinker stops there.
            from sim.hypothesis_source import HypothesisSource
            space.scenario(HypChooser(data), job.variant)
            HypothesisSource(data)
            if tuple(data.conjecture_data.choices) == state["best_choices"]:
                raise Found(job.key)
            return
        raw, sched, out = draw_example(data, job.scenario, job.variant, space)
        hits = [v for v in out.violations if key_of(v) == job.key]
        if hits:
            choices = tuple(data.conjecture_data.choices)
            ex = _example(hits[0], raw, sched, out, (0, state["calls"]), choices)
            state["best"], state["best_choices"] = ex, choices
            raise Found(job.key)

    s = _settings(max_examples=1, database=db, phases=[Phase.reuse, Phase.shrink])
    test = _seeded(s(still_fails), job.seed, key)
    try:
        with _no_local_constants():
            test()
    except Found:
        pass
    return Shrunk(job.key, state["best"], min(state["calls"], job.shrink_calls),
                  state["calls"] > job.shrink_calls)


# --- the whole search -----------------------------------------------------------------------

@dataclass
class Finding:
    key: str
    property_id: str
    meaning: str
    examples: int  # search examples that violated it
    first: Example  # the smallest example the search saw
    shrunk: Example | None  # after shrinking (None: not shrunk)
    shrink_calls: int = 0
    capped: bool = False
    from_database: bool = False


@dataclass
class Report:
    scenario: str
    variant: str
    space: str
    seed: int
    max_examples: int
    examples: int
    shards: int
    shards_run: int
    findings: list[Finding]
    tally: coverage.Tally
    features: Counter
    replayed: int = 0  # examples replayed from the database
    time_capped: bool = False
    wall_s: float = 0.0
    parallel: dict = field(default_factory=dict)  # per-process accounting: shards, shrinks


def open_database(folder: str | None):
    if not folder:
        return None
    from hypothesis.database import DirectoryBasedExampleDatabase
    return DirectoryBasedExampleDatabase(folder)


def explore(path: str, variant: str | None = None, max_examples: int = 200, seed: int = 0,
            jobs: int = 1, time_budget_s: float | None = None, database: str | None = None,
            space: str = "swarm", shrink_calls: int = SHRINK_CALLS,
            progress: Callable[[str, int, int, int], None] | None = None,
            scheduler: str | None = None) -> Report:
    """Search, replay past failures, shrink; see the module docstring."""
    wall0 = time.monotonic()
    base = scn.load(path)
    variant = variant or base.variant
    raw = dict(base.raw)
    raw["variant"] = {**raw.get("variant", {}), "name": variant}
    deadline = None if time_budget_s is None else wall0 + time_budget_s
    sizes = plan(max_examples)
    jobs_ = [Job(raw, variant, space, shard_seed(seed, i), i, n) for i, n in enumerate(sizes)]
    db = open_database(database)
    state = {"examples": 0, "found": set()}

    def on_shard(r: ShardResult | None):
        if r is not None:
            state["examples"] += r.examples
            state["found"].update(r.hits)
        if progress:
            progress("search", state["examples"], max_examples, len(state["found"]))

    # past failures first (in this process: the database is a folder of files). Hypothesis's
    # reuse phase replays max(2, max_examples) saved entries, so ask for all of them.
    saved = len(list(db.fetch(db_key(jobs_[0])))) if db is not None else 0
    past = run_shard(Job(raw, variant, space, shard_seed(seed, -1), -1, saved), db) \
        if saved else None
    timings: list = []
    epoch0 = time.time()
    results = parallel.run_tasks(run_shard, jobs_, jobs=jobs, scheduler=scheduler,
                                 deadline=deadline, on_done=on_shard, timings=timings)
    epoch1 = time.time()
    ran = [r for r in results if r is not None]
    tally = coverage.Tally()
    hits: Counter = Counter()
    best: dict[str, Example] = {}
    features: Counter = Counter()
    for r in ([past] if past else []) + ran:
        if r is not past:
            tally.merge(coverage.tally_of(r.counts, r.examples))
            features.update(r.features)
        hits.update(r.hits)
        for k, ex in r.best.items():
            if _smaller(best.get(k), ex):
                best[k] = ex
    keys = sorted(best)
    shrunk: list = [None] * len(keys)
    shrinks = None  # the shrinks' own accounting (they start after the whole search)
    if shrink_calls > 0 and keys:
        sjobs = [Job(raw, variant, space, shard_seed(seed, 10 ** 6 + i), key=k,
                     choices=best[k].choices, shrink_calls=shrink_calls)
                 for i, k in enumerate(keys)]
        done = [0]

        def on_shrink(_):
            done[0] += 1
            if progress:
                progress("shrink", done[0], len(keys), len(keys))
        stimings: list = []
        s0 = time.time()
        shrunk = parallel.run_tasks(shrink, sjobs, jobs=jobs, scheduler=scheduler,
                                    deadline=deadline, on_done=on_shrink, timings=stimings)
        shrinks = parallel.accounting(stimings, s0, time.time())
    findings = []
    for k, s in zip(keys, shrunk):
        ex = best[k]
        f = Finding(k, ex.property_id, meaning(ex.property_id), hits[k], ex,
                    s.example if s else None, s.calls if s else 0, s.capped if s else False,
                    from_database=past is not None and k in past.best)
        findings.append(f)
    if db is not None:
        key = db_key(jobs_[0])
        from hypothesis.database import choices_to_bytes
        for f in findings:
            db.save(key, choices_to_bytes((f.shrunk or f.first).choices))
    findings.sort(key=lambda f: (list(CHECKERS).index(f.property_id), f.key))
    return Report(path, variant, space, seed, max_examples, tally.examples, len(sizes),
                  len(ran), findings, tally, features,
                  replayed=past.examples if past else 0,
                  time_capped=len(ran) < len(sizes)
                  or (shrink_calls > 0 and any(s is None for s in shrunk)),
                  wall_s=time.monotonic() - wall0,
                  parallel={"scheduler": scheduler,
                            **parallel.accounting(timings, epoch0, epoch1),
                            "shrinks": shrinks})


# --- presenting a finding -------------------------------------------------------------------

def scenario_summary(raw: dict) -> dict:
    """The few scenario values a reader compares between an unshrunk and a shrunk example."""
    run, lat = raw.get("run", {}), raw.get("latency", {})
    out = {k: run.get(k) for k in ("workers", "connections_per_worker", "warmup_s",
                                   "duration_s", "dashboards") if k in run}
    if run.get("user_stop_at_s", -1) >= 0:
        out["user_stop_at_s"] = run["user_stop_at_s"]
    for k in ("status_poll_s", "event_poll_s", "orchestrator_poll_s", "reconcile_s"):
        if k in run:
            out[k] = run[k]
    if raw.get("coordination"):
        out["coordination"] = raw["coordination"]
    if raw.get("sim", {}).get("visibility_lag_s"):
        out["visibility_lag_s"] = raw["sim"]["visibility_lag_s"]
    d = lat.get("default", {})
    if d:
        out["write_latency"] = [d.get("low"), d.get("high")]
    return out


def tape_summary(case: dict) -> str:
    s = case.get("schedule") or {}
    return f"{s.get('tape_bytes', 0)} tape bytes"
