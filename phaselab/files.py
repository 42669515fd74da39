"""Writing output files: never half-written, never over an input, with the user's normal
permissions; and reading a trace named on the command line."""
from __future__ import annotations

import os
import tempfile
from typing import Callable, Iterable

from phaselab.errors import UsageError
from phaselab.inputs.trace_records import TraceFile, load_trace


def user_mode() -> int:
    """0o666 less the process umask: what open() would give a new file. mkstemp makes 0600
    files; a result others may read should not stay private by accident."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_via_temp(path: str, write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """Let `write` fill a temp file in the same folder, then rename it over `path`; the file
    keeps the mode of the one it replaces, or gets the umask's."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".phaselab-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = user_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomically(path: str, lines: Iterable[str]) -> None:
    """Write text lines via a temp file in the same folder, then rename over `path`."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
    write_via_temp(path, write)


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(path: str, option: str, inputs: Iterable[str | None] = ()) -> None:
    """An output file named by `option`: its folder exists, it is not a folder, and it is
    not one of the command's inputs (checked before anything runs)."""
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder is not writable")
    for inp in inputs:
        if inp and _same(path, inp):
            raise UsageError(f"{option} {path}: is also the input {inp}; phaselab never "
                             f"writes over its input, give another file name")


def read_trace_arg(path: str, option: str | None = None) -> TraceFile:
    """A trace named on the command line; a missing or malformed file is a UsageError."""
    return load_trace(path, option)
