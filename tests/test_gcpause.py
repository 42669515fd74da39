"""sim/gcpause.py: the cyclic collector is off during a run and back as it was after."""
from __future__ import annotations

import gc

import pytest

from sim.gcpause import no_cyclic_gc


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_collector_off_inside_and_back_on_after(restore_gc):
    gc.enable()
    with no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled_and_an_error_still_restores(restore_gc):
    gc.disable()
    with no_cyclic_gc():
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()
    with pytest.raises(RuntimeError):
        with no_cyclic_gc():
            raise RuntimeError("run failed")
    assert gc.isenabled()
