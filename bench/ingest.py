"""Ingest benchmark: validated, normalised, H3-indexed events appended to the log per second.

Single process, against the embedded Valkey with its durable setting (AOF ``appendfsync
always``: a reply means fsynced), each run on a fresh server. The events are a simulated
district-year of reports (440,000; ``--quick``: 60 days), generated before timing. Measured in
the same run:

- ``optimised``: the product's path (``Ingestor.ingest_stream``): batch validation, vectorised
  CRS + H3 + grid lookup, one EVALSHA per 1,000 events (idempotency, case ids, cross-channel
  duplicate linking, versions, one batch delta), two batches in flight;
- ``naive``: one event per round trip, ``json`` + a pydantic model per event, scalar CRS and
  H3, the grid looked up one point at a time, then HSETNX/INCR/XADD/HSET in one pipeline;
- ``bare_xadd``: redis-py pipelined XADDs of the same payloads, no other work;
- ``live``: 400 reports one per call (the HTTP endpoint's path, with a delta each) after three
  days in bulk: the server's CPU and the wall time per report (``live_server_us``, ``live_ms``).

Besides wall-clock rates it records CPU seconds of this process and of the server (Valkey's
``INFO cpu``, children included): on a shared machine the wall clock measures the neighbours
too, CPU time much less so. ``cpu_bound_events_per_s`` = events / max(client, server) CPU (the
two overlap on two cores), ``one_core_events_per_s`` = events / their sum.

The server runs with the allocator ``feeds.store`` gives it (jemalloc when the system has it:
``server_malloc`` in the JSON; ``GOV_SERVER_JEMALLOC=0`` for glibc's). ``--slices 50000``
prints the server's user / sys CPU per event per slice of the run.

Usage: ``python -m bench.ingest [--quick] [--slices N]``; the last line is one JSON object with at least
``events_per_s`` and ``ratio_vs_naive``. Results are recorded in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from feeds.ingest import DEFAULT_BATCH, IN_FLIGHT, Ingestor, iter_batches
from feeds.model import entry_fields
from feeds.normalise import GridLocator, load_locator
from feeds.settings import Settings
from feeds.simulator import DAY, make_simulator
from feeds.store import Store


def district_reports(settings: Settings, locator: GridLocator, days: float, seed: int = 20261125) -> list[dict]:
    """Reports of a simulated district (440,000 a year), in time order, no updates."""
    sim = make_simulator(settings, index=locator.index, seed=seed, include_updates=False)
    start = 1_767_196_800_000  # a fixed start (2026-01-01 UTC): the same events every run
    return list(sim.timeline(start, start + int(days * DAY)))


@dataclass
class Run:
    """One measured run: events, wall seconds, CPU seconds of this process and of the server."""

    events: int
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float

    @property
    def per_s(self) -> float:
        return self.events / self.wall_s

    @property
    def cpu_bound_per_s(self) -> float:
        """The rate if each side had a core of its own (they overlap): events / max(CPU)."""
        return self.events / max(self.client_cpu_s, self.server_cpu_s, 1e-9)

    @property
    def one_core_per_s(self) -> float:
        """The rate if client and server shared one core: events / (client CPU + server CPU)."""
        return self.events / max(self.client_cpu_s + self.server_cpu_s, 1e-9)

    def us(self, cpu_s: float) -> float:
        return cpu_s / self.events * 1e6


def _server_malloc(store: Store) -> str:
    """The allocator the embedded server runs with (feeds.store preloads jemalloc when it can)."""
    try:
        maps = Path(f"/proc/{store.server_pid}/maps").read_text()
    except (OSError, TypeError):
        return "unknown"
    return "jemalloc" if "libjemalloc" in maps else "libc"


def _server_cpu_split(store: Store) -> tuple[float, float]:
    """Server CPU seconds (user, sys) of the main process, without fork children."""
    info = store.client.info("cpu")
    return float(info["used_cpu_user"]), float(info["used_cpu_sys"])


def _server_cpu(store: Store) -> float:
    info = store.client.info("cpu")
    return sum(float(info.get(k, 0.0)) for k in ("used_cpu_sys", "used_cpu_user", "used_cpu_sys_children",
                                                    "used_cpu_user_children"))


def _measure(store: Store, work: Callable[[], int]) -> Run:
    c0, s0, t0 = time.process_time(), _server_cpu(store), time.perf_counter()
    n = work()
    wall = time.perf_counter() - t0
    return Run(n, wall, time.process_time() - c0, _server_cpu(store) - s0)


def run_optimised(store: Store, locator: GridLocator, items: list[dict], batch: int = DEFAULT_BATCH,
                  slices: int = 0, in_flight: int = IN_FLIGHT) -> Run:
    """``slices`` > 0: also print the server's user / sys CPU per event for every ``slices`` events
    (whether the per-event cost grows with the data; fork children, i.e. AOF rewrites, apart)."""
    ing = Ingestor.from_store(store, locator=locator)
    ing.ensure_script()

    def work() -> int:
        accepted = done = 0
        mark, cpu0 = 0, _server_cpu_split(store) if slices else (0.0, 0.0)
        for results in ing.ingest_stream(iter_batches(items, batch), source="bench", trust_received=True,
                                         deltas="batch", batch_size=batch, in_flight=in_flight):
            accepted += sum(r.status == "accepted" for r in results)
            done += len(results)
            if slices and (done - mark >= slices or done == len(items)):
                cpu = _server_cpu_split(store)
                n = done - mark
                print(f"  events {mark:>7,}-{done:>7,}: server CPU per event user {(cpu[0] - cpu0[0]) / n * 1e6:5.1f} µs,"
                      f" sys {(cpu[1] - cpu0[1]) / n * 1e6:4.1f} µs (load {os.getloadavg()[0]:.1f})")
                mark, cpu0 = done, cpu
        return accepted

    run = _measure(store, work)
    assert run.events == len(items), f"only {run.events} of {len(items)} accepted"
    assert store.client.xlen(store.keys.log) == len(items)
    return run


def run_naive(store: Store, locator: GridLocator, items: list[dict]) -> Run:
    """One event per round trip with per-event pydantic validation and scalar geo work."""
    import h3
    from pydantic import BaseModel, Field

    from geo.crs import to_wgs84

    class Reporter(BaseModel):
        name: str = ""
        phone: str = ""

    class ReportIn(BaseModel):
        channel: str
        source_id: str = Field(min_length=1, max_length=128)
        category: str
        level: int = Field(ge=1, le=4)
        lon: float = Field(ge=-180, le=180)
        lat: float = Field(ge=-90, le=90)
        crs: str = "WGS84"
        address: str = ""
        description: str = ""
        reporter: Reporter | None = None
        reported_at: int
        received_at: int
        attrs: dict[str, Any] = {}

    keys = store.keys
    client = store.client
    index = locator.index
    raw = [json.dumps(it, ensure_ascii=False) for it in items]  # as it would arrive

    def work() -> int:
        for body in raw:
            m = ReportIn.model_validate(json.loads(body))
            lon, lat = to_wgs84(m.lon, m.lat, m.crs)
            cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, 10))
            _, pos = index.locate_lnglat(np.array([lon]), np.array([lat]))
            grid = str(index.grid_ids[pos[0]]) if pos[0] >= 0 else ""
            payload = json.dumps({**m.model_dump(), "lon": lon, "lat": lat, "cell": cell, "grid_id": grid},
                                 ensure_ascii=False)
            pipe = client.pipeline(transaction=True)
            pipe.hsetnx(keys.idempotency, f"{m.channel}|{m.source_id}", "pending")
            pipe.incr(keys.case_seq)
            pipe.xadd(keys.log, entry_fields("report", m.source_id, 1, m.received_at, payload.encode()))
            pipe.hset(keys.versions, m.source_id, 1)
            pipe.execute()
        return len(raw)

    return _measure(store, work)


def run_bare_xadd(store: Store, items: list[dict]) -> Run:
    payloads = [orjson.dumps(it) for it in items]
    key = store.keys.log + ":bare"

    def work() -> int:
        for i in range(0, len(payloads), 500):
            pipe = store.client.pipeline(transaction=False)
            for p in payloads[i:i + 500]:
                pipe.xadd(key, entry_fields("report", "YZ2601010000001", 1, 1767196800000, p))
            pipe.execute()
        return len(payloads)

    run = _measure(store, work)
    store.client.delete(key)
    return run


def run_live(store: Store, locator: GridLocator, items: list[dict], n: int = 400) -> tuple[float, float]:
    """The live path (one report per call, as the HTTP endpoint gets them, with its delta) after
    a backfill of the rest: the server's CPU µs and the wall ms per report."""
    ing = Ingestor.from_store(store, locator=locator)
    n = max(1, min(n, len(items) // 2))
    backfill, live = items[:-n], items[-n:]
    for _ in ing.ingest_stream(iter_batches(backfill, DEFAULT_BATCH), source="bench", trust_received=True,
                               deltas="batch"):
        pass
    s0, t0 = _server_cpu(store), time.perf_counter()
    for it in live:
        [res] = ing.ingest([it], source="bench", trust_received=True, deltas="item")
        assert res.status == "accepted", res
    wall = time.perf_counter() - t0
    return (_server_cpu(store) - s0) / n * 1e6, wall / n * 1e3


def _aof_rewrites(data_dir: Path) -> int:
    """How many background AOF rewrites the server ran (they compete for the same cores)."""
    try:
        text = (data_dir / "valkey" / "valkey.log").read_text(errors="replace")
    except OSError:
        return 0
    return text.count("Background append only file rewriting started")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 simulated days (~65,000 events), < 2 minutes")
    ap.add_argument("--days", type=float, default=None, help="simulated days (default 365, quick 60)")
    ap.add_argument("--naive", type=int, default=None, help="events for the naive baseline (default 20,000)")
    ap.add_argument("--repeat", type=int, default=None, help="optimised runs, best counts (default 3, quick 2)")
    ap.add_argument("--slices", type=int, default=0,
                    help="also print the server's user/sys CPU per event every N events (e.g. 50000)")
    ap.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                    help=f"events per round trip (default {DEFAULT_BATCH:,}, the product's)")
    ap.add_argument("--in-flight", type=int, default=IN_FLIGHT,
                    help=f"batches sent and unanswered (default {IN_FLIGHT}, the product's)")
    args = ap.parse_args(argv)
    days = args.days or (60 if args.quick else 365)
    n_naive = args.naive or (5_000 if args.quick else 20_000)
    repeat = args.repeat or (2 if args.quick else 3)
    load_start = os.getloadavg()[0]  # the machine is shared: every figure goes with its load

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        settings = Settings(redis_url=None, data_dir=Path(tmp), appendfsync="always", demo=False)
        locator = load_locator(settings)
        assert isinstance(locator, GridLocator)
        t0 = time.perf_counter()
        items = district_reports(settings, locator, days)
        gen_s = time.perf_counter() - t0
        gc.collect()
        gc.freeze()  # the generated events are the bench's input, not garbage for the measured path
        print(f"generated {len(items):,} reports ({days:g} simulated days) in {gen_s:.1f} s")
        runs: list[Run] = []
        run_rewrites: list[int] = []
        for i in range(repeat):  # each run on a fresh embedded server (empty log, no AOF history)
            run_dir = Path(tmp) / f"run{i}"
            with Store(settings.with_(data_dir=run_dir)) as store:
                assert store.capabilities and store.capabilities.aof_always
                malloc = _server_malloc(store)
                run = run_optimised(store, locator, items, args.batch, args.slices, args.in_flight)
            rewrites = _aof_rewrites(run_dir)
            run_rewrites.append(rewrites)
            runs.append(run)
            print(f"optimised run {i + 1}: {run.per_s:,.0f} events/s wall; CPU per event: client "
                  f"{run.us(run.client_cpu_s):.1f} µs, server {run.us(run.server_cpu_s):.1f} µs"
                  + (f"; {rewrites} AOF rewrites" if rewrites else ""))
        with Store(settings.with_(data_dir=Path(tmp) / "naive")) as store:
            naive = run_naive(store, locator, items[:n_naive])
            print(f"naive (one event per round trip, json + pydantic): {naive.per_s:,.0f} events/s wall on "
                  f"{n_naive:,}; CPU per event: client {naive.us(naive.client_cpu_s):.0f} µs, "
                  f"server {naive.us(naive.server_cpu_s):.0f} µs")
            bare = run_bare_xadd(store, items[: min(len(items), 100_000)])
            print(f"bare pipelined XADD of the same payloads: {bare.per_s:,.0f} events/s wall; CPU per event: "
                  f"client {bare.us(bare.client_cpu_s):.1f} µs, server {bare.us(bare.server_cpu_s):.1f} µs")
        with Store(settings.with_(data_dir=Path(tmp) / "live")) as store:
            three_days = [it for it in items if it["received_at"] < items[0]["received_at"] + 3 * DAY]
            live_server_us, live_ms = run_live(store, locator, three_days)
            print("live path (400 reports one per call, after the rest of 3 days in bulk): server "
                  f"{live_server_us:.0f} µs CPU and {live_ms:.2f} ms wall per report")
        best = max(runs, key=lambda r: r.per_s)
        load = os.getloadavg()[0]
        result = {
            "events_per_s": round(best.per_s), "ratio_vs_naive": round(best.per_s / naive.per_s, 2),
            "naive_events_per_s": round(naive.per_s), "bare_xadd_per_s": round(bare.per_s),
            "ratio_vs_bare_xadd": round(best.per_s / bare.per_s, 2),
            "cpu_bound_events_per_s": round(best.cpu_bound_per_s),
            "one_core_events_per_s": round(best.one_core_per_s),
            "naive_one_core_events_per_s": round(naive.one_core_per_s),
            "cpu_ratio_vs_naive": round(best.one_core_per_s / naive.one_core_per_s, 2),
            "client_cpu_us": round(best.us(best.client_cpu_s), 2),
            "server_cpu_us": round(best.us(best.server_cpu_s), 2),
            "events": len(items), "runs": [round(r.per_s) for r in runs], "simulated_days": days,
            "batch": args.batch, "in_flight": args.in_flight, "appendfsync": "always", "dedup": True,
            "district_year_s": round(440_000 / best.per_s, 2), "load_avg_1m": round(load, 2),
            "load_avg_1m_start": round(load_start, 2), "aof_rewrites": run_rewrites, "server_malloc": malloc,
            "live_server_us": round(live_server_us), "live_ms": round(live_ms, 2),
            "python": platform.python_version(), "quick": args.quick,
        }
        print(f"district-year (440,000 events) in {440_000 / best.per_s:.1f} s wall; "
              f"{best.per_s / naive.per_s:.1f}× the naive baseline, {best.per_s / bare.per_s:.2f}× bare XADD; "
              f"CPU-bound {best.cpu_bound_per_s:,.0f}/s (machine load {load:.1f} on {os.cpu_count()} cores)")
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
