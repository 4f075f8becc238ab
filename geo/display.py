"""Display geometry: simplified, topology-preserving GeoJSON per level for the map.

Why: the wall and the tablets draw the district, its streets, communities and ~1,000 grids;
shipping full-precision polygons makes the page heavy and the redraw slow. Shapely's
*coverage* simplification (``shapely.coverage_simplify``) simplifies each shared edge once,
so neighbours still meet exactly — no slivers or gaps appear between grids when zoomed — and
coordinates are rounded to 6 decimals (~0.1 m). Each feature carries ``id`` (grid_id,
community_code, street_code or district_code) for choropleth ``featureidkey="id"``, zh-CN
``name`` (zh-CN) and parent codes/names in its properties, and the collection says whether it
is synthetic (the dashboard must label it so).

Results are cached in memory per (layer fingerprint, level, tolerance) and, by
``write_display_geojson``, on disk with a manifest, so the dashboard serves static assets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import shapely

from geo.layer import LEVELS, GridLayer

__all__ = [
    "TOLERANCE_M",
    "display_geojson",
    "display_geojson_text",
    "simplify_coverage",
    "write_display_geojson",
]

Profile = Literal["wall", "tablet"]
# Simplification tolerance in metres per level: the wall shows the whole district at once,
# the tablet drills into a street, so it keeps twice the detail.
TOLERANCE_M: dict[str, dict[str, float]] = {
    "wall": {"district": 60.0, "street": 30.0, "community": 15.0, "grid": 8.0},
    "tablet": {"district": 30.0, "street": 15.0, "community": 8.0, "grid": 4.0},
}
_M_PER_DEG = 111_320.0
# Properties besides ``name``: the codes to drill up, and the street's name for labels.
# Kept short: on ~1,000 grids every repeated property costs tens of KB.
_PARENT_PROPS: dict[str, tuple[str, ...]] = {
    "district": (),
    "street": ("district_code",),
    "community": ("street_code", "street_name"),
    "grid": ("community_code", "community_name", "street_code", "street_name"),
}


def simplify_coverage(geoms: Iterable[shapely.Geometry], tolerance_m: float, decimals: int = 6) -> np.ndarray:
    """Simplify polygons that tile an area, keeping shared edges shared, and round coordinates."""
    arr = np.asarray(list(geoms), dtype=object)
    if arr.size == 0:
        return arr
    tol = tolerance_m / _M_PER_DEG
    if tol <= 0:
        simple = arr
    elif shapely.coverage_is_valid(arr):
        simple = shapely.coverage_simplify(arr, tol)
    else:  # not a clean coverage (the validation report says where): simplify each on its own
        simple = shapely.simplify(arr, tol, preserve_topology=True)
    factor = 10.0**decimals
    rounded = shapely.transform(simple, lambda xy: np.round(xy * factor) / factor)
    bad = ~shapely.is_valid(rounded)
    if bad.any():  # rounding pinched a thin part: keep those few at full precision
        rounded[bad] = shapely.make_valid(simple[bad])
    return rounded


def _feature(gid: str, props: dict, geom: shapely.Geometry) -> dict:
    return {"type": "Feature", "id": gid, "properties": props, "geometry": shapely.geometry.mapping(geom)}


def display_geojson(
    layer: GridLayer, level: str, *, profile: Profile = "wall", tolerance_m: float | None = None, decimals: int = 6
) -> dict:
    """GeoJSON FeatureCollection of one level (district/street/community/grid), simplified."""
    return json.loads(display_geojson_text(layer, level, profile=profile, tolerance_m=tolerance_m, decimals=decimals))


def display_geojson_text(
    layer: GridLayer, level: str, *, profile: Profile = "wall", tolerance_m: float | None = None, decimals: int = 6
) -> str:
    """The same as compact JSON text (what is written to disk and served), cached in memory."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    tol = TOLERANCE_M[profile][level] if tolerance_m is None else float(tolerance_m)
    return _cached_text(_LayerRef(layer), level, tol, decimals)


class _LayerRef:
    """Hashable handle on a layer by its fingerprint, so lru_cache keys stay small."""

    def __init__(self, layer: GridLayer) -> None:
        self.layer = layer
        self.key = layer.fingerprint

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _LayerRef) and other.key == self.key


@lru_cache(maxsize=32)
def _cached_text(ref: _LayerRef, level: str, tolerance_m: float, decimals: int) -> str:
    frame = ref.layer.level(level)
    id_col, name_col = LEVELS[level]
    geoms = simplify_coverage(frame.geometry.values, tolerance_m, decimals)
    parents = _PARENT_PROPS[level]
    features = []
    for rec, geom in zip(frame[[id_col, name_col, *parents]].to_dict("records"), geoms, strict=True):
        props = {"name": str(rec[name_col]), **{k: str(rec[k]) for k in parents}}
        features.append(_feature(str(rec[id_col]), props, geom))
    collection = {
        "type": "FeatureCollection",
        "level": level,
        "synthetic": bool(frame["synthetic"].any()),
        "fingerprint": ref.key,
        "tolerance_m": tolerance_m,
        "features": features,
    }
    return json.dumps(collection, ensure_ascii=False, separators=(",", ":"))


def write_display_geojson(
    layer: GridLayer, out_dir: str | Path, *, profile: Profile = "wall", levels: Iterable[str] = tuple(LEVELS),
    decimals: int = 6,
) -> dict[str, Path]:
    """Write ``<level>.geojson`` per level into ``out_dir`` (skipped when already current).

    A ``manifest.json`` records each file's layer fingerprint and tolerance; files whose entry
    matches are not rewritten, so a restart or a second worker does not churn the assets.
    Returns {level: path}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        manifest = {}
    paths: dict[str, Path] = {}
    changed = False
    for level in levels:
        tol = TOLERANCE_M[profile][level]
        path = out / f"{level}.geojson"
        entry = {"file": path.name, "fingerprint": layer.fingerprint, "tolerance_m": tol, "decimals": decimals}
        current = manifest.get(level, {})
        if not path.exists() or {k: current.get(k) for k in entry} != entry:
            text = display_geojson_text(layer, level, tolerance_m=tol, decimals=decimals)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
            manifest[level] = {**entry, "bytes": path.stat().st_size}
            changed = True
        paths[level] = path
    if changed:
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return paths
