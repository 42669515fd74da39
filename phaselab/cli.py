"""The `phaselab` command line. Exit codes: 0 clean, 1 property violated, 2 bad input,
3 nothing to judge (the run never started, the trace has no run_end, or a search ran 0
examples; phaselab/errors.py), 99 a --threshold failed (as k6), 130 interrupted, 141 output
pipe closed early.

Each subcommand is a module in phaselab/commands/ with NAME, HELP, add_arguments(parser),
run(args) -> exit code and, optionally, EXAMPLE (a command line shown in its --help);
add it to COMMANDS.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from phaselab import scenario as scn
from phaselab.errors import UsageError

COMMANDS = [
    "phaselab.commands.run",
    "phaselab.commands.check",
    "phaselab.commands.docs",
    "phaselab.commands.sweep",
    "phaselab.commands.diff",
    "phaselab.commands.seed_validation",
    "phaselab.commands.smoke",
    "phaselab.commands.calibrate",
    "phaselab.commands.explore",
    "phaselab.commands.upstream",
    "phaselab.commands.conform",
    "phaselab.commands.controllers",
]

EXIT_CODES = ("exit codes: 0 clean; 1 a property was violated (or the run did not complete); "
              "2 bad input (the message names the file or argument); 3 nothing to judge (the "
              "run never started, no run_end, 0 examples); 99 a --threshold failed; "
              "130 interrupted; 141 the output pipe closed early (e.g. `| head`)")

# Help for options that a command module leaves without any, by destination (same meaning
# in every command).
COMMON_HELP = {
    "json": "print the result as one JSON object instead of tables",
    "seed": "the run's seed (default: the scenario's)",
    "variant": "behaviour preset (protocol/variants.py; docs/scenarios.md)",
    "set": "override a scenario key, e.g. --set workers=8 (repeatable)",
    "trace": "write the JSON-lines trace to this file",
    "scenario": "scenario TOML file (docs/scenarios.md)",
    "budget": "seconds to search",
    "case": "one more combination with its own label, after the cross product",
    "save": "folder for one replay file per finding (created if missing)",
    "backend": "where the live run goes",
    "workers": "worker processes",
    "warmup": "warmup seconds",
    "measure": "measurement seconds",
    "connections": "connections per worker",
    "out": "output file or folder",
    "replay": "a saved counterexample to replay",
    "reps": "replications per case",
    "jobs": "processes",
    "login_timeout": "seconds to wait for a connection's login",
    "map": "statement map (default: the one in upstream/maps/ for the checkout's commit)",
    "timeout": "the run step's limit; then it is stopped and cleaned up",
}

# An example per command whose module does not give one.
EXAMPLES = {
    "run": "phaselab run scenarios/baseline.toml --variant reference --seed 3 --plot run.png",
    "check": "phaselab check out/run.jsonl --json",
    "explore": "phaselab explore scenarios/baseline.toml --variant reference --budget 30 "
               "--save out/found",
    "smoke": "phaselab smoke --workers 3 --measure 5 --threshold 'detection_ms.p95<2000'",
    "calibrate": "phaselab calibrate smoke.jsonl --out scenarios/calibrated.toml",
    "seed-validation": "phaselab seed-validation --out docs/seed-validation.md",
    "upstream": "phaselab upstream ../flakebench --workers 2 --trace out/upstream.jsonl",
    "conform": "phaselab conform --upstream-trace out/upstream.jsonl --seeds 20 --plot out/conform.png",
    "controllers": "phaselab controllers scenarios/findmax.toml --set warehouse.slots=4,8 --reps 5",
}


def version() -> str:
    try:
        from importlib.metadata import version as v
        return v("phaselab")
    except Exception:  # not installed (run from a source tree)
        return "unknown"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows each option's default (argparse's own formatter would hide defaults
    of options without help text, and would rewrap the example)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (default not in (None, False, [], argparse.SUPPRESS) and "%(default)" not in text
                and action.option_strings and "default" not in text):
            text += " (default: %(default)s)"
        return text


def _fill_help(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if not action.help and action.dest in COMMON_HELP:
            action.help = COMMON_HELP[action.dest]


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    p = argparse.ArgumentParser(prog="phaselab", description=__doc__.splitlines()[0],
                                epilog=EXIT_CODES, formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"phaselab {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    mods = {}
    for name in COMMANDS:
        mod = importlib.import_module(name)
        example = getattr(mod, "EXAMPLE", None) or EXAMPLES.get(mod.NAME)
        epilog = (f"example:\n  {example}\n\n" if example else "") + EXIT_CODES
        sp = sub.add_parser(mod.NAME, help=mod.HELP.replace("%", "%%"), description=mod.HELP,
                            epilog=epilog,
                            formatter_class=_Formatter)
        mod.add_arguments(sp)
        _fill_help(sp)
        mods[mod.NAME] = mod
    return p, mods


def _quiet_stdout() -> None:
    """After a closed pipe: send the rest of stdout (and the flush at exit) nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass


def main(argv: list[str] | None = None) -> int:
    try:
        parser, mods = _parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse printed its usage error (2), --help or --version (0)
            return exc.code if isinstance(exc.code, int) else 2
        code = mods[args.command].run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit as a traceback
        return code
    except (scn.ScenarioError, UsageError) as exc:
        print(f"phaselab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phaselab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141


if __name__ == "__main__":
    sys.exit(main())
