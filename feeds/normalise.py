"""Normalisation of a validated batch: WGS84 point, H3 cell and grid, vectorised per batch.

Why per batch: converting GCJ-02/BD-09, H3 indexing and point-in-grid are the costs of the
ingest hot path; done on numpy arrays they cost well under a microsecond an event, done one
point at a time they would dominate. The CRS maths and the grid lookup belong to ``geo/``;
this module only groups the batch's points by CRS and writes the answers back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from feeds.model import Flag
from feeds.settings import Settings
from feeds.validate import ReportIn
from geo.crs import bd09_to_gcj02, gcj02_to_wgs84, to_wgs84

log = logging.getLogger(__name__)


class Locator(Protocol):
    """Point → (H3 cell, grid position); ``grid_pos`` is -1 outside every grid."""

    #: WGS84 bounding box (lon0, lat0, lon1, lat1) of the jurisdiction, or None when unknown
    bbox: tuple[float, float, float, float] | None
    #: False when there is no grid layer: no point is flagged outside the jurisdiction
    has_grids: bool

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def grid_fields(self, pos: int) -> tuple[str, str, str]:
        """(grid_id, community_code, street_code) of a grid position."""
        ...


def cells_for_lnglat(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cells (uint64) of WGS84 points; vectorised (h3ronpy, ~0.3 µs a point)."""
    if lon.size == 0:
        return np.zeros(0, dtype=np.uint64)
    from h3ronpy.vector import coordinates_to_cells

    return np.asarray(coordinates_to_cells(lat, lon, resolution), dtype=np.uint64)


class CellLocator:
    """H3 cells only, no grid layer: nothing is flagged outside (until geo's index is there)."""

    bbox = None
    has_grids = False

    def __init__(self, resolution: int) -> None:
        self.resolution = resolution

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return cells_for_lnglat(lon, lat, self.resolution), np.full(lon.shape, -1, dtype=np.int32)

    def grid_fields(self, pos: int) -> tuple[str, str, str]:
        return "", "", ""


class GridLocator:
    """Adapter over ``geo.index.GridIndex``: cells and grid positions from geo, in one call."""

    has_grids = True

    def __init__(self, index: Any, resolution: int) -> None:
        self.index = index
        self.resolution = resolution
        self._grid_ids = [str(x) for x in _attr(index, "grid_ids", "grid_id")]
        self._communities = [str(x) for x in _attr(index, "community_codes", "community_code")]
        self._streets = [str(x) for x in _attr(index, "street_codes", "street_code")]
        self._fields = list(zip(self._grid_ids, self._communities, self._streets, strict=True))
        bounds = getattr(index, "bounds", None) or getattr(index, "bbox", None)
        self.bbox = tuple(float(b) for b in bounds) if bounds is not None else None

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if lon.size == 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int32)
        cells, pos = self.index.locate_lnglat(lon, lat)
        cells = np.asarray(cells, dtype=np.uint64)
        if getattr(self.index, "resolution", self.resolution) != self.resolution:
            cells = cells_for_lnglat(lon, lat, self.resolution)
        return cells, np.asarray(pos, dtype=np.int32)

    def grid_fields(self, pos: int) -> tuple[str, str, str]:
        return self._fields[pos]


def _attr(obj: Any, *names: str) -> Sequence[Any]:
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return list(v)
    raise AttributeError(f"{type(obj).__name__} has none of {names}")


def load_locator(settings: Settings, jurisdiction: Path | None = None) -> Locator:
    """The jurisdiction's grid locator (``geo.index.GridIndex``, its tables cached under
    ``data_dir/cache``); a cell-only locator when the jurisdiction file is missing.

    A missing layer is logged, not fatal: events are still indexed by H3 cell and nothing is
    flagged outside the jurisdiction.
    """
    path = Path(jurisdiction or settings.jurisdiction)
    if not path.exists():
        log.warning("jurisdiction %s not found: events get H3 cells but no grid", path)
        return CellLocator(settings.h3_resolution)
    from geo.index import GridIndex

    index = GridIndex.from_config(path, resolution=settings.h3_resolution,
                                  cache_dir=Path(settings.data_dir) / "cache")
    return GridLocator(index, settings.h3_resolution)


def normalise(reports: list[ReportIn], locator: Locator) -> None:
    """Fill each report's WGS84 point, H3 cell and grid in place; flag points outside the grids."""
    located = [r for r in reports if r.src_lon is not None]
    if not located:
        return
    lon = np.array([r.src_lon for r in located], dtype=np.float64)
    lat = np.array([r.src_lat for r in located], dtype=np.float64)
    crs = [r.src_crs for r in located]
    if any(c != "WGS84" and c != "CGCS2000" for c in crs):
        crs_arr = np.array(crs)
        # BD-09 goes through GCJ-02 (as bd09_to_wgs84 does), and both take GCJ-02's iterative
        # inverse in one call: its per-call cost, not the points, is what a batch pays
        bd = crs_arr == "BD09"
        if bd.any():
            lon[bd], lat[bd] = bd09_to_gcj02(lon[bd], lat[bd])
        gcj = bd | (crs_arr == "GCJ02")
        if gcj.any():
            lon[gcj], lat[gcj] = gcj02_to_wgs84(lon[gcj], lat[gcj])
        for name in set(crs) - {"WGS84", "CGCS2000", "GCJ02", "BD09"}:
            m = crs_arr == name
            lon[m], lat[m] = to_wgs84(lon[m], lat[m], name)
    cells, pos = locator.locate(lon, lat)
    has_grids = locator.has_grids
    fields = locator.grid_fields
    outside = Flag.OUTSIDE_JURISDICTION
    for r, x, y, c, p in zip(located, np.round(lon, 7).tolist(), np.round(lat, 7).tolist(), cells.tolist(),
                             pos.tolist(), strict=True):
        r.lon = x
        r.lat = y
        r.cell = c
        if p >= 0:
            r.grid_id, r.community_code, r.street_code = fields(p)
        elif has_grids:
            r.flags.append(outside)
