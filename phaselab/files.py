"""Writing output files so that a failure or Ctrl-C never leaves one half-written."""
from __future__ import annotations

import os
import tempfile
from typing import Iterable

from phaselab.errors import UsageError
from protocol.trace import ReadResult, TraceFormatError, read_trace


def user_mode() -> int:
    """The mode a plain open() would give a new file: 0666 less the umask (mkstemp's 0600
    would make reports unreadable to the user's group)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomically(path: str, lines: Iterable[str]) -> None:
    """Write via a temp file in the same folder, then rename over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".phaselab-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.chmod(tmp, user_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_trace_arg(path: str) -> ReadResult:
    """A trace named on the command line; a missing or malformed file is a UsageError."""
    try:
        return read_trace(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such trace file") from None
    except TraceFormatError as exc:
        raise UsageError(str(exc)) from None
