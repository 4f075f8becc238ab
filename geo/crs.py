"""Chinese coordinate systems: WGS84 ⇄ GCJ-02 ⇄ BD-09, vectorised over numpy arrays.

Why this module exists: Chinese map data and apps (Amap/高德, Tencent, Baidu) publish
coordinates in GCJ-02 ("Mars coordinates", an obfuscated WGS84 with offsets of ~100-700 m)
or Baidu's BD-09 (a further rotation/scaling of GCJ-02). H3 and the grid layer work in WGS84,
so every coordinate is converted here, once, at the edge.

Rules:
- lon first everywhere (names and arguments); arrays in, arrays out; scalars give floats.
- GCJ-02 only shifts points inside China. ``out_of_china`` is the usual rectangle
  (lon 72.004–137.8347, lat 0.8293–55.8271) used by the open implementations: outside it
  WGS84 == GCJ-02. BD-09 is defined from GCJ-02 everywhere (as in those implementations).
- The forward GCJ-02 formula has no closed inverse: ``gcj02_to_wgs84`` iterates a fixed
  point until the residual is below ~1e-10° (≈1 cm), typically 3–5 rounds.
  ``bd09_to_gcj02`` is refined the same way around the usual closed-form approximation.
- CGCS2000 (EPSG:4490) and WGS84 differ by a few centimetres in China: treated as equal.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SUPPORTED_CRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "normalize_crs_name",
    "out_of_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

CrsName = Literal["WGS84", "GCJ02", "BD09", "CGCS2000"]
# (lon, lat): float arrays for array input, floats for scalar input
LonLat = tuple[Any, Any]
SUPPORTED_CRS: tuple[str, ...] = ("WGS84", "GCJ02", "BD09", "CGCS2000")

# Aliases people write in config files; all map onto the four canonical names.
_ALIASES = {
    "WGS84": "WGS84", "WGS-84": "WGS84", "EPSG:4326": "WGS84", "4326": "WGS84",
    "GCJ02": "GCJ02", "GCJ-02": "GCJ02", "GCJ": "GCJ02", "MARS": "GCJ02",
    "BD09": "BD09", "BD-09": "BD09", "BD09LL": "BD09", "BAIDU": "BD09",
    "CGCS2000": "CGCS2000", "EPSG:4490": "CGCS2000", "4490": "CGCS2000",
}

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_ITER = 30


def normalize_crs_name(name: str) -> str:
    """Map a config spelling ("GCJ-02", "EPSG:4490", ...) to a canonical name or raise."""
    key = str(name).strip().upper().replace(" ", "")
    try:
        return _ALIASES[key]
    except KeyError:
        raise ValueError(
            f"unknown coordinate system {name!r}: expected one of {', '.join(SUPPORTED_CRS)}"
            " (or EPSG:4326 / EPSG:4490)"
        ) from None


def _as_float_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat must have the same shape, got {lon_a.shape} and {lat_a.shape}")
    return lon_a, lat_a, lon_a.ndim == 0


def _out(lon: NDArray[np.float64], lat: NDArray[np.float64], scalar: bool) -> LonLat:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_] | bool:
    """True where a point is outside the rectangle where GCJ-02 applies an offset."""
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    res = ~((lon_a >= 72.004) & (lon_a <= 137.8347) & (lat_a >= 0.8293) & (lat_a <= 55.8271))
    return bool(res) if scalar else res


def _gcj_delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Offset (dlon, dlat) in degrees that GCJ-02 adds to a WGS84 point (inside China)."""
    x = lon - 105.0
    y = lat - 35.0
    xpi = x * np.pi
    ypi = y * np.pi
    common = (20.0 * np.sin(6.0 * xpi) + 20.0 * np.sin(2.0 * xpi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
            + (20.0 * np.sin(ypi) + 40.0 * np.sin(ypi / 3.0)) * 2.0 / 3.0
            + (160.0 * np.sin(ypi / 12.0) + 320.0 * np.sin(ypi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
            + (20.0 * np.sin(xpi) + 40.0 * np.sin(xpi / 3.0)) * 2.0 / 3.0
            + (150.0 * np.sin(xpi / 12.0) + 300.0 * np.sin(xpi / 30.0)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = ~((lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS84 → GCJ-02 (the published forward formula; identity outside China)."""
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon_a, lat_a)
    return _out(lon_a + dlon, lat_a + dlat, scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 → WGS84 by fixed-point iteration of the forward formula (~1 cm or better).

    The one-step inverse many libraries use is off by up to ~1-2 m; iterating makes a
    round trip WGS84 → GCJ-02 → WGS84 reproduce the input to well under a millimetre.
    """
    g_lon, g_lat, scalar = _as_float_arrays(lon, lat)
    w_lon = g_lon.copy()
    w_lat = g_lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj_delta(w_lon, w_lat)
        e_lon = (w_lon + dlon) - g_lon
        e_lat = (w_lat + dlat) - g_lat
        w_lon = w_lon - e_lon
        w_lat = w_lat - e_lat
        if w_lon.size == 0 or max(np.max(np.abs(e_lon)), np.max(np.abs(e_lat))) < _INVERSE_TOL_DEG:
            break
    return _out(w_lon, w_lat, scalar)


def _gcj_to_bd_arrays(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 → BD-09 (Baidu's published formula)."""
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    b_lon, b_lat = _gcj_to_bd_arrays(lon_a, lat_a)
    return _out(b_lon, b_lat, scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 → GCJ-02: the usual closed-form approximation, refined by iteration.

    The closed form alone leaves errors of a few centimetres to decimetres; a few fixed-point
    rounds make ``gcj02_to_bd09(bd09_to_gcj02(p)) == p`` to ~1e-10°.
    """
    b_lon, b_lat, scalar = _as_float_arrays(lon, lat)
    x = b_lon - 0.0065
    y = b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon = z * np.cos(theta)
    g_lat = z * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = _gcj_to_bd_arrays(g_lon, g_lat)
        e_lon = f_lon - b_lon
        e_lat = f_lat - b_lat
        g_lon = g_lon - e_lon
        g_lat = g_lat - e_lat
        if g_lon.size == 0 or max(np.max(np.abs(e_lon)), np.max(np.abs(e_lat))) < _INVERSE_TOL_DEG:
            break
    return _out(g_lon, g_lat, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS84 → BD-09 (via GCJ-02)."""
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(g_lon, g_lat)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 → WGS84 (via GCJ-02, both steps iterative)."""
    g_lon, g_lat = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(g_lon, g_lat)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> LonLat:
    """Convert from a declared CRS ("WGS84", "GCJ02", "BD09", "CGCS2000") to WGS84."""
    name = normalize_crs_name(crs)
    if name == "GCJ02":
        return gcj02_to_wgs84(lon, lat)
    if name == "BD09":
        return bd09_to_wgs84(lon, lat)
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    return _out(lon_a.copy(), lat_a.copy(), scalar)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> LonLat:
    """Convert WGS84 to a declared CRS (for exporting to Chinese map front ends)."""
    name = normalize_crs_name(crs)
    if name == "GCJ02":
        return wgs84_to_gcj02(lon, lat)
    if name == "BD09":
        return wgs84_to_bd09(lon, lat)
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    return _out(lon_a.copy(), lat_a.copy(), scalar)
