"""Start and stop the embedded Snowflake stand-in as a separate OS process.

One fakesnow server per live run (docs/embedded-backend.md): the orchestrator and every worker
process connect to it over 127.0.0.1. `EmbeddedServer()` owns the process and its temporary
data directory and removes both on every way out: normal exit, exceptions, KeyboardInterrupt,
interpreter exit (atexit) and, through the launcher's parent watchdog, our own death.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Iterator

START_TIMEOUT_S = 30.0
DATABASE = "PHASELAB"
# Not secrets: the embedded server accepts any credentials; the connector requires some.
ACCOUNT, USER, PASSWORD = "fakesnow", "phaselab", "embedded"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def process_state(pid: int) -> str | None:
    """The process state letter from /proc (R, S, T stopped, Z zombie...), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class ServerProcess:
    """A running launcher process; `stop()` is idempotent and safe from atexit."""

    def __init__(self, start_timeout_s: float = START_TIMEOUT_S, shim: str | None = None):
        self.shim = shim  # a module patching the server (`--shim`), e.g. upstream.server_shim
        self.dir = tempfile.mkdtemp(prefix="phaselab-fakesnow-")
        self.db_path = os.path.join(self.dir, "db")
        os.mkdir(self.db_path)
        self.log_path = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.stalled = threading.Event()  # set while a stall fault of ours holds it stopped
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            self._start(start_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.start_s = time.monotonic() - t0

    def _start(self, timeout_s: float) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p),
               "TMPDIR": self.dir}  # fakesnow makes a temp dir at import and never removes it
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "real_backend.embedded_server_main", "--port",
                 str(self.port), "--db-path", self.db_path, "--parent-pid", str(os.getpid()),
                 "--cleanup-dir", self.dir, *(["--shim", self.shim] if self.shim else [])],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)  # a terminal ^C reaches us, and we stop it in order
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded server exited with code {self.proc.returncode} "
                                   f"before accepting connections; log tail:\n{self.log_tail()}")
            if process_state(self.proc.pid) in ("T", "t"):
                raise RuntimeError("embedded server was stopped (SIGSTOP) before accepting "
                                   "connections")
            if _accepts(self.port):
                return
            time.sleep(0.05)
        raise TimeoutError(f"embedded server did not accept connections on 127.0.0.1:"
                           f"{self.port} within {timeout_s:.0f} s; log tail:\n{self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def kwargs(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "protocol": "http", "account": ACCOUNT,
                "user": USER, "password": PASSWORD, "database": DATABASE}

    def lost(self) -> str | None:
        """Why the server can no longer answer (it exited, or it is stopped: SIGSTOP, a
        debugger), else None. A stopped process still completes TCP handshakes from its
        listen backlog, so a connect test would not see it."""
        p = self.proc
        if p is None:
            return None
        code = p.poll()
        if code is not None:
            return (f"was killed by {signal.Signals(-code).name}" if code < 0
                    else f"exited with code {code}")
        if process_state(p.pid) in ("T", "t") and not self.stalled.is_set():
            return "is stopped (SIGSTOP) and answers nothing"
        return None

    def stop(self) -> None:
        with self._lock:
            p = self.proc
            if p is not None and p.poll() is None and process_state(p.pid) in ("T", "t"):
                p.kill()  # a stopped process acts on no SIGTERM until continued
            if p is not None and p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)  # by its own PID, nothing broader
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
                except ProcessLookupError:
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)
            atexit.unregister(self.stop)


@contextmanager
def EmbeddedServer(start_timeout_s: float = START_TIMEOUT_S) -> Iterator[dict]:
    """Yields connection kwargs (host, port, protocol, account, user, password, database) plus
    `_server` (the ServerProcess, for its pid, dir and start time)."""
    server = ServerProcess(start_timeout_s)
    try:
        yield {**server.kwargs(), "_server": server}
    finally:
        server.stop()
