"""The state tables: legal moves pass, illegal ones raise naming from, to and who."""
import pytest

from protocol import phases as ph


@pytest.mark.parametrize("frm,to", [(None, "PREPARED"), ("PREPARED", "STARTING"),
                                    ("STARTING", "RUNNING"), ("RUNNING", "STOPPING"),
                                    ("STOPPING", "COMPLETED"), ("CANCELLING", "CANCELLED"),
                                    ("RUNNING", "FAILED")])
def test_legal_status_edges_pass(frm, to):
    ph.check_status_edge(frm, to, "orchestrator")


@pytest.mark.parametrize("frm,to", [("COMPLETED", "RUNNING"), ("FAILED", "CANCELLED"),
                                    ("PREPARED", "RUNNING"), ("STOPPING", "FAILED"),
                                    ("CANCELLED", "CANCELLING")])
def test_illegal_status_edge_names_from_to_and_who(frm, to):
    with pytest.raises(ph.IllegalTransition) as err:
        ph.check_status_edge(frm, to, "user")
    msg = str(err.value)
    assert repr(frm) in msg and repr(to) in msg and "user" in msg


def test_phase_only_moves_forward():
    ph.check_phase_edge("WARMUP", "MEASUREMENT", "orchestrator")
    ph.check_phase_edge("MEASUREMENT", "MEASUREMENT", "orchestrator")
    with pytest.raises(ph.IllegalTransition, match="'MEASUREMENT' -> 'WARMUP' by worker-1"):
        ph.check_phase_edge("MEASUREMENT", "WARMUP", "worker-1")


def test_heartbeat_grammar_table():
    seq = [None, "STARTING", "INITIALIZING", "READY", "READY", "RUNNING", "DRAINING",
           "COMPLETED"]
    for a, b in zip(seq, seq[1:]):
        ph.check_heartbeat_edge(a, b, "worker-0")
    with pytest.raises(ph.IllegalTransition):
        ph.check_heartbeat_edge("COMPLETED", "RUNNING", "worker-0")
    with pytest.raises(ph.IllegalTransition):
        ph.check_heartbeat_edge("DRAINING", "DRAINING", "worker-0")


def test_state_machine_doc_is_drawn_from_the_tables():
    from pathlib import Path
    from phaselab import state_docs
    doc = (Path(__file__).resolve().parent.parent / "docs" / "state-machine.md").read_text()
    assert doc.strip() == state_docs.markdown().strip(), \
        "docs/state-machine.md is stale: run `phaselab docs states > docs/state-machine.md`"
    for (a, b) in ph.STATUS_CHANGES:
        assert f"{'[*]' if a is None else a} --> {b}:" in doc
