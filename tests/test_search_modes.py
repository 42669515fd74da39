"""The modes in the search space: every draw is a valid scenario, both load modes and all
scaling modes come up, and a space without modes draws exactly what it drew before."""
import numpy as np

from phaselab import scenario as scn
from phaselab.explore import Job, _merge, space_for
from phaselab.search_space import FULL, NumpyChooser, Space
from simhelp import ROOT

FINDMAX = str(ROOT / "scenarios" / "findmax.toml")


def test_mode_draws_are_valid_scenarios_and_cover_the_modes():
    space = Space(scaling=True)
    seen = set()
    for seed in range(60):
        raw = space.scenario(NumpyChooser(np.random.default_rng(seed)), "fixed")
        sc = scn.from_dict(raw, f"<draw {seed}>")  # raises on an invalid draw
        seen.add((sc.cfg.scaling.load_mode, sc.cfg.scaling.scaling_mode))
    assert {m for m, _ in seen} == {"FIND_MAX", "QPS"}
    assert {s for _, s in seen} == {"AUTO", "BOUNDED", "FIXED"}


def test_a_space_without_modes_draws_what_it_drew_before():
    a = FULL.scenario(NumpyChooser(np.random.default_rng(3)), "fixed")
    b = Space(scaling=True).scenario(NumpyChooser(np.random.default_rng(3)), "fixed")
    assert "scaling" not in a
    assert {k: b[k] for k in a} == a  # the mode draws come after all the others


def test_explore_on_a_mode_scenario_draws_the_mode():
    base = scn.load(FINDMAX)
    space = space_for(Job(base.raw, "fixed", "swarm", 1))
    assert space.scaling
    assert not space_for(Job(scn.load(str(ROOT / "scenarios" / "baseline.toml")).raw,
                             "fixed", "swarm", 1)).scaling
    drawn = space.scenario(NumpyChooser(np.random.default_rng(1)), "fixed")
    assert "scaling" in drawn
    scn.from_dict(_merge(base.raw, drawn), "<draw>")  # and it loads
