"""H3 helpers and heat layers: parents by bit arithmetic, roll-ups, smoothing, GeoJSON."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from geo.h3cells import (
    cell_centers_lnglat,
    cell_resolution,
    cell_to_children,
    cell_to_parent,
    cells_for_lnglat,
    cells_from_strings,
    cells_to_strings,
    grid_disk,
)
from geo.heat import HeatLayer, cells_geojson, counts_by_grid, rollup_counts, smooth_k_ring, sum_by_cell

CELL10 = h3.str_to_int(h3.latlng_to_cell(29.855, 121.575, 10))


@pytest.mark.parametrize("res", range(0, 11))
def test_parent_by_bits_equals_h3(res) -> None:
    assert int(cell_to_parent(np.array([CELL10], dtype=np.uint64), res)[0]) == h3.str_to_int(
        h3.cell_to_parent(h3.int_to_str(CELL10), res))


def test_parent_keeps_zero_for_missing_cells() -> None:
    assert cell_to_parent(np.array([0, CELL10], dtype=np.uint64), 8)[0] == 0


@pytest.mark.parametrize("res", [11, 12])
def test_children_are_h3s(res) -> None:
    kids = cell_to_children(np.array([CELL10], dtype=np.uint64), res)
    assert sorted(kids.tolist()) == sorted(h3.str_to_int(c) for c in h3.cell_to_children(h3.int_to_str(CELL10), res))
    assert set(cell_resolution(kids).tolist()) == {res}


def test_strings_round_trip() -> None:
    cells = np.array([CELL10, CELL10 + 0], dtype=np.uint64)
    assert cells_to_strings(cells) == [h3.int_to_str(CELL10)] * 2
    assert np.array_equal(cells_from_strings(cells_to_strings(cells)), cells)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_grid_disk_matches_h3(k) -> None:
    origin, nbr, dist = grid_disk(np.array([CELL10, CELL10], dtype=np.uint64), k)
    expected = h3.grid_disk(h3.int_to_str(CELL10), k)
    assert sorted(nbr[origin == 1].tolist()) == sorted(h3.str_to_int(c) for c in expected)
    assert dist.max() == k


def test_centres_are_inside_their_cells() -> None:
    lon, lat = cell_centers_lnglat(np.array([CELL10], dtype=np.uint64))
    assert cells_for_lnglat(lon, lat, 10)[0] == CELL10


SUM_CASES = [
    ("empty", [], [], [], []),
    ("one", [5], [2], [5], [2]),
    ("merge", [7, 5, 7], [1, 2, 3], [5, 7], [2, 4]),
    ("no weights", [3, 3, 1], None, [1, 3], [1, 2]),
]


@pytest.mark.parametrize(("label", "cells", "counts", "out_cells", "out_sums"), SUM_CASES, ids=[c[0] for c in SUM_CASES])
def test_sum_by_cell(label, cells, counts, out_cells, out_sums) -> None:
    c, s = sum_by_cell(np.array(cells, dtype=np.uint64), counts)
    assert c.tolist() == out_cells and s.tolist() == out_sums


@pytest.mark.parametrize("res", [6, 7, 8, 9, 10])
def test_rollup_keeps_the_total_and_uses_h3_parents(res) -> None:
    rng = np.random.default_rng(res)
    cells = cells_for_lnglat(rng.uniform(121.5, 121.7, 500), rng.uniform(29.7, 29.9, 500), 10)
    counts = rng.integers(1, 5, 500)
    layer = rollup_counts(cells, counts, res)
    assert layer.total == counts.sum() and layer.res == res
    expected: dict[int, int] = {}
    for c, n in zip(cells.tolist(), counts.tolist(), strict=True):
        p = h3.str_to_int(h3.cell_to_parent(h3.int_to_str(c), res))
        expected[p] = expected.get(p, 0) + n
    assert layer.as_dict() == {k: float(v) for k, v in expected.items()}


def test_rollup_to_a_finer_resolution_is_refused() -> None:
    with pytest.raises(ValueError, match="finer"):
        rollup_counts(np.array([CELL10], dtype=np.uint64), [1], 11)


@pytest.mark.parametrize(("k", "kernel"), [(1, "linear"), (2, "linear"), (1, "uniform"), (2, {0: 2.0, 1: 1.0, 2: 0.5})])
def test_smoothing_spreads_counts_but_keeps_the_total(k, kernel) -> None:
    layer = HeatLayer(res=10, cells=np.array([CELL10], dtype=np.uint64), values=np.array([12.0]))
    smooth = smooth_k_ring(layer, k, kernel)
    assert smooth.total == pytest.approx(12.0)
    assert smooth.cells.size == 1 + 3 * k * (k + 1)
    assert smooth.as_dict()[CELL10] == smooth.values.max()


def test_smoothing_with_k_zero_is_the_identity() -> None:
    layer = HeatLayer(res=10, cells=np.array([CELL10], dtype=np.uint64), values=np.array([3.0]))
    assert smooth_k_ring(layer, 0) is layer


def test_unknown_kernel_is_refused() -> None:
    layer = HeatLayer(res=10, cells=np.array([CELL10], dtype=np.uint64), values=np.array([3.0]))
    with pytest.raises(ValueError, match="kernel"):
        smooth_k_ring(layer, 1, "gaussian")


def test_top_cells_are_ordered_hottest_first() -> None:
    layer = HeatLayer(res=10, cells=np.array([3, 1, 2], dtype=np.uint64), values=np.array([5.0, 9.0, 5.0]))
    assert layer.top(2) == [(1, 9.0), (2, 5.0)]


def test_cell_geojson_has_ids_values_and_rounded_rings() -> None:
    fc = cells_geojson(np.array([CELL10], dtype=np.uint64), [4.0], properties={"grid": ["G1"]})
    (f,) = fc["features"]
    assert f["id"] == h3.int_to_str(CELL10) and f["properties"] == {"cell": f["id"], "value": 4.0, "grid": "G1"}
    ring = f["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    assert all(round(x, 6) == x for pt in ring for x in pt)


def test_counts_by_grid_drops_cells_outside() -> None:
    totals = counts_by_grid([1, 2, 3], [5, 1, 2], [0, -1, 0], n_grids=2)
    assert totals.tolist() == [7.0, 0.0]
