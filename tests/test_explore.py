"""`phaselab explore` and `phaselab run --replay`."""
import json

from phaselab.cli import main
from phaselab.explore import explore
from simhelp import BASELINE

REG = "tests/regressions/user-stop-before-start.json"


def test_explore_finds_nothing_on_fixed():
    n, found = explore(BASELINE, "fixed", 600, seed=3, max_examples=25)
    assert n == 25 and found == {}


def test_explore_finds_reference_bugs_with_replayable_commands(capsys, tmp_path):
    n, found = explore(BASELINE, "reference", 600, seed=3, max_examples=25)
    assert "EPOCH-TAG-AGREE" in found
    f = found["EPOCH-TAG-AGREE"]
    args = ["run", BASELINE, "--seed", str(f.seed), "--variant", "reference", "--json"]
    for s in f.sets:
        args += ["--set", s]
    assert main(args) == 1
    out = json.loads(capsys.readouterr().out)
    assert "EPOCH-TAG-AGREE" in [g["property"] for g in out["verdict"]["violated"]]


def test_explore_command_exit_codes(capsys, tmp_path):
    assert main(["explore", BASELINE, "--budget", "0"]) == 2
    assert main(["explore", BASELINE, "--variant", "nope", "--budget", "1"]) == 2
    (tmp_path / "a-file").write_text("x")  # a missing --save folder is created; a file is not one
    assert main(["explore", BASELINE, "--save", str(tmp_path / "a-file"), "--budget", "1"]) == 2
    capsys.readouterr()
    assert main(["explore", BASELINE, "--variant", "epoch-before-tag", "--budget", "3",
                 "--save", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    saved = out["findings"][0]["replay_file"]
    assert main(["run", "--replay", saved, "--json"]) == 1


def test_run_replay(capsys):
    assert main(["run", "--replay", REG, "--json"]) == 3  # stopped before it started
    out = json.loads(capsys.readouterr().out)
    assert out["replay"] == f"phaselab run --replay {REG}"
    assert main(["run", "--replay", REG, "--seed", "3"]) == 2
    assert main(["run", "--replay", "tests/regressions/nope.json"]) == 2
    assert main(["run"]) == 2
