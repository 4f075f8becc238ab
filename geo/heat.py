"""Heat layers: event counts per H3 cell, rolled up to coarser resolutions, optionally smoothed.

Why pure functions on arrays: the pipeline keeps counts per day × category × cell at the
base resolution (``geo.index.DEFAULT_RES``) in Redis; the dashboard asks for a window at any
zoom. Rolling up is bit arithmetic on the cell ids plus one grouped sum, so a 30-day window
(~36,000 counters) is re-aggregated in a few milliseconds and nothing scans raw events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.h3cells import cell_boundaries_lnglat, cell_resolution, cell_to_parent, cells_to_strings, grid_disk

__all__ = [
    "HeatLayer",
    "cells_geojson",
    "counts_by_grid",
    "rollup_counts",
    "smooth_k_ring",
    "sum_by_cell",
]


@dataclass(frozen=True)
class HeatLayer:
    """Counts (or smoothed values) per cell at one resolution; cells sorted ascending."""

    res: int
    cells: NDArray[np.uint64]
    values: NDArray[np.float64]

    def as_dict(self) -> dict[int, float]:
        """{cell: value} for JSON-ish consumers."""
        return dict(zip(self.cells.tolist(), self.values.tolist(), strict=True))

    def top(self, n: int = 10) -> list[tuple[int, float]]:
        """The n hottest cells, hottest first (ties by cell id, so the order is stable)."""
        order = np.lexsort((self.cells, -self.values))[:n]
        return [(int(c), float(v)) for c, v in zip(self.cells[order], self.values[order], strict=True)]

    @property
    def total(self) -> float:
        return float(self.values.sum())

    def to_geojson(self, decimals: int = 6) -> dict:
        """FeatureCollection of the cells' hexagons with ``value``; id = the cell's hex string."""
        return cells_geojson(self.cells, self.values, decimals=decimals)


def sum_by_cell(cells: ArrayLike, counts: ArrayLike | None = None) -> tuple[NDArray[np.uint64], NDArray[np.float64]]:
    """Group equal cells and add their counts; returns sorted unique cells and sums."""
    c = np.asarray(cells, dtype=np.uint64).ravel()
    w = np.ones(c.size) if counts is None else np.asarray(counts, dtype=np.float64).ravel()
    if c.size == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0)
    uniq, inverse = np.unique(c, return_inverse=True)
    return uniq, np.bincount(inverse, weights=w, minlength=uniq.size)


def rollup_counts(cells: ArrayLike, counts: ArrayLike | None, res: int) -> HeatLayer:
    """Counts of base cells added up into their parents at ``res`` (≤ the cells' resolution).

    Parents are by H3 index (bit truncation), the hierarchy H3 zoom levels use; cells already
    at ``res`` are only grouped.
    """
    c = np.asarray(cells, dtype=np.uint64).ravel()
    if c.size:
        finest = int(cell_resolution(c).min())
        if res > finest:
            raise ValueError(f"cannot roll cells of resolution {finest} up to a finer resolution {res}")
        c = cell_to_parent(c, res)
    uniq, sums = sum_by_cell(c, counts)
    return HeatLayer(res=int(res), cells=uniq, values=sums)


def _kernel(k: int, kind: str | Mapping[int, float]) -> NDArray[np.float64]:
    if isinstance(kind, Mapping):
        return np.array([float(kind.get(d, 0.0)) for d in range(k + 1)])
    if kind == "uniform":
        return np.ones(k + 1)
    if kind == "linear":  # 1 at the centre falling to 1/(k+1) on the outer ring
        return (k + 1 - np.arange(k + 1)) / (k + 1)
    raise ValueError(f"unknown smoothing kernel {kind!r}: use 'linear', 'uniform' or {{distance: weight}}")


def smooth_k_ring(layer: HeatLayer, k: int, kernel: str | Mapping[int, float] = "linear") -> HeatLayer:
    """Spread each cell's count over its k-ring with a distance kernel, keeping the total.

    Why: at fine resolutions single reports make a speckled map; spreading them over the
    neighbourhood shows the areas that are hot rather than the points. The weights of one
    disk are normalised to 1, so the layer's total is unchanged.
    """
    if k <= 0 or layer.cells.size == 0:
        return layer
    w = _kernel(k, kernel)
    origin, nbr, dist = grid_disk(layer.cells, k)
    wd = w[dist]
    norm = np.bincount(origin, weights=wd, minlength=layer.cells.size)
    mass = layer.values[origin] * wd / norm[origin]
    cells, values = sum_by_cell(nbr, mass)
    return HeatLayer(res=layer.res, cells=cells, values=values)


def counts_by_grid(cells: ArrayLike, counts: ArrayLike, grid_pos_of_cells: ArrayLike, n_grids: int) -> NDArray[np.float64]:
    """Per-grid totals from cell counts, given each cell's grid position (-1 = outside, dropped).

    Use ``GridIndex.grid_pos_for_cells`` (cell-centre rule) for ``grid_pos_of_cells``; exact
    per-grid counts come from the events' own grid ids, this is for heat-only views.
    """
    pos = np.asarray(grid_pos_of_cells, dtype=np.int64).ravel()
    w = np.asarray(counts, dtype=np.float64).ravel()
    if pos.size != np.asarray(cells).size:
        raise ValueError("one grid position per cell is needed")
    keep = pos >= 0
    return np.bincount(pos[keep], weights=w[keep], minlength=n_grids)


def cells_geojson(
    cells: ArrayLike, values: ArrayLike | None = None, *, decimals: int = 6, properties: Mapping[str, ArrayLike] | None = None
) -> dict:
    """GeoJSON FeatureCollection of cell hexagons (WGS84), ids = H3 hex strings.

    ``values`` go to the ``value`` property; ``properties`` adds more per-cell columns.
    Coordinates are rounded to ``decimals`` (6 ≈ 0.1 m) to keep the payload small.
    """
    c = np.asarray(cells, dtype=np.uint64).ravel()
    ids = cells_to_strings(c)
    rings = cell_boundaries_lnglat(c)
    vals = None if values is None else np.asarray(values, dtype=np.float64).ravel().tolist()
    extra = {k: np.asarray(v).ravel().tolist() for k, v in (properties or {}).items()}
    features = []
    for i, (cid, ring) in enumerate(zip(ids, rings, strict=True)):
        props: dict = {"cell": cid}
        if vals is not None:
            props["value"] = vals[i]
        for k, col in extra.items():
            props[k] = col[i]
        coords = [[round(x, decimals), round(y, decimals)] for x, y in ring]
        features.append({"type": "Feature", "id": cid, "properties": props,
                         "geometry": {"type": "Polygon", "coordinates": [coords]}})
    return {"type": "FeatureCollection", "features": features}
