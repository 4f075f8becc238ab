"""High-frequency issues and risk areas (高频问题, 风险区域) for leaders to act on.

Three questions, three small pure functions on DataFrames:

- ``emerging_hotspots`` — where is a category *rising*? This period's count per (unit,
  category) against the mean of the previous periods, tested as Poisson (P(X ≥ count)) with a
  minimum count so a jump from 0 to 1 is not news.
- ``gi_star_hotspots`` — where do reports *cluster*? Getis-Ord Gi* (PySAL esda) on H3 cells
  with k-ring neighbourhoods; a cell is hot when it and its neighbours together are far above
  the district's average, which single-cell counts cannot show.
- ``recurring_points`` — what keeps coming back? The same small cell and category reported
  again and again (default ≥ 3 times in 30 days): the problem was "closed" but not solved.

Every result names its grid, street and responsible department (category → department is an
argument: geo knows no project tables) so the screen can say who should act. Time is a
parameter (``now``), never the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geo.h3cells import cell_resolution, cell_to_parent, grid_disk
from geo.index import GridIndex

__all__ = [
    "PLACE_COLUMNS",
    "emerging_hotspots",
    "gi_star",
    "gi_star_hotspots",
    "period_counts",
    "places_for_cells",
    "places_for_grids",
    "recurring_points",
]

PLACE_COLUMNS = ("grid_id", "grid_name", "community_name", "street_code", "street_name")


# ------------------------------------------------------------------------------------------
# naming: which grid / street a unit (grid id or cell) belongs to


def places_for_grids(index: GridIndex) -> pd.DataFrame:
    """Place names per grid_id (the index of the frame)."""
    return pd.DataFrame({
        "grid_id": index.grid_ids, "grid_name": index.grid_names, "community_name": index.community_names,
        "street_code": index.street_codes, "street_name": index.street_names,
    }, index=pd.Index(index.grid_ids, name="unit"))


def places_for_cells(index: GridIndex, cells: ArrayLike) -> pd.DataFrame:
    """Place names per cell, by the grid holding the cell's centre ('' outside every grid)."""
    c = np.unique(np.asarray(cells, dtype=np.uint64))
    pos = index.grid_pos_for_cells(c)
    take = np.clip(pos, 0, None)
    cols = {
        "grid_id": index.grid_ids, "grid_name": index.grid_names, "community_name": index.community_names,
        "street_code": index.street_codes, "street_name": index.street_names,
    }
    frame = {k: np.where(pos >= 0, v[take], "") if len(v) else np.full(c.size, "") for k, v in cols.items()}
    return pd.DataFrame(frame, index=pd.Index(c, name="unit"))


def _places(places: pd.DataFrame | GridIndex, units: pd.Series) -> pd.DataFrame:
    if isinstance(places, GridIndex):
        if units.dtype == object or pd.api.types.is_string_dtype(units):
            places = places_for_grids(places)
        else:
            places = places_for_cells(places, units.to_numpy(dtype=np.uint64))
    missing = [c for c in PLACE_COLUMNS if c not in places.columns]
    if missing:
        raise ValueError(f"places needs columns {PLACE_COLUMNS}; missing {missing}")
    return places.reindex(units.to_numpy())[list(PLACE_COLUMNS)].fillna("").reset_index(drop=True)


def _dept(categories: pd.Series, dept_of: Mapping[str, str] | None) -> pd.Series:
    if not dept_of:
        return pd.Series([""] * len(categories), dtype=object)
    return categories.map(lambda c: dept_of.get(c, "")).astype(object)


# ------------------------------------------------------------------------------------------
# (a) emerging hotspots


def period_counts(
    events: pd.DataFrame, *, now: datetime | pd.Timestamp, unit: str, time: str = "time", category: str = "category",
    period: timedelta = timedelta(days=7), n_periods: int = 5,
) -> pd.DataFrame:
    """Counts per (unit, category, period); period 0 is (now − period, now], 1 the one before...

    Events older than ``n_periods`` periods are ignored.
    """
    t = pd.to_datetime(events[time])
    now_ts = pd.Timestamp(now)
    if t.dt.tz is not None and now_ts.tz is None:
        raise ValueError("events have time zones but now has none")
    age = (now_ts - t) / pd.Timedelta(period)
    idx = np.ceil(age.to_numpy(dtype=float)) - 1  # (0, 1] → 0, (1, 2] → 1, ...
    keep = (idx >= 0) & (idx < n_periods)
    frame = pd.DataFrame({"unit": events[unit].to_numpy()[keep], "category": events[category].to_numpy()[keep],
                          "period": idx[keep].astype(int)})
    return frame.groupby(["unit", "category", "period"], sort=True).size().rename("count").reset_index()


def emerging_hotspots(
    counts: pd.DataFrame, places: pd.DataFrame | GridIndex, dept_of: Mapping[str, str] | None = None, *,
    current: int = 0, baseline_periods: int = 4, min_count: int = 3, alpha: float = 0.01, prior: float = 0.5,
) -> pd.DataFrame:
    """(unit, category) pairs whose count this period is improbably high against their baseline.

    ``counts`` has columns unit, category, period, count (see ``period_counts``). The baseline
    λ is the mean over periods current+1 .. current+baseline_periods, with ``prior`` events
    added so a unit that never had this category gets λ > 0. p = P(X ≥ count | Poisson λ),
    z = (count − λ)/√λ. Kept: count ≥ min_count, count > λ, p ≤ alpha; ranked by p, then z.
    """
    from scipy.stats import poisson

    need = {"unit", "category", "period", "count"}
    if not need <= set(counts.columns):
        raise ValueError(f"counts needs columns {sorted(need)}, got {sorted(counts.columns)}")
    cur = counts[counts["period"] == current].groupby(["unit", "category"])["count"].sum()
    prev_mask = (counts["period"] > current) & (counts["period"] <= current + baseline_periods)
    prev = counts[prev_mask].groupby(["unit", "category"])["count"].sum()
    frame = cur.rename("count").to_frame().join(prev.rename("prev"), how="left").fillna({"prev": 0})
    frame["baseline"] = frame["prev"] / baseline_periods
    lam = (frame["prev"] + prior) / baseline_periods
    frame["z"] = (frame["count"] - lam) / np.sqrt(lam)
    frame["p"] = poisson.sf(frame["count"] - 1, lam)
    frame = frame[(frame["count"] >= min_count) & (frame["count"] > lam) & (frame["p"] <= alpha)]
    frame = frame.reset_index().sort_values(["p", "z", "count"], ascending=[True, False, False], kind="stable")
    return _named(frame.reset_index(drop=True), places, dept_of,
                  ["unit", "grid_id", "grid_name", "community_name", "street_code", "street_name", "category",
                   "dept", "count", "baseline", "z", "p"])


def _named(frame: pd.DataFrame, places, dept_of, columns: list[str]) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=columns)
    named = pd.concat([frame, _places(places, frame["unit"])], axis=1)
    named["dept"] = _dept(named["category"], dept_of) if "category" in named else ""
    named["count"] = named["count"].astype(int)
    return named[columns]


# ------------------------------------------------------------------------------------------
# (b) Getis-Ord Gi* on H3 neighbourhoods


def gi_star(
    cells: ArrayLike, counts: ArrayLike, *, k: int = 1, permutations: int = 0, seed: int = 0
) -> pd.DataFrame:
    """Gi* z-score and p-value per cell; neighbours = the k-ring cells inside the study set.

    ``cells`` must be the whole study area (cells without reports included with 0), otherwise
    every cell with a report looks hot. p is two-sided from the normal approximation, or the
    permutation pseudo p-value (esda's, folded) when ``permutations`` > 0.
    """
    from esda.getisord import G_Local
    from libpysal.weights import W

    c = np.asarray(cells, dtype=np.uint64).ravel()
    y = np.asarray(counts, dtype=np.float64).ravel()
    if c.size != y.size:
        raise ValueError("one count per cell is needed")
    if np.unique(c).size != c.size:
        raise ValueError("cells must be unique")
    out = pd.DataFrame({"cell": c, "count": y, "z": np.zeros(c.size), "p": np.ones(c.size)})
    if c.size < 3 or y.sum() <= 0 or np.all(y == y[0]):
        return out
    origin, nbr, dist = grid_disk(c, k)
    order = np.argsort(c)
    pos = np.searchsorted(c[order], nbr)
    pos = np.clip(pos, 0, c.size - 1)
    found = (c[order][pos] == nbr) & (dist > 0)
    j = order[pos[found]]
    i = origin[found]
    neighbors: dict[int, list[int]] = {n: [] for n in range(c.size)}
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        neighbors[a].append(b)
    w = W(neighbors, silence_warnings=True)
    g = G_Local(y, w, transform="B", star=True, permutations=permutations, n_jobs=1, seed=seed,
                keep_simulations=False)
    out["z"] = np.asarray(g.Zs, dtype=float)
    out["p"] = np.asarray(g.p_sim, dtype=float) if permutations else np.minimum(1.0, 2 * np.asarray(g.p_norm))
    return out


def gi_star_hotspots(
    cells: ArrayLike, counts: ArrayLike, index: GridIndex, *, res: int, k: int = 1, alpha: float = 0.05,
    permutations: int = 0, category: str | None = None, dept_of: Mapping[str, str] | None = None,
    include_cold: bool = False, seed: int = 0,
) -> pd.DataFrame:
    """Significant Gi* hot (and optionally cold) cells at ``res``, named by grid and street.

    ``cells``/``counts`` are report counts (any resolution ≥ res: rolled up); the study area
    is every cell at ``res`` whose centre lies in a grid, so empty cells count as zeros.
    """
    c = np.asarray(cells, dtype=np.uint64).ravel()
    y = np.asarray(counts, dtype=np.float64).ravel()
    if c.size and int(cell_resolution(c).min()) < res:
        raise ValueError(f"cells coarser than res {res} cannot be split")
    study, _ = index.grid_cells(res)
    rolled = cell_to_parent(c, res) if c.size else c
    allc = np.union1d(study, rolled)
    y_all = np.zeros(allc.size)
    np.add.at(y_all, np.searchsorted(allc, rolled), y)
    stats = gi_star(allc, y_all, k=k, permutations=permutations, seed=seed)
    sig = stats["p"] <= alpha
    stats["kind"] = np.where(stats["z"] > 0, "hot", "cold")
    keep = sig & ((stats["z"] > 0) | include_cold)
    frame = stats[keep].sort_values(["p", "z"], ascending=[True, False], kind="stable").reset_index(drop=True)
    frame["unit"] = frame["cell"].astype(np.uint64)
    frame["category"] = category or ""
    columns = ["cell", "kind", "grid_id", "grid_name", "community_name", "street_code", "street_name", "category",
               "dept", "count", "z", "p"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    named = pd.concat([frame, _places(index, frame["unit"])], axis=1)
    named["dept"] = (dept_of or {}).get(category, "") if category else ""
    named["count"] = named["count"].astype(int)
    return named[columns]


# ------------------------------------------------------------------------------------------
# (c) recurring points


def recurring_points(
    events: pd.DataFrame, places: pd.DataFrame | GridIndex, dept_of: Mapping[str, str] | None = None, *,
    now: datetime | pd.Timestamp, window_days: int = 30, min_count: int = 3, res: int | None = None,
    time: str = "time", cell: str = "cell", category: str = "category",
) -> pd.DataFrame:
    """(cell, category) reported at least ``min_count`` times in the last ``window_days``.

    Use a small cell for "the same spot": the events' cells rolled up to ``res`` if given
    (res 11, ~25 m edges, is a good choice when events carry res-12 cells; with res-10 event
    cells the spot is ~130 m across). Ranked by count, then most recent.
    """
    t = pd.to_datetime(events[time])
    now_ts = pd.Timestamp(now)
    m = (t > now_ts - pd.Timedelta(days=window_days)) & (t <= now_ts)
    sub = pd.DataFrame({"unit": events.loc[m, cell].to_numpy(dtype=np.uint64), "category": events.loc[m, category],
                        "time": t[m]})
    sub = sub[sub["unit"] != 0]
    if res is not None and len(sub):
        sub["unit"] = cell_to_parent(sub["unit"].to_numpy(), res)
    grouped = sub.groupby(["unit", "category"], sort=True)["time"].agg(["size", "min", "max"]).reset_index()
    grouped = grouped.rename(columns={"size": "count", "min": "first_seen", "max": "last_seen"})
    grouped = grouped[grouped["count"] >= min_count]
    grouped = grouped.sort_values(["count", "last_seen"], ascending=[False, False], kind="stable").reset_index(drop=True)
    grouped["cell"] = grouped["unit"]
    return _named(grouped, places, dept_of,
                  ["cell", "grid_id", "grid_name", "community_name", "street_code", "street_name", "category", "dept",
                   "count", "first_seen", "last_seen"])
