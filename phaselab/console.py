"""Rich consoles for the commands. In a pipe or a file, rich would cut tables to 80 columns;
there nothing wraps, so the report keeps its width (COLUMNS, if set, still wins)."""
from __future__ import annotations

import os

PIPE_WIDTH = 200


def stdout_console():
    from rich.console import Console
    con = Console()
    if not con.is_terminal and not os.environ.get("COLUMNS"):
        con = Console(width=PIPE_WIDTH)
    return con


def stderr_console():
    from rich.console import Console
    return Console(stderr=True)
