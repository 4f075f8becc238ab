"""The shipped synthetic Yinzhou jurisdiction: real outline and names, exact tiling, stable ids."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely

from geo.demo_jurisdiction import (
    DemoParams,
    build_demo_jurisdiction,
    community_short_name,
    load_outline_wgs84,
    read_communities,
    read_streets,
)
from geo.layer import area_m2

REAL_STREET_NAMES = {  # NBS 2023, Yinzhou district 330212: 15 街道 + 10 镇
    "下应街道", "钟公庙街道", "梅墟街道", "中河街道", "首南街道", "潘火街道", "百丈街道", "东胜街道",
    "明楼街道", "白鹤街道", "东柳街道", "东郊街道", "福明街道", "新明街道", "聚贤街道", "瞻岐镇", "咸祥镇",
    "塘溪镇", "东钱湖镇", "东吴镇", "五乡镇", "邱隘镇", "云龙镇", "横溪镇", "姜山镇",
}


def test_demo_layer_loads_clean_and_is_marked_synthetic(demo_layer) -> None:
    assert demo_layer.report.ok, demo_layer.report.summary()
    assert demo_layer.synthetic and demo_layer.gdf["synthetic"].all()
    assert 950 <= len(demo_layer) <= 1050
    assert set(demo_layer.gdf["district_code"]) == {"330212"}


def test_demo_layer_has_the_25_real_street_names(demo_layer) -> None:
    assert set(demo_layer.gdf["street_name"]) == REAL_STREET_NAMES
    assert {s.name for s in read_streets()} == REAL_STREET_NAMES


def test_demo_layer_has_all_407_real_communities_in_their_streets(demo_layer) -> None:
    communities = read_communities()
    assert len(communities) == 407
    got = demo_layer.gdf.drop_duplicates("community_code").set_index("community_code")
    assert set(got.index) == {c.code for c in communities}
    for c in communities:
        assert got.at[c.code, "street_code"] == c.street_code
        assert got.at[c.code, "community_name"] == c.name


def test_grid_ids_are_community_code_plus_number(demo_layer) -> None:
    ids = demo_layer.gdf["grid_id"]
    assert ids.is_unique
    assert all(re.fullmatch(r"\d{12}-G\d{2}", g) for g in ids)
    assert (ids.str[:12] == demo_layer.gdf["community_code"]).all()


def test_grids_tile_the_real_outline_without_gaps_or_overlaps(demo_layer) -> None:
    geoms = np.asarray(demo_layer.gdf.geometry.values)
    outline = load_outline_wgs84()
    union = shapely.coverage_union_all(geoms)
    assert shapely.area(union) == pytest.approx(shapely.area(outline), rel=1e-9)
    assert shapely.hausdorff_distance(union.boundary, outline.boundary) < 1e-9  # ~0.1 mm
    assert all(len(p.interiors) == 0 for p in shapely.get_parts(union))  # no holes between grids
    assert shapely.coverage_is_valid(geoms)  # edges shared exactly, no overlaps
    i, j = shapely.STRtree(geoms).query(geoms, predicate="overlaps")
    overlap_area = area_m2(shapely.intersection(geoms[i[i < j]], geoms[j[i < j]])).sum() if i.size else 0.0
    assert overlap_area < 1e-6
    assert area_m2([union])[0] == pytest.approx(832.4e6, rel=1e-3)  # Yinzhou is ~832 km²


def test_outline_is_the_gcj02_source_converted_to_wgs84(demo_layer) -> None:
    outline = load_outline_wgs84()
    assert shapely.hausdorff_distance(demo_layer.outline, outline) < 1e-12
    assert outline.bounds[0] == pytest.approx(121.453, abs=0.001)  # GCJ-02 starts at 121.4575


def test_grids_are_small_in_the_urban_core_and_large_in_the_rural_south_east(demo_layer) -> None:
    gdf = demo_layer.gdf
    areas = area_m2(gdf.geometry.values) / 1e6
    urban = gdf["street_code"].str[-3:].astype(int) < 100  # 街道
    assert np.median(areas[urban]) < 0.3 < 1.5 < np.median(areas[~urban])
    assert np.all(shapely.get_type_id(gdf.geometry.values) == 3)  # every grid is one polygon


def test_each_community_and_street_is_one_piece(demo_layer) -> None:
    for level in ("community", "street"):
        frame = demo_layer.level(level)
        assert (shapely.get_num_geometries(frame.geometry.values) == 1).all(), level


@pytest.mark.parametrize(("full", "short"), [
    ("东兴社区居委会", "东兴社区"), ("河东村村委会", "河东村"), ("潜龙社区", "潜龙社区"), ("莫枝居委会", "莫枝居委会"),
])
def test_community_names_drop_the_committee_suffix(full, short) -> None:
    assert community_short_name(full) == short


@pytest.mark.slow
def test_generator_is_deterministic_and_reproduces_the_shipped_file(demo_layer) -> None:
    grids, _ = build_demo_jurisdiction(DemoParams())
    grids = grids.sort_values("grid_id").reset_index(drop=True)
    shipped = demo_layer.gdf
    assert list(grids["grid_id"]) == list(shipped["grid_id"])
    assert shapely.equals_exact(grids.geometry.values, shipped.geometry.values, tolerance=0).all()
