"""Routing from data: responsibility list for who, locality for where."""

from __future__ import annotations

import pytest

from feeds.supervision.routing import Router
from tests.supervision.factories import catalog


@pytest.mark.parametrize("category, street, owner", [
    ("SR-GARBAGE", "330212001", "ZFJ"),
    ("JF-WAGE", "330212001", "RSJ"),
    ("QT-OTHER", "330212001", "ROOM-330212001"),   # no owner: the street's room dispatches by hand
    ("UNKNOWN", "330212002", "ROOM-330212002"),
    ("QT-OTHER", "", "ROOM-330212"),                # no street: the district centre
])
def test_owner_from_the_responsibility_list(category: str, street: str, owner: str) -> None:
    assert Router(catalog(), "330212").owner(category, street) == owner


def test_locality_is_filled_from_the_grid_when_missing() -> None:
    r = Router(catalog(), "330212", {"G1": ("330212001001", "330212001")})
    loc = r.locality("G1", "", "")
    assert (loc.community, loc.street) == ("330212001001", "330212001")
    assert r.locality("G1", "X", "Y").street == "Y"  # ingest's codes win
    assert Router(catalog(), "330212", lambda g: None).locality("G2", "", "").street == ""
