"""A randomized swarm search for property violations (`phaselab explore`).

Each example starts from the scenario file and lets a random half of the knobs of the search
space (phaselab/search_space.py) take random values, the others keeping the file's (swarm
testing: every example exercises a different subset of features), then runs it with a fresh
simulation seed. Everything comes from one numpy Generator seeded by --seed, so a search is
reproducible for a given number of examples. For each violated property the smallest failing
example (fewest trace records) is kept, as `--set` overrides plus a seed, i.e. a plain
`phaselab run` command that replays it exactly.
"""
from __future__ import annotations

import dataclasses

import json
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from phaselab import replay, scenario as scn
from phaselab.search_space import FULL, NumpyChooser, Space
from protocol.trace import dumps


@dataclass
class Finding:
    property_id: str
    examples: int = 0  # failing examples that violated it
    size: int = 0  # trace records of the smallest one
    sets: list = field(default_factory=list)
    seed: int = 0
    message: str = ""
    excerpt: list = field(default_factory=list)
    case: dict = field(default_factory=dict)


def _toml(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_toml(x)}" for k, x in v.items()) + "}"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def swarm_sets(base: dict, rng: np.random.Generator, variant: str, space: Space) -> list[str]:
    """`--set` overrides for one example: a random half of the space's knobs."""
    cand = space.scenario(NumpyChooser(rng), variant)
    sets = []
    if "faults" in cand:  # the fault model goes as one table (heal_at_s is required)
        sets.append(f"faults={_toml(cand['faults'])}")
    for table in ("run", "latency", "sim", "scaling"):
        for k, v in cand.get(table, {}).items():
            if rng.random() < 0.5 and k in base.get(table, {}):
                continue
            sets.append(f"{table}.{k}={_toml(v)}")
    return sets


def explore(path: str, variant: str | None, budget_s: float, seed: int,
            space: Space = FULL, progress: Callable[[int, int], None] | None = None,
            max_examples: int | None = None) -> tuple[int, dict[str, Finding]]:
    base = scn.load(path)
    variant = variant or base.variant
    if "scaling" in base.raw and not space.scaling:  # a mode scenario: search its settings too
        space = dataclasses.replace(space, scaling=True)
    rng = np.random.default_rng(seed)
    found: dict[str, Finding] = {}
    n = 0
    t_end = time.monotonic() + budget_s
    while time.monotonic() < t_end and (max_examples is None or n < max_examples):
        sets = swarm_sets(base.raw, rng, variant, space)
        run_seed = int(rng.integers(0, 2 ** 31))
        sc = scn.with_overrides(base, run_seed, variant, sets)
        out = replay.run_scenario(sc, run_seed)
        n += 1
        size = len(out.result.records)
        firsts = {}
        for v in out.violations:  # the first violation of each property in this example
            firsts.setdefault(v.property_id, v)
        for v in firsts.values():
            f = found.setdefault(v.property_id, Finding(v.property_id))
            f.examples += 1
            if f.size == 0 or size < f.size:
                f.size, f.sets, f.seed, f.message = size, sets, run_seed, v.message
                f.excerpt = [dumps(r) for r in v.records[:6]]
                f.case = replay.case(sc.raw, run_seed, out.ids, None, v.message)
        if progress:
            progress(n, len(found))
    return n, found


def replay_command(path: str, variant: str, f: Finding) -> str:
    import shlex
    parts = ["phaselab", "run", path, "--seed", str(f.seed), "--variant", variant]
    for s in f.sets:
        parts += ["--set", s]
    return shlex.join(parts)
