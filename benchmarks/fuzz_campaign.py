"""Issue 12's fuzz campaign (CI does not run this): several hundred malformed inputs into
every entry point of the `phaselab` command line, each in a process of its own.

    .venv/bin/python benchmarks/fuzz_campaign.py [--jobs 2] [--timeout 30] [--json FILE]

Every case is an input that must be refused: exit 2, a message on stderr that names the file
or option it came from, no traceback, nothing written. Each runs in its own empty folder (its
inputs copied in), in its own session, under a 4 GB address-space cap, with a wall-clock
timeout. Counted per entry point: exit 2 with a clear message, other exits, tracebacks,
hangs (killed at the timeout), peak RSS above 1 GB, and leftovers (a file in the folder that
was not there before, a `.phaselab-*` temp file, or a process of the case's session still
alive after it exited). The malformed inputs come from tests/fuzz_corpus/ and from seeded
generators below (one seed: the same cases every time).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from phaselab import scenario as scn  # noqa: E402
from phaselab.inputs.trace_records import SCHEMA  # noqa: E402

CORPUS = ROOT / "tests" / "fuzz_corpus"
BASELINE = ROOT / "scenarios" / "baseline.toml"
LIVE = CORPUS / "valid" / "live-embedded.jsonl"
REGRESSIONS = sorted((ROOT / "tests" / "regressions").glob("*.json"))
MEMORY_CAP = 4 << 30  # address space: a runaway dies here instead of taking the machine
RSS_LIMIT_KB = 1 << 20  # 1 GB, the limit


@dataclass
class Case:
    entry: str  # the entry point, for the table
    argv: list[str]  # after `phaselab`; {NAME} is replaced by the case folder's file NAME
    files: dict[str, bytes] = field(default_factory=dict)  # inputs written into the folder
    names: str = ""  # the message must contain this (file or option); "" = any message


# --- generators ---------------------------------------------------------------------------

BAD_SCALARS = ['"text"', "[1]", "{ a = 1 }", "true", "nan", "inf", "-inf", "-5"]


def scenario_cases(rng: random.Random) -> list[Case]:
    out = [Case("run SCENARIO", ["run", "{s.toml}"], {"s.toml": p.read_bytes()}, "s.toml")
           for p in sorted((CORPUS / "scenario").iterdir())]
    base = BASELINE.read_text()
    for key in scn.RUN_KEYS:  # every [run] key with every kind of wrong value
        for bad in BAD_SCALARS:
            text = f"[run]\n{key} = {bad}\n"
            out.append(Case("run SCENARIO", ["run", "{s.toml}"], {"s.toml": text.encode()},
                            "s.toml"))
    for op in ("benchmark", "connect", "default", "notify"):
        for spec in ('{ dist = "uniform", low = 1, high = 0 }', '{ dist = "nope" }',
                     '{ dist = "lognormal", median = 1, sigma = 800 }', '{ dist = [] }',
                     '{ dist = "normal", mean = 1, sd = -1 }', '{ dist = "empirical", samples = [] }',
                     '{ dist = "fixed", value = nan }', '{ dist = "lognormal", median = 2, sigma = 1, cap = 1 }'):
            out.append(Case("run SCENARIO", ["run", "{s.toml}"],
                            {"s.toml": f"[latency]\n{op} = {spec}\n".encode()}, "s.toml"))
    cuts = 0
    while cuts < 25:  # the baseline cut short, or with one byte broken, where that breaks it
        i = rng.randrange(1, len(base))
        text = base[:i] if rng.random() < 0.5 else base[:i] + rng.choice("[]{}=\"\x00") + base[i:]
        try:
            tomllib.loads(text)
            continue
        except (tomllib.TOMLDecodeError, ValueError):
            pass
        cuts += 1
        out.append(Case("run SCENARIO", ["run", "{s.toml}"], {"s.toml": text.encode()}, "s.toml"))
    for _ in range(10):
        out.append(Case("run SCENARIO", ["run", "{s.toml}"],
                        {"s.toml": bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))},
                        "s.toml"))
    return out


SETS = ["workers=nan", "workers=1e400", "workers=4.5", "workers=-1", "workers=10000",
        "workers=1000000000000", "dashboards=1000000", "duration_s=1e12", "duration_s=0",
        "main_loop_sleep_s=1e-9", "main_loop_sleep_s=0", "latency.benchmark=[1]",
        'latency.benchmark={dist="fixed", value=0}', "seed.x=1", "=3", "workers", "run=3",
        "seed=-1", "seed=1.5", "seed=1e30", 'variant.name=["fixed"]', "variant.name={a=1}",
        "tag_switch=bogus", "scheme=carrier-pigeon", "jitter=2", "stale_s=100",
        "heartbeat_s=40", "user_stop_at_s=-0.5", "deadline_s=3", "x" + "[" * 3000,
        "workers=" + "[" * 3000, 'latency.connect={dist="lognormal", median=3, sigma=900}',
        'latency.connect={dist="lognormal", median=3, sigma=1, cap=1}', "cost.usd_per_credit=-1",
        "server.slots=0", "a..b=1", "latency..benchmark=1", "bulk_queries=1",
        "think_time_s=0", "enrichment_poll_s=1e-12"]


def set_cases() -> list[Case]:
    out = []
    for s in SETS:
        if s == "think_time_s=0":  # zero think time with zero latency: never ends
            argv = ["run", str(BASELINE), "--set", s, "--set",
                    'latency.benchmark={dist="fixed", value=0}']
        else:
            argv = ["run", str(BASELINE), "--set", s]
        out.append(Case("run --set", argv, {}, ""))
    return out


def sweep_cases() -> list[Case]:
    b = str(BASELINE)
    rows = [["--reps", "0"], ["--reps", "-1"], ["--reps", "nan"], ["--reps", "1000000000"],
            ["--reps", "abc"], ["--reps", "1e3"], ["--jobs", "0"], ["--jobs", "1000"],
            ["--jobs", "x"], ["--seed", "-1"], ["--seed", "x"], ["--seed", "1e40"],
            ["--set", "status_poll_s"], ["--set", "status_poll_s=0.1,,0.2"],
            ["--set", "status_poll_s=0.1,abc"], ["--set", "bogus=1,2"],
            ["--set", "workers=" + ",".join(str(i) for i in range(1, 400)), "--set",
             "status_poll_s=" + ",".join(f"0.{i}" for i in range(1, 400))],
            ["--case", "no colon"], ["--case", "a: workers=2", "--case", "a: workers=3"],
            ["--case", ": workers=2"], ["--case", "x: workers"], ["--set", "workers=100000,2"],
            ["--set", "main_loop_sleep_s=1e-9,1"], ["--set", "duration_s=nan,1"],
            [], ["--set", "workers=2,3", "--out", "{s.toml}"]]
    out = []
    for r in rows:
        files = {"s.toml": BASELINE.read_bytes()} if "{s.toml}" in r else {}
        out.append(Case("sweep", ["sweep", b, *r], files, ""))
    out.append(Case("sweep", ["sweep", "{d}", "--set", "workers=2,3"], {}, "is a folder"))
    return out


def _mutate(doc, path, value):
    node = doc
    for p in path[:-1]:
        node = node.setdefault(p, {}) if isinstance(node, dict) else node
    if value is KeyError:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def replay_cases() -> list[Case]:
    out = [Case("run --replay", ["run", "--replay", "{r.json}"], {"r.json": p.read_bytes()},
                "r.json") for p in sorted((CORPUS / "replay").iterdir())]
    bad_values = [KeyError, "x", [1], {"a": 1}, -1, 1.5, None, True, 10 ** 30]
    paths = [("seed",), ("format",), ("scenario",), ("schedule", "tape"),
             ("schedule", "tail_seed"), ("schedule", "limit"), ("scenario", "run", "workers"),
             ("scenario", "variant", "name"), ("scenario", "latency", "benchmark", "dist"),
             ("scenario", "run", "stale_s")]
    for reg in REGRESSIONS[:2]:
        case = json.loads(reg.read_text())
        for path in paths:
            for v in bad_values:
                doc = json.loads(json.dumps(case))
                if path[0] == "schedule" and not isinstance(doc.get("schedule"), dict):
                    doc["schedule"] = {"tape": "eJxjYKAuAAAAUAAB"}
                _mutate(doc, path, v)
                if _valid_replay(doc):
                    continue  # e.g. a missing seed defaults to 0: not malformed
                out.append(Case("run --replay", ["run", "--replay", "{r.json}"],
                                {"r.json": json.dumps(doc).encode()}, "r.json"))
    return out


def _valid_replay(doc) -> bool:
    """Whether a mutated replay file is still a good one (then it is not a campaign case)."""
    from phaselab import replay
    from phaselab.errors import UsageError
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    try:
        c = replay.load(f.name)
        scn.from_dict(c["scenario"], f.name)
        return True
    except (UsageError, scn.ScenarioError):
        return False
    finally:
        os.unlink(f.name)


def trace_cases(rng: random.Random) -> list[Case]:
    lines = LIVE.read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    out = []
    for p in sorted((CORPUS / "trace").iterdir()):
        out.append(Case("check TRACE", ["check", "{t.jsonl}"], {"t.jsonl": p.read_bytes()},
                        "t.jsonl"))
    made = 0
    while made < 90:  # a required field of a random record deleted or given a wrong type
        i = rng.randrange(len(recs) - 1)
        spec = {**SCHEMA.get(recs[i]["kind"], {}), "*t": "num", "*kind": "str"}
        required = [k.lstrip("*") for k in spec if k.startswith("*")]
        if not required:
            continue
        name = rng.choice(required)
        r = dict(recs[i])
        if rng.random() < 0.4 and not (i == 0 and name == "kind"):
            r.pop(name)
        else:
            r[name] = rng.choice([[1], {"a": 1}] if name != "starts" else ["x", {"a": 1}])
        text = "\n".join(lines[:i] + [json.dumps(r)] + lines[i + 1:]) + "\n"
        out.append(Case("check TRACE", ["check", "{t.jsonl}"], {"t.jsonl": text.encode()},
                        "t.jsonl"))
        made += 1
    for bad in ("{oops", "[1, 2]", "NaN", '{"t": NaN, "kind": "marker"}', "\x00",
                '{"t": 1, "kind": "x", "a": ' + "[" * 3000 + "]" * 3000 + "}", '"a string"',
                '{"t": 1e999, "kind": "marker", "worker": "w", "name": "n"}'):
        i = rng.randrange(1, len(lines) - 1)
        text = "\n".join(lines[:i] + [bad] + lines[i:]) + "\n"
        out.append(Case("check TRACE", ["check", "{t.jsonl}"], {"t.jsonl": text.encode()},
                        "t.jsonl"))
    mid = "\n".join(lines).encode()
    out.append(Case("check TRACE", ["check", "{t.jsonl}"],
                    {"t.jsonl": mid[:5000] + b"\xff\xfe" + mid[5000:]}, "t.jsonl"))
    return out


def calibrate_cases(rng: random.Random) -> list[Case]:
    live = LIVE.read_bytes()
    recs = [json.loads(x) for x in LIVE.read_text().splitlines()]
    out = []
    for p in sorted((CORPUS / "trace").iterdir())[:12]:
        out.append(Case("calibrate TRACE --out", ["calibrate", "{t.jsonl}", "--out", "{o.toml}"],
                        {"t.jsonl": p.read_bytes()}, "t.jsonl"))
    header_edits = [("world", "sim"), ("live", None), ("live", {"run_config": 5}),
                    ("live", {"run_config": {"workers": "many"}}),
                    ("live", {"run_config": {"workers": 10 ** 7}}),
                    ("live", {"run_config": {"stale_s": 100, "dead_s": 10}}),
                    ("variant", ["fixed"]), ("params", {"L": "3"})]
    for k, v in header_edits:
        h = dict(recs[0])
        h[k] = v
        text = json.dumps(h) + "\n" + "\n".join(json.dumps(r) for r in recs[1:]) + "\n"
        out.append(Case("calibrate TRACE --out", ["calibrate", "{t.jsonl}", "--out", "{o.toml}"],
                        {"t.jsonl": text.encode()}, "t.jsonl"))
    for argv in (["calibrate", "{t.jsonl}", "--out", "{t.jsonl}"],
                 ["calibrate", "{t.jsonl}", "--out", "{d}"],
                 ["calibrate", "{t.jsonl}", "--out", "{d}/missing/o.toml"],
                 ["calibrate", "{d}", "--out", "{o.toml}"],
                 ["calibrate", "{t.jsonl}", "--out", "{o.toml}", "--server", "maybe"],
                 ["calibrate", "{missing.jsonl}", "--out", "{o.toml}"]):
        out.append(Case("calibrate TRACE --out", argv, {"t.jsonl": live}, ""))
    return out


def explore_cases() -> list[Case]:
    b = str(BASELINE)
    rows = [["--budget", x] for x in ("nan", "inf", "-inf", "-1", "0", "1e12", "abc", "")]
    rows += [["--seed", x] for x in ("-1", "x", "1.5", "1e40")]
    rows += [["--variant", "bogus"], ["--save", "{d}/missing"], ["--save", "{s.toml}"]]
    out = [Case("explore", ["explore", b, *r, "--budget", "1"] if "--budget" not in r
                else ["explore", b, *r], {"s.toml": BASELINE.read_bytes()}, "") for r in rows]
    for p in sorted((CORPUS / "scenario").iterdir())[::3]:
        out.append(Case("explore", ["explore", "{s.toml}", "--budget", "1"],
                        {"s.toml": p.read_bytes()}, "s.toml"))
    return out


def smoke_cases() -> list[Case]:
    bad = {"--workers": ["0", "-1", "1000000", "x", "nan", "2.5", "9"],
           "--connections": ["0", "-3", "10000", "y"],
           "--warmup": ["nan", "-1", "inf", "1e9"],
           "--measure": ["0", "inf", "nan", "1e9", "-2"],
           "--think-time": ["nan", "-1", "1e9", "inf"],
           "--statement-timeout": ["0", "nan", "inf", "-1", "1e300"],
           "--login-timeout": ["nan", "0", "-1", "inf"]}
    out = [Case("smoke", ["smoke", opt, v], {}, opt) for opt, vs in bad.items() for v in vs]
    out += [Case("smoke", argv, {}, "") for argv in (
        ["smoke", "--trace", "{d}"], ["smoke", "--trace", "{d}/missing/t.jsonl"],
        ["smoke", "--backend", "bogus"], ["smoke", "--connection-name", "x"],
        ["smoke", "--variant", "bogus"])]
    return out


def folder_cases() -> list[Case]:
    return [Case("folders and outputs", argv, {"s.toml": BASELINE.read_bytes()}, "")
            for argv in (["run", "{d}"], ["check", "{d}"], ["run", "--replay", "{d}"],
                         ["run", str(BASELINE), "--trace", "{d}"],
                         ["run", "{s.toml}", "--trace", "{s.toml}"],
                         ["run", str(BASELINE), "--trace", "{d}/missing/t.jsonl"],
                         ["explore", "{d}", "--budget", "1"], ["run", "{missing.toml}"],
                         ["check", "{missing.jsonl}"], ["run", "--replay", "{missing.json}"],
                         ["run"], ["run", str(BASELINE), "--replay", "{s.toml}"])]


def all_cases() -> list[Case]:
    rng = random.Random(12)
    return (scenario_cases(rng) + set_cases() + sweep_cases() + replay_cases()
            + trace_cases(rng) + calibrate_cases(rng) + explore_cases() + smoke_cases()
            + folder_cases())


# --- running one case ---------------------------------------------------------------------

def _session_alive(sid: int) -> list[int]:
    alive = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            alive.append(int(d))
    return alive


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_case(case: Case, timeout: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="phaselab-fuzz-"))
    try:
        for name, data in case.files.items():
            (folder / name).write_bytes(data)
        argv = [a.replace("{d}", str(folder)) for a in case.argv]
        argv = [str(folder / a[1:-1]) if a.startswith("{") and a.endswith("}") else a
                for a in argv]
        before = sorted(p.name for p in folder.iterdir())
        env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
        env.pop("SNOWFLAKE_ACCOUNT", None)
        out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        t0 = time.monotonic()
        import subprocess
        proc = subprocess.Popen([sys.executable, "-m", "phaselab.cli", *argv], cwd=folder,
                                stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True, preexec_fn=_cap)
        hung = threading.Event()

        def kill():
            hung.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        left_procs = _session_alive(proc.pid)
        for p in left_procs:
            os.kill(p, signal.SIGKILL)
        err_f.seek(0)
        err = err_f.read().decode("utf-8", "replace")
        out_f.seek(0)
        out = out_f.read().decode("utf-8", "replace")
        after = sorted(p.name for p in folder.iterdir())
        left_files = sorted(set(after) - set(before))
        names = case.names
        clear = (proc.returncode == 2 and "error:" in err and "Traceback" not in err
                 and (not names or names in err))
        return {"entry": case.entry, "argv": argv, "code": proc.returncode,
                "clear": clear, "traceback": "Traceback (most recent call last)" in err + out,
                "hang": hung.is_set(), "rss_mb": usage.ru_maxrss / 1024, "wall_s": wall,
                "left_files": left_files, "left_procs": left_procs,
                "stderr": err[-400:]}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def table(results: list[dict]) -> str:
    entries = list(dict.fromkeys(r["entry"] for r in results))
    head = ("| entry point | cases | clear exit 2 | other exit | tracebacks | hangs > 30 s "
            "| > 1 GB | left behind | max RSS MB | max wall s |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for e in entries + ["all"]:
        rs = [r for r in results if e in ("all", r["entry"])]
        rows.append(f"| {e} | {len(rs)} | {sum(r['clear'] for r in rs)} | "
                    f"{sum(r['code'] != 2 for r in rs)} | {sum(r['traceback'] for r in rs)} | "
                    f"{sum(r['hang'] for r in rs)} | {sum(r['rss_mb'] > 1024 for r in rs)} | "
                    f"{sum(bool(r['left_files'] or r['left_procs']) for r in rs)} | "
                    f"{max(r['rss_mb'] for r in rs):.0f} | {max(r['wall_s'] for r in rs):.1f} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--only", help="run only entry points containing this text")
    ap.add_argument("--json", metavar="FILE", help="write every case's result here")
    args = ap.parse_args(argv)
    cases = [c for c in all_cases() if not args.only or args.only in c.entry]
    print(f"{len(cases)} malformed inputs, {args.jobs} at a time", file=sys.stderr)
    done = []
    lock = threading.Lock()

    def one(c):
        r = run_case(c, args.timeout)
        with lock:
            done.append(r)
            if len(done) % 25 == 0 or not r["clear"]:
                print(f"[{len(done)}/{len(cases)}] {'ok ' if r['clear'] else 'BAD'} "
                      f"{r['entry']}: exit {r['code']}", file=sys.stderr)
        return r
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, cases))
    print(table(results))
    bad = [r for r in results if not r["clear"] or r["traceback"] or r["hang"]
           or r["rss_mb"] > 1024 or r["left_files"] or r["left_procs"]]
    for r in bad:
        print(f"\nNOT CLEAR: phaselab {' '.join(r['argv'])[:200]}\n  exit {r['code']}; "
              f"files left {r['left_files']}; processes left {r['left_procs']}\n  "
              f"{r['stderr'].strip()[-300:]}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
