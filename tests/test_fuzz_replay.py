"""Fuzz the replay-file loader (issue 12): arbitrary bytes and mutations of the committed
regressions. Allowed: a case that replays (its scenario loads, its schedule's tape decodes),
or the usage error."""
from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

from hypothesis import given, strategies as st

from fuzzhelp import VALUES, loads_or_usage_error, mutated
from phaselab import replay, scenario as scn
from phaselab.inputs import budget
from sim.hypothesis_source import TapeSource

REGRESSIONS = sorted((Path(__file__).resolve().parent / "regressions").glob("*.json"))
CASES = [json.loads(p.read_text()) for p in REGRESSIONS]
TAPES = st.one_of(
    st.text(max_size=30), st.sampled_from(["", "====", "eJx", "not base64!", "eJxjYKAuAAAAUAAB"]),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=40).map(lambda b: base64.b64encode(zlib.compress(b)).decode()),
    st.just(base64.b64encode(zlib.compress(b"\0" * (2 << 20))).decode()))  # a zip bomb


def _load_and_replay_setup(tmp_path_factory, data: bytes):
    path = tmp_path_factory.mktemp("fuzz") / "case.json"
    path.write_bytes(data)
    case = loads_or_usage_error(replay.load, str(path))
    if case is None:
        return
    # what `run --replay` does before simulating: everything accepted must get this far
    sc = loads_or_usage_error(scn.from_dict, case["scenario"], str(path))
    if sc is not None:
        loads_or_usage_error(budget.check_scenario, sc, False)
    if case.get("schedule"):
        TapeSource.from_record(case["schedule"])


@given(st.binary(max_size=300))
def test_bytes(tmp_path_factory, data):
    _load_and_replay_setup(tmp_path_factory, data)


@given(st.sampled_from(CASES).flatmap(lambda c: mutated(c, st.one_of(VALUES, TAPES))))
def test_mutated_regressions(tmp_path_factory, case):
    _load_and_replay_setup(tmp_path_factory, json.dumps(case).encode())


@given(st.sampled_from(CASES), TAPES, st.one_of(st.integers(), st.text(max_size=5)))
def test_schedules(tmp_path_factory, case, tape, tail_seed):
    case = dict(case, schedule={"tape": tape, "tail_seed": tail_seed})
    _load_and_replay_setup(tmp_path_factory, json.dumps(case).encode())
