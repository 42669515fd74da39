"""Reading a file named on the command line: every way it can fail is a UsageError.

A file that is missing, a folder, unreadable, larger than phaselab would hold in memory or
not UTF-8 text (UTF-16, Latin-1, gzip, binary) gets a message that names it, the option it
came from and what was expected; never an OSError or UnicodeDecodeError traceback.
"""
from __future__ import annotations

import os

from phaselab.errors import UsageError

MAX_INPUT_BYTES = 256 * 1024 * 1024  # a trace of ~1 M records; more would not fit in memory


def label(path: str, option: str | None) -> str:
    """How an error names the input: `--replay FILE` or just `FILE` for a positional."""
    return f"{option} {path}" if option else path


def read_text(path: str, what: str, option: str | None = None,
              max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The file's text, decoded as UTF-8 (a leading BOM is dropped). `what` names the kind
    of file, e.g. "scenario file (TOML)"."""
    name = label(path, option)
    if os.path.isdir(path):
        raise UsageError(f"{name}: is a folder; expected a {what}")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise UsageError(f"{name}: {size:,} bytes; a {what} may be at most "
                                 f"{max_bytes:,} bytes")
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise UsageError(f"{name}: no such {what}") from None
    except PermissionError:
        raise UsageError(f"{name}: permission denied; cannot read the {what}") from None
    except OSError as exc:
        raise UsageError(f"{name}: cannot be read ({exc.strerror or exc}); expected "
                         f"{what}") from None
    if len(data) > max_bytes:  # a pipe or special file that grows past the limit
        raise UsageError(f"{name}: more than {max_bytes:,} bytes; a {what} may be at most that")
    if data.startswith(b"\x1f\x8b"):
        raise UsageError(f"{name}: a gzip file; expected a {what} as plain UTF-8 text "
                         f"(gunzip it first)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"{name}: UTF-16 text; expected a {what} in UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UsageError(f"{name}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                         f"offset {exc.start}); expected a {what} in UTF-8") from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise UsageError(f"{name}:{line}: holds a NUL byte (a binary file?); expected a {what}")
    return text.removeprefix("\ufeff")
