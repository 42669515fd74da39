"""What --scheduler accepts: `local` (a LocalCluster on this machine) or the address of a
running Dask scheduler, checked before anything runs so that a typo is a usage error."""
from __future__ import annotations

import re

from phaselab.errors import UsageError

SCHEMES = ("tcp", "tls", "ws", "wss")
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+)"
                      r":(?P<port>\d+)$")
HELP = ("'local' (a Dask LocalCluster here, one worker process per --jobs) or a scheduler "
        "address such as tcp://10.0.0.5:8786 (start one with `dask scheduler`; docs/dask.md)")


def parse(text: str) -> str:
    """The address as Dask wants it (a bare host:port gets tcp://)."""
    value = text.strip()
    if value == "local":
        return value
    m = _ADDRESS.match(value)
    problem = None
    if not m:
        problem = "not an address"
    elif m["scheme"] and m["scheme"] not in SCHEMES:
        problem = f"the scheme {m['scheme']!r} is not one of {', '.join(SCHEMES)}"
    elif not 0 < int(m["port"]) < 65536:
        problem = f"the port {m['port']} is not between 1 and 65535"
    if problem:
        raise UsageError(f"--scheduler {text!r}: {problem}; give {HELP}")
    return value if m["scheme"] else f"tcp://{value}"
