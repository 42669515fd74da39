"""The fuzz corpus (tests/fuzz_corpus/): malformed inputs found by the fuzz tests, the fuzz
campaign (benchmarks/fuzz_campaign.py) or issue 12's report, each replayed through its
loader. Each must be refused with the usage error naming the file; the valid/ files must
load (a false alarm on a real trace is as bad as a miss)."""
from __future__ import annotations

from pathlib import Path

import pytest

from fuzzhelp import CORPUS, USAGE_ERRORS
from phaselab import replay, scenario as scn
from phaselab.inputs import budget
from phaselab.inputs.trace_records import load_trace


def _scenario(path: str) -> None:
    budget.check_scenario(scn.load(path), allow_large=False)


def _replay(path: str) -> None:  # what `run --replay` checks before it simulates
    _ = scn.from_dict(replay.load(path)["scenario"], path)


LOADERS = {"scenario": _scenario, "replay": _replay, "trace": load_trace}
CASES = sorted((kind, p) for kind in LOADERS for p in (CORPUS / kind).iterdir())


def test_the_corpus_is_there():
    assert {k for k, _ in CASES} == set(LOADERS) and len(CASES) >= 60


@pytest.mark.parametrize("kind,path", CASES, ids=[f"{k}/{p.name}" for k, p in CASES])
def test_each_malformed_input_is_a_usage_error_naming_the_file(kind, path: Path):
    with pytest.raises(USAGE_ERRORS) as err:
        LOADERS[kind](str(path))
    assert str(path) in str(err.value)


def test_valid_traces_load_without_a_false_alarm():
    tf = load_trace(str(CORPUS / "valid" / "live-embedded.jsonl"))
    assert tf.records[0]["world"] == "live" and tf.truncated_line is None
    assert any(r["kind"] == "run_end" for r in tf.records)
