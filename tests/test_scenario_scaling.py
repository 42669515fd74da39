"""The [scaling] and [warehouse] scenario tables: bad input names file and key (exit 2), good
input sets the mode's worker count and first targets (§9.1-9.3)."""
import pytest

from phaselab import cli, scenario as scn
from simhelp import BASELINE, ROOT

FINDMAX = str(ROOT / "scenarios" / "findmax.toml")


@pytest.mark.parametrize("sets,needle", [
    (["scaling.load_mode=\"TURBO\""], "scaling.load_mode must be one of CONCURRENCY, QPS"),
    (["scaling.scaling_mode=\"ELASTIC\""], "scaling.scaling_mode must be one of AUTO"),
    (["scaling.bogus=1"], "unknown key scaling.'bogus'"),
    (["scaling.max_workers=0"], "scaling.max_workers must be >= 1"),
    (["scaling.step_duration_s=0"], "scaling.step_duration_s must be > 0"),
    (["scaling.start_concurrency=2.5"], "scaling.start_concurrency must be a whole number"),
    (["scaling.min_workers=3", "scaling.max_workers=2"], "scaling.max_workers (2) must be >= "
                                                          "scaling.min_workers (3)"),
    (["scaling.load_mode=\"QPS\""], "scaling.target_qps is required"),
    (["warehouse.slots=0"], "warehouse.slots must be >= 1"),
    (["warehouse.size=\"XL\""], "unknown key warehouse.'size'"),
])
def test_bad_scaling_values_name_file_and_key(sets, needle):
    with pytest.raises(scn.ScenarioError) as err:
        scn.load(FINDMAX, sets)
    assert needle in str(err.value) and "findmax.toml" in str(err.value)


def test_cli_exits_2_on_a_bad_mode(capsys):
    assert cli.main(["run", FINDMAX, "--set", "scaling.load_mode=\"X\""]) == 2
    err = capsys.readouterr().err
    assert "scaling.load_mode" in err and "Traceback" not in err


def test_findmax_sizes_workers_from_the_mode():
    sc = scn.load(FINDMAX, ["scaling.start_concurrency=10"])
    assert sc.cfg.scaling.load_mode == "FIND_MAX"
    assert sc.cfg.workers == 3  # ceil(10 / max_connections 4), §9.1
    assert sc.cfg.connections_per_worker == 4  # the per-worker cap bounds the pool


def test_a_baseline_without_scaling_has_no_mode():
    assert scn.load(BASELINE).cfg.scaling is None
    assert scn.load(BASELINE).sim.warehouse is None
