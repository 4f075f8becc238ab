"""The consultation view's pure parts: filtering, counting, series, navigation, auth."""

from __future__ import annotations

import pytest

from dashboard import auth, consult, reads
from dashboard import formatting as fmt
from dashboard.consult import Query
from feeds.settings import Settings
from tests.screens.factories import T0, summary


def test_filters_keep_the_scope_and_every_filter():
    rows = [summary(1), summary(2, category="CG-ROAD"), summary(3, street="330212002"), summary(4, level=4)]
    q = Query(level="street", code="330212001", filters=(("category", "CG-MANHOLE"),))
    assert [r["id"] for r in consult.filter_reports(rows, q)] == [rows[0]["id"], rows[3]["id"]]
    q = Query(filters=(("level", "4"),))
    assert [r["id"] for r in consult.filter_reports(rows, q)] == [rows[3]["id"]]


def test_playback_shows_only_what_had_arrived_by_the_clock():
    rows = [summary(1, received_at=T0 - 1000), summary(2, received_at=T0 + 1000)]
    q = Query(as_of=T0, play_start=T0 - 86_400_000)
    assert [r["id"] for r in consult.filter_reports(rows, q)] == [rows[0]["id"]]
    assert q.bounds(T0 + 10**9) == (T0 - 86_400_000, T0 + 1)


def test_kpi_scope_follows_the_drill_down():
    assert Query().kpi_scope == "district"
    assert Query(level="street", code="330212001").kpi_scope == "street:330212001"
    assert Query(filters=(("dept", "ZFJ"),)).kpi_scope == "dept:ZFJ"


def test_hourly_series_buckets_one_clock():
    rows = [summary(1, received_at=T0 + 10), summary(2, received_at=T0 + 3_600_000 + 5)]
    series = consult.hourly_series(rows, T0, T0 + 2 * 3_600_000)
    assert [s["received"] for s in series] == [1, 1]


@pytest.mark.parametrize(("window", "days"), [("today", 1), ("7d", 7), ("30d", 30)])
def test_windows_end_with_today(window, days):
    start, end = reads.window_bounds(window, T0)
    assert end - start == days * reads.DAY_MS
    assert end == fmt.day_start_ms(T0) + reads.DAY_MS


def test_custom_window_includes_both_days_and_the_previous_period_has_its_length():
    start, end = reads.window_bounds("custom", T0, "2026-11-01", "2026-11-07")
    assert (end - start) == 7 * reads.DAY_MS
    assert reads.previous_bounds(start, end) == (start - 7 * reads.DAY_MS, start)


@pytest.mark.parametrize(("token", "role"), [("wall", "wall"), ("duty", "duty"), ("leader", "leader"),
                                              ("nope", None), (None, None)])
def test_roles_come_from_tokens(token, role):
    assert auth.role_for_token(Settings(), token) == role


def test_only_duty_signs_only_leaders_cast_and_the_wall_does_nothing():
    assert auth.may("duty", "ack") and not auth.may("leader", "ack") and not auth.may("wall", "ack")
    assert auth.may("leader", "cast") and not auth.may("duty", "cast")
    assert not auth.may(None, "urge")
    assert auth.may_view("wall", "wall") and not auth.may_view("wall", "duty")
    assert not auth.may_view("duty", "tablet")


def test_no_token_is_the_read_only_wall_and_a_wrong_token_is_nobody():
    from flask import Flask

    app = Flask("t")
    with app.test_request_context("/wall"):
        assert auth.current_role(Settings()) == "wall"
    with app.test_request_context("/duty?token=nope"):
        assert auth.current_role(Settings()) is None
    with app.test_request_context("/duty?token=duty"):
        assert auth.current_role(Settings()) == "duty"


def test_children_rows_list_busiest_first():
    from dashboard.geodata import MapGeo, Place

    geo = MapGeo(folder=None, files={}, heat_file="", heat_cells=[], heat_res=7,  # type: ignore[arg-type]
                 places={"district": {"D": Place("district", "D", "区", "", 0, 0, 10)},
                         "street": {"S1": Place("street", "S1", "甲街道", "D", 0, 0, 12),
                                    "S2": Place("street", "S2", "乙街道", "D", 0, 0, 12)}},
                 children={("district", "D"): ["S1", "S2"]})
    rows = consult.children_rows(geo, "district", "D", {"S2": 5, "S1": 1}, {"S1": {"open": 3, "overdue": 1}})
    assert [r["code"] for r in rows] == ["S2", "S1"]
    assert rows[1]["open"] == 3 and rows[0]["open"] is None
