"""Opening connections with the unmodified snowflake-connector-python, to either backend.

A `ConnSpec` names a backend and holds only non-secret connect options, so it can be written
to a worker's JSON config; secrets (password, private key passphrase) are read from the
environment by each process at connect time and never stored, logged or put in an error.

QUERY_TAG: set at connect through session_parameters; switched with ALTER SESSION. The
embedded backend answers "not implemented" to that ALTER SESSION, so its sessions get a
fakesnow `nop_regexes` entry that turns it into a successful no-op round-trip. The embedded
server cannot report tags, so every connection tracks its tag client-side and the trace is
the record of tags.
"""
from __future__ import annotations

import itertools
import math
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

from .identifiers import validate_identifier
from .sql import SqlText

LOGIN_TIMEOUT_S = 30
NETWORK_TIMEOUT_S = 60
# fakesnow matches these (case-insensitive) before parsing: the statement succeeds, does nothing.
EMBEDDED_NOP_REGEXES = [r"^\s*ALTER\s+SESSION\s+SET\s+QUERY_TAG\b"]
SECRET_ENV = ("SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY_FILE_PWD", "SNOWFLAKE_PRIVATE_KEY",
              "SNOWFLAKE_TOKEN", "SNOWFLAKE_PASSCODE")
_ENV_KEYS = {"account": "SNOWFLAKE_ACCOUNT", "user": "SNOWFLAKE_USER", "role": "SNOWFLAKE_ROLE",
             "warehouse": "SNOWFLAKE_WAREHOUSE", "database": "SNOWFLAKE_DATABASE",
             "authenticator": "SNOWFLAKE_AUTHENTICATOR",
             "private_key_file": "SNOWFLAKE_PRIVATE_KEY_FILE", "host": "SNOWFLAKE_HOST",
             "port": "SNOWFLAKE_PORT", "protocol": "SNOWFLAKE_PROTOCOL",
             "token_file_path": "SNOWFLAKE_TOKEN_FILE_PATH"}
# Session settings every Snowflake control session needs, whatever a named connection says:
# CURRENT_TIMESTAMP() in UTC like the heartbeat stamps (the default zone is
# America/Los_Angeles), and hybrid-table reads that see other sessions' latest commits
# (otherwise up to ~100 ms stale). docs/snowflake.md.
SNOWFLAKE_SESSION = {"TIMEZONE": "UTC"}
HYBRID_SESSION = {"READ_LATEST_WRITES": True}
# Per backend: (statement timeout, login timeout, set-up timeout) in seconds. Snowflake needs
# room for a login, a first compile and a warehouse resume; the embedded server answers in ms.
DEFAULT_TIMEOUTS = {"embedded": (1.0, 10.0, 60.0), "snowflake": (10.0, 60.0, 300.0)}
REFUSED_AUTHENTICATORS = {"externalbrowser": (
    "externalbrowser authentication opens a browser login in every worker process; use "
    "key-pair (SNOWFLAKE_PRIVATE_KEY_FILE or SNOWFLAKE_PRIVATE_KEY), OAuth or a programmatic "
    "access token (SNOWFLAKE_TOKEN), or a password (docs/snowflake.md)")}

# --- redaction ------------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
                  re.S)
_KV = re.compile(r"""(?ix)(
        (?:password|passwd|pwd|private_key(?:_file_pwd)?|passphrase|token|secret)
        ["']?\s*[:=]\s*)
        ("[^"]*"|'[^']*'|[^\s,;&}\)]+)""")
REDACTED = "***"


def redact(text: object, secrets: Iterable[str | bytes | None] = ()) -> str:
    """`text` with every given secret value, PEM private key and password-like key=value
    replaced by ***. Known secrets from the environment are always included."""
    s = str(text)
    values = [v.decode() if isinstance(v, bytes) else v for v in secrets]
    values += [os.environ.get(k) for k in SECRET_ENV]
    for v in sorted({v for v in values if v and len(v) >= 3}, key=len, reverse=True):
        s = s.replace(v, REDACTED)
    s = _PEM.sub(REDACTED, s)
    return _KV.sub(lambda m: m.group(1) + REDACTED, s)


class ConnectError(RuntimeError):
    """A connection could not be opened; the message says where to and why, never a secret."""


# --- specs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnSpec:
    backend: str  # "embedded" | "snowflake"
    options: dict = field(default_factory=dict)  # non-secret connect kwargs
    connection_name: str | None = None  # a connections.toml entry (snowflake only)

    def to_json(self) -> dict:
        return {"backend": self.backend, "options": dict(self.options),
                "connection_name": self.connection_name}

    @classmethod
    def from_json(cls, d: dict) -> "ConnSpec":
        return cls(d["backend"], dict(d.get("options") or {}), d.get("connection_name"))

    def where(self) -> str:
        o = self.options
        if self.backend == "embedded":
            return f"embedded server at {o.get('host')}:{o.get('port')}"
        if self.connection_name:
            return f"Snowflake connection {self.connection_name!r}"
        at = f" at {o['host']}:{o.get('port', 443)}" if o.get("host") else ""
        return f"Snowflake account {o.get('account')!r}{at} as user {o.get('user')!r}"


def embedded_spec(server_kwargs: dict) -> ConnSpec:
    allowed = ("host", "port", "protocol", "account", "user", "password", "database")
    return ConnSpec("embedded", {k: server_kwargs[k] for k in allowed if k in server_kwargs})


def named_connection(name: str) -> dict:
    """The connections.toml entry `name` as the connector would load it (secrets included:
    the entry is passed to connect() whole and never logged)."""
    try:
        from snowflake.connector.config_manager import CONFIG_MANAGER
        conns = CONFIG_MANAGER["connections"]
    except Exception as exc:
        raise ConnectError(f"could not read connections.toml: {redact(exc)}") from None
    if name not in conns:
        raise ConnectError(f"connection {name!r} is not in connections.toml; known: "
                           f"{', '.join(sorted(conns)) or 'none'}")
    return dict(conns[name])


def check_authenticator(value: object, where: str) -> None:
    why = REFUSED_AUTHENTICATORS.get(str(value or "").strip().lower())
    if why:
        raise ConnectError(f"{where}: {why}")


def snowflake_spec(connection_name: str | None = None, env: dict | None = None) -> ConnSpec:
    """From SNOWFLAKE_* variables, or a named connections.toml entry (then env adds nothing).
    externalbrowser is refused for live runs either way."""
    if connection_name:
        check_authenticator(named_connection(connection_name).get("authenticator"),
                            f"connection {connection_name!r}")
        return ConnSpec("snowflake", {}, connection_name)
    env = os.environ if env is None else env
    opts = {k: env[v] for k, v in _ENV_KEYS.items() if env.get(v)}
    check_authenticator(opts.get("authenticator"), "SNOWFLAKE_AUTHENTICATOR")
    missing = [v for k, v in _ENV_KEYS.items() if k in ("account", "user") and k not in opts]
    if missing:
        raise ConnectError(f"Snowflake backend needs {', '.join(missing)} (or a connection_name)")
    if "port" in opts:
        try:
            opts["port"] = int(opts["port"])
        except ValueError:
            raise ConnectError(f"SNOWFLAKE_PORT must be a port number, not {opts['port']!r}")
    if opts.get("warehouse"):
        validate_identifier(opts["warehouse"], "SNOWFLAKE_WAREHOUSE")
    if opts.get("database"):
        validate_identifier(opts["database"], "SNOWFLAKE_DATABASE")
    return ConnSpec("snowflake", opts)


def _secret_kwargs(spec: ConnSpec, env: dict | None = None) -> dict:
    """Secrets from the environment, read by each process at connect time: a password, a
    key file's passphrase, an inline PEM private key (loaded here: the connector wants the
    key itself), an OAuth or programmatic access token, an MFA passcode."""
    if spec.backend != "snowflake" or spec.connection_name:
        return {}
    env = os.environ if env is None else env
    out: dict[str, Any] = {}
    if env.get("SNOWFLAKE_PASSWORD"):
        out["password"] = env["SNOWFLAKE_PASSWORD"]
    if env.get("SNOWFLAKE_PRIVATE_KEY_FILE_PWD"):
        out["private_key_file_pwd"] = env["SNOWFLAKE_PRIVATE_KEY_FILE_PWD"]
    if env.get("SNOWFLAKE_PRIVATE_KEY"):
        out["private_key"] = _load_private_key(env["SNOWFLAKE_PRIVATE_KEY"],
                                               env.get("SNOWFLAKE_PRIVATE_KEY_FILE_PWD"))
        out.pop("private_key_file_pwd", None)
        out.setdefault("authenticator", "SNOWFLAKE_JWT")
    if env.get("SNOWFLAKE_TOKEN"):
        out["token"] = env["SNOWFLAKE_TOKEN"]
        if not spec.options.get("authenticator"):
            out["authenticator"] = "oauth"
    if env.get("SNOWFLAKE_PASSCODE"):
        out["passcode"] = env["SNOWFLAKE_PASSCODE"]
    return out


def _load_private_key(pem: str, passphrase: str | None) -> bytes:
    """An inline PEM private key as the DER (PKCS#8) bytes the connector accepts."""
    from cryptography.hazmat.primitives import serialization
    try:
        key = serialization.load_pem_private_key(
            pem.replace("\\n", "\n").encode(),
            passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        raise ConnectError("SNOWFLAKE_PRIVATE_KEY is not a PEM private key (or its passphrase "
                           f"SNOWFLAKE_PRIVATE_KEY_FILE_PWD is wrong): {type(exc).__name__}") from None
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# --- connections ----------------------------------------------------------------------------

RETRY_BACKOFF_S = 1


def _retry_backoff():
    return itertools.repeat(RETRY_BACKOFF_S)


def statement_bound_s(statement_timeout_s: float) -> float:
    """The longest a statement can take, ok or not, on a connection opened with this
    statement timeout T: a retry may start just before T ends (after a 1 s backoff) and wait
    T for its own answer. This is the L a live trace declares."""
    t = max(1, math.ceil(float(statement_timeout_s)))
    return 2.0 * t + RETRY_BACKOFF_S



class TaggedConnection:
    """A connector connection plus its client-side QUERY_TAG (the embedded server forgets it)."""

    def __init__(self, conn: Any, tag: str | None, backend: str):
        self.conn, self.tag, self.backend = conn, tag, backend
        self.lock = threading.Lock()  # serialises set_tag against itself, not against queries

    def execute(self, text: str, params: tuple = ()) -> Any:
        cur = self.conn.cursor()
        try:
            cur.execute(text, params or None)
            return cur
        except BaseException:
            cur.close()
            raise

    def set_tag(self, tag: str) -> None:
        with self.lock:
            self.execute(SqlText.alter_tag(tag).text).close()
            self.tag = tag

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


def connect_kwargs(spec: ConnSpec, *, query_tag: str | None = None, schema: str | None = None,
                   login_timeout: int = LOGIN_TIMEOUT_S,
                   network_timeout: int = NETWORK_TIMEOUT_S, env: dict | None = None) -> dict:
    """The keyword arguments for snowflake.connector.connect (pure, so it is testable).

    spec.options may hold `statement_timeout_s` (sets the network, socket and server-side
    statement timeouts that bound L) and `hybrid_session` (the control tables are hybrid:
    READ_LATEST_WRITES). A named connections.toml entry is honoured whole: its session
    parameters are merged with ours (ours win only for QUERY_TAG, TIMEZONE,
    STATEMENT_TIMEOUT_IN_SECONDS and READ_LATEST_WRITES, which the run's correctness needs)
    and its login timeout is kept unless one was given; the connector alone would let our
    session_parameters replace the entry's."""
    session: dict[str, Any] = {}
    kwargs: dict[str, Any] = {"paramstyle": "qmark", "login_timeout": int(login_timeout),
                              "network_timeout": int(network_timeout)}
    options = dict(spec.options)
    stmt_timeout = options.pop("statement_timeout_s", None)
    hybrid = bool(options.pop("hybrid_session", False))
    if spec.backend == "embedded":
        session["nop_regexes"] = EMBEDDED_NOP_REGEXES
        kwargs.update(options)
    elif spec.backend == "snowflake":
        if spec.connection_name:
            entry = named_connection(spec.connection_name)
            check_authenticator(entry.get("authenticator"), f"connection {spec.connection_name!r}")
            kwargs["connection_name"] = spec.connection_name
            session.update(entry.get("session_parameters") or {})
            if "login_timeout" in entry and "login_timeout" not in options:
                kwargs["login_timeout"] = entry["login_timeout"]
        kwargs.update(options)
        kwargs.update(_secret_kwargs(spec, env))
        check_authenticator(kwargs.get("authenticator"), "authenticator")
        session.update(SNOWFLAKE_SESSION)
        if hybrid:
            session.update(HYBRID_SESSION)
    else:
        raise ValueError(f"unknown backend {spec.backend!r}; allowed: embedded, snowflake")
    if query_tag is not None:
        SqlText.alter_tag(query_tag)  # validates the tag the same way as a later ALTER
        session["QUERY_TAG"] = query_tag
    if stmt_timeout is not None:
        # What bounds a statement live (statement_bound_s): network_timeout caps the retries
        # (an HTTP 500 is retried for a minute by default), socket_timeout one HTTP read,
        # the backoff between retries is 1 s; Snowflake also cancels server-side.
        t = max(1, math.ceil(float(stmt_timeout)))
        kwargs["network_timeout"] = kwargs["socket_timeout"] = t
        kwargs["backoff_policy"] = _retry_backoff
        if spec.backend == "snowflake":
            session["STATEMENT_TIMEOUT_IN_SECONDS"] = t
            session.setdefault("HYBRID_TABLE_LOCK_TIMEOUT", t)  # a row lock waits no longer
    if schema is not None:
        kwargs["schema"] = validate_identifier(schema, "schema")
    kwargs["session_parameters"] = session
    return kwargs


def open_connection(spec: ConnSpec, *, query_tag: str | None = None, schema: str | None = None,
                    login_timeout: int = LOGIN_TIMEOUT_S,
                    network_timeout: int = NETWORK_TIMEOUT_S) -> TaggedConnection:
    import snowflake.connector

    kwargs = connect_kwargs(spec, query_tag=query_tag, schema=schema,
                            login_timeout=login_timeout, network_timeout=network_timeout)
    secrets = [kwargs.get("password"), kwargs.get("private_key_file_pwd"), kwargs.get("token"),
               kwargs.get("passcode")]
    try:
        conn = snowflake.connector.connect(**kwargs)
    except Exception as exc:  # re-raised without the original: its repr may hold secrets
        raise ConnectError(f"could not connect to {spec.where()}: "
                           f"{type(exc).__name__}: {redact(exc, secrets)}") from None
    return TaggedConnection(conn, query_tag, spec.backend)


def create_run_schema(tc: TaggedConnection, sql: SqlText, fill_rows: int | None = None) -> None:
    """Per-run schema: CREATE SCHEMA, the control tables and a filled BENCHMARK table."""
    for q in [sql.create_schema(), sql.use_schema(), *sql.ddl()]:
        tc.execute(q.text, q.params).close()
    q = sql.fill_benchmark() if fill_rows is None else sql.fill_benchmark(fill_rows)
    tc.execute(q.text, q.params).close()


def drop_run_schema(tc: TaggedConnection, sql: SqlText) -> None:
    q = sql.drop_schema()
    tc.execute(q.text, q.params).close()
