"""Emerging hotspots, Gi* clusters and recurring points, each named by grid, street and department."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.h3cells import cell_centers_lnglat, cell_to_children, cells_for_lnglat
from geo.hotspots import (
    emerging_hotspots,
    gi_star,
    gi_star_hotspots,
    period_counts,
    places_for_cells,
    places_for_grids,
    recurring_points,
)

DEPT = {"消防安全": "消防救援大队", "城市管理": "综合行政执法局"}
NOW = pd.Timestamp("2026-11-25 12:00")


def _counts(rows):
    return pd.DataFrame(rows, columns=["unit", "category", "period", "count"])


EMERGING_CASES = [
    # (label, rows, expected flagged units)
    ("surge from nothing", [("G00", "消防安全", 0, 8)], ["G00"]),
    ("steady is not news", [("G00", "消防安全", p, 6) for p in range(5)], []),
    ("too few to matter", [("G00", "消防安全", 0, 2)], []),
    ("doubling from a high base is weak", [("G00", "消防安全", 0, 24)] + [("G00", "消防安全", p, 12) for p in range(1, 5)],
     ["G00"]),
    ("only the risen one", [("G00", "城市管理", 0, 9), ("G01", "城市管理", 0, 3)]
     + [("G01", "城市管理", p, 3) for p in range(1, 5)], ["G00"]),
    ("old periods beyond the baseline are ignored", [("G00", "消防安全", 0, 6), ("G00", "消防安全", 9, 50)], ["G00"]),
]


@pytest.mark.parametrize(("label", "rows", "expected"), EMERGING_CASES, ids=[c[0] for c in EMERGING_CASES])
def test_emerging_hotspots(square_index, label, rows, expected) -> None:
    result = emerging_hotspots(_counts(rows), square_index, DEPT, min_count=3, alpha=0.01)
    assert list(result["unit"]) == expected


def test_emerging_result_names_grid_street_and_department(square_index) -> None:
    result = emerging_hotspots(_counts([("G10", "消防安全", 0, 7), ("G10", "消防安全", 1, 1)]), square_index, DEPT)
    row = result.iloc[0]
    assert (row.grid_id, row.grid_name, row.street_name, row.dept) == ("G10", "网格10", "街道一", "消防救援大队")
    assert row["count"] == 7 and row.baseline == pytest.approx(0.25)
    assert row.z > 3 and 0 < row.p < 1e-3
    assert list(result.columns[:1]) == ["unit"]
    assert {"grid_id", "grid_name", "street_name", "category", "dept", "count", "baseline", "z", "p"} <= set(result.columns)


def test_emerging_ranks_by_significance(square_index) -> None:
    rows = [("G00", "消防安全", 0, 5), ("G11", "消防安全", 0, 12)]
    assert list(emerging_hotspots(_counts(rows), square_index, DEPT)["unit"]) == ["G11", "G00"]


def test_period_counts_buckets_by_age() -> None:
    events = pd.DataFrame({
        "time": [NOW - pd.Timedelta(days=d) for d in (0.5, 6.9, 7.1, 13, 40)] + [NOW + pd.Timedelta(hours=1)],
        "grid_id": ["G00"] * 6, "category": ["消防安全"] * 6,
    })
    got = period_counts(events, now=NOW, unit="grid_id")
    assert got[["period", "count"]].values.tolist() == [[0, 2], [1, 2]]


def test_gi_star_finds_a_planted_cluster() -> None:
    centre = cells_for_lnglat([121.575], [29.855], 8)
    from geo.h3cells import grid_disk

    _, study, dist = grid_disk(centre, 6)
    counts = np.where(dist <= 1, 20.0, 1.0)
    stats = gi_star(study, counts, k=1)
    hot = stats[(stats["p"] < 0.01) & (stats["z"] > 0)]
    assert int(centre[0]) in set(hot["cell"].tolist())
    assert stats.loc[stats["cell"] == centre[0], "z"].item() > 5


def test_gi_star_with_permutations_agrees_on_the_cluster() -> None:
    centre = cells_for_lnglat([121.575], [29.855], 8)
    from geo.h3cells import grid_disk

    _, study, dist = grid_disk(centre, 5)
    stats = gi_star(study, np.where(dist <= 1, 15.0, 1.0), k=1, permutations=99, seed=1)
    assert stats.loc[stats["cell"] == centre[0], "p"].item() <= 0.02


def test_gi_star_on_nothing_is_not_significant() -> None:
    _, study, _ = __import__("geo.h3cells", fromlist=["grid_disk"]).grid_disk(cells_for_lnglat([121.5], [29.8], 8), 2)
    stats = gi_star(study, np.zeros(study.size))
    assert (stats["p"] == 1).all()


def test_gi_star_hotspots_names_cells_by_grid(demo_index) -> None:
    g = "330212005001-G01"
    cell9 = demo_index.cells_for_grid(g, 9)[0]
    lon, lat = cell_centers_lnglat(cell_to_children([cell9], 10))
    cells = np.repeat(cells_for_lnglat(lon, lat, 10), 30)
    result = gi_star_hotspots(cells, np.ones(cells.size), demo_index, res=9, category="消防安全", dept_of=DEPT)
    assert len(result) and (result["kind"] == "hot").all()
    planted = result[result["cell"] == cell9].iloc[0]
    assert planted.grid_id == demo_index.grid_ids[demo_index.grid_pos_for_cells([cell9])[0]]
    assert planted.street_name == "中河街道" and planted.dept == "消防救援大队" and planted["count"] == 7 * 30


def test_recurring_points_need_three_reports_in_thirty_days(demo_index) -> None:
    cell = int(demo_index.cells_for_grid("330212001005-G01", 10)[0])
    other = int(demo_index.cells_for_grid("330212001005-G02", 10)[0])
    events = pd.DataFrame({
        "time": [NOW - pd.Timedelta(days=d) for d in (1, 5, 29)] + [NOW - pd.Timedelta(days=d) for d in (1, 31, 45)]
        + [NOW - pd.Timedelta(days=2)] * 2,
        "cell": [cell] * 3 + [other] * 3 + [cell] * 2,
        "category": ["消防安全"] * 6 + ["城市管理"] * 2,
    })
    result = recurring_points(events, demo_index, DEPT, now=NOW)
    assert len(result) == 1
    row = result.iloc[0]
    assert row.cell == cell and row["count"] == 3 and row.category == "消防安全" and row.dept == "消防救援大队"
    assert row.grid_id == "330212001005-G01" and row.street_name == "下应街道"
    assert row.first_seen == NOW - pd.Timedelta(days=29) and row.last_seen == NOW - pd.Timedelta(days=1)


def test_recurring_points_can_use_a_coarser_spot(demo_index) -> None:
    fine = cell_to_children(demo_index.cells_for_grid("330212001005-G01", 10)[:1], 11)[:3]
    events = pd.DataFrame({"time": [NOW] * 3, "cell": fine, "category": ["城市管理"] * 3})
    assert recurring_points(events, demo_index, DEPT, now=NOW).empty
    assert len(recurring_points(events, demo_index, DEPT, now=NOW, res=10)) == 1


def test_places_tables(square_index) -> None:
    grids = places_for_grids(square_index)
    assert grids.loc["G01", "grid_name"] == "网格01"
    cells = places_for_cells(square_index, cells_for_lnglat([121.505, 0.0], [29.805, 0.0], 10))
    assert sorted(cells["grid_id"]) == ["", "G00"]
