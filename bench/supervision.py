"""Supervision benchmark: transitions applied per second, and the deadline scan over 100,000 open cases.

Against the embedded Valkey with the product's durable setting (AOF ``appendfsync always``).

- ``transitions_per_s``: the worker end to end (wall clock; ``worker_cpu_us_per_transition`` is the
  worker process's own CPU per transition, which the shared machine's load disturbs less;
  ``server_cpu_us_per_transition`` the Valkey server's, from INFO cpu) — XREADGROUP batches of
  10,000 (``--batch``; 5,000 before 2026-12-04, 1,000 before 2026-11-25) from the log,
  pure transitions, every read-model write of the batch in one MULTI/EXEC with its XACK, the
  deltas, and the catch-up deadline scans — over a synthetic log (``feeds.supervision.synthetic``:
  every lifecycle path, alerts, acks, dead letters). ``lifecycle_per_s``: the pure state machine
  alone on the same entries (no Redis), the ceiling.
- ``scan_ms_p95``: one tick of the deadline scan (``Worker.scan``: ZRANGEBYSCORE of the due
  slice on the deadlines sorted set, then advancing those cases and writing them) with 100,000
  open cases received over 60 days, one tick per simulated second from a weekday 10:00.
- baselines, same ticks: ``full_scan``: read every open case's next deadline from Redis (a hash
  case → deadline, what one keeps without a sorted set) and filter in Python;
  ``memory_scan``: the same filter over a Python dict already in memory (no I/O at all).
  ``ratio_vs_full_scan`` = full_scan p95 / scan p95.

Usage: ``python -m bench.supervision [--quick] [--batch N] [--transitions-only]``; the last line is one
JSON object (``load_avg``: the machine's 1-minute load average at the start and at the end).
Results are recorded in docs/BENCHMARKS.md (section "supervision").
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from feeds.catalog import Catalog
from feeds.clock import ManualClock
from feeds.keys import Keys
from feeds.settings import CONFIG_DIR, Settings
from feeds.store import Store
from feeds.supervision import lifecycle as lc
from feeds.supervision.synthetic import DAY, append_log, month, open_reports
from feeds.supervision.worker import Worker

START = 1_790_784_000_000  # 2026-10-01 00:00 Asia/Shanghai


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def bench_transitions(store: Store, catalog: Catalog, days: int, per_day: int, batch: int) -> dict:
    entries = month(catalog, START, days, per_day, seed=1)
    keys = Keys(store.settings.namespace + "-tr")
    append_log(store.client, keys, entries)
    rules = lc.Rules.load(CONFIG_DIR, catalog, store.settings.namespace)
    t0 = time.perf_counter()
    states: dict = {}
    from feeds.model import LogEntry

    decoded = [LogEntry(f"{e.t}-0", e.kind, e.case, e.v, e.t, e.d) for e in entries]
    t0 = time.perf_counter()
    for e in decoded:
        states[e.case_id] = lc.apply(states.get(e.case_id), e, rules).state
    pure = len(decoded) / (time.perf_counter() - t0)
    n_entries = len(entries)
    del entries, decoded, states  # the worker's run should not share the heap with ~300 MB of set-up
    gc.collect()

    w = Worker(store.client, keys, store.settings, catalog, clock=ManualClock(START + days * DAY),
               consumer="bench", batch_size=batch, rules=rules)
    s0 = server_cpu_s(store.client)
    t0, c0 = time.perf_counter(), time.process_time()
    st = w.drain()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    server = server_cpu_s(store.client) - s0
    assert st.applied == n_entries, (st, n_entries)
    return {"entries": n_entries, "cases": days * per_day, "batch": batch, "seconds": round(elapsed, 2),
            "transitions_per_s": round(st.applied / elapsed), "lifecycle_per_s": round(pure),
            "worker_cpu_us_per_transition": round(cpu / st.applied * 1e6, 1),
            "server_cpu_us_per_transition": round(server / st.applied * 1e6, 1),
            "alerts": w.stats.alerts, "dead_letters": st.dead, "scanned_in_catch_up": st.scanned}


def server_cpu_s(client: Any) -> float:
    """CPU seconds the server has used (user + system), from INFO cpu."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def last_workday_10am(catalog: Catalog, settings: Settings) -> int:
    """The latest working day's 10:00 (local) not after now."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(settings.timezone)
    cal = lc.Rules.load(CONFIG_DIR, catalog, settings.namespace).calendar
    d = datetime.now(tz)
    day = d.date() if d.hour >= 10 else d.date() - timedelta(days=1)
    while not cal.is_workday(day):
        day -= timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, 10, tzinfo=tz).timestamp() * 1000)


def preload(w: Worker, entries: list, now: int, chunk: int = 2000) -> int:
    """Set-up: the open cases as the worker would leave them after applying their reports and a
    catch-up scan at ``now`` — the same pure transitions and the same write path (``_transact``,
    ``_write``), 2,000 cases a transaction, without the log round trip (not what is measured)."""
    from feeds.model import LogEntry
    from feeds.supervision.worker import _Batch

    appended = int(time.time() * 1000)  # imported now: alerts older than the horizon become history
    by_case: dict[str, list] = {}
    for e in entries:
        by_case.setdefault(e.case, []).append(LogEntry(f"{appended}-0", e.kind, e.case, e.v, e.t, e.d))
    ids = list(by_case)
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        batch = _Batch()
        counts = {"applied": 0, "duplicates": 0, "parked": 0}

        def compute(states: dict, old: dict, tx: object, part: list = part, batch: _Batch = batch,
                    counts: dict = counts) -> None:
            for c in part:
                for e in by_case[c]:
                    tr = lc.apply(states.get(c), e, w.rules)
                    states[c] = tr.state
                    for eff in tr.effects:
                        w._effect(eff, c, batch, counts)
                effects: list = []
                lc.advance(states[c], now, w.rules, effects)
                for eff in effects:
                    w._effect(eff, c, batch, counts)
            w._write(tx, states, old, batch, now)

        assert w._transact(part, compute)
    return len(ids)


def bench_scan(store: Store, catalog: Catalog, n_open: int, ticks: int) -> dict:
    """100,000 open cases received over the last 60 days (a district's rate is ~1,200 a day), imported
    as a backfill, then one scan per simulated second from a weekday 10:00 on."""
    keys = Keys(store.settings.namespace + "-scan")
    t_end = last_workday_10am(catalog, store.settings)  # close to now, so the newest cases' alerts are live
    entries = open_reports(catalog, t_end - 60 * DAY, t_end, n_open)
    clock = ManualClock(t_end)
    w = Worker(store.client, keys, store.settings, catalog, clock=clock, consumer="bench", batch_size=1000)
    client = store.client
    t0 = time.perf_counter()
    caught_up = preload(w, entries, t_end)
    load_s = time.perf_counter() - t0
    timers = client.zcard(keys.deadlines)

    # baseline data: the same deadlines as a plain hash, and as a dict in memory
    snapshot = {m.decode(): s for m, s in client.zrange(keys.deadlines, 0, -1, withscores=True)}
    base_key = keys.sv("bench:deadline-hash")
    items = list(snapshot.items())
    for i in range(0, len(items), 5000):
        client.hset(base_key, mapping=dict(items[i:i + 5000]))

    scan_ms, sizes, full_ms, mem_ms, per_case = [], [], [], [], []
    now = t_end
    for i in range(ticks):
        now += 1000
        due = client.zcount(keys.deadlines, "-inf", now)
        t = time.perf_counter()
        w.scan(now)
        ms = (time.perf_counter() - t) * 1000
        scan_ms.append(ms)
        sizes.append(due)
        if due:
            per_case.append(ms / due)
        if i % max(1, ticks // 50) == 0:  # the baselines are slow: sample 50 ticks
            t = time.perf_counter()
            _ = [c for c, d in client.hgetall(base_key).items() if float(d) <= now]
            full_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            _ = [c for c, d in snapshot.items() if d <= now]
            mem_ms.append((time.perf_counter() - t) * 1000)
    client.delete(base_key)
    p95 = pct(scan_ms, 0.95)
    return {"open_cases": n_open, "cases_with_timers": timers, "setup_s": round(load_s, 1), "catch_up_cases": caught_up,
            "live_alerts": client.zcard(keys.alert_queue), "ticks": ticks,
            "scan_ms_p50": round(pct(scan_ms, 0.5), 3), "scan_ms_p95": round(p95, 3),
            "scan_ms_max": round(max(scan_ms), 2), "due_per_tick_mean": round(statistics.mean(sizes), 3),
            "due_per_tick_max": max(sizes), "ticks_with_due": sum(1 for x in sizes if x),
            "ms_per_due_case_p50": round(pct(per_case, 0.5), 3) if per_case else None,
            "full_scan_ms_p95": round(pct(full_ms, 0.95), 1), "memory_scan_ms_p95": round(pct(mem_ms, 0.95), 2),
            "ratio_vs_full_scan": round(pct(full_ms, 0.95) / p95, 1),
            "ratio_vs_memory_scan": round(pct(mem_ms, 0.95) / p95, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.supervision", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller transition log, fewer ticks (< 2 min)")
    p.add_argument("--batch", type=int, default=10_000,
                   help="XREADGROUP COUNT of the transitions part (default 10000, the worker CLI's default)")
    p.add_argument("--transitions-only", action="store_true", help="skip the 100,000-open-case scan part")
    args = p.parse_args(argv)
    days, per_day, ticks = (10, 300, 1200) if args.quick else (30, 1000, 3600)
    catalog = Catalog.load(CONFIG_DIR)
    load_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), namespace="bench", demo=False)
        with Store(settings) as store:
            tr = bench_transitions(store, catalog, days, per_day, batch=args.batch)
            print(f"transitions: {tr['entries']} entries ({tr['cases']} cases, batches of {tr['batch']}) in "
                  f"{tr['seconds']} s: {tr['transitions_per_s']}/s end to end "
                  f"({tr['worker_cpu_us_per_transition']} µs of worker CPU and "
                  f"{tr['server_cpu_us_per_transition']} µs of server CPU each); "
                  f"pure state machine {tr['lifecycle_per_s']}/s")
            sc = {} if args.transitions_only else bench_scan(store, catalog, 100_000, ticks)
            if sc:
                print(f"scan: {sc['open_cases']} open cases set up in {sc['setup_s']} s; {sc['ticks']} ticks of 1 s: "
                      f"p50 {sc['scan_ms_p50']} ms, p95 {sc['scan_ms_p95']} ms, max {sc['scan_ms_max']} ms "
                      f"(due per tick mean {sc['due_per_tick_mean']}, max {sc['due_per_tick_max']}); "
                      f"full scan p95 {sc['full_scan_ms_p95']} ms ({sc['ratio_vs_full_scan']}x), "
                      f"in-memory scan p95 {sc['memory_scan_ms_p95']} ms ({sc['ratio_vs_memory_scan']}x)")
    out = {"bench": "supervision", "quick": args.quick, "python": platform.python_version(),
           "appendfsync": "always", "load_avg": [load_start, round(os.getloadavg()[0], 2)],
           **{k: tr[k] for k in ("transitions_per_s", "lifecycle_per_s", "entries", "batch",
                                 "worker_cpu_us_per_transition", "server_cpu_us_per_transition")},
           **sc}
    print(orjson.dumps(out).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
