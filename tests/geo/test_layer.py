"""Grid layer I/O: formats, column mapping, CRS declaration, repairs and reported overlaps/gaps."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.layer import LayerConfig, LayerError, area_m2, load_grid_layer, read_grid_layer, validate_grids
from tests.geo.conftest import square_grid_frame

CUSTOMER_COLUMNS = {  # a customer's file uses its own (Chinese) column names
    "grid_id": "网格编码", "grid_name": "网格名称", "community_code": "社区编码", "community_name": "社区名称",
    "street_code": "街道编码", "street_name": "街道名称",
}


SHAPEFILE_COLUMNS = {  # dBase field names: 10 bytes, so pinyin initials
    "grid_id": "WGBM", "grid_name": "WGMC", "community_code": "SQBM", "community_name": "SQMC",
    "street_code": "JDBM", "street_name": "JDMC",
}


def _customer_frame(columns: dict[str, str] = CUSTOMER_COLUMNS) -> gpd.GeoDataFrame:
    frame = square_grid_frame()
    return frame.rename(columns=columns).drop(columns=["district_code", "district_name", "synthetic"])


@pytest.mark.parametrize(("suffix", "driver", "columns"), [
    (".geojson", "GeoJSON", CUSTOMER_COLUMNS), (".gpkg", "GPKG", CUSTOMER_COLUMNS),
    (".shp", "ESRI Shapefile", SHAPEFILE_COLUMNS),
])
def test_each_file_format_loads_with_mapped_columns(tmp_path: Path, suffix: str, driver: str, columns) -> None:
    path = tmp_path / f"grids{suffix}"
    _customer_frame(columns).to_file(path, driver=driver, engine="pyogrio", **({"encoding": "UTF-8"} if suffix == ".shp" else {}))
    layer = read_grid_layer(path, crs="WGS84", columns=columns,
                            defaults={"district_code": "330212", "district_name": "鄞州区"})
    assert list(layer.gdf["grid_id"]) == ["G00", "G01", "G10", "G11"]
    assert set(layer.gdf["street_name"]) == {"街道一"}
    assert set(layer.gdf["district_name"]) == {"鄞州区"}
    assert layer.report.ok and layer.report.n_grids == 4
    assert not layer.synthetic


def test_config_file_drives_the_loader(tmp_path: Path) -> None:
    _customer_frame().to_file(tmp_path / "g.gpkg", layer="wg", driver="GPKG", engine="pyogrio")
    cfg = {"file": "g.gpkg", "layer": "wg", "crs": "GCJ-02", "columns": CUSTOMER_COLUMNS, "synthetic": True}
    (tmp_path / "j.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    layer = load_grid_layer(tmp_path / "j.json")
    assert layer.synthetic and layer.report.declared_crs == "GCJ02" and layer.report.converted


@pytest.mark.parametrize(("declared", "forward"), [("GCJ02", wgs84_to_gcj02), ("BD09", wgs84_to_bd09)])
def test_declared_chinese_crs_is_converted_to_wgs84(tmp_path: Path, declared, forward) -> None:
    truth = square_grid_frame()
    shifted = truth.copy()
    shifted["geometry"] = shapely.transform(truth.geometry.values, lambda xy: np.column_stack(forward(xy[:, 0], xy[:, 1])))
    shifted.to_file(tmp_path / "g.geojson", driver="GeoJSON", engine="pyogrio")
    layer = read_grid_layer(tmp_path / "g.geojson", crs=declared)
    got = layer.gdf.set_index("grid_id").geometry
    for gid, geom in truth.set_index("grid_id").geometry.items():
        assert shapely.hausdorff_distance(got[gid], geom) < 1e-8  # ~1 mm


def test_cgcs2000_file_is_taken_as_wgs84(tmp_path: Path) -> None:
    square_grid_frame().set_crs("EPSG:4490", allow_override=True).to_file(tmp_path / "g.gpkg", engine="pyogrio")
    layer = read_grid_layer(tmp_path / "g.gpkg", crs="CGCS2000")
    assert layer.gdf.crs.to_epsg() == 4326 and not layer.report.converted


def test_projected_file_with_its_epsg_declared_is_reprojected(tmp_path: Path) -> None:
    truth = square_grid_frame()
    truth.to_crs("EPSG:4549").to_file(tmp_path / "g.gpkg", engine="pyogrio")  # CGCS2000 / 3-degree GK CM 120E
    layer = read_grid_layer(tmp_path / "g.gpkg", crs="EPSG:4549")
    assert shapely.hausdorff_distance(layer.gdf.geometry.iloc[0], truth.geometry.iloc[0]) < 1e-7


@pytest.mark.parametrize(("declared", "file_crs", "message"), [
    ("UTM50", "EPSG:4326", "unknown CRS"),
    ("EPSG:999999", "EPSG:4326", "unknown CRS"),
    ("GCJ02", "EPSG:3857", "declare the file's EPSG code"),
    ("EPSG:4549", "EPSG:4326", "the file says"),
])
def test_unknown_or_contradictory_crs_is_refused(tmp_path: Path, declared, file_crs, message) -> None:
    square_grid_frame().to_crs(file_crs).to_file(tmp_path / "g.gpkg", engine="pyogrio")
    with pytest.raises(LayerError, match=message):
        read_grid_layer(tmp_path / "g.gpkg", crs=declared)


def test_projected_coordinates_declared_as_lonlat_are_refused(tmp_path: Path) -> None:
    projected = square_grid_frame().to_crs("EPSG:4549")
    untagged = gpd.GeoDataFrame(projected.drop(columns="geometry"), geometry=list(projected.geometry), crs=None)
    untagged.to_file(tmp_path / "g.gpkg", engine="pyogrio")  # a file that does not say its CRS
    with pytest.raises(LayerError, match="not longitude/latitude"):
        read_grid_layer(tmp_path / "g.gpkg", crs="WGS84")


def test_config_without_crs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "j.json").write_text(json.dumps({"file": "g.gpkg"}), encoding="utf-8")
    with pytest.raises(LayerError, match="'crs' must be declared"):
        LayerConfig.from_json(tmp_path / "j.json")


def test_missing_id_column_names_the_columns_present(tmp_path: Path) -> None:
    _customer_frame().to_file(tmp_path / "g.gpkg", engine="pyogrio")
    with pytest.raises(LayerError, match="no grid id column.*网格编码"):
        read_grid_layer(tmp_path / "g.gpkg", crs="WGS84")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    frame = square_grid_frame()
    frame.loc[1, "grid_id"] = "G00"
    frame.to_file(tmp_path / "g.gpkg", engine="pyogrio")
    with pytest.raises(LayerError, match="unique; duplicated: G00"):
        read_grid_layer(tmp_path / "g.gpkg", crs="WGS84")


def test_invalid_geometry_is_repaired_and_reported() -> None:
    frame = square_grid_frame()
    bowtie = shapely.Polygon([(121.50, 29.80), (121.51, 29.81), (121.51, 29.80), (121.50, 29.81)])
    frame.loc[0, "geometry"] = bowtie
    fixed, report = validate_grids(frame)
    repaired = report.of_kind("repaired")
    assert [i.grid_ids for i in repaired] == [("G00",)]
    assert "Self-intersection" in repaired[0].message
    assert fixed.geometry.is_valid.all()


def test_overlap_is_reported_with_its_size() -> None:
    frame = square_grid_frame()
    frame.loc[0, "geometry"] = shapely.box(121.50, 29.80, 121.511, 29.81)  # 0.001° into its east neighbour
    _, report = validate_grids(frame)
    overlaps = report.of_kind("overlap")
    assert [i.grid_ids for i in overlaps] == [("G00", "G10")]
    expected = area_m2([shapely.box(121.51, 29.80, 121.511, 29.81)])[0]
    assert overlaps[0].area_m2 == pytest.approx(expected, rel=1e-6)
    assert not report.ok and "overlap" in report.summary()


def test_hole_between_grids_is_reported_as_a_gap() -> None:
    frame = square_grid_frame(3, 3)
    frame = frame[frame["grid_id"] != "G11"]  # the middle one is missing
    _, report = validate_grids(frame)
    gaps = report.of_kind("gap")
    assert len(gaps) == 1 and gaps[0].area_m2 == pytest.approx(area_m2([shapely.box(0, 29.8, 0.01, 29.81)])[0], rel=1e-3)
    assert "G01" in gaps[0].grid_ids


def test_parts_of_the_outline_no_grid_covers_are_reported() -> None:
    frame = square_grid_frame()
    outline = shapely.box(121.50, 29.80, 121.53, 29.82)  # one column wider than the grids
    _, report = validate_grids(frame, outline=outline)
    missing = report.of_kind("outside_outline")
    assert len(missing) == 1 and missing[0].area_m2 > 1e5


def test_empty_geometry_is_dropped_and_reported() -> None:
    frame = square_grid_frame()
    frame.loc[3, "geometry"] = shapely.Polygon()
    fixed, report = validate_grids(frame)
    assert len(fixed) == 3 and report.of_kind("dropped_empty")[0].grid_ids == ("G11",)


def test_area_in_square_metres_matches_the_ellipsoid() -> None:
    from pyproj import Geod

    box = shapely.box(121.5, 29.8, 121.51, 29.81)
    expected = abs(Geod(ellps="WGS84").geometry_area_perimeter(box)[0])
    assert area_m2([box])[0] == pytest.approx(expected, rel=1e-5)


def test_levels_nest_and_carry_names(square_layer) -> None:
    street = square_layer.level("street")
    community = square_layer.level("community")
    assert list(community["community_code"]) == ["C0", "C1"]
    assert list(community["n_grids"]) == [2, 2]
    assert shapely.area(street.geometry.iloc[0]) == pytest.approx(shapely.area(square_layer.gdf.geometry.values).sum())
    with pytest.raises(ValueError, match="unknown level"):
        square_layer.level("province")


def test_fingerprint_changes_with_geometry(square_layer) -> None:
    frame = square_grid_frame()
    frame.loc[0, "geometry"] = shapely.box(121.50, 29.80, 121.5101, 29.81)
    moved, report = validate_grids(frame)
    from geo.layer import GridLayer

    assert GridLayer(gdf=moved, report=report).fingerprint != square_layer.fingerprint
