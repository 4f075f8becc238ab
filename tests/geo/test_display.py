"""Display GeoJSON: ids per level, shared edges kept by coverage simplification, small files, cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from geo.display import TOLERANCE_M, display_geojson, simplify_coverage, write_display_geojson

LEVEL_IDS = [("district", 1, "330212"), ("street", 25, "330212001"), ("community", 407, "330212001005"),
             ("grid", None, "330212001005-G01")]


@pytest.mark.parametrize(("level", "count", "first_id"), LEVEL_IDS)
def test_each_level_has_one_feature_per_unit_with_its_id_and_chinese_name(demo_layer, level, count, first_id) -> None:
    fc = display_geojson(demo_layer, level)
    assert fc["synthetic"] is True and fc["level"] == level
    ids = [f["id"] for f in fc["features"]]
    assert len(ids) == len(set(ids)) == (count or len(demo_layer))
    assert ids[0] == first_id
    name = fc["features"][0]["properties"]["name"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in name)


@pytest.mark.parametrize("level", ["street", "community", "grid"])
def test_simplified_polygons_still_tile_without_gaps_or_overlaps(demo_layer, level) -> None:
    fc = display_geojson(demo_layer, level, profile="wall")
    geoms = np.array([shapely.geometry.shape(f["geometry"]) for f in fc["features"]])
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)
    union = shapely.coverage_union_all(geoms)
    assert all(len(p.interiors) == 0 for p in shapely.get_parts(union))


def test_coordinates_are_rounded_to_six_decimals(demo_layer) -> None:
    fc = display_geojson(demo_layer, "grid")
    coords = np.array(fc["features"][0]["geometry"]["coordinates"][0])
    assert np.array_equal(coords, np.round(coords, 6))


def test_files_are_small_enough_for_the_wall(demo_layer, tmp_path) -> None:
    paths = write_display_geojson(demo_layer, tmp_path, profile="wall")
    sizes = {level: p.stat().st_size for level, p in paths.items()}
    assert sizes["grid"] < 600_000 and sizes["street"] < 60_000 and sizes["district"] < 30_000
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["grid"]["fingerprint"] == demo_layer.fingerprint
    assert manifest["grid"]["tolerance_m"] == TOLERANCE_M["wall"]["grid"]


def test_current_files_are_not_rewritten(demo_layer, tmp_path) -> None:
    first = write_display_geojson(demo_layer, tmp_path, levels=["street"])
    mtime = first["street"].stat().st_mtime_ns
    second = write_display_geojson(demo_layer, tmp_path, levels=["street"])
    assert second["street"].stat().st_mtime_ns == mtime


def test_tablet_keeps_more_detail_than_the_wall(demo_layer) -> None:
    def vertices(profile: str) -> int:
        fc = display_geojson(demo_layer, "district", profile=profile)
        return sum(len(r) for f in fc["features"] for poly in [f["geometry"]["coordinates"]] for r in poly)

    assert vertices("tablet") > vertices("wall")


def test_simplify_coverage_falls_back_for_an_overlapping_layer() -> None:
    a, b = shapely.box(0, 0, 1, 1), shapely.box(0.5, 0, 1.5, 1)
    out = simplify_coverage([a, b], tolerance_m=10)
    assert shapely.is_valid(out).all() and len(out) == 2


def test_unknown_level_is_refused(demo_layer) -> None:
    with pytest.raises(ValueError, match="unknown level"):
        display_geojson(demo_layer, "province")
