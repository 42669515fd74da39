"""Fuzz the command-line number types (issue 12): any text given to a numeric option of
run, sweep, explore or smoke is either a finite value in range or argparse's usage error
(exit 2, naming the option); never NaN, inf or a traceback."""
from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given, strategies as st

from phaselab import cli
from phaselab.inputs.numbers import COUNT, SEED, seconds, whole

TEXTS = st.one_of(st.text(max_size=12), st.sampled_from(
    ["nan", "NaN", "inf", "-inf", "1e400", "-0", "0", "1e-9", " 3 ", "0x10", "1_000", "3.0",
     "9" * 40, "-1", "1e308", "٣"]), st.floats().map(repr), st.integers().map(str))
OPTIONS = [("run", "--seed"), ("sweep", "--reps"), ("sweep", "--jobs"), ("sweep", "--seed"),
           ("explore", "--time-budget"), ("explore", "--seed"), ("smoke", "--workers"),
           ("smoke", "--connections"), ("smoke", "--warmup"), ("smoke", "--measure"),
           ("smoke", "--think-time"), ("smoke", "--statement-timeout"),
           ("smoke", "--login-timeout")]
POSITIONAL = {"run": ["s.toml"], "sweep": ["s.toml"], "explore": ["s.toml"], "smoke": []}
PARSER = cli._parser()[0]


@given(TEXTS)
def test_types_accept_only_finite_values_in_range(text):
    for parse, ok in ((COUNT, lambda v: isinstance(v, int) and v >= 1),
                      (SEED, lambda v: isinstance(v, int) and 0 <= v < 2 ** 63),
                      (whole(2, 5), lambda v: 2 <= v <= 5),
                      (seconds(0, strict=True, maximum=10), lambda v: 0 < v <= 10),
                      (seconds(0), lambda v: math.isfinite(v) and v >= 0)):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as exc:
            assert repr(text) in str(exc)  # the message shows what was found
            continue
        assert ok(value), (text, value)


@pytest.mark.parametrize("command,option", OPTIONS)
@given(text=TEXTS)
def test_every_numeric_option_parses_or_is_a_usage_error(command, option, text):
    try:
        args = PARSER.parse_args([command, *POSITIONAL[command], f"{option}={text}"])
    except SystemExit as exc:
        assert exc.code == 2
        return
    value = getattr(args, option.lstrip("-").replace("-", "_"))
    assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
