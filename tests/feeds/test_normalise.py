"""Normalisation: WGS84 first (geo.crs), then H3 cell and grid (geo.index), per batch; no server."""

from __future__ import annotations

import h3
import pytest

from feeds.model import Flag
from feeds.normalise import CellLocator, normalise
from feeds.validate import ReportIn
from geo.crs import from_wgs84


def rin(lon: float | None, lat: float | None, crs: str = "WGS84") -> ReportIn:
    return ReportIn(0, "grid_app", "S", "SR-GARBAGE", 1, lon, lat, crs, "addr", "", {}, 0, 0, [])


@pytest.mark.parametrize("crs", ["GCJ02", "BD09", "CGCS2000", "WGS84"])
def test_points_are_converted_to_wgs84_before_indexing(locator, crs: str) -> None:
    true = (121.5498, 29.8171)
    src = from_wgs84(*true, crs) if crs in ("GCJ02", "BD09") else true
    r = rin(*src, crs=crs)
    normalise([r], locator)
    assert abs(r.lon - true[0]) < 1e-6 and abs(r.lat - true[1]) < 1e-6
    assert (r.src_lon, r.src_lat, r.src_crs) == (src[0], src[1], crs)
    assert r.cell == h3.str_to_int(h3.latlng_to_cell(true[1], true[0], 10))
    assert r.grid_id and r.street_code == "330212002" and r.flags == []


def test_a_batch_mixing_crs_and_missing_points(locator) -> None:
    batch = [rin(121.5498, 29.8171), rin(*from_wgs84(121.60, 29.75, "GCJ02"), crs="GCJ02"), rin(None, None),
             rin(116.40, 39.90)]
    normalise(batch, locator)
    assert [bool(r.grid_id) for r in batch] == [True, True, False, False]
    assert batch[2].cell == 0 and batch[2].flags == []
    assert batch[3].cell > 0 and batch[3].flags == [Flag.OUTSIDE_JURISDICTION]


def test_without_a_grid_layer_points_get_cells_and_no_flag() -> None:
    r = rin(116.40, 39.90)
    normalise([r], CellLocator(10))
    assert r.cell > 0 and r.grid_id == "" and r.flags == []
