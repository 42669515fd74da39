"""Drive one FlakeBench run the way its web app does, without the web app.

Runs inside the checkout's own virtual environment with the checkout as working directory
(its orchestrator spawns `python scripts/run_worker.py` relative to it). Only the standard
library and the checkout's own modules are used; nothing of the checkout is changed.

    python flakebench.py prepare  -- benchmark table and template row (harness statements)
    python flakebench.py run      -- create_run, start_run, wait for the poll task and workers

The same calls as `backend/api/routes/runs.py` (create, then start). Each step prints one JSON
line on stdout for phaselab. Settings come from the SNOWFLAKE_* / RESULTS_* variables that
phaselab sets; the recorder (sitecustomize) redirects every connection to the embedded server.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timezone

sys.path.insert(0, os.getcwd())

TEMPLATE_ID = "00000000-0000-4000-8000-0000000000a1"
BENCH_ROWS = 200


def _say(**kw) -> None:
    print(json.dumps(kw), flush=True)


def _config() -> dict:
    p = json.loads(os.environ["PHASELAB_UPSTREAM_RUN"])
    return {
        "table_name": p["table"], "database": p["database"], "schema": p["schema"],
        "table_type": "STANDARD", "warehouse_name": "PHASELAB_BENCH_WH",
        # Templates are CUSTOM since the upstream normalised them; all point lookups by key.
        "workload_type": "CUSTOM", "load_mode": "CONCURRENCY",
        "custom_point_lookup_pct": 100, "custom_point_lookup_query":
            "SELECT * FROM {table} WHERE id = ?",
        "duration": int(p["measure_s"]), "warmup": int(p["warmup_s"]),
        "think_time": int(p.get("think_ms", 0)),
        "scaling": {"mode": "FIXED", "min_workers": int(p["workers"]),
                    "max_workers": int(p["workers"]),
                    "min_connections": int(p["connections"]),
                    "max_connections": int(p["connections"])},
    }


def prepare() -> int:
    import snowflake.connector
    from backend.config import settings

    cfg = _config()
    # A harness connection, told apart in the recording by its QUERY_TAG.
    conn = snowflake.connector.connect(
        account=settings.SNOWFLAKE_ACCOUNT, user=settings.SNOWFLAKE_USER,
        password=settings.SNOWFLAKE_PASSWORD, paramstyle="qmark",
        session_parameters={"QUERY_TAG": "phaselab-harness"})
    cur = conn.cursor()
    fq = f"{cfg['database']}.{cfg['schema']}.{cfg['table_name']}"
    cur.execute(f"CREATE TABLE IF NOT EXISTS {fq} (ID INTEGER PRIMARY KEY, NAME VARCHAR(64), "
                "AMOUNT NUMBER(12,2))")
    cur.execute(f"SELECT COUNT(*) FROM {fq}")
    if cur.fetchone()[0] == 0:
        cur.executemany(f"INSERT INTO {fq} (ID, NAME, AMOUNT) VALUES (?, ?, ?)",
                        [(i, f"row-{i}", i * 1.5) for i in range(1, BENCH_ROWS + 1)])
    prefix = f"{settings.RESULTS_DATABASE}.{settings.RESULTS_SCHEMA}"
    cur.execute(f"DELETE FROM {prefix}.TEST_TEMPLATES WHERE TEMPLATE_ID = ?", [TEMPLATE_ID])
    cur.execute(f"INSERT INTO {prefix}.TEST_TEMPLATES (TEMPLATE_ID, TEMPLATE_NAME, CONFIG, "
                "TAGS, USAGE_COUNT) SELECT ?, ?, PARSE_JSON(?), PARSE_JSON(?), 0",
                [TEMPLATE_ID, "phaselab-upstream", json.dumps(cfg), "{}"])
    conn.close()
    _say(step="prepared", template_id=TEMPLATE_ID, table=fq)
    return 0


async def _run() -> int:
    from backend.core.orchestrator import orchestrator
    from backend.core.test_registry import registry

    template = await registry._load_template(TEMPLATE_ID)
    config = dict(template.get("config") or {})
    scenario = registry._scenario_from_template_config(template["template_name"], config)
    run_id = await orchestrator.create_run(template_id=TEMPLATE_ID, template_config=config,
                                           scenario=scenario)
    _say(step="created", run_id=run_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # phaselab asks for a clean stop
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await orchestrator.start_run(run_id=run_id)
    _say(step="started", run_id=run_id)
    ctx = orchestrator._active_runs.get(run_id)
    # The teardown writes COMPLETED early unless we wait for the poll task and the workers.
    waits = [asyncio.ensure_future(ctx.poll_task)] if ctx and ctx.poll_task else []
    waits += [asyncio.ensure_future(p.wait()) for p in (ctx.worker_procs if ctx else [])]
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopped = False
    if stopper in done:
        stopped = True
        _say(step="stopping", run_id=run_id)
        await orchestrator.stop_run(run_id)
    if waits:
        await asyncio.wait(waits)
    # Enrichment runs in a task nobody awaits (orchestrator.py:2380); PHASE COMPLETED comes
    # from it. Wait for every task the run left, within the enrichment bound.
    me = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    if rest:
        await asyncio.wait(rest, timeout=float(os.environ.get("PHASELAB_TASK_WAIT_S", "300")))
    codes = [p.returncode for p in (ctx.worker_procs if ctx else [])]
    row = _final_row(run_id)
    _say(step="finished", run_id=run_id, stopped=stopped, worker_exit_codes=codes, **row)
    return 0


def _final_row(run_id: str) -> dict:
    """STATUS, PHASE and the database's own timestamps, read back on a harness connection
    (each is written once, so the final row holds the value the write stored)."""
    import snowflake.connector
    from backend.config import settings

    conn = snowflake.connector.connect(
        account=settings.SNOWFLAKE_ACCOUNT, user=settings.SNOWFLAKE_USER,
        password=settings.SNOWFLAKE_PASSWORD, paramstyle="qmark",
        session_parameters={"QUERY_TAG": "phaselab-harness"})
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT STATUS, PHASE, START_TIME, WARMUP_START_TIME, WARMUP_END_TIME, "
                    f"END_TIME FROM {settings.RESULTS_DATABASE}.{settings.RESULTS_SCHEMA}."
                    "RUN_STATUS WHERE RUN_ID = ?", [run_id])
        r = cur.fetchone()
    finally:
        conn.close()
    if not r:
        return {"status": None, "phase": None, "db_times": {}}
    names = ("START_TIME", "WARMUP_START_TIME", "WARMUP_END_TIME", "END_TIME")
    # TIMESTAMP_NTZ holding UTC (CURRENT_TIMESTAMP() on this server); as epoch seconds
    times = {n: v.replace(tzinfo=timezone.utc).timestamp() for n, v in zip(names, r[2:])
             if v is not None}
    return {"status": r[0], "phase": r[1], "db_times": times}


def _die_with_phaselab() -> None:
    """If phaselab itself is killed (SIGKILL runs no cleanup), end this step's whole process
    group, the workers the orchestrator spawned included: nothing outlives the run."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os.killpg(0, signal.SIGKILL)
    threading.Thread(target=watch, daemon=True, name="phaselab-watch").start()


def main(argv: list[str]) -> int:
    _die_with_phaselab()
    if argv[:1] == ["prepare"]:
        return prepare()
    if argv[:1] == ["run"]:
        return asyncio.run(_run())
    print("usage: flakebench.py prepare|run", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
