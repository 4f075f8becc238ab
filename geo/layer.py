"""Grid layer I/O: load a jurisdiction's grid polygons, validate them, convert them to WGS84.

Why: every later step (H3 indexing, point → grid, heat, hotspots, the map) trusts this layer.
A customer's file comes as GeoJSON, GeoPackage or Shapefile, with its own column names and
usually in GCJ-02 or CGCS2000; we map the columns, convert the coordinates once, repair what
can be repaired and *report* what cannot (overlaps and gaps with their size), so a person can
fix the source instead of the product silently mis-assigning events.

The layer is one row per grid with the hierarchy district → street/town → community → grid.
Canonical columns: ``grid_id, grid_name, community_code, community_name, street_code,
street_name, district_code, district_name, synthetic`` and ``geometry`` (WGS84, EPSG:4326).
Rows are sorted by ``grid_id``; the row number is the ``grid_pos`` used by ``geo.index``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geo.crs import normalize_crs_name, to_wgs84

__all__ = [
    "CANONICAL_COLUMNS",
    "LEVELS",
    "GridLayer",
    "LayerConfig",
    "LayerError",
    "ValidationIssue",
    "ValidationReport",
    "area_m2",
    "default_config_path",
    "load_demo_layer",
    "load_grid_layer",
    "read_grid_layer",
    "validate_grids",
]

CANONICAL_COLUMNS: tuple[str, ...] = (
    "grid_id", "grid_name", "community_code", "community_name", "street_code", "street_name",
    "district_code", "district_name", "synthetic",
)
# Display/rollup levels, coarse to fine, with the id and name column of each.
LEVELS: dict[str, tuple[str, str]] = {
    "district": ("district_code", "district_name"),
    "street": ("street_code", "street_name"),
    "community": ("community_code", "community_name"),
    "grid": ("grid_id", "grid_name"),
}
_GEOGRAPHIC_OK = {4326, 4490, 4979, 4480}  # WGS84 / CGCS2000 geographic codes files carry
_REPO_ROOT = Path(__file__).resolve().parents[1]


class LayerError(ValueError):
    """The layer cannot be used as given; the message says what to change."""


def default_config_path() -> Path:
    """The shipped synthetic Yinzhou jurisdiction's config (config/jurisdiction/)."""
    return _REPO_ROOT / "config" / "jurisdiction" / "yinzhou_synthetic.json"


@dataclass(frozen=True)
class LayerConfig:
    """What the loader needs to know about a grid file; read from a small JSON file.

    ``columns`` maps canonical names to the file's column names (missing hierarchy columns
    are filled from ``defaults``). ``crs`` must be declared: Chinese files tagged EPSG:4326
    are often really GCJ-02, so the file's own tag is not trusted to say which.
    """

    path: Path
    crs: str
    layer: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    outline_path: Path | None = None
    outline_layer: str | None = None
    synthetic: bool = False
    name: str = ""

    @classmethod
    def from_json(cls, config_path: str | Path) -> LayerConfig:
        config_path = Path(config_path)
        raw = json.loads(config_path.read_text(encoding="utf-8"))
        base = config_path.parent
        if "file" not in raw:
            raise LayerError(f"{config_path}: 'file' (the grid file, relative to the config) is required")
        if not raw.get("crs"):
            raise LayerError(
                f"{config_path}: 'crs' must be declared (one of WGS84, GCJ02, BD09, CGCS2000 or EPSG:<code>)"
            )
        outline = raw.get("outline") or {}
        return cls(
            path=base / raw["file"],
            crs=str(raw["crs"]),
            layer=raw.get("layer"),
            columns=dict(raw.get("columns", {})),
            defaults=dict(raw.get("defaults", {})),
            outline_path=(base / outline["file"]) if outline.get("file") else None,
            outline_layer=outline.get("layer"),
            synthetic=bool(raw.get("synthetic", False)),
            name=str(raw.get("name", "")),
        )


@dataclass(frozen=True)
class ValidationIssue:
    """One finding of the validation, with its size so a person can judge it."""

    kind: str  # repaired | dropped_empty | overlap | gap | outside_outline
    grid_ids: tuple[str, ...]
    area_m2: float
    message: str


@dataclass
class ValidationReport:
    """What validation found and did. ``ok`` is False when overlaps/gaps exceed the tolerance."""

    n_grids: int = 0
    declared_crs: str = ""
    converted: bool = False
    area_tolerance_m2: float = 1.0
    issues: list[ValidationIssue] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[ValidationIssue]:
        return [i for i in self.issues if i.kind == kind]

    @property
    def total_overlap_m2(self) -> float:
        return float(sum(i.area_m2 for i in self.of_kind("overlap")))

    @property
    def total_gap_m2(self) -> float:
        return float(sum(i.area_m2 for i in self.of_kind("gap") + self.of_kind("outside_outline")))

    @property
    def ok(self) -> bool:
        return not any(
            i.area_m2 > self.area_tolerance_m2 for i in self.issues if i.kind in ("overlap", "gap", "outside_outline")
        )

    def summary(self) -> str:
        counts = pd.Series([i.kind for i in self.issues], dtype=object).value_counts().to_dict()
        parts = [f"{self.n_grids} grids, CRS {self.declared_crs}{' → WGS84' if self.converted else ''}"]
        parts += [f"{k}: {v}" for k, v in sorted(counts.items())]
        parts.append(f"overlap {self.total_overlap_m2:.1f} m², gaps {self.total_gap_m2:.1f} m²")
        return "; ".join(parts)


_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


def area_m2(geoms: Any) -> np.ndarray:
    """Areas in m² of WGS84 geometries: planar lon/lat area × the ellipsoid's local scale.

    Why not project the vertices: polygon edges are straight in lon/lat (that is what
    point-in-polygon uses), and projecting only the vertices bends nothing but moves a sliver's
    middle vertex by metres, turning a 0.1 mm sliver into hundreds of m². Scaling by the
    radii of curvature at each geometry's centroid latitude is exact for slivers and within
    ~1e-5 of the true area for a district-sized polygon.
    """
    arr = np.atleast_1d(np.asarray(geoms, dtype=object))
    if arr.size == 0:
        return np.zeros(0)
    lat = np.radians(np.nan_to_num(shapely.get_coordinates(shapely.centroid(arr))[:, 1]
                                   if arr.size else np.zeros(0)))
    if lat.size != arr.size:  # empty geometries have no centroid coordinates
        lat = np.radians(np.array([0.0 if g is None or g.is_empty else g.centroid.y for g in arr]))
    s2 = np.sin(lat) ** 2
    m = _WGS84_A * (1 - _WGS84_E2) / (1 - _WGS84_E2 * s2) ** 1.5  # meridian radius
    n = _WGS84_A / np.sqrt(1 - _WGS84_E2 * s2)  # prime-vertical radius
    return shapely.area(arr) * m * n * np.cos(lat) * (np.pi / 180.0) ** 2


@dataclass
class GridLayer:
    """The validated grid layer in WGS84, sorted by grid_id (row number == grid_pos)."""

    gdf: gpd.GeoDataFrame
    report: ValidationReport
    name: str = ""
    outline: shapely.Geometry | None = None

    def __len__(self) -> int:
        return len(self.gdf)

    @property
    def synthetic(self) -> bool:
        return bool(self.gdf["synthetic"].any())

    @cached_property
    def fingerprint(self) -> str:
        """Stable hash of ids + geometry: the key for on-disk caches built from this layer."""
        h = hashlib.sha1()
        h.update("\n".join(self.gdf["grid_id"]).encode())
        for wkb in shapely.to_wkb(self.gdf.geometry.values, hex=False):
            h.update(wkb)
        return h.hexdigest()[:16]

    def level(self, level: str) -> gpd.GeoDataFrame:
        """Polygons of one level (district/street/community/grid): id, name, parents, geometry.

        Upper levels are the coverage union of their grids, so they nest exactly.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
        return self._levels[level]

    @cached_property
    def _levels(self) -> dict[str, gpd.GeoDataFrame]:
        out: dict[str, gpd.GeoDataFrame] = {}
        order = list(LEVELS)
        for i, lvl in enumerate(order):
            id_col, name_col = LEVELS[lvl]
            parent_cols = [c for p in order[:i] for c in LEVELS[p]]
            if lvl == "grid":
                out[lvl] = self.gdf[[id_col, name_col, *parent_cols, "synthetic", "geometry"]].copy()
                continue
            groups = self.gdf.groupby(id_col, sort=True)
            geoms = [_union_cover(self.gdf.geometry.values[idx]) for idx in groups.indices.values()]
            first = self.gdf.iloc[[idx[0] for idx in groups.indices.values()]]
            frame = first[[id_col, name_col, *parent_cols, "synthetic"]].reset_index(drop=True)
            frame["n_grids"] = [len(idx) for idx in groups.indices.values()]
            out[lvl] = gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")
        return out


def _union_cover(geoms: np.ndarray) -> shapely.Geometry:
    """Union of adjacent grids; coverage union is exact and fast when edges are shared."""
    try:
        merged = shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:  # edges not shared exactly (overlaps, slivers)
        return shapely.union_all(geoms)
    return merged if merged.is_valid else shapely.union_all(geoms)


# ---------------------------------------------------------------------------------------------
# loading


def load_demo_layer() -> GridLayer:
    """The shipped synthetic Yinzhou jurisdiction (25 real streets/towns, 407 communities)."""
    return load_grid_layer(default_config_path())


def load_grid_layer(config: str | Path | LayerConfig, *, area_tolerance_m2: float = 1.0) -> GridLayer:
    """Load and validate the grid layer a config file describes."""
    cfg = config if isinstance(config, LayerConfig) else LayerConfig.from_json(config)
    outline = None
    if cfg.outline_path is not None:
        outline_gdf = _read_file(cfg.outline_path, cfg.outline_layer)
        outline_gdf = _to_wgs84_frame(outline_gdf, cfg.crs, str(cfg.outline_path))
        outline = shapely.union_all(shapely.make_valid(outline_gdf.geometry.values))
    return read_grid_layer(
        cfg.path, crs=cfg.crs, layer=cfg.layer, columns=cfg.columns, defaults=cfg.defaults,
        synthetic=cfg.synthetic, outline=outline, name=cfg.name, area_tolerance_m2=area_tolerance_m2,
    )


def read_grid_layer(
    path: str | Path,
    *,
    crs: str,
    layer: str | None = None,
    columns: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    synthetic: bool = False,
    outline: shapely.Geometry | None = None,
    name: str = "",
    area_tolerance_m2: float = 1.0,
) -> GridLayer:
    """Read a GeoJSON/GeoPackage/Shapefile of grids, map columns, convert to WGS84, validate."""
    raw = _read_file(Path(path), layer)
    frame = _map_columns(raw, columns or {}, defaults or {}, synthetic, str(path))
    frame = _to_wgs84_frame(frame, crs, str(path))
    frame, report = validate_grids(frame, outline=outline, area_tolerance_m2=area_tolerance_m2)
    report.declared_crs = _declared_label(crs)
    report.converted = report.declared_crs not in ("WGS84", "CGCS2000")
    return GridLayer(gdf=frame, report=report, name=name, outline=outline)


def _read_file(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise LayerError(f"grid file not found: {path}")
    try:
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        layers = ""
        try:
            layers = f" (layers: {', '.join(pyogrio.list_layers(path)[:, 0])})"
        except Exception:  # noqa: BLE001 - best effort hint only
            pass
        raise LayerError(f"cannot read {path} layer {layer!r}: {exc}{layers}") from exc


def _map_columns(
    raw: gpd.GeoDataFrame, columns: Mapping[str, str], defaults: Mapping[str, Any], synthetic: bool, src: str
) -> gpd.GeoDataFrame:
    """Rename the file's columns to canonical ones; fill missing hierarchy levels from defaults."""
    unknown = set(columns) - set(CANONICAL_COLUMNS)
    if unknown:
        raise LayerError(f"{src}: unknown canonical column(s) in mapping: {sorted(unknown)}")
    out = gpd.GeoDataFrame(geometry=raw.geometry.values, crs=raw.crs)
    for canon in CANONICAL_COLUMNS:
        src_col = columns.get(canon, canon)
        if src_col in raw.columns:
            out[canon] = raw[src_col].values
        elif canon in defaults:
            out[canon] = defaults[canon]
        elif canon == "grid_id":
            raise LayerError(
                f"{src}: no grid id column: expected {src_col!r} among {sorted(c for c in raw.columns if c != 'geometry')}"
            )
        elif canon == "grid_name":
            out[canon] = None  # filled with the id below
        elif canon == "synthetic":
            out[canon] = synthetic
        else:
            out[canon] = ""
    out["grid_id"] = out["grid_id"].astype(str).str.strip()
    out["grid_name"] = out["grid_name"].where(out["grid_name"].notna(), out["grid_id"]).astype(str)
    for canon in CANONICAL_COLUMNS:
        if canon not in ("synthetic", "grid_id", "grid_name"):
            out[canon] = out[canon].fillna("").astype(str)
    out["synthetic"] = out["synthetic"].astype(bool) | bool(synthetic)
    dup = out["grid_id"][out["grid_id"].duplicated()].unique()
    if len(dup):
        raise LayerError(f"{src}: grid ids must be unique; duplicated: {', '.join(map(str, dup[:10]))}")
    return out[[*CANONICAL_COLUMNS, "geometry"]]


def _declared_label(crs: str) -> str:
    try:
        return normalize_crs_name(crs)
    except ValueError:
        return str(crs).upper()


def _to_wgs84_frame(frame: gpd.GeoDataFrame, declared: str, src: str) -> gpd.GeoDataFrame:
    """Convert a frame from its declared CRS to WGS84; refuse unknown or contradictory CRSs."""
    file_crs = frame.crs
    try:
        name = normalize_crs_name(declared)
    except ValueError:
        name = None
    if name is None:
        if not str(declared).upper().startswith("EPSG:"):
            raise LayerError(
                f"{src}: unknown CRS {declared!r}; declare one of WGS84, GCJ02, BD09, CGCS2000 or EPSG:<code>"
            )
        try:
            target = CRS.from_user_input(declared)
        except Exception as exc:  # pyproj raises CRSError
            raise LayerError(f"{src}: unknown CRS {declared!r}: {exc}") from exc
        if file_crs is not None and not CRS.from_user_input(file_crs).equals(target):
            raise LayerError(f"{src}: the file says {file_crs.to_string()} but the config declares {declared}")
        out = frame.set_crs(target, allow_override=True).to_crs("EPSG:4326")
        _check_lonlat(out, src, declared)
        return out
    if file_crs is not None:
        code = CRS.from_user_input(file_crs).to_epsg()
        if code not in _GEOGRAPHIC_OK and not CRS.from_user_input(file_crs).equals(CRS("OGC:CRS84")):
            raise LayerError(
                f"{src}: the file is in {CRS.from_user_input(file_crs).to_string()} but the config declares "
                f"{name} (longitude/latitude); declare the file's EPSG code instead"
            )
    _check_lonlat(frame, src, name)
    out = frame.set_crs("EPSG:4326", allow_override=True)
    if name in ("GCJ02", "BD09"):
        out = out.copy()
        out["geometry"] = shapely.transform(
            out.geometry.values, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], name))
        )
    return out


def _check_lonlat(frame: gpd.GeoDataFrame, src: str, declared: str) -> None:
    xmin, ymin, xmax, ymax = frame.total_bounds if len(frame) else (0, 0, 0, 0)
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise LayerError(
            f"{src}: coordinates ({xmin:.0f}..{xmax:.0f}, {ymin:.0f}..{ymax:.0f}) are not longitude/latitude "
            f"but the CRS is declared {declared}; declare the projected CRS (e.g. EPSG:4549)"
        )


# ---------------------------------------------------------------------------------------------
# validation


def validate_grids(
    frame: gpd.GeoDataFrame,
    *,
    outline: shapely.Geometry | None = None,
    area_tolerance_m2: float = 1.0,
) -> tuple[gpd.GeoDataFrame, ValidationReport]:
    """Repair invalid polygons, drop empty ones, report overlaps and gaps with their size.

    Gaps are holes inside the union of grids and, when the jurisdiction outline is known,
    the parts of the outline no grid covers. Anything at or below ``area_tolerance_m2`` is
    reported but does not make the report fail.
    """
    report = ValidationReport(area_tolerance_m2=area_tolerance_m2)
    frame = frame.sort_values("grid_id", kind="stable").reset_index(drop=True)
    frame = _repair_geometries(frame, report)
    report.n_grids = len(frame)
    geoms = frame.geometry.values
    ids = frame["grid_id"].to_numpy()
    _report_overlaps(geoms, ids, report)
    _report_gaps(geoms, ids, outline, report)
    return frame, report


def _repair_geometries(frame: gpd.GeoDataFrame, report: ValidationReport) -> gpd.GeoDataFrame:
    geoms = np.array(frame.geometry.values, dtype=object)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for gid in frame["grid_id"][empty]:
        report.issues.append(ValidationIssue("dropped_empty", (gid,), 0.0, f"grid {gid}: empty geometry dropped"))
    invalid = ~empty & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        fixed = _polygonal_part(shapely.make_valid(geoms[i], method="structure"))
        before, after = area_m2([geoms[i], fixed]) if not fixed.is_empty else (area_m2([geoms[i]])[0], 0.0)
        gid = frame["grid_id"].iat[i]
        report.issues.append(ValidationIssue(
            "repaired", (gid,), abs(float(after) - float(before)),
            f"grid {gid}: invalid geometry ({reason}) repaired; area {before:.1f} → {after:.1f} m²",
        ))
        geoms[i] = fixed
    non_poly = ~empty & ~np.isin(shapely.get_type_id(geoms), (3, 6))
    if non_poly.any():
        bad = ", ".join(frame["grid_id"][non_poly].astype(str)[:10])
        raise LayerError(f"grids must be polygons; not polygonal: {bad}")
    collapsed = invalid & shapely.is_empty(geoms)  # nothing polygonal survived the repair
    for gid in frame["grid_id"][collapsed]:
        report.issues.append(ValidationIssue("dropped_empty", (gid,), 0.0, f"grid {gid}: nothing left after repair, dropped"))
    out = frame.copy()
    out["geometry"] = geoms
    return out[~(empty | collapsed)].reset_index(drop=True)


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _report_overlaps(geoms: np.ndarray, ids: np.ndarray, report: ValidationReport) -> None:
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if left.size == 0:
        return
    inter = shapely.intersection(geoms[left], geoms[right])
    poly = np.isin(shapely.get_type_id(inter), (3, 6, 7)) & (shapely.area(inter) > 0)
    if not poly.any():
        return
    areas = area_m2(inter[poly])
    for a, b, area in zip(ids[left[poly]], ids[right[poly]], areas, strict=True):
        if area > 0:
            report.issues.append(ValidationIssue("overlap", (a, b), float(area), f"grids {a} and {b} overlap by {area:.2f} m²"))


def _report_gaps(
    geoms: np.ndarray, ids: np.ndarray, outline: shapely.Geometry | None, report: ValidationReport
) -> None:
    union = _union_cover(geoms)
    holes = [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
    tree = shapely.STRtree(geoms)
    _add_gap_issues(holes, "gap", "hole between grids", geoms, ids, tree, report)
    if outline is not None:
        missing = shapely.get_parts(shapely.difference(outline, union))
        missing = [g for g in missing if shapely.get_type_id(g) == 3 and g.area > 0]
        _add_gap_issues(missing, "outside_outline", "part of the outline no grid covers", geoms, ids, tree, report)


def _add_gap_issues(polys, kind, what, geoms, ids, tree, report, sliver_m2: float = 0.01) -> None:
    """One issue per gap of at least ``sliver_m2``; numerical slivers below it are summed in one."""
    if not polys:
        return
    areas = area_m2(polys)
    small = areas < sliver_m2
    if small.any():
        report.issues.append(ValidationIssue(
            kind, (), float(areas[small].sum()),
            f"{what}: {int(small.sum())} slivers under {sliver_m2} m² each, {areas[small].sum():.4f} m² in total",
        ))
    for poly, area in zip(np.asarray(polys, dtype=object)[~small], areas[~small], strict=True):
        near = tuple(sorted(ids[tree.query(poly, predicate="intersects")]))[:8]
        c = poly.representative_point()
        report.issues.append(ValidationIssue(
            kind, near, float(area), f"{what}: {area:.2f} m² near ({c.x:.6f}, {c.y:.6f}) next to {', '.join(near)}",
        ))
