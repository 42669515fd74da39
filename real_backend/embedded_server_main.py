"""Launcher process for the embedded Snowflake stand-in (fakesnow's ASGI app under uvicorn).

Why our own launcher and not `python -m fakesnow -s`: that ignores a database directory and
keeps every query result in an unbounded cache (docs/embedded-backend.md). Here the shared
instance stores its databases under --db-path and a daemon thread clears the results cache
every few seconds, so memory stays flat over a long run. It also exits when its parent dies,
so a crashed test or orchestrator leaves no server behind.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time


def _clear_cache_forever(fs, period_s: float) -> None:
    # The cache only serves get_results_from_sfqid (async queries), which we never use;
    # results of ordinary queries travel inline in the HTTP response.
    while True:
        time.sleep(period_s)
        fs.results_cache.clear()


def _die_with_parent(parent_pid: int, cleanup_dir: str | None, period_s: float = 0.5) -> None:
    # A parent killed by SIGKILL runs no atexit, so the orphan removes the data dir itself.
    while True:
        time.sleep(period_s)
        if os.getppid() != parent_pid:
            if cleanup_dir:
                shutil.rmtree(cleanup_dir, ignore_errors=True)
            os._exit(3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="real_backend.embedded_server_main")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db-path", required=True)
    ap.add_argument("--cache-clear-s", type=float, default=5.0)
    ap.add_argument("--parent-pid", type=int, default=None)
    ap.add_argument("--cleanup-dir", default=None, help="removed if the parent dies")
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--shim", default=None,
                    help="a module whose install(folder) patches the server (upstream runs)")
    args = ap.parse_args(argv)

    import importlib

    import uvicorn
    # `fakesnow.server` is also a function in fakesnow/__init__, so import the module by name.
    server = importlib.import_module("fakesnow.server")
    from fakesnow.instance import FakeSnow

    # login_request reads the module global at call time, so this swap redirects every
    # session to databases stored as files under db_path.
    server.shared_fs = FakeSnow(db_path=args.db_path)
    if args.shim:  # server-side rewrites for a recorded target (upstream/server_shim.py)
        importlib.import_module(args.shim).install(os.path.dirname(args.db_path))
    threading.Thread(target=_clear_cache_forever, args=(server.shared_fs, args.cache_clear_s),
                     daemon=True, name="cache-clear").start()
    if args.parent_pid:
        threading.Thread(target=_die_with_parent, args=(args.parent_pid, args.cleanup_dir), daemon=True,
                         name="parent-watch").start()
    uvicorn.run(server.app, host="127.0.0.1", port=args.port, log_level=args.log_level,
                access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
