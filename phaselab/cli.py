"""The `phaselab` command line. Exit codes: 0 clean, 1 violated, 2 bad input, 3 did not run.

3 means nothing to judge: the run never started, the trace has no run_end, or a search ran
0 examples (phaselab/errors.py).

Each subcommand is a module in phaselab/commands/ with NAME, HELP, add_arguments(parser)
and run(args) -> exit code; add it to COMMANDS.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from phaselab import scenario as scn
from phaselab.errors import UsageError

COMMANDS = [
    "phaselab.commands.run",
    "phaselab.commands.check",
    "phaselab.commands.docs",
    "phaselab.commands.sweep",
    "phaselab.commands.seed_validation",
    "phaselab.commands.smoke",
    "phaselab.commands.calibrate",
    "phaselab.commands.explore",
    "phaselab.commands.upstream",
    "phaselab.commands.conform",
    "phaselab.commands.controllers",
]


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    p = argparse.ArgumentParser(prog="phaselab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    mods = {}
    for name in COMMANDS:
        mod = importlib.import_module(name)
        mod.add_arguments(sub.add_parser(mod.NAME, help=mod.HELP))
        mods[mod.NAME] = mod
    return p, mods


def main(argv: list[str] | None = None) -> int:
    parser, mods = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage error (exit 2) or --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return mods[args.command].run(args)
    except (scn.ScenarioError, UsageError) as exc:
        print(f"phaselab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phaselab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
