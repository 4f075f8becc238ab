"""CRS conversions against published reference points, round trips and the outside-China rule."""

from __future__ import annotations

import numpy as np
import pytest

from geo import crs

# (function, input lon/lat, expected lon/lat, tolerance in degrees, source)
REFERENCE_POINTS = [
    # wandergis/coordtransform README/test (Beijing, Tiananmen area)
    (crs.wgs84_to_gcj02, (116.404, 39.915), (116.41024449916938, 39.91640428150164), 1e-12, "coordtransform"),
    (crs.gcj02_to_bd09, (116.404, 39.915), (116.41036949371029, 39.92133699351021), 1e-12, "coordtransform"),
    # googollee/eviltransform test table (Shanghai, Shenzhen, Beijing)
    (crs.wgs84_to_gcj02, (121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), 1e-12, "eviltransform"),
    (crs.wgs84_to_gcj02, (113.912316, 22.543847), (113.9171764808363, 22.540796131694766), 1e-12, "eviltransform"),
    (crs.wgs84_to_gcj02, (116.377817, 39.911954), (116.38404722455657, 39.91334545536069), 1e-12, "eviltransform"),
    # a Rust geotool test (Jiaxing); it uses the WGS84 semi-major axis: ~1 cm apart
    (crs.wgs84_to_gcj02, (121.0917077, 30.6107779), (121.09626935575027, 30.608604331756705), 2e-7, "geotool"),
    (crs.wgs84_to_bd09, (121.0917077, 30.6107779), (121.10271732371203, 30.61484572185035), 2e-7, "geotool"),
    # Beijing railway station GCJ-02 ↔ BD-09, published to 5 decimals (R package docs)
    (crs.gcj02_to_bd09, (116.42703, 39.90245), (116.43351, 39.90851), 1e-5, "R cst"),
    (crs.bd09_to_gcj02, (116.43351, 39.90851), (116.42703, 39.90245), 1e-5, "R cst"),
]


@pytest.mark.parametrize(("func", "point", "expected", "tol", "source"), REFERENCE_POINTS,
                         ids=[f"{r[0].__name__}-{r[4]}" for r in REFERENCE_POINTS])
def test_conversion_matches_published_reference_point(func, point, expected, tol, source) -> None:
    lon, lat = func(*point)
    assert lon == pytest.approx(expected[0], abs=tol)
    assert lat == pytest.approx(expected[1], abs=tol)


def test_iterative_inverse_is_closer_than_the_one_step_inverse() -> None:
    # coordtransform's one-step gcj02towgs84(116.404, 39.915) = (116.39775550083061, 39.91359571849836)
    lon, lat = crs.gcj02_to_wgs84(116.404, 39.915)
    back = crs.wgs84_to_gcj02(lon, lat)
    assert back == pytest.approx((116.404, 39.915), abs=1e-10)
    assert abs(lon - 116.39775550083061) < 5e-6  # within ~0.5 m of the one-step answer


def _metres(lon0, lat0, lon1, lat1) -> np.ndarray:
    k = np.cos(np.radians(lat0))
    return np.hypot((lon1 - lon0) * k, lat1 - lat0) * 111_320.0


@pytest.mark.parametrize(("forward", "inverse"), [
    (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84),
    (crs.gcj02_to_bd09, crs.bd09_to_gcj02),
    (crs.wgs84_to_bd09, crs.bd09_to_wgs84),
])
def test_round_trip_inside_china_is_within_half_a_metre(forward, inverse) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.7, 134.7, 20_000)
    lat = rng.uniform(18.2, 53.5, 20_000)
    back_lon, back_lat = inverse(*forward(lon, lat))
    assert _metres(lon, lat, back_lon, back_lat).max() < 0.5
    assert _metres(lon, lat, back_lon, back_lat).max() < 1e-3  # in fact sub-millimetre


def test_offset_inside_china_is_hundreds_of_metres_in_ningbo() -> None:
    lon, lat = 121.55, 29.87
    g_lon, g_lat = crs.wgs84_to_gcj02(lon, lat)
    assert 100 < _metres(lon, lat, g_lon, g_lat) < 700


@pytest.mark.parametrize(("lon", "lat"), [(-0.1278, 51.5074), (139.6917, 35.6895), (2.35, 48.85), (151.2, -33.9)])
def test_outside_china_wgs84_and_gcj02_are_the_same(lon, lat) -> None:
    assert crs.out_of_china(lon, lat)
    assert crs.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert crs.gcj02_to_wgs84(lon, lat) == (lon, lat)


@pytest.mark.parametrize(("lon", "lat", "outside"), [
    (121.5, 29.8, False), (72.0, 30.0, True), (137.9, 40.0, True), (100.0, 0.8, True), (100.0, 55.9, True),
    (72.004, 0.8293, False),
])
def test_out_of_china_rectangle(lon, lat, outside) -> None:
    assert crs.out_of_china(lon, lat) is outside


def test_functions_take_arrays_and_return_arrays_of_the_same_shape() -> None:
    lon = np.array([[121.5, 121.6], [121.7, 121.8]])
    lat = np.full((2, 2), 29.8)
    out_lon, out_lat = crs.wgs84_to_bd09(lon, lat)
    assert out_lon.shape == (2, 2) and out_lat.shape == (2, 2)
    assert isinstance(crs.wgs84_to_gcj02(121.5, 29.8)[0], float)


def test_empty_arrays_pass_through() -> None:
    lon, lat = crs.gcj02_to_wgs84(np.zeros(0), np.zeros(0))
    assert lon.size == 0 and lat.size == 0


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="same shape"):
        crs.wgs84_to_gcj02(np.zeros(2), np.zeros(3))


@pytest.mark.parametrize(("name", "canonical"), [
    ("WGS84", "WGS84"), ("wgs-84", "WGS84"), ("EPSG:4326", "WGS84"), ("gcj02", "GCJ02"), ("GCJ-02", "GCJ02"),
    ("bd09", "BD09"), ("BD-09", "BD09"), ("CGCS2000", "CGCS2000"), ("EPSG:4490", "CGCS2000"),
])
def test_crs_names_are_normalised(name, canonical) -> None:
    assert crs.normalize_crs_name(name) == canonical


@pytest.mark.parametrize("name", ["EPSG:3857", "UTM50", "", "mercator"])
def test_unknown_crs_name_is_refused(name) -> None:
    with pytest.raises(ValueError, match="unknown coordinate system"):
        crs.normalize_crs_name(name)


@pytest.mark.parametrize(("name", "forward"), [
    ("GCJ02", crs.wgs84_to_gcj02), ("BD09", crs.wgs84_to_bd09), ("WGS84", None), ("CGCS2000", None),
])
def test_to_wgs84_dispatches_on_the_declared_crs(name, forward) -> None:
    lon, lat = np.array([121.55, 121.6]), np.array([29.87, 29.7])
    src = forward(lon, lat) if forward else (lon, lat)
    back = crs.to_wgs84(*src, name)
    assert np.allclose(back[0], lon, atol=1e-9) and np.allclose(back[1], lat, atol=1e-9)
    again = crs.from_wgs84(lon, lat, name)
    assert np.allclose(again[0], src[0], atol=1e-12)
