"""The target checkout's own virtual environment, made once from its own requirements and
cached by their content, so that a second run starts at once and needs no network.

The key is the checkout's dependency files (pyproject.toml [project].dependencies, or
requirements.txt), the Python version and our one added constraint: the connector must be
4.x, the version the embedded server speaks (a 5.x client cannot log in to it;
docs/embedded-backend.md). The checkout itself is not installed: it runs from its folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Callable

CONSTRAINTS = ["snowflake-connector-python>=4.8,<5"]


class VenvError(Exception):
    """The checkout's requirements cannot be read or installed."""


def cache_root() -> Path:
    base = os.environ.get("PHASELAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "phaselab")
    return Path(base) / "upstream-venvs"


def requirements(checkout: Path) -> list[str]:
    """The checkout's runtime requirements as pip arguments."""
    pyproject, req = checkout / "pyproject.toml", checkout / "requirements.txt"
    if pyproject.is_file():
        try:
            deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise VenvError(f"{pyproject}: no readable [project].dependencies ({exc})") from None
        return [str(d) for d in deps]
    if req.is_file():
        return [ln.strip() for ln in req.read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith(("#", "-"))]
    raise VenvError(f"{checkout}: neither pyproject.toml nor requirements.txt found")


def key(checkout: Path) -> str:
    h = hashlib.sha256(json.dumps({"reqs": requirements(checkout), "py": sys.version,
                                   "constraints": CONSTRAINTS}).encode())
    return h.hexdigest()[:16]


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure(checkout: Path, say: Callable[[str], None] = lambda s: None) -> Path:
    """The venv's folder, made now if missing (pip over the network the first time)."""
    venv = cache_root() / key(checkout)
    if (venv / ".phaselab-complete").is_file():
        return venv
    reqs = requirements(checkout)
    tmp = venv.with_name(venv.name + f".building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    say(f"creating the checkout's virtual environment in {venv} ({len(reqs)} requirements; "
        "once per requirement set)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True,
                       stdout=subprocess.DEVNULL)
        cons = tmp / "phaselab-constraints.txt"
        cons.write_text("\n".join(CONSTRAINTS) + "\n")
        proc = subprocess.run([str(python_of(tmp)), "-m", "pip", "install", "-q",
                               "--disable-pip-version-check", "-c", str(cons), *reqs,
                               *CONSTRAINTS], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = "\n".join(ln for ln in proc.stdout.splitlines()
                             if "is ignored" not in ln)[-1500:]
            raise VenvError(f"pip could not install the checkout's requirements:\n{tail}")
        (tmp / ".phaselab-complete").write_text(json.dumps({"requirements": reqs}))
        if venv.exists():  # another run finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(venv)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return venv
