"""argparse types for numeric options: finite, in range, said in one message.

argparse turns an ArgumentTypeError into `phaselab CMD: error: argument --opt: MESSAGE` and
exit 2, naming the option; the message here says what was found and what is allowed.
"""
from __future__ import annotations

import argparse
import math


def _fail(text: str, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"must be {allowed}, not {text!r}")


def whole(minimum: int = 0, maximum: int | None = None):
    """A whole number in [minimum, maximum]."""
    allowed = f"a whole number >= {minimum}" + (f" and <= {maximum}" if maximum is not None
                                                 else "")

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise _fail(text, allowed) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise _fail(text, allowed)
        return value
    parse.__name__ = "whole number"
    return parse


def seconds(minimum: float = 0.0, strict: bool = False, maximum: float | None = None):
    """A finite number of seconds, > minimum when strict, else >= minimum."""
    allowed = (f"a finite number of seconds {'>' if strict else '>='} {minimum:g}"
               + (f" and <= {maximum:g}" if maximum is not None else ""))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _fail(text, allowed) from None
        if (not math.isfinite(value) or (value <= minimum if strict else value < minimum)
                or (maximum is not None and value > maximum)):
            raise _fail(text, allowed)
        return value
    parse.__name__ = "seconds"
    return parse


# The numbers commands share.
SEED = whole(0, 2 ** 63 - 1)
COUNT = whole(1)
