"""The validation layer: every input phaselab reads passes through one module here, and every
malformed value becomes a UsageError (exit 2) that names the file (and line) or the option,
the key, what was found and what is allowed.

- text.py      reading a named file: missing, a folder, unreadable, too big, not UTF-8
- nesting.py   decoded TOML/JSON: how deep it may nest
- numbers.py   argparse types for numeric command-line options
- trace_records.py   a trace file, record by record, against the schema of docs/trace.md
- budget.py    what a simulation or live run will cost, refused above stated limits

Scenario files validate in phaselab/scenario.py (its key tables) and replay files in
phaselab/replay.py, both on top of these.
"""
