"""`phaselab docs`: documentation generated from the code's own tables (the scenario keys,
the state machines, the property catalogue); prints it, or with --write regenerates the file
in docs/ that tests keep current."""
from __future__ import annotations

import json
from pathlib import Path

from phaselab import catalogue, scenario as scn, state_docs
from phaselab.files import write_atomically

NAME = "docs"
HELP = "print or regenerate docs/scenarios.md, docs/state-machine.md, docs/properties.md"
EXAMPLE = "phaselab docs properties --write"
GENERATORS = {"scenarios": (scn.docs_markdown, "scenarios.md"),
              "states": (state_docs.markdown, "state-machine.md"),
              "properties": (catalogue.markdown, "properties.md")}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def add_arguments(p) -> None:
    p.add_argument("what", choices=sorted(GENERATORS) + ["all"],
                   help="which document ('all': every one, with --write)")
    p.add_argument("--write", action="store_true",
                   help=f"regenerate the file in {DOCS} instead of printing it")
    p.add_argument("--json", action="store_true", help="the text wrapped in a JSON object")


def run(args) -> int:
    from phaselab.errors import UsageError
    names = sorted(GENERATORS) if args.what == "all" else [args.what]
    if args.what == "all" and not args.write:
        raise UsageError("docs all: only with --write (printing several documents at once "
                         "would mix them)")
    written = []
    for name in names:
        gen, file = GENERATORS[name]
        text = gen()
        if args.write:
            write_atomically(str(DOCS / file), [text])  # what `print` would write
            written.append(str(DOCS / file))
        elif args.json:
            print(json.dumps({"what": name, "markdown": text}))
        else:
            print(text)
    if args.write:
        print(json.dumps({"written": written}) if args.json
              else "\n".join(f"wrote {w}" for w in written))
    return 0
