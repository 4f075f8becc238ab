"""Point → cell and point → grid: small tables, edge rules, and agreement with geopandas.sjoin."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely

from geo.h3cells import cell_to_parent, cells_for_lnglat
from geo.index import DEFAULT_RES, GridIndex, _unique_segments
from geo.layer import GridLayer, validate_grids
from tests.geo.conftest import square_grid_frame


def sjoin_positions(layer: GridLayer, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """What geopandas says: the (lowest) grid position each point is within, -1 for none."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(pts, layer.gdf[["geometry"]], predicate="within", how="inner")
    ref = np.full(lon.size, -1, dtype=np.int64)
    first = joined["index_right"].groupby(level=0).min()
    ref[first.index.to_numpy()] = first.to_numpy()
    return ref


# the 2×2 squares fixture: x 121.50–121.52, y 29.80–29.82, G00 SW, G01 NW, G10 SE, G11 NE
SQUARE_CASES = [
    ("inside SW", 121.505, 29.805, "G00"),
    ("inside NE", 121.515, 29.815, "G11"),
    ("inside NW", 121.5049, 29.8151, "G01"),
    ("just east of the shared edge", 121.51 + 1e-12, 29.805, "G10"),
    ("on the shared edge", 121.51, 29.805, ""),
    ("on the centre vertex", 121.51, 29.81, ""),
    ("on the outer edge", 121.50, 29.805, ""),
    ("just outside", 121.50 - 1e-9, 29.805, ""),
    ("far away", 0.0, 0.0, ""),
    ("south pole", 0.0, -90.0, ""),
]


@pytest.mark.parametrize(("label", "lon", "lat", "expected"), SQUARE_CASES, ids=[c[0] for c in SQUARE_CASES])
def test_point_lands_in_the_grid_sjoin_would_say(square_index, square_layer, label, lon, lat, expected) -> None:
    cells, pos = square_index.locate_lnglat([lon], [lat])
    assert square_index.grid_ids_for(pos)[0] == expected
    assert pos[0] == sjoin_positions(square_layer, np.array([lon]), np.array([lat]))[0]
    assert cells[0] == h3.str_to_int(h3.latlng_to_cell(lat, lon, DEFAULT_RES))


def test_invalid_coordinates_get_no_cell_and_no_grid(square_index) -> None:
    cells, pos = square_index.locate_lnglat([121.505, np.nan, 121.505, 500.0], [29.805, 29.805, np.inf, 29.8])
    assert list(pos) == [0, -1, -1, -1]
    assert cells[0] != 0 and list(cells[1:]) == [0, 0, 0]


def test_empty_input_gives_empty_arrays(square_index) -> None:
    cells, pos = square_index.locate_lnglat(np.zeros(0), np.zeros(0))
    assert cells.dtype == np.uint64 and pos.dtype == np.int32 and cells.size == pos.size == 0


def test_lookups_by_position(square_index) -> None:
    pos = np.array([3, -1, 0])
    assert list(square_index.grid_ids_for(pos)) == ["G11", "", "G00"]
    assert list(square_index.street_codes_for(pos)) == ["S1", "", "S1"]
    assert list(square_index.community_codes_for(pos)) == ["C1", "", "C0"]
    assert square_index.pos_of("G10") == 2


def test_nearest_grid_places_points_on_edges(square_index) -> None:
    pos = square_index.nearest_grid_pos([121.51, 121.50 - 1e-5, 10.0], [29.805, 29.805, 10.0])
    assert pos[0] in (0, 2) and pos[1] == 0 and pos[2] == -1


@pytest.mark.parametrize("res", [7, 8, 9, 10])
def test_cells_are_exactly_h3s_at_any_resolution(demo_layer, res) -> None:
    index = GridIndex(demo_layer, resolution=res)
    rng = np.random.default_rng(res)
    lon, lat = rng.uniform(121.45, 121.9, 2000), rng.uniform(29.6, 29.92, 2000)
    cells, pos = index.locate_lnglat(lon, lat)
    expected = [h3.str_to_int(h3.latlng_to_cell(y, x, res)) for x, y in zip(lon, lat, strict=True)]
    assert cells.tolist() == expected
    assert np.array_equal(pos, sjoin_positions(demo_layer, lon, lat))


def test_overlapping_grids_give_the_lowest_position() -> None:
    frame = square_grid_frame(1, 1)
    frame = gpd.GeoDataFrame(
        [frame.iloc[0].to_dict() | {"grid_id": "A"}, frame.iloc[0].to_dict() | {"grid_id": "B"}],
        geometry=[shapely.box(121.50, 29.80, 121.52, 29.82), shapely.box(121.51, 29.80, 121.53, 29.82)],
        crs="EPSG:4326",
    )
    layer = GridLayer(*validate_grids(frame))
    assert layer.report.of_kind("overlap")
    index = GridIndex(layer)
    lon = np.array([121.505, 121.515, 121.525])
    assert list(index.grid_ids_for(index.grid_pos_for_lnglat(lon, np.full(3, 29.81)))) == ["A", "A", "B"]


def test_polygon_with_a_hole_and_a_grid_inside_it() -> None:
    outer = shapely.box(121.50, 29.80, 121.53, 29.83).difference(shapely.box(121.51, 29.81, 121.52, 29.82))
    inner = shapely.box(121.512, 29.812, 121.518, 29.818)
    frame = square_grid_frame(1, 1)
    rows = [frame.iloc[0].to_dict() | {"grid_id": g} for g in ("RING", "ISLAND")]
    layer = GridLayer(*validate_grids(gpd.GeoDataFrame(rows, geometry=[outer, inner], crs="EPSG:4326")))
    index = GridIndex(layer)
    lon = np.array([121.505, 121.511, 121.515, 121.5101])
    lat = np.array([29.805, 29.815, 29.815, 29.8101])
    assert list(index.grid_ids_for(index.grid_pos_for_lnglat(lon, lat))) == ["RING", "", "ISLAND", ""]
    assert np.array_equal(index.grid_pos_for_lnglat(lon, lat), sjoin_positions(layer, lon, lat))


def test_points_on_every_edge_and_vertex_of_the_demo_layer_agree_with_sjoin(demo_index, demo_layer) -> None:
    seg = _unique_segments(np.asarray(demo_layer.gdf.geometry.values))
    t = np.random.default_rng(3).random(len(seg))
    lon = np.concatenate([seg[:, 0], (seg[:, 0] + seg[:, 2]) / 2, seg[:, 0] + t * (seg[:, 2] - seg[:, 0])])
    lat = np.concatenate([seg[:, 1], (seg[:, 1] + seg[:, 3]) / 2, seg[:, 1] + t * (seg[:, 3] - seg[:, 1])])
    pos = demo_index.grid_pos_for_lnglat(lon, lat)
    assert np.array_equal(pos, sjoin_positions(demo_layer, lon, lat))
    assert (pos[: len(seg)] == -1).all()  # vertices are on boundaries: within no grid


def test_threads_give_the_same_answer(demo_layer) -> None:
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(121.45, 121.9, 300_000), rng.uniform(29.6, 29.92, 300_000)
    one = GridIndex(demo_layer, threads=1).locate_lnglat(lon, lat)
    two = GridIndex(demo_layer, threads=2).locate_lnglat(lon, lat)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_tables_are_cached_on_disk(demo_layer, tmp_path) -> None:
    first = GridIndex(demo_layer, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("gridindex-*.npz"))) == 1
    second = GridIndex(demo_layer, cache_dir=tmp_path)
    assert second.stats == first.stats
    lon, lat = np.array([121.55, 121.7]), np.array([29.85, 29.7])
    assert np.array_equal(first.locate_lnglat(lon, lat)[1], second.locate_lnglat(lon, lat)[1])


def test_most_cells_need_no_exact_test(demo_index) -> None:
    s = demo_index.stats
    assert s.uniform_share > 0.8 and s.corner_share < 0.05
    assert s.uniform_share + s.one_edge_share + s.corner_share == pytest.approx(1.0)


def test_from_config_builds_the_demo_index() -> None:
    from geo.layer import default_config_path

    index = GridIndex.from_config(default_config_path(), resolution=9)
    assert index.resolution == 9 and len(index.grid_ids) == len(index.street_codes) > 900
    assert index.bounds[0] == pytest.approx(121.453, abs=1e-3)


@pytest.mark.parametrize("res", [8, 9, 10])
def test_grid_cells_partition_the_grids(demo_index, res) -> None:
    cells, owner = demo_index.grid_cells(res)
    assert np.all(np.diff(cells.astype(np.int64)) != 0) and (owner >= 0).all()
    g = demo_index.grid_ids[owner[0]]
    mine = demo_index.cells_for_grid(g, res)
    assert owner[0] in demo_index.grid_pos_for_cells(mine)
    assert set(demo_index.grid_pos_for_cells(mine)) == {owner[0]}


def test_grid_to_cells_and_rollups_for_zoom_levels(demo_index) -> None:
    cells = demo_index.cells_for_grid("330212005001-G01")
    assert cells.size > 0
    parents = np.unique(cell_to_parent(cells, 8))
    assert all(h3.cell_to_parent(h3.int_to_str(int(c)), 8) == h3.int_to_str(int(p))
               for c, p in zip(cells, cell_to_parent(cells, 8), strict=True))
    assert parents.size < cells.size


@pytest.mark.slow
def test_one_million_random_points_agree_with_sjoin_within(demo_index, demo_layer) -> None:
    rng = np.random.default_rng(20261125)
    xmin, ymin, xmax, ymax = demo_index.bounds
    n = 1_000_000
    lon = rng.uniform(xmin - 0.01, xmax + 0.01, n)
    lat = rng.uniform(ymin - 0.01, ymax + 0.01, n)
    cells, pos = demo_index.locate_lnglat(lon, lat)
    ref = sjoin_positions(demo_layer, lon, lat)
    assert np.array_equal(pos, ref), f"{int((pos != ref).sum())} points differ"
    assert np.array_equal(cells, cells_for_lnglat(lon, lat, DEFAULT_RES))
    assert 0.3 < (pos >= 0).mean() < 0.7
