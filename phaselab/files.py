"""Writing output files so that a failure or Ctrl-C never leaves one half-written."""
from __future__ import annotations

import os
import tempfile
from typing import Iterable


def write_atomically(path: str, lines: Iterable[str]) -> None:
    """Write via a temp file in the same folder, then rename over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".phaselab-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
