"""`phaselab docs`: print documentation generated from the code's own tables."""
from __future__ import annotations

import json

from phaselab import scenario as scn, state_docs

NAME = "docs"
HELP = "print generated documentation (docs/scenarios.md, docs/state-machine.md)"
GENERATORS = {"scenarios": scn.docs_markdown, "states": state_docs.markdown}


def add_arguments(p) -> None:
    p.add_argument("what", choices=sorted(GENERATORS))
    p.add_argument("--json", action="store_true", help="the text wrapped in a JSON object")


def run(args) -> int:
    text = GENERATORS[args.what]()
    print(json.dumps({"what": args.what, "markdown": text}) if args.json else text)
    return 0
