"""Figure builders and their Patch twins: offline map styles, fixed heat locations, small patches."""

from __future__ import annotations

import json

from dashboard import figures
from dashboard.push import plain
from tests.screens.factories import T0, summary

CELLS = ["88309a0001fffff", "88309a0003fffff", "88309a0005fffff"]


def _map(**kw):
    args = dict(center={"lat": 29.8, "lon": 121.6}, zoom=10, outlines=[("/geo/street.geojson?v=1", "#fff", 1.5)])
    args.update(kw)
    return figures.wall_map(**args)


def test_map_style_fetches_nothing_from_the_internet():
    text = json.dumps(figures.map_style())
    assert "http" not in text
    assert all(src["type"] == "geojson" for src in figures.map_style()["sources"].values())


def test_intranet_basemap_is_an_optional_raster_layer():
    style = figures.map_style("http://tiles.intranet/{z}/{x}/{y}.png")
    assert style["sources"]["basemap"]["tiles"] == ["http://tiles.intranet/{z}/{x}/{y}.png"]
    assert [layer["type"] for layer in style["layers"]] == ["background", "raster"]


def test_wall_map_references_geojson_by_url_and_carries_no_live_layer():
    fig = _map()
    assert fig.layout.map.layers[0].source == "/geo/street.geojson?v=1"
    assert [len(t.lat) for t in fig.data] == [0]  # the live layers are painted over it, not traced
    assert len(fig.to_json()) < 20_000


def test_heat_layer_references_its_cells_by_url_in_a_fixed_order():
    layer = figures.heat_layer(url="/geo/h3.geojson?v=1", cells=CELLS, counts={CELLS[1]: 4},
                               markers=figures.marker_arrays([summary(1)], T0), now_ms=T0)
    assert layer["url"] == "/geo/h3.geojson?v=1" and layer["cells"] == CELLS
    assert layer["z"] == [0, 4, 0] and layer["zmax"] == 4
    assert layer["scale"] == figures.HEAT_SCALE and layer["fade_ms"] == figures.MARKER_FADE_MS
    assert layer["markers"]["key"] == [summary(1)["id"]]
    assert len(json.dumps(layer)) < 2_000


def test_heat_z_is_aligned_with_fixed_locations():
    assert figures.heat_z(CELLS, {CELLS[1]: 4, "other": 9}) == [0, 4, 0]


def test_heat_patch_is_small_and_touches_only_counts_and_markers():
    patch = plain(figures.heat_patch(CELLS, {CELLS[0]: 2}, figures.marker_arrays([summary(1)], T0), now_ms=T0))
    locations = {tuple(op["location"]) for op in patch["operations"]}
    assert locations == {("z",), ("zmax",), ("at",), ("markers",)}
    assert len(json.dumps(patch)) < 1000


def test_heat_patch_of_a_new_view_changes_the_cells_too():
    patch = plain(figures.heat_patch(CELLS, {}, None, geojson_url="/geo/street.geojson"))
    locations = {tuple(op["location"]) for op in patch["operations"]}
    assert {("url",), ("cells",), ("z",)} <= locations and ("markers",) not in locations


def test_the_polling_baselines_whole_figure_has_heat_and_markers_as_traces():
    fig = figures.whole_wall_map(heat_geojson={"type": "FeatureCollection", "features": []}, cells=CELLS,
                                 counts={CELLS[1]: 4}, outlines=[], center={"lat": 29.8, "lon": 121.6}, zoom=10,
                                 markers=figures.marker_arrays([summary(1)], T0))
    assert list(fig.data[figures.HEAT_TRACE].z) == [0, 4, 0] and len(fig.data[figures.MARKER_TRACE].lat) == 1


def test_live_markers_fade_with_age_and_vanish_after_the_window():
    fresh = summary(1, received_at=T0)
    older = summary(2, received_at=T0 - figures.MARKER_FADE_MS // 2)
    gone = summary(3, received_at=T0 - figures.MARKER_FADE_MS - 1)
    m = figures.marker_arrays([fresh, older, gone], T0)
    assert m["opacity"] == [1.0, 0.5]


def test_heat_colour_scale_top_ignores_one_outlier():
    assert figures.heat_zmax([1] * 99 + [500]) == 1


def test_trend_patch_replaces_values_never_the_figure():
    hourly = [{"hour": T0, "received": 3, "closed": 1}]
    daily = [{"date": "2026-11-25", "received": 30, "closed": 20}]
    fig = figures.trend_figure(hourly, daily)
    assert [t.type for t in fig.data] == ["scatter", "scatter", "bar", "scatter"]
    patch = plain(figures.trend_patch(hourly, daily))
    assert all(op["location"][0] == "data" for op in patch["operations"])
