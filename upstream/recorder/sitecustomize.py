"""phaselab's statement recorder, loaded into every Python process of a recorded target.

Python imports `sitecustomize` at start-up from the path; `phaselab upstream` puts this folder
first on PYTHONPATH of the target's processes (children inherit it), so the target runs
unmodified while each process writes one JSON-lines log: its command line, every connector
connect and statement (time, connection, SQL, parameters, rows, error), the rows it fetched,
the log records of chosen loggers and the calls of chosen functions. Nothing else changes:
connections are redirected to the server phaselab started, and no credential is written.

Standard library and the target's own snowflake-connector-python only: this file runs in the
target's virtual environment, not in phaselab's. Inactive unless PHASELAB_RECORD_DIR is set.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import inspect
import itertools
import json
import logging
import os
import sys
import threading
import time

_DIR = os.environ.get("PHASELAB_RECORD_DIR")
_CONF = json.loads(os.environ.get("PHASELAB_RECORD_CONFIG") or "{}")
# Connection arguments dropped before the redirect: they would authenticate somewhere else.
_AUTH_KEYS = {"authenticator", "token", "private_key", "private_key_file",
              "private_key_file_pwd", "private_key_path", "passcode", "oauth_client_id",
              "oauth_client_secret", "host", "port", "protocol", "account", "user",
              "password", "region", "proxy_host", "proxy_port"}
_SECRET_WORDS = ("password", "secret", "token", "private_key", "passcode")
_MAX_TEXT = 20000
_MAX_ROWS = 500


class _Log:
    """One line per record, flushed at once, safe across the target's threads."""

    def __init__(self, folder: str):
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.f = open(os.path.join(folder, f"proc-{os.getpid()}.jsonl"), "a", buffering=1,
                      encoding="utf-8")

    def write(self, rec: dict) -> None:
        line = json.dumps(rec, default=_plain, ensure_ascii=False)
        with self.lock:
            self.f.write(line + "\n")


def _plain(v):
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _clip(v, n: int = 2000):
    if isinstance(v, str) and len(v) > n:
        return v[:n] + f"...<{len(v) - n} more>"
    return v


def _params(p):
    if p is None:
        return None
    if isinstance(p, dict):
        return {k: _clip(v) for k, v in p.items()}
    if isinstance(p, (list, tuple)):
        return [_clip(v) if not isinstance(v, (list, tuple)) else [_clip(x) for x in v]
                for v in p]
    return _clip(str(p))


def _now() -> dict:
    return {"t": time.time(), "mono": time.monotonic()}


def _hook_connector(log: _Log, redirect: dict) -> None:
    from snowflake.connector import connection as sfconn
    from snowflake.connector import cursor as sfcur

    conn_ids = itertools.count(1)
    original_init = sfconn.SnowflakeConnection.__init__

    @functools.wraps(original_init)
    def init(self, *args, **kwargs):
        cid = next(conn_ids)
        session = dict(kwargs.get("session_parameters") or {})
        kept = {k: v for k, v in kwargs.items() if k not in _AUTH_KEYS}
        log.write({"k": "connect", "conn": cid, **_now(), "thread": threading.current_thread().name,
                   "session_parameters": session,
                   "args": sorted(k for k in kwargs if not any(w in k for w in _SECRET_WORDS))})
        self._phaselab_conn = cid
        try:
            original_init(self, *args, **{**kept, **redirect})
        except BaseException as exc:
            log.write({"k": "connect_done", "conn": cid, **_now(), "error": _error(exc)})
            raise
        log.write({"k": "connect_done", "conn": cid, **_now(), "error": None})

    sfconn.SnowflakeConnection.__init__ = init

    def wrap_execute(name):
        original = getattr(sfcur.SnowflakeCursor, name)

        @functools.wraps(original)
        def execute(self, command, params=None, *args, **kwargs):
            sid = next(log.ids)
            conn = getattr(getattr(self, "connection", None), "_phaselab_conn", None)
            start = _now()
            rec = {"k": "stmt", "id": sid, "conn": conn, "call": name,
                   "thread": threading.current_thread().name, "t0": start["t"],
                   "mono0": start["mono"], "sql": _clip(command, _MAX_TEXT),
                   "params": _params(params)}
            self._phaselab_stmt = sid
            try:
                out = original(self, command, params, *args, **kwargs)
            except BaseException as exc:
                end = _now()
                log.write({**rec, "t1": end["t"], "mono1": end["mono"], "error": _error(exc)})
                raise
            end = _now()
            log.write({**rec, "t1": end["t"], "mono1": end["mono"], "error": None,
                       "rowcount": getattr(self, "rowcount", None),
                       "qid": getattr(self, "sfqid", None)})
            return out
        setattr(sfcur.SnowflakeCursor, name, execute)

    inside = threading.local()  # fetchall calls fetchone: log the outermost call only

    def wrap_fetch(name):
        original = getattr(sfcur.SnowflakeCursor, name)

        @functools.wraps(original)
        def fetch(self, *args, **kwargs):
            if getattr(inside, "fetch", False):
                return original(self, *args, **kwargs)
            inside.fetch = True
            try:
                out = original(self, *args, **kwargs)
            finally:
                inside.fetch = False
            sid = getattr(self, "_phaselab_stmt", None)
            if sid is not None:
                rows = [out] if name == "fetchone" else list(out or [])
                if name == "fetchone" and out is None:
                    rows = []
                log.write({"k": "rows", "stmt": sid, "call": name, **_now(),
                           "rows": [_row(r) for r in rows[:_MAX_ROWS]], "n": len(rows)})
            return out
        setattr(sfcur.SnowflakeCursor, name, fetch)

    for n in ("execute", "executemany"):
        wrap_execute(n)
    for n in ("fetchone", "fetchmany", "fetchall"):
        wrap_fetch(n)


def _row(r):
    if isinstance(r, dict):
        return {k: _clip(v, 500) for k, v in r.items()}
    if isinstance(r, (list, tuple)):
        return [_clip(v, 500) for v in r]
    return _clip(r, 500)


def _error(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": _clip(str(exc), 600),
            "errno": getattr(exc, "errno", None)}


def _hook_logging(log: _Log, prefixes: list[str], level: int) -> None:
    """Copy log records of the named loggers (prefix match) without adding a handler, so
    the target's own logging set-up (basicConfig) behaves as without us."""
    original = logging.Logger.handle

    def handle(self, record):
        if record.levelno >= level and any(
                self.name == p or self.name.startswith(p + ".") for p in prefixes):
            try:
                msg = record.getMessage()
            except Exception:  # a bad format string is the target's business
                msg = str(record.msg)
            log.write({"k": "log", "t": record.created, "mono": time.monotonic(),
                       "logger": self.name, "level": record.levelname,
                       "msg": _clip(msg, 2000), "thread": record.threadName})
        return original(self, record)
    logging.Logger.handle = handle


def _wrapper(log: _Log, note: str, fn):
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def call_async(*args, **kwargs):
            start = _now()
            try:
                return await fn(*args, **kwargs)
            finally:
                end = _now()
                log.write({"k": "call", "note": note, "t0": start["t"], "mono0": start["mono"],
                           "t1": end["t"], "mono1": end["mono"]})
        return call_async

    @functools.wraps(fn)
    def call(*args, **kwargs):
        start = _now()
        try:
            return fn(*args, **kwargs)
        finally:
            end = _now()
            log.write({"k": "call", "note": note, "t0": start["t"], "mono0": start["mono"],
                       "t1": end["t"], "mono1": end["mono"]})
    return call


class _WrapOnImport(importlib.abc.MetaPathFinder):
    """Wraps the named functions of a module right after the module is first executed."""

    def __init__(self, log: _Log, wraps: list[dict]):
        self.log = log
        self.by_module: dict[str, list[dict]] = {}
        for w in wraps:
            self.by_module.setdefault(w["module"], []).append(w)

    def find_spec(self, name, path=None, target=None):
        if name not in self.by_module:
            return None
        sys.meta_path.remove(self)  # find the real spec without us
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module, wraps, log = spec.loader.exec_module, self.by_module[name], self.log

        def exec_and_wrap(module):
            exec_module(module)
            for w in wraps:
                owner, attr = module, w["function"].split(".")
                for part in attr[:-1]:
                    owner = getattr(owner, part, None)
                fn = getattr(owner, attr[-1], None) if owner is not None else None
                if fn is None:
                    log.write({"k": "wrap_missing", **_now(), "module": name,
                               "function": w["function"]})
                    continue
                setattr(owner, attr[-1], _wrapper(log, w["note"], fn))
        spec.loader.exec_module = exec_and_wrap
        return spec


def _argv(argv):
    """A command line fit for a log: a value after a secret-sounding flag, or in a
    `name=value` whose name sounds secret, is redacted; long inline code is clipped."""
    if not argv:
        return argv
    out, hide = [], False
    for a in argv:
        a = str(a)
        low = a.lower()
        if hide:
            out.append("<redacted>")
            hide = False
            continue
        if any(w in low for w in _SECRET_WORDS):
            name, eq, _v = a.partition("=")
            if eq:
                out.append(f"{name}=<redacted>")
                continue
            hide = a.startswith("-")
        out.append(_clip(a, 200))
    return out


def _start() -> None:
    log = _Log(_DIR)
    log.write({"k": "process", **_now(), "pid": os.getpid(), "ppid": os.getppid(),
               "argv": _argv(getattr(sys, "argv", None)),
               "orig_argv": _argv(getattr(sys, "orig_argv", None)), "cwd": os.getcwd()})
    redirect = _CONF.get("redirect") or {}
    if _CONF.get("loggers"):
        _hook_logging(log, list(_CONF["loggers"]),
                      getattr(logging, str(_CONF.get("log_level", "INFO")).upper(), 20))
    if _CONF.get("wraps"):
        sys.meta_path.insert(0, _WrapOnImport(log, list(_CONF["wraps"])))
    try:
        _hook_connector(log, redirect)
    except ImportError:  # a process of the target that has no connector: nothing to record
        log.write({"k": "no_connector", **_now()})


if _DIR:
    _start()
