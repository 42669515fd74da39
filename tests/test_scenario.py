"""Bad scenario input fails before anything runs: file, key and what is allowed; exit 2."""
import os

import pytest

from phaselab import cli, scenario as scn
from simhelp import BASELINE, ROOT


@pytest.mark.parametrize("sets,needle", [
    (["bogus=1"], "unknown key 'bogus'"),
    (["run.bogus=1"], "unknown key run.'bogus'"),
    (["workers=1.5"], "run.workers must be a whole number"),
    (["warmup_s=\"ten\""], "run.warmup_s must be a number"),
    (["event_poll_s=0"], "run.event_poll_s must be > 0"),
    (["reconcile_s=-5"], "run.reconcile_s must be > 0"),
    (["variant.name=\"nope\""], "unknown variant 'nope'"),
    (["tag_switch=\"sometimes\""], "switch 'tag_switch' takes one of"),
    (["variant.switches.nope=true"], "unknown switch 'nope'"),
    (["latency.connect={dist=\"gamma\"}"], "latency.connect.dist: unknown distribution 'gamma'"),
    (["latency.benchmark={dist=\"uniform\", low=0.2, high=0.1}"], "latency.benchmark: high"),
    (["latency.fetch_events={dist=\"fixed\", value=-1}"], "latency.fetch_events.value: must be >= 0"),
    (["latency.nope={dist=\"fixed\", value=1}"], "unknown key latency.'nope'"),
    (["sim.strict_transitions=3"], "sim.strict_transitions must be true or false"),
])
def test_bad_values_name_file_and_key(sets, needle):
    with pytest.raises(scn.ScenarioError) as err:
        scn.load(BASELINE, sets)
    assert needle in str(err.value)
    assert "baseline.toml" in str(err.value)


def test_cli_exits_2_and_writes_no_trace(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    code = cli.main(["run", BASELINE, "--set", "workers=0", "--trace", str(out)])
    assert code == 2
    assert "run.workers" in capsys.readouterr().err
    assert not out.exists() and os.listdir(tmp_path) == []


def test_unknown_variant_on_command_line_exits_2(capsys):
    assert cli.main(["run", BASELINE, "--variant", "best"]) == 2
    err = capsys.readouterr().err
    assert "unknown variant 'best'" in err and "reference" in err


def test_missing_file_and_bad_toml(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "none.toml")]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nworkers = 2\n")
    assert cli.main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "none.toml: no such scenario file" in err and "bad.toml: not valid TOML" in err


def test_set_shorthands_resolve():
    sc = scn.load(BASELINE, ["workers=2", "tag_switch=\"alter_pool_then_epoch\"",
                             "tz_offset_s=3600", "seed=7"])
    assert sc.cfg.workers == 2 and sc.switches.tag_switch == "alter_pool_then_epoch"
    assert sc.sim.tz_offset_s == 3600 and sc.seed == 7


def test_docs_are_generated_from_the_key_table():
    committed = (ROOT / "docs" / "scenarios.md").read_text()
    assert committed.strip() == scn.docs_markdown().strip(), \
        "docs/scenarios.md is stale: run `phaselab docs scenarios > docs/scenarios.md`"
    for key in scn.RUN_KEYS:
        assert f"`{key}`" in committed
