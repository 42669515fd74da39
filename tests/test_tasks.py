"""tasks.py's install step: pip's chatter goes to a log, the user sees progress lines, and a
failure shows the log's tail."""
import importlib.util
import sys

import pytest

from simhelp import ROOT


def _tasks():
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FAKE_PIP = ("import time\nfor i in range(40):\n    print(f'Collecting pkg{i}')\n"
            "    print('  WARNING: something pip-ish')\n"
            "print('Installing collected packages: pkg0')\n")


def test_install_output_goes_to_the_log_and_progress_to_stderr(tmp_path, capsys):
    log = tmp_path / "pip.log"
    _tasks()._pip_install([sys.executable, "-c", FAKE_PIP], log)
    err = capsys.readouterr().err
    assert "WARNING" not in err and "Collecting" not in err
    assert "tasks.py: installed in" in err and str(log) in err
    assert log.read_text().count("Collecting pkg") == 40


def test_install_failure_shows_the_log_tail(tmp_path, capsys):
    log = tmp_path / "pip.log"
    with pytest.raises(SystemExit) as exc:
        _tasks()._pip_install([sys.executable, "-c", "print('ERROR: no such package'); "
                               "raise SystemExit(3)"], log)
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert "ERROR: no such package" in err and "pip failed (exit 3)" in err
