"""Group E: scaling and controllers (invariants.md ids 31-38), judged from `targets`,
`ctrl_eval`, `proc`, `worker_state`, `task_count` and `query` records (docs/trace.md).

The checkers recompute what the arithmetic and the controllers should have decided with
protocol/scaling.py, the same pure functions the actors call, from the inputs the trace
records. A run whose load mode has no controller (CONCURRENCY, the default) has nothing to
judge for the controller properties and passes them; a controller mode whose trace lacks the
records is not judged.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Iterator

from protocol import scaling as sc
from protocol.bounds import scaling_bounds
from protocol.phases import RUNNING
from protocol.trace import Trace

from .base import TOL, NotJudged, Violation, checker, ft, group_of
from .faults import faults_fired


def _load_mode(trace: Trace) -> str:
    mode = trace.param("load_mode") or (trace.header.get("scenario") or {}).get("load_mode")
    return mode if mode in sc.LOAD_MODES else "CONCURRENCY"


def _scaling_mode(trace: Trace) -> str:
    mode = trace.param("scaling_mode")
    return mode if mode in sc.SCALING_MODES else "FIXED"


def _evals(trace: Trace, controller: str) -> list[dict]:
    """The controller's evaluations, or NotJudged when a run in its mode recorded none."""
    evals = [r for r in trace.of("ctrl_eval") if r.get("controller") == controller]
    if not evals and _load_mode(trace) == {"FIND_MAX": "FIND_MAX", "QPS": "QPS"}[controller]:
        raise NotJudged(f"a {controller} run whose trace has no ctrl_eval records")
    return evals


@checker("SC-TARGET-ARITH")
def target_arith(trace: Trace) -> Iterator[Violation]:
    """Every target batch sums to clamp(requested, min_connections × n, cap × n), each target
    lies in [0, cap], and the split is the declared distribution's."""
    batches = trace.of("targets")
    if not batches and _load_mode(trace) != "CONCURRENCY":
        raise NotJudged(f"a {_load_mode(trace)} run whose trace has no targets records")
    for b in batches:
        n, cap, floor = b.get("workers"), b.get("cap"), b.get("min_connections") or 0
        got, req = list(b.get("targets") or []), b.get("requested")
        if not isinstance(n, int) or not isinstance(req, int) or not got:
            raise NotJudged(f"a targets record at t={ft(b.get('t'))} lacks workers, "
                            f"requested or targets")
        hi = cap * n if cap else None
        want = max(max(req, 0), floor * n)
        want = min(want, hi) if hi is not None else want
        if sum(got) != want or b.get("total") != want:
            yield Violation("SC-TARGET-ARITH",
                            f"targets at t={ft(b['t'])} ({b.get('reason')}): requested {req} "
                            f"over {n} workers at cap {cap}, floor {floor} per worker, should "
                            f"total {want}; the batch says {b.get('total')} and its targets "
                            f"{got} sum to {sum(got)}", (b,))
            continue
        if cap and any(not 0 <= t <= cap for t in got):
            yield Violation("SC-TARGET-ARITH", f"targets at t={ft(b['t'])}: {got} has a value "
                            f"outside [0, {cap}]", (b,))
            continue
        dist = b.get("distribution", "pack")
        if dist in ("pack", "even"):
            expect = sc.build_worker_targets(req, n, cap, floor, distribution=dist,
                                             floor_within_cap=True).targets
            if tuple(got) != expect:
                yield Violation("SC-TARGET-ARITH", f"targets at t={ft(b['t'])}: {got} is not "
                                f"the {dist} split {list(expect)} of {want}", (b,))


@checker("SC-WORKER-COUNT")
def worker_count(trace: Trace) -> Iterator[Violation]:
    """Spawned worker processes never exceed max_workers; with no mid-run spawning (FIXED, or
    a load mode that never spawns) none is spawned after the run went RUNNING; worker ids are
    unique and contiguous."""
    spawns = [r for r in trace.of("proc") if r.get("action") == "spawn"]
    if not spawns:
        raise NotJudged("the trace records no process spawns")
    seen: dict[str, dict] = {}
    for r in spawns:
        w = r.get("worker")
        if w in seen:
            yield Violation("SC-WORKER-COUNT", f"{w} spawned twice, at t={ft(seen[w]['t'])} and "
                            f"t={ft(r['t'])}", (seen[w], r))
        seen.setdefault(w, r)
    groups = sorted(g for g in (group_of(w) for w in seen) if g is not None)
    if groups != list(range(len(groups))):
        yield Violation("SC-WORKER-COUNT", f"worker groups {groups} are not 0..{len(groups) - 1}",
                        tuple(seen.values())[:3])
    mx = trace.param("max_workers")
    if isinstance(mx, int) and mx > 0 and len(seen) > mx:
        extra = [r for r in spawns if group_of(r.get("worker")) is not None
                 and group_of(r["worker"]) >= mx][:1]
        yield Violation("SC-WORKER-COUNT", f"{len(seen)} worker processes spawned, max_workers "
                        f"is {mx}", tuple(extra))
    mode, smode = _load_mode(trace), _scaling_mode(trace)
    if smode in sc.MODE_RULES[mode].spawns_mid_run:
        return
    running = trace.first_write(status="RUNNING")
    if running is None:
        return
    late = [r for r in spawns if r["t"] > running["t"] + TOL]
    if late:
        yield Violation("SC-WORKER-COUNT", f"{late[0]['worker']} spawned at t={ft(late[0]['t'])}, "
                        f"after the RUNNING write at t={ft(running['t'])}, in a {smode} "
                        f"{mode} run that spawns no worker mid-run", (running, late[0]))


def _fm_steps(evals: list[dict]) -> list[dict]:
    """The FIND_MAX evaluations that ended a step (not the `wait` ones)."""
    return [e for e in evals if (e.get("decision") or {}).get("kind") != "wait"]


@checker("SC-FINDMAX-TERMINATES")
def findmax_terminates(trace: Trace) -> Iterator[Violation]:
    """FIND_MAX: consecutive STABLE non-backoff steps strictly increase the effective target, a
    target that cannot grow ends the search, and it finishes within ⌈(max_c − start) /
    increment⌉ + 2 steps."""
    steps = _fm_steps(_evals(trace, "FIND_MAX"))
    prev = None
    for e in steps:
        if prev is not None and prev.get("outcome") == "STABLE" and not prev.get("backoff") \
                and e.get("outcome") is not None and not e.get("backoff"):
            if not (e.get("target", 0) > prev.get("target", 0)):
                yield Violation("SC-FINDMAX-TERMINATES",
                                f"step {e.get('step')} at t={ft(e['t'])} ran at target "
                                f"{e.get('target')} after STABLE step {prev.get('step')} at "
                                f"{prev.get('target')}: the target did not grow, so the search "
                                f"should have ended", (prev, e))
                return
        prev = e
    limit = trace.param("findmax_step_limit")
    if isinstance(limit, int) and steps and max(e.get("step", 0) for e in steps) > limit:
        last = max(steps, key=lambda e: e.get("step", 0))
        yield Violation("SC-FINDMAX-TERMINATES", f"step {last['step']} exceeds the bound of "
                        f"{limit} steps", (last,))


@checker("SC-FINDMAX-RESULT")
def findmax_result(trace: Trace) -> Iterator[Violation]:
    """FIND_MAX: the best concurrency is the maximum target over STABLE steps (0 if none) and
    best QPS the maximum QPS over them; at most one backoff step, at the best level of the
    first unstable step and below that step's target."""
    steps = _fm_steps(_evals(trace, "FIND_MAX"))
    done = [e for e in steps if (e.get("decision") or {}).get("kind") == "finish"]
    stable = [e for e in steps if e.get("outcome") == "STABLE"]
    backoffs = [e for e in steps if (e.get("decision") or {}).get("kind") == "backoff"]
    if len(backoffs) > 1:
        yield Violation("SC-FINDMAX-RESULT", f"{len(backoffs)} backoff decisions (at steps "
                        f"{[e.get('step') for e in backoffs]}); at most one is allowed",
                        tuple(backoffs[:2]))
    if backoffs:
        b = backoffs[0]
        best_then = max((e.get("target", 0) for e in stable if e["t"] <= b["t"] + TOL),
                        default=0)
        to = (b.get("decision") or {}).get("target")
        if to != best_then or not (to or 0) < (b.get("target") or 0):
            yield Violation("SC-FINDMAX-RESULT", f"the backoff at t={ft(b['t'])} goes to {to}; "
                            f"the best STABLE level then was {best_then}, and it must lie below "
                            f"the failed step's {b.get('target')}", (b,))
    if not done:
        return
    fin = done[-1]
    best = fin.get("best") or {}
    want_c = max((e.get("target", 0) for e in stable), default=0)
    want_q = max((e.get("qps", 0.0) for e in stable), default=0.0)
    if best.get("concurrency") != want_c:
        yield Violation("SC-FINDMAX-RESULT", f"reported best concurrency "
                        f"{best.get('concurrency')}; the highest STABLE step target is {want_c}",
                        (fin,))
    if abs((best.get("qps") or 0.0) - want_q) > 1e-6 * max(1.0, want_q):
        yield Violation("SC-FINDMAX-RESULT", f"reported best QPS {best.get('qps')}; the highest "
                        f"STABLE step QPS is {want_q:.3f}", (fin,))


@checker("SC-QPS-ENVELOPE")
def qps_envelope(trace: Trace) -> Iterator[Violation]:
    """QPS: decisions ≥ 10 s apart, each within +max_thread_increase / −8 before clamping, none
    inside the band, a decrease only after two over-target evaluations, and no return to the
    starting level after the first decision unless workers really report zero threads."""
    evals = _evals(trace, "QPS")
    period = trace.param("qps_eval_period_s", 10.0)
    inc = trace.param("max_thread_increase", 15)
    last_decision, over_streak, decided = None, 0, False
    for e in evals:
        qps, target, threads = e.get("qps"), e.get("target_qps"), e.get("threads")
        desired = (e.get("decision") or {}).get("target")
        if qps is None or target is None or threads is None:
            raise NotJudged(f"a QPS ctrl_eval at t={ft(e.get('t'))} lacks qps, target_qps or "
                            f"threads")
        over_streak = over_streak + 1 if qps > target + sc.qps_band(target) else 0
        if desired is None:
            continue
        lo, hi = e.get("lo", 0), e.get("hi", desired)
        if last_decision is not None and e["t"] - last_decision["t"] < period - TOL:
            yield Violation("SC-QPS-ENVELOPE", f"decisions at t={ft(last_decision['t'])} and "
                            f"t={ft(e['t'])} are less than {period} s apart",
                            (last_decision, e))
        if threads > 0:
            if abs(qps - target) <= sc.qps_band(target):
                yield Violation("SC-QPS-ENVELOPE", f"a change to {desired} at t={ft(e['t'])} "
                                f"with {qps:.1f} QPS inside the band of {target}", (e,))
            step_ok = (threads - sc.QPS_MAX_DECREASE <= desired <= threads + inc
                       or desired in (lo, hi))
            if not step_ok:
                yield Violation("SC-QPS-ENVELOPE", f"a change from {threads} to {desired} "
                                f"threads at t={ft(e['t'])} exceeds +{inc} / -8", (e,))
            if desired < threads and over_streak < sc.QPS_DOWN_NEEDED:
                yield Violation("SC-QPS-ENVELOPE", f"a decrease at t={ft(e['t'])} after "
                                f"{over_streak} over-target evaluation(s); two are needed", (e,))
        elif decided and "true_threads" not in e:
            raise NotJudged(f"the QPS ctrl_eval at t={ft(e['t'])} read 0 threads and records "
                            f"no true_threads to tell an empty cache from idle workers")
        elif decided and e["true_threads"] > 0:
            yield Violation("SC-QPS-ENVELOPE", f"at t={ft(e['t'])} the controller read 0 threads "
                            f"while workers ran {e['true_threads']}, and set the total back to "
                            f"{desired}", (e,))
        decided, last_decision = True, e


def _bound(trace: Trace, name: str) -> float:
    b = scaling_bounds(trace.header.get("params") or {})
    if name not in b:
        raise NotJudged("the header lacks the bounds P, E, L and Q")
    return b[name]


def _stop_t(trace: Trace) -> float:
    """When the run began to stop: the first STOP emitted or write leaving RUNNING after it
    went RUNNING (past it, workers stop moving targets)."""
    running = trace.first_write(status="RUNNING")
    if running is None:
        return float("-inf")
    ts = [e["t"] for e in trace.of("event_emit") if e.get("type") == "STOP"]
    ts += [w["t"] for w in trace.matched_status_writes()
           if w["t"] > running["t"] and (w.get("after") or {}).get("status") != RUNNING]
    return min(ts, default=float("inf"))


@checker("SC-WORKER-CAP")
def worker_cap(trace: Trace) -> Iterator[Violation]:
    """A worker's current target and its live task count never exceed per_worker_cap, and
    after a target is applied without a ramp its running tasks reach it within Q (plus
    connection creation when growing) and its stop-signalled tasks end within Q."""
    counts = trace.by_worker("task_count")
    if not counts:
        raise NotJudged("no task_count records (only a run with a load mode records them)")
    cap = trace.param("max_connections")
    if not isinstance(cap, int) or cap <= 0:
        raise NotJudged("the header states no max_connections (the worker's cap)")
    grow_s, shrink_s = _bound(trace, "grow_s"), _bound(trace, "shrink_s")
    end = min(_stop_t(trace), trace.end_t())
    for w, states in sorted(trace.by_worker("worker_state").items()):
        over = next((r for r in states if (r.get("target") or 0) > cap), None)
        if over is not None:
            yield Violation("SC-WORKER-CAP", f"{w}'s current_target {over['target']} at "
                            f"t={ft(over['t'])} exceeds the cap {cap}", (over,))
    for w, cs in sorted(counts.items()):
        over = next((c for c in cs if c.get("live", 0) > cap), None)
        if over is not None:
            yield Violation("SC-WORKER-CAP", f"{w} had {over['live']} live tasks at "
                            f"t={ft(over['t'])}, over its cap {cap}", (over,))
        if faults_fired(trace):
            continue  # the Q bounds hold only fault-free (the cap above always)
        states, before = [], None  # target changes applied at once, after start-up
        for r in trace.by_worker("worker_state").get(w, []):
            if not isinstance(r.get("target"), int):
                continue  # a phase change that states no target
            if r.get("target") != before and r.get("source") not in (
                    "startup", "wait", "ramp_start", "ramp"):
                states.append(r)
            before = r.get("target")
        for i, r in enumerate(states):
            t = r.get("target")
            later = [c for c in cs if c["t"] >= r["t"] - TOL]
            nxt = states[i + 1]["t"] if i + 1 < len(states) else float("inf")
            prev = [c for c in cs if c["t"] < r["t"] - TOL]
            growing = not prev or t > prev[-1].get("running", 0)
            due = r["t"] + (grow_s if growing else shrink_s)
            if due >= min(nxt, end):
                continue  # superseded, or the run stopped first: nothing to hold it to
            upto = [c for c in later if c["t"] <= due + TOL]
            if not any(c.get("running") == t and c.get("live", 0) <= max(t, cap) for c in upto):
                yield Violation("SC-WORKER-CAP", f"{w} was set to {t} tasks at t={ft(r['t'])}"
                                f" ({r.get('source')}) and did not run exactly {t} by "
                                f"t={ft(due)} (Q{' + prewarm' if growing else ''})",
                                (r, *upto[-1:]))
                break
            if not growing and not any(c.get("live", 0) <= t for c in upto):
                yield Violation("SC-WORKER-CAP", f"{w} shrank to {t} at t={ft(r['t'])} but its "
                                f"stop-signalled tasks were still live at t={ft(due)}, "
                                f"Q after", (r, *upto[-1:]))
                break


@checker("SC-RAMP-MONOTONE")
def ramp_monotone(trace: Trace) -> Iterator[Violation]:
    """During a ramp from a to b, the targets a worker applies move monotonically from a to
    b and reach b within the ramp time plus one main-loop period."""
    by_w = trace.by_worker("worker_state")
    starts = [r for rs in by_w.values() for r in rs if r.get("source") == "ramp_start"]
    if any(not isinstance(r.get("ramp_s"), (int, float)) for r in starts):
        raise NotJudged("ramp_start records lack ramp_s (the ramp's duration)")
    if not starts:
        return
    slack, stop = _bound(trace, "ramp_slack_s"), _stop_t(trace)
    if faults_fired(trace):
        slack = float("inf")  # the deadline is a fault-free bound; monotony always holds
    for w, rs in sorted(by_w.items()):
        ramp = None  # [start record, a, b, last value, reached at]
        for r in rs + [None]:
            if ramp is not None:
                st, a, b, last, reached = ramp
                due = st["t"] + st["ramp_s"] + slack
                ends = r is None or r.get("source") == "ramp_start" or (
                    r.get("source") != "ramp" and r.get("target") != b)
                if ends or r["t"] > due:
                    if reached is None and due < min(stop, trace.end_t()) and (
                            r is None or r["t"] > due + TOL):
                        yield Violation("SC-RAMP-MONOTONE", f"{w}'s ramp {a} -> {b} from "
                                        f"t={ft(st['t'])} ({st['ramp_s']:g} s) had not reached "
                                        f"{b} by t={ft(due)} (last {last})",
                                        (st,) + ((r,) if r else ()))
                        break
                    if ends:
                        ramp = None
                if ramp is not None and r is not None:
                    v = r.get("target")
                    lo, hi = sorted((last, b))
                    if not (isinstance(v, int) and lo <= v <= hi):
                        yield Violation("SC-RAMP-MONOTONE", f"{w}'s ramp {a} -> {b} from "
                                        f"t={ft(st['t'])} went from {last} to {v} at "
                                        f"t={ft(r['t'])} ({r.get('source')}): not monotone "
                                        f"towards {b}", (st, r))
                        break
                    ramp = [st, a, b, v, reached if reached is not None or v != b else r["t"]]
                    continue
            if r is not None and r.get("source") == "ramp_start":
                a, b = r.get("target"), r.get("ramp_to")
                ramp = [r, a, b, a, r["t"] if a == b else None]


def _finishes(trace: Trace) -> dict[str, list[tuple[float, int]]]:
    """Each worker's benchmark query finishes as (finish, epoch at start), bursts unpacked
    (a burst's query i ends when query i + 1 starts, less the think time)."""
    out: dict[str, list] = {}
    for q in trace.of("query"):
        out.setdefault(q.get("worker"), []).append((q["finish"], q.get("epoch", 0)))
    for b in trace.of("query_batch"):
        starts, think = b.get("starts") or [], b.get("think") or 0.0
        ends = [s - think for s in starts[1:]] + [b["finish"]]
        out.setdefault(b.get("worker"), []).extend((f, b.get("epoch", 0)) for f in ends)
    return out


@checker("SC-FINDMAX-STEP")
def findmax_step(trace: Trace) -> Iterator[Violation]:
    """FIND_MAX: step k is evaluated within P after t0_k + step_duration_seconds, not counting
    time blocked waiting for spawned workers, and its ops count only measurement-epoch
    operations that finished in [t0_k, t_eval]."""
    steps = [e for e in _fm_steps(_evals(trace, "FIND_MAX")) if e.get("outcome") is not None]
    if not steps:
        return
    if faults_fired(trace):  # both bounds (P, the cache's lag) hold only fault-free
        raise NotJudged("fault-free bounds (P, one POST period); faults fired")
    if any(not isinstance(e.get("t0"), (int, float)) or "spawn_wait_s" not in e
           or not isinstance(e.get("ops"), (int, float)) for e in steps):
        raise NotJudged("FIND_MAX ctrl_eval records lack t0, spawn_wait_s or ops")
    step_s = trace.param("step_duration_s")
    if not isinstance(step_s, (int, float)):
        raise NotJudged("the header states no step_duration_s")
    slack, stale = _bound(trace, "eval_slack_s"), _bound(trace, "metrics_stale_s")
    for e in steps:
        due = e["t0"] + step_s + e["spawn_wait_s"] + slack
        if e["t"] > due + TOL:
            yield Violation("SC-FINDMAX-STEP", f"step {e.get('step')} started at "
                            f"t={ft(e['t0'])} was evaluated at t={ft(e['t'])}, later than "
                            f"{step_s:g} s + {e['spawn_wait_s']:.3f} s spawn wait + P",
                            (e,))
            return
    fin = _finishes(trace)
    if not fin:
        raise NotJudged("no query or query_batch records to count the steps' operations")
    hooks: dict[str, float] = {}
    for h in trace.of("hook"):
        hooks.setdefault(h.get("worker"), h.get("end", h["t"]))
    measured, any_epoch = [], []  # finishes after each worker's first reset, sorted
    for w, fs in fin.items():
        reset = hooks.get(w, float("inf"))
        measured += [f for f, ep in fs if ep >= 1 and f > reset]
        any_epoch += [f for f, _ in fs if f > reset]
    measured.sort()
    any_epoch.sort()

    def between(xs, a, b):  # how many of the sorted xs lie in (a, b]
        return max(0, bisect_right(xs, b) - bisect_right(xs, a))

    for e in steps:
        t0, te = e["t0"], e["t"]
        lo = between(measured, t0, te - stale)
        hi = between(any_epoch, t0 - stale, te)
        if not lo - TOL <= e["ops"] <= hi + TOL:
            yield Violation("SC-FINDMAX-STEP", f"step {e.get('step')} ([{ft(t0)}, {ft(te)}]) "
                            f"counted {e['ops']:g} ops; the measurement-epoch operations that "
                            f"finished in it number {lo} to {hi} (the cache lags up to "
                            f"{stale:.2f} s)", (e,))
            return
