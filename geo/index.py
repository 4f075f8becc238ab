"""Point → H3 cell and point → grid, exact and fast.

Why this design: H3 indexing (h3ronpy, ~0.3 µs a point) is the irreducible cost of every
event; the grid lookup must add little to it. Each point is indexed once, at the event
resolution (``DEFAULT_RES`` = 10: ~66 m edges, ~14 cells in a median urban grid, the resolution
heat counters are kept at), and that cell is looked up in a dense table precomputed for every
cell of the layer's bounding box:

- *uniform* cells (~86 % of the area for ~1,000 grids): no grid edge comes within 1e-6° of
  the cell's hexagon, so the whole cell is inside one grid, or outside all → one gather;
- *one-edge* cells (~12 %): exactly one polygon segment crosses the cell, with grid A on its
  left and B on its right → a cross-product sign, with a floating-point error bound; points
  too close to the line to be sure fall through to the exact test;
- everything else (~2 %: grid corners, wiggly outline) → exact GEOS point-in-polygon, the
  predicate ``geopandas.sjoin`` uses, so results equal ``sjoin(points, grids, "within")``.

The 1e-6° (~0.1 m) margin covers the difference between H3's geodesic cell edges and straight
lon/lat edges (~0.05 mm at res 10) and float noise. The table is addressed by a collision-free
multiply-shift hash of the cell's ancestor four resolutions up plus the four digits below it:
a lookup is a few numpy shifts, masks and gathers (~10 ms per million points).

Edge rule (the same as sjoin "within"): a point exactly on a grid's edge or vertex is *within
no grid* and gets ``-1``, even where two grids meet; a point inside several overlapping grids
gets the lowest grid position (sjoin would return one row per grid). With real coordinates
landing exactly on an edge is vanishingly rare; callers that must place such points can use
``nearest_grid_pos``.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.h3cells import cell_centers_lnglat, cells_for_lnglat
from geo.layer import GridLayer, load_grid_layer

__all__ = ["DEFAULT_RES", "GridIndex", "IndexStats"]

DEFAULT_RES = 10  # event/heat cell: ~66 m edge, ~0.015 km²; demo grids hold 9–37 (urban) or 27–260 (rural)
_MARGIN_DEG = 1e-6
_PAD_DEG = 0.01  # the table reaches this far past the layer's bounding box
_OUTSIDE = -1
_EXACT = -2
_SEG0 = -3  # table values <= this name a one-edge cell: segment = _SEG0 - value
_DIGITS = 4  # table block = 8**4 entries per hashed ancestor
_SIDE_EPS = 1e-12  # relative error bound of the cross-product sign (GEOS's own is 1e-15)
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)
_CACHE_VERSION = 3
_PARALLEL_MIN = 262_144  # below this many points threads cost more than they save


@dataclass(frozen=True)
class IndexStats:
    """Shape of the lookup table; the shares say how much work falls to each path."""

    n_grids: int
    resolution: int
    n_cells: int
    n_slots: int
    uniform_share: float
    one_edge_share: float
    corner_share: float
    build_s: float


class GridIndex:
    """Exact point → grid lookup over a GridLayer, returning each point's H3 cell too."""

    def __init__(
        self,
        layer: GridLayer,
        resolution: int = DEFAULT_RES,
        *,
        threads: int | None = 1,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not _DIGITS <= resolution <= 15:
            raise ValueError(f"resolution must be {_DIGITS}..15, got {resolution}")
        self.layer = layer
        self.resolution = int(resolution)
        self.threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
        gdf = layer.gdf
        self.grid_ids: NDArray[np.str_] = gdf["grid_id"].to_numpy(dtype=str)
        self.grid_names: NDArray[np.str_] = gdf["grid_name"].to_numpy(dtype=str)
        self.community_codes: NDArray[np.str_] = gdf["community_code"].to_numpy(dtype=str)
        self.community_names: NDArray[np.str_] = gdf["community_name"].to_numpy(dtype=str)
        self.street_codes: NDArray[np.str_] = gdf["street_code"].to_numpy(dtype=str)
        self.street_names: NDArray[np.str_] = gdf["street_name"].to_numpy(dtype=str)
        self._pos_of_id = {g: i for i, g in enumerate(self.grid_ids)}
        self._geoms = np.asarray(gdf.geometry.values, dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        xmin, ymin, xmax, ymax = shapely.total_bounds(self._geoms) if len(gdf) else (0.0, 0.0, 0.0, 0.0)
        self.bounds: tuple[float, float, float, float] = (float(xmin), float(ymin), float(xmax), float(ymax))
        self._shift_a = np.uint64(3 * (15 - (self.resolution - _DIGITS)))
        self._shift_r = np.uint64(3 * (15 - self.resolution))
        self._mask = np.uint64(8**_DIGITS - 1)
        self._grid_cells: dict[int, tuple[NDArray[np.uint64], NDArray[np.int32]]] = {}
        tables = self._load_cache(cache_dir) if cache_dir else None
        if tables is None:
            tables = self._build()
            if cache_dir:
                self._save_cache(cache_dir, tables)
        self._slot_key = tables["slot_key"]
        self._slot_of_hash = tables["slot_of_hash"]
        self._hash_shift = np.uint64(64 - int(tables["hash_bits"]))
        self._table = tables["table"]
        self._seg = tables["seg"]  # (n, 4) float64: ax, ay, bx, by
        self._seg_side = tables["seg_side"]  # (n, 2) int32: grid left, grid right
        self._cand0 = _SEG0 - len(self._seg)  # table values <= this name a corner cell
        self._cand_off = tables["cand_off"]  # corner cell k: candidate grids cand_grid[off[k]:off[k+1]]
        self._cand_grid = tables["cand_grid"]
        self.stats = IndexStats(**{k: tables["stats"][k] for k in IndexStats.__dataclass_fields__})

    @classmethod
    def from_config(cls, path: str | Path, resolution: int = DEFAULT_RES, **kwargs) -> GridIndex:
        """Load the layer a jurisdiction config describes and index it."""
        return cls(load_grid_layer(path), resolution=resolution, **kwargs)

    # -- the hot path ----------------------------------------------------------------------------
    def cells_for_lnglat(self, lon: ArrayLike, lat: ArrayLike, res: int | None = None) -> NDArray[np.uint64]:
        """H3 cells (uint64) of WGS84 points at ``res`` (default: the index's resolution)."""
        return cells_for_lnglat(lon, lat, self.resolution if res is None else res)

    def locate_lnglat(self, lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.uint64], NDArray[np.int32]]:
        """(H3 cell at ``resolution``, grid position or -1) for each WGS84 point; exact."""
        lon_a = np.ascontiguousarray(lon, dtype=np.float64).ravel()
        lat_a = np.ascontiguousarray(lat, dtype=np.float64).ravel()
        if lon_a.shape != lat_a.shape:
            raise ValueError(f"lon and lat must have the same length, got {lon_a.size} and {lat_a.size}")
        n = lon_a.size
        if self.threads > 1 and n >= _PARALLEL_MIN:
            cells = np.empty(n, dtype=np.uint64)
            pos = np.empty(n, dtype=np.int32)
            cuts = np.linspace(0, n, self.threads + 1).astype(int)

            def work(a: int, b: int) -> None:
                cells[a:b] = cells_for_lnglat(lon_a[a:b], lat_a[a:b], self.resolution)
                pos[a:b] = self._lookup(cells[a:b], lon_a[a:b], lat_a[a:b])

            with ThreadPoolExecutor(self.threads) as ex:
                for f in [ex.submit(work, a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]:
                    f.result()
            return cells, pos
        cells = cells_for_lnglat(lon_a, lat_a, self.resolution)
        return cells, self._lookup(cells, lon_a, lat_a)

    def grid_pos_for_lnglat(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.int32]:
        """Grid position (or -1) of each WGS84 point."""
        return self.locate_lnglat(lon, lat)[1]

    def _lookup(self, cells: NDArray[np.uint64], lon: NDArray, lat: NDArray) -> NDArray[np.int32]:
        """Grid position of points given their cells: table gather, edge sides, exact rest."""
        key = cells >> self._shift_a
        slot = self._slot_of_hash[(key * _HASH_MULT) >> self._hash_shift]
        val = self._table[slot.astype(np.int64) * (8**_DIGITS) + ((cells >> self._shift_r) & self._mask).astype(np.int64)]
        val[self._slot_key[slot] != key] = _EXACT  # cell not in the table: far away or invalid
        special = np.flatnonzero(val <= _SEG0)
        if special.size:
            v = val[special]
            is_edge = v > self._cand0
            edge = special[is_edge]
            val[edge] = self._side_of_edge(_SEG0 - v[is_edge], lon[edge], lat[edge])
            corner = special[~is_edge]
            val[corner] = self._within_candidates(self._cand0 - v[~is_edge], lon[corner], lat[corner])
        exact = np.flatnonzero(val == _EXACT)
        if exact.size:
            val[exact] = self._exact_pos(lon[exact], lat[exact])
        return val

    def _within_candidates(self, cand: NDArray[np.int32], px: NDArray, py: NDArray) -> NDArray[np.int32]:
        """Exact test against the few grids that touch the point's cell (precomputed per cell)."""
        start = self._cand_off[cand]
        count = self._cand_off[cand + 1] - start
        point = np.repeat(np.arange(cand.size), count)
        first = np.cumsum(count) - count
        grid = self._cand_grid[np.repeat(start - first, count) + np.arange(point.size)]
        return _first_hit(point, grid, shapely.contains_xy(self._geoms[grid], px[point], py[point]), cand.size)

    def _side_of_edge(self, seg: NDArray[np.int32], px: NDArray, py: NDArray) -> NDArray[np.int32]:
        """Grid on the point's side of the cell's one edge; _EXACT where the sign is not certain."""
        s = self._seg[seg]
        det_l = (s[:, 0] - px) * (s[:, 3] - py)
        det_r = (s[:, 1] - py) * (s[:, 2] - px)
        det = det_l - det_r
        sides = self._seg_side[seg]
        out = np.where(det > 0, sides[:, 0], sides[:, 1])
        out[np.abs(det) <= _SIDE_EPS * (np.abs(det_l) + np.abs(det_r))] = _EXACT
        return out

    def _exact_pos(self, lon: NDArray, lat: NDArray) -> NDArray[np.int32]:
        """GEOS point-in-polygon against every grid (lowest position wins); -1 outside the bounds."""
        out = np.full(lon.size, _OUTSIDE, dtype=np.int32)
        xmin, ymin, xmax, ymax = self.bounds
        inside = np.flatnonzero((lon >= xmin) & (lon <= xmax) & (lat >= ymin) & (lat <= ymax))
        if inside.size == 0:
            return out
        x, y = lon[inside], lat[inside]
        i_pt, i_grid = self._tree.query(shapely.points(x, y))  # bounding-box candidates
        order = np.lexsort((i_grid, i_pt))
        i_pt, i_grid = i_pt[order], i_grid[order]
        hit = shapely.contains_xy(self._geoms[i_grid], x[i_pt], y[i_pt])
        out[inside] = _first_hit(i_pt, i_grid, hit, inside.size)
        return out

    # -- lookups by position ----------------------------------------------------------------------
    def pos_of(self, grid_id: str) -> int:
        """Row position of a grid id (KeyError if unknown)."""
        return self._pos_of_id[grid_id]

    def _take(self, arr: NDArray[np.str_], pos: ArrayLike) -> NDArray[np.str_]:
        p = np.asarray(pos, dtype=np.int64)
        if not len(arr):
            return np.full(p.shape, "", dtype=str)
        return np.where(p >= 0, arr[np.clip(p, 0, len(arr) - 1)], "")

    def grid_ids_for(self, pos: ArrayLike) -> NDArray[np.str_]:
        """grid_id per position ('' for -1)."""
        return self._take(self.grid_ids, pos)

    def street_codes_for(self, pos: ArrayLike) -> NDArray[np.str_]:
        """street_code per position ('' for -1)."""
        return self._take(self.street_codes, pos)

    def community_codes_for(self, pos: ArrayLike) -> NDArray[np.str_]:
        """community_code per position ('' for -1)."""
        return self._take(self.community_codes, pos)

    def nearest_grid_pos(self, lon: ArrayLike, lat: ArrayLike, max_distance_deg: float = 0.001) -> NDArray[np.int32]:
        """Position of the nearest grid (for points on edges or just outside); -1 beyond the limit."""
        pts = np.atleast_1d(shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)))
        i_pt, i_grid = self._tree.query_nearest(pts, max_distance=max_distance_deg, all_matches=False)
        out = np.full(pts.size, _OUTSIDE, dtype=np.int32)
        out[i_pt] = i_grid
        return out

    # -- grids and cells ----------------------------------------------------------------------
    def grid_cells(self, res: int | None = None) -> tuple[NDArray[np.uint64], NDArray[np.int32]]:
        """Every cell at ``res`` whose centre lies in a grid, sorted, with that grid's position.

        The centre rule makes a partition: each cell belongs to exactly one grid, so grid
        totals rolled up from cell counts add up to the district total.
        """
        r = self.resolution if res is None else int(res)
        if r not in self._grid_cells:
            cand = _cells_covering(shapely.box(*self.bounds), r)
            pos = self.grid_pos_for_cells(cand)
            keep = pos >= 0
            self._grid_cells[r] = (cand[keep], pos[keep])
        return self._grid_cells[r]

    def cells_for_grid(self, grid: str | int, res: int | None = None) -> NDArray[np.uint64]:
        """Cells at ``res`` whose centre lies in the grid (a grid id or position)."""
        pos = self.pos_of(grid) if isinstance(grid, str) else int(grid)
        cells, owner = self.grid_cells(res)
        return cells[owner == pos]

    def grid_pos_for_cells(self, cells: ArrayLike) -> NDArray[np.int32]:
        """Grid position of each cell's centre (-1 outside): labels heat cells and hotspots."""
        lon, lat = cell_centers_lnglat(cells)
        return self.locate_lnglat(lon, lat)[1] if lon.size else np.zeros(0, dtype=np.int32)

    # -- table construction and cache ---------------------------------------------------------
    def _build(self) -> dict:
        """Classify every cell of the bounding box: uniform, one-edge or exact."""
        from h3ronpy.vector import cells_to_wkb_polygons

        t0 = time.perf_counter()
        res = self.resolution
        xmin, ymin, xmax, ymax = self.bounds
        cells = _cells_covering(shapely.box(xmin - _PAD_DEG, ymin - _PAD_DEG, xmax + _PAD_DEG, ymax + _PAD_DEG), res)
        hexes = shapely.from_wkb(np.asarray(cells_to_wkb_polygons(cells)))
        seg = _unique_segments(self._geoms)
        seg_lines = shapely.linestrings(seg.reshape(-1, 2, 2))
        i_cell, i_seg = shapely.STRtree(seg_lines).query(hexes, predicate="dwithin", distance=_MARGIN_DEG)
        n_seg = np.bincount(i_cell, minlength=cells.size)
        value = np.full(cells.size, _EXACT, dtype=np.int32)

        uniform = np.flatnonzero(n_seg == 0)
        cx, cy = cell_centers_lnglat(cells[uniform])
        value[uniform] = self._exact_pos(cx, cy)

        one = np.flatnonzero(n_seg == 1)
        one_seg = np.empty(cells.size, dtype=np.int64)
        one_seg[i_cell] = i_seg  # unique for these cells
        cell_seg = one_seg[one]
        sides = self._edge_sides(hexes[one], seg[cell_seg])
        ok = (sides[:, 0] != _EXACT) | (sides[:, 1] != _EXACT)
        used, seg_index = np.unique(cell_seg[ok], return_inverse=True)
        # one segment can serve many cells but its sides may differ per cell (far apart cells
        # on a long outline edge): store one side pair per (segment, sides) combination
        combo = np.column_stack([seg_index, sides[ok]])
        uniq, combo_index = np.unique(combo, axis=0, return_inverse=True)
        value[one[ok]] = _SEG0 - combo_index.astype(np.int32)
        seg_table = seg[used[uniq[:, 0]]]
        side_table = uniq[:, 1:].astype(np.int32)

        # corner cells (several edges, or an edge whose sides could not be told): the grids
        # that touch the cell are its candidates for an exact test
        corner = np.flatnonzero(value == _EXACT)
        i_hex, i_grid = self._tree.query(hexes[corner], predicate="dwithin", distance=_MARGIN_DEG)
        order = np.lexsort((i_grid, i_hex))
        i_hex, i_grid = i_hex[order], i_grid[order]
        cand_off = np.zeros(corner.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(i_hex, minlength=corner.size), out=cand_off[1:])
        value[corner] = (_SEG0 - len(seg_table)) - np.arange(corner.size, dtype=np.int32)

        tables = _dense_table(cells, value, res)
        n_cells = max(cells.size, 1)
        tables.update(seg=seg_table, seg_side=side_table, cand_off=cand_off, cand_grid=i_grid.astype(np.int32), stats={
            "n_grids": len(self._geoms), "resolution": res, "n_cells": int(cells.size),
            "n_slots": int(tables["slot_key"].size - 1),
            "uniform_share": float(uniform.size / n_cells), "one_edge_share": float(ok.sum() / n_cells),
            "corner_share": float(corner.size / n_cells), "build_s": time.perf_counter() - t0,
        })
        return tables

    def _edge_sides(self, hexes: NDArray, seg: NDArray) -> NDArray[np.int32]:
        """(grid left, grid right) of the one segment crossing each hexagon, located exactly.

        Test points: the hexagon's vertices pulled 10 % towards its centre; on each side the
        one farthest from the line, if it is at least 1 cm away (else that side is _EXACT).
        """
        n = len(hexes)
        out = np.full((n, 2), _EXACT, dtype=np.int32)
        if n == 0:
            return out
        rings = shapely.get_exterior_ring(hexes)
        pts = shapely.get_coordinates(rings)
        owner = np.repeat(np.arange(n), shapely.get_num_coordinates(rings))
        centre = shapely.get_coordinates(shapely.centroid(hexes))
        pts = pts * 0.9 + centre[owner] * 0.1
        s = seg[owner]
        length = np.hypot(s[:, 2] - s[:, 0], s[:, 3] - s[:, 1])
        dist = ((s[:, 2] - s[:, 0]) * (pts[:, 1] - s[:, 1]) - (s[:, 3] - s[:, 1]) * (pts[:, 0] - s[:, 0])) / length
        for col, sign in ((0, 1.0), (1, -1.0)):
            score = dist * sign
            order = np.lexsort((score, owner))  # by hexagon, then by distance: the last is the farthest
            last = np.flatnonzero(np.append(owner[order][1:] != owner[order][:-1], True))
            pick = order[last]
            has = score[pick] > 1e-7
            hex_idx = owner[pick[has]]
            out[hex_idx, col] = self._exact_pos(pts[pick[has], 0], pts[pick[has], 1])
        return out

    def _cache_path(self, cache_dir: str | Path) -> Path:
        key = hashlib.sha1(f"{self.layer.fingerprint}|{self.resolution}|{_CACHE_VERSION}".encode()).hexdigest()[:16]
        return Path(cache_dir) / f"gridindex-{key}.npz"

    def _load_cache(self, cache_dir: str | Path) -> dict | None:
        path = self._cache_path(cache_dir)
        if not path.exists():
            return None
        with np.load(path) as z:
            tables = {k: z[k] for k in ("slot_key", "slot_of_hash", "hash_bits", "table", "seg", "seg_side",
                                        "cand_off", "cand_grid")}
            tables["stats"] = {k[6:]: z[k].item() for k in z.files if k.startswith("stats_")}
        return tables

    def _save_cache(self, cache_dir: str | Path, tables: dict) -> None:
        path = self._cache_path(cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
        arrays = {k: v for k, v in tables.items() if k != "stats"}
        np.savez(tmp, **arrays, **{f"stats_{k}": v for k, v in tables["stats"].items()})
        os.replace(tmp, path)

    def describe(self) -> dict:
        """Stats as a plain dict (for logs and the benchmark)."""
        return asdict(self.stats)


def _first_hit(point: NDArray, grid: NDArray, hit: NDArray[np.bool_], n: int) -> NDArray[np.int32]:
    """Per point, the first grid with a hit (pairs sorted by point, then grid); -1 if none."""
    out = np.full(n, _OUTSIDE, dtype=np.int32)
    h = np.flatnonzero(hit)
    if h.size:
        keep = np.ones(h.size, dtype=bool)
        keep[1:] = point[h[1:]] != point[h[:-1]]
        out[point[h[keep]]] = grid[h[keep]]
    return out


def _cells_covering(area: shapely.Geometry, res: int) -> NDArray[np.uint64]:
    """Sorted cells at ``res`` that intersect ``area``."""
    from h3ronpy import ContainmentMode
    from h3ronpy.vector import geometry_to_cells

    return np.unique(np.asarray(geometry_to_cells(area, res, ContainmentMode.IntersectsBoundary)))


def _unique_segments(geoms: NDArray) -> NDArray[np.float64]:
    """Every ring segment of the layer once (shared edges deduplicated): (n, 4) ax, ay, bx, by."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_idx[1:] == ring_idx[:-1]
    seg = np.column_stack([coords[:-1], coords[1:]])[same_ring]
    seg = seg[(seg[:, 0] != seg[:, 2]) | (seg[:, 1] != seg[:, 3])]
    swap = (seg[:, 0] > seg[:, 2]) | ((seg[:, 0] == seg[:, 2]) & (seg[:, 1] > seg[:, 3]))
    seg[swap] = seg[swap][:, [2, 3, 0, 1]]
    return np.unique(seg, axis=0)


def _dense_table(cells: NDArray[np.uint64], value: NDArray[np.int32], res: int) -> dict:
    """Scatter cell values into blocks of 8**4 addressed by a perfect hash of the ancestor."""
    shift_a = np.uint64(3 * (15 - (res - _DIGITS)))
    shift_r = np.uint64(3 * (15 - res))
    key = cells >> shift_a
    slot_key = np.unique(key)
    slot = np.searchsorted(slot_key, key)
    slot_of_hash, bits = _perfect_hash(slot_key)
    table = np.full((slot_key.size + 1) * 8**_DIGITS, _EXACT, dtype=np.int32)  # +1: the "miss" block
    table[slot * 8**_DIGITS + ((cells >> shift_r) & np.uint64(8**_DIGITS - 1)).astype(np.int64)] = value
    return {
        "slot_key": np.append(slot_key, np.uint64(0)),  # the miss slot's key matches no real cell
        "slot_of_hash": slot_of_hash,
        "hash_bits": np.int64(bits),
        "table": table,
    }


def _perfect_hash(keys: NDArray[np.uint64]) -> tuple[NDArray[np.int32], int]:
    """Smallest multiply-shift table with no collision among the keys; empty → the miss slot."""
    for bits in range(max(1, int(np.ceil(np.log2(max(keys.size, 1)))) + 1), 26):
        h = (keys * _HASH_MULT) >> np.uint64(64 - bits)
        if np.unique(h).size == keys.size:
            table = np.full(1 << bits, keys.size, dtype=np.int32)
            table[h.astype(np.int64)] = np.arange(keys.size, dtype=np.int32)
            return table, bits
    raise RuntimeError("no collision-free hash for the lookup table")
