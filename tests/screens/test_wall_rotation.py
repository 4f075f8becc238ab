"""The wall's ``?rotate=`` setting (pure: no Dash server, no browser)."""

from __future__ import annotations

import pytest

from dashboard.snapshot import ROTATE_DWELL_S, rotation


@pytest.mark.parametrize(("query", "expected"), [
    (None, (True, ROTATE_DWELL_S * 1000)),
    ("1", (True, ROTATE_DWELL_S * 1000)),
    ("0", (False, ROTATE_DWELL_S * 1000)),
    (" 0 ", (False, ROTATE_DWELL_S * 1000)),
    ("45", (True, 45_000)),
    ("1.5", (True, ROTATE_DWELL_S * 1000)),   # not a whole number of seconds: the default
    ("abc", (True, ROTATE_DWELL_S * 1000)),
    ("-5", (True, 2_000)),                     # clamped: the map needs time to draw a view
    ("999999", (True, 3_600_000)),
])
def test_rotate_query_gives_on_and_dwell(query: str | None, expected: tuple[bool, int]) -> None:
    assert rotation(query) == expected
