"""The map's geography: display GeoJSON per level (served as static files), place names, the
district → street → community → grid hierarchy, focus views and the fixed H3 heat cells.

The GeoJSON files are written by ``geo.display`` into ``<data_dir>/display/`` and served at
``/geo/<file>`` (never inlined into a figure). Building them takes a second or two; they are
cached by the layer's fingerprint.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.names import Names
from feeds.catalog import Catalog
from feeds.settings import Settings

log = logging.getLogger(__name__)

LEVELS = ("district", "street", "community", "grid")
CHILD = {"district": "street", "street": "community", "community": "grid", "grid": "case"}
PARENT = {"street": "district", "community": "street", "grid": "community"}
URL_PREFIX = "/geo"
#: H3 resolution of the wall's heat layer at district zoom (counters are rolled up to it).
WALL_HEAT_RES = 7
#: H3 resolution of the heat layer while one street is in focus (rotation, break-in, cast).
STREET_HEAT_RES = 9
#: Grid outlines are drawn from this zoom on (a street in focus), not over the whole district.
GRID_OUTLINE_MINZOOM = 11.8


@dataclass
class Place:
    level: str
    code: str
    name: str
    parent: str
    lat: float
    lon: float
    zoom: float

    @property
    def center(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}


def fit_zoom(bounds: tuple[float, float, float, float], width_px: int = 900, height_px: int = 820) -> float:
    """MapLibre zoom that fits lon/lat ``bounds`` (minx, miny, maxx, maxy) into a viewport."""
    minx, miny, maxx, maxy = bounds
    lon_span = max(maxx - minx, 1e-4)

    def merc(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return math.log((1 + s) / (1 - s)) / 2

    lat_span = max(abs(merc(maxy) - merc(miny)) * 180 / math.pi, 1e-4)
    z_lon = math.log2(width_px * 360 / (512 * lon_span))
    z_lat = math.log2(height_px * 360 / (512 * lat_span))
    return round(min(z_lon, z_lat) - 0.05, 2)


@dataclass
class MapGeo:
    folder: Path
    files: dict[str, str]  # level -> file name under folder
    heat_file: str
    heat_cells: list[str]
    heat_res: int
    places: dict[str, dict[str, Place]]
    children: dict[tuple[str, str], list[str]]
    synthetic: bool = True
    name: str = "鄞州区"
    version: str = ""  # the layer's fingerprint: part of every file URL, so browsers never keep a stale map
    featureidkey: str = "id"
    street_of_grid: dict[str, str] = field(default_factory=dict)
    community_of_grid: dict[str, str] = field(default_factory=dict)
    street_shapes: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # --- urls -----------------------------------------------------------------------------
    def url(self, level: str) -> str:
        return f"{URL_PREFIX}/{self.files[level]}?v={self.version}"

    @property
    def heat_url(self) -> str:
        return f"{URL_PREFIX}/{self.heat_file}?v={self.version}"

    @property
    def district(self) -> Place:
        return next(iter(self.places["district"].values()))

    def place(self, level: str, code: str) -> Place | None:
        return self.places.get(level, {}).get(code)

    def kids(self, level: str, code: str) -> list[str]:
        return self.children.get((level, code), [])

    def names(self, catalog: Catalog | None) -> Names:
        return Names(catalog=catalog,
                     streets={c: p.name for c, p in self.places.get("street", {}).items()},
                     communities={c: p.name for c, p in self.places.get("community", {}).items()},
                     grids={c: p.name for c, p in self.places.get("grid", {}).items()})

    def focus_views(self) -> list[dict[str, Any]]:
        """Rotation views of the wall: the district, then each street in turn."""
        d = self.district
        views = [{"name": f"{d.name}全域", "center": d.center, "zoom": d.zoom, "code": d.code, "sub": "轮巡 · 全区"}]
        for p in sorted(self.places.get("street", {}).values(), key=lambda p: p.code):
            views.append({"name": p.name, "center": p.center, "zoom": round(p.zoom - 0.3, 2), "code": p.code,
                          "sub": "轮巡 · 镇街"})
        return views

    def view_of(self, level: str, code: str, sub: str = "") -> dict[str, Any] | None:
        p = self.place(level, code)
        if p is None:
            return None
        return {"name": p.name, "center": p.center, "zoom": p.zoom, "code": p.code, "sub": sub}

    def heat_layer(self, street: str | None) -> tuple[str, list[str], int]:
        """(GeoJSON url, cells, resolution) of the heat layer for a focus view: the district's
        coarse cells, or one street's fine cells (written once, on first use)."""
        geom = self.street_shapes.get(street or "")
        if geom is None:
            return self.heat_url, self.heat_cells, self.heat_res
        key = f"street-heat:{street}"
        if key not in self._cache:
            name = f"h3r{STREET_HEAT_RES}-{street}-{self.version}.geojson"
            self._cache[key] = (name, _write_cells(self.folder / name, geom, STREET_HEAT_RES))
        name, cells = self._cache[key]
        return f"{URL_PREFIX}/{name}?v={self.version}", cells, STREET_HEAT_RES

    def places_frame(self) -> Any:
        """Place names per grid id, the shape ``geo.hotspots`` names its results with."""
        if "places_frame" not in self._cache:
            import pandas as pd

            grids = self.places.get("grid", {})
            comms, streets = self.places.get("community", {}), self.places.get("street", {})
            ids = list(grids)
            self._cache["places_frame"] = pd.DataFrame({
                "grid_id": ids, "grid_name": [grids[g].name for g in ids],
                "community_name": [comms[grids[g].parent].name if grids[g].parent in comms else "" for g in ids],
                "street_code": [self.street_of_grid.get(g, "") for g in ids],
                "street_name": [streets[self.street_of_grid[g]].name if self.street_of_grid.get(g) in streets else ""
                                for g in ids],
            }, index=pd.Index(ids, name="unit"))
        return self._cache["places_frame"]

    def outlines(self, *, grids: bool = True) -> list[tuple[Any, ...]]:
        """(url, colour, width, minzoom) of the wall's outline layers: grids once a street is in focus."""
        out: list[tuple[Any, ...]] = []
        if grids:
            out.append((self.url("grid"), "rgba(147,166,196,0.45)", 0.8, GRID_OUTLINE_MINZOOM))
        out.append((self.url("street"), "rgba(86,180,233,0.95)", 1.8, 0))
        return out


# --- building ------------------------------------------------------------------------------
def load_map_geo(settings: Settings) -> MapGeo:
    """Load the jurisdiction's layer and (re)write the display files when they are missing."""
    from geo.layer import load_grid_layer

    layer = load_grid_layer(settings.jurisdiction)
    folder = Path(settings.data_dir) / "display"
    folder.mkdir(parents=True, exist_ok=True)
    files = _display_files(layer, folder)
    heat_file, heat_cells = _heat_cells(layer, folder, WALL_HEAT_RES)
    places, children, street_of_grid, community_of_grid = _hierarchy(layer)
    return MapGeo(folder=folder, files=files, heat_file=heat_file, heat_cells=heat_cells, heat_res=WALL_HEAT_RES,
                  places=places, children=children, synthetic=bool(getattr(layer, "synthetic", True)),
                  name=places["district"][next(iter(places["district"]))].name,
                  street_of_grid=street_of_grid, community_of_grid=community_of_grid,
                  version=str(getattr(layer, "fingerprint", ""))[:12],
                  street_shapes=dict(zip(layer.level("street")["street_code"].astype(str),
                                         layer.level("street").geometry.values, strict=True)))


def _display_files(layer: Any, folder: Path) -> dict[str, str]:
    """Per-level simplified GeoJSON (feature id = the level's code)."""
    try:  # the geo package's display writer (coverage simplification, manifest)
        from geo.display import write_display_geojson
    except ImportError:
        write_display_geojson = None
    if write_display_geojson is not None:
        written = write_display_geojson(layer, folder)
        return {lv: Path(p).name for lv, p in written.items()}
    import shapely

    fp = getattr(layer, "fingerprint", "x")[:12]
    files: dict[str, str] = {}
    tolerance = {"district": 0.0008, "street": 0.0005, "community": 0.0003, "grid": 0.0002}
    for lv in LEVELS:
        name = f"{lv}-{fp}.geojson"
        files[lv] = name
        path = folder / name
        if path.exists():
            continue
        frame = layer.level(lv)
        code_col, name_col = _cols(lv)
        geoms = shapely.simplify(frame.geometry.values, tolerance[lv], preserve_topology=True)
        feats = []
        for code, nm, g in zip(frame[code_col], frame[name_col], geoms, strict=True):
            geo = shapely.geometry.mapping(shapely.set_precision(g, 1e-5))
            feats.append({"type": "Feature", "id": str(code), "properties": {"name": str(nm)}, "geometry": geo})
        path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False,
                                   separators=(",", ":")), encoding="utf-8")
    return files


def _cols(level: str) -> tuple[str, str]:
    return {"district": ("district_code", "district_name"), "street": ("street_code", "street_name"),
            "community": ("community_code", "community_name"), "grid": ("grid_id", "grid_name")}[level]


def _heat_cells(layer: Any, folder: Path, res: int) -> tuple[str, list[str]]:
    """All H3 cells (resolution ``res``) covering the district, as GeoJSON with id = cell."""
    fp = getattr(layer, "fingerprint", "x")[:12]
    name = f"h3r{res}-{fp}.geojson"
    path = folder / name
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return name, [f["id"] for f in data["features"]]
    return name, _write_cells(path, layer.level("district").geometry.values[0], res)


def _write_cells(path: Path, area: Any, res: int) -> list[str]:
    """Write the H3 cells (``res``) covering ``area`` as GeoJSON (id = cell); return their ids."""
    import h3

    from geo.h3cells import cells_from_strings
    from geo.heat import cells_geojson

    shape = h3.geo_to_h3shape(area.buffer(0.004).__geo_interface__)
    cells = sorted(h3.h3shape_to_cells_experimental(shape, res, contain="overlap"))
    data = cells_geojson(cells_from_strings(cells))
    for f in data["features"]:
        f["properties"] = {}
    path.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    return cells


def _hierarchy(layer: Any) -> tuple[dict[str, dict[str, Place]], dict[tuple[str, str], list[str]],
                                    dict[str, str], dict[str, str]]:
    places: dict[str, dict[str, Place]] = {}
    children: dict[tuple[str, str], list[str]] = {}
    parent_col = {"district": None, "street": "district_code", "community": "street_code", "grid": "community_code"}
    size = {"district": (900, 820), "street": (900, 820), "community": (900, 820), "grid": (900, 820)}
    for lv in LEVELS:
        frame = layer.level(lv)
        code_col, name_col = _cols(lv)
        pcol = parent_col[lv]
        out: dict[str, Place] = {}
        for _i, row in frame.iterrows():
            g = row.geometry
            c = g.representative_point() if lv != "district" else g.centroid
            minx, miny, maxx, maxy = g.bounds
            code = str(row[code_col])
            parent = str(row[pcol]) if pcol else ""
            out[code] = Place(lv, code, str(row[name_col]), parent, round(float((miny + maxy) / 2), 6),
                              round(float((minx + maxx) / 2), 6), fit_zoom(g.bounds, *size[lv]))
            if lv == "district":
                out[code].lat, out[code].lon = round(float(c.y), 6), round(float(c.x), 6)
            if pcol:
                children.setdefault((PARENT[lv], parent), []).append(code)
        places[lv] = out
    grid = layer.level("grid")
    street_of_grid = dict(zip(grid["grid_id"].astype(str), grid["street_code"].astype(str), strict=True))
    community_of_grid = dict(zip(grid["grid_id"].astype(str), grid["community_code"].astype(str), strict=True))
    return places, children, street_of_grid, community_of_grid


def rollup(counts: Mapping[str, int], mapping: Mapping[str, str]) -> dict[str, int]:
    """Sum per-grid counts into their street/community (``mapping``: grid -> parent code)."""
    out: dict[str, int] = {}
    for k, v in counts.items():
        p = mapping.get(k)
        if p is not None:
            out[p] = out.get(p, 0) + int(v)
    return out
