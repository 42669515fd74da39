"""Fuzz the scenario loader (issue 12): arbitrary bytes, TOML-like documents, mutations of
the baseline and `--set` texts. Allowed: a valid Scenario whose size can be estimated, or the
usage error. Anything else (UnicodeDecodeError, RecursionError, TypeError, OverflowError) is
a bug of the validation layer."""
from __future__ import annotations

import tomllib

from hypothesis import given, strategies as st

from fuzzhelp import VALUES, loads_or_usage_error, mutated
from phaselab import scenario as scn
from phaselab.inputs import budget
from simhelp import BASELINE

BASE = tomllib.loads(open(BASELINE, encoding="utf-8").read())
KEYS = [*scn.TOP_LEVEL, *scn.RUN_KEYS, *scn.SIM_KEYS, *scn.SIM_BOOL_KEYS, *scn.COORD_KEYS,
        *scn.COST_KEYS, *scn.LATENCY_OPS, "name", "switches", "dist", "median", "sigma", "cap",
        "low", "high", "value", "mean", "sd", "samples", "scheme", "service", "slots"]
DOCS = st.recursive(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5),
                    lambda inner: st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
                    max_leaves=20)


def _valid_or_usage(raw) -> None:
    sc = loads_or_usage_error(scn.from_dict, raw, "fuzz.toml")
    if sc is not None:  # a scenario phaselab accepts must also be sized without crashing
        loads_or_usage_error(budget.check_scenario, sc, False)


@given(st.one_of(st.binary(max_size=200),
                 st.sampled_from([b"\xff\xfe[\x00r\x00", "a = 'é'".encode("latin-1"),
                                  b"\x1f\x8b\x08\x00", b"[run]\x00", b"a = " + b"[" * 2000,
                                  b"\xef\xbb\xbf[run]\nworkers = 2\n"])))
def test_bytes_into_the_file_loader(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "s.toml"
    path.write_bytes(data)
    sc = loads_or_usage_error(scn.load, str(path))
    assert sc is None or isinstance(sc, scn.Scenario)


@given(DOCS)
def test_documents_into_from_dict(raw):
    _valid_or_usage(raw)


@given(mutated(BASE))
def test_mutations_of_the_baseline(raw):
    _valid_or_usage(raw)


@given(st.lists(st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS + ["run.workers", "latency.x.y",
                                                               "seed.x", "", "."]),
              st.one_of(st.text(max_size=20), st.sampled_from(
                  ["nan", "inf", "-1", "1e400", "[[[[", "{dist=[1]}", "[" * 1500, "1e-9",
                   "{dist=\"lognormal\", median=1, sigma=1000}", "0", "10000000000"])))),
    max_size=3))
def test_set_texts(sets):
    raw = loads_or_usage_error(scn.apply_sets, BASE, sets, "fuzz.toml")
    if raw is not None:
        _valid_or_usage(raw)
