"""Panel builders: read-model dicts in, Dash components out (no Dash app, no Redis)."""

from __future__ import annotations

import pytest
from dash import html

from dashboard import formatting as fmt
from dashboard import ids, panels
from dashboard.push import plain
from tests.screens.factories import T0, alert, names, summary

CSS_TEXT = ("data-t", "data-tag", "data-chip")  # shown by the theme's ::before content


def _text(component) -> str:
    """All text a component tree shows (its children, and the data-* the CSS shows)."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return "".join(_text(c) for c in component)
    shown = "".join(str(getattr(component, a, "") or "") for a in CSS_TEXT)
    children = getattr(component, "children", None)
    return shown + ("" if children is None else _text(children))


@pytest.mark.parametrize(("values", "key", "expected"), [
    ({"received": 1234}, "received", ("1,234", "件")),
    ({"closure_rate": 0.9765}, "closure_rate", ("97.7", "%")),
    ({"on_time_rate": None}, "on_time_rate", ("--", "%")),
    ({"avg_hours": 1.5}, "avg_handling_s", ("1.5", "小时")),
    ({"avg_hours": 72}, "avg_handling_s", ("3.0", "天")),
    ({"satisfaction_rate": 0.98}, "satisfaction", ("98.0", "%")),
    ({"open_overdue": 2, "overdue_all": 9}, "overdue", ("9", "件")),
])
def test_kpi_tile_text_formats_the_engines_values(values, key, expected):
    kind = next(k for key_, _l, _u, k in panels.KPI_TILES if key_ == key)
    assert panels.kpi_text(values, key, kind) == expected


def test_kpi_tiles_carry_one_value_id_per_kpi_and_ops_target_them():
    tiles = panels.kpi_tiles({"received": 5, "closed": 3})
    assert len(tiles) == len(panels.KPI_TILES)
    ops = panels.kpi_ops({"received": 6})
    assert {"t": "props", "id": f"{ids.WALL_KPI_PREFIX}received", "p": {"children": "6"}} in ops


def test_rate_with_an_empty_denominator_shows_a_dash_not_zero():
    assert fmt.percent(None) == "--"
    assert fmt.percent(float("nan")) == "--"


def test_backlog_bars_put_overdue_first_and_scale_to_the_largest():
    rows = [{"code": "ZFJ", "open": 10, "on_track": 10, "near_due": 0, "overdue": 0},
            {"code": "GAFJ", "open": 5, "on_track": 2, "near_due": 1, "overdue": 2}]
    bars = panels.backlog_bars(rows, names())
    assert [b.to_plotly_json()["props"]["data-key"] for b in bars] == ["GAFJ", "ZFJ"]
    widths = [s.style["width"] for s in bars[1].children[1].children]
    assert widths == ["100.00%"]


def test_backlog_without_open_cases_says_so():
    assert "暂无在办案件" in _text(panels.backlog_bars([{"code": "ZFJ", "open": 0}], names()))


def test_alert_row_shows_kind_stage_category_and_a_running_countdown():
    row = panels.alert_row(alert(kind="overdue"), names())
    text = _text(row)
    assert "超期" in text and "签收" in text and "井盖缺失破损" in text and "下应街道" in text
    countdown = row.children[2]
    assert countdown.className == "countdown"
    assert countdown.to_plotly_json()["props"]["data-deadline"] == str(T0 - 60_000)
    assert getattr(row, "data-key") == alert()["id"] and getattr(row, "data-tag") == "超期"


def test_duty_row_has_the_four_actions_and_sign_is_off_once_acknowledged():
    raised = panels.alert_row(alert(state="raised"), names(), variant="duty")
    acked = panels.alert_row(alert(state="acknowledged"), names(), variant="duty")
    buttons = raised.children[3].children
    assert [b.to_plotly_json()["props"]["data-action"] for b in buttons] == ["ack", "urge", "escalate", "note"]
    assert buttons[0].disabled is False
    assert acked.children[3].children[0].disabled is True
    assert "acked" in acked.className


def test_wall_alert_row_has_no_buttons():
    row = panels.alert_row(alert(), names(), variant="wall")
    assert not any(isinstance(c, html.Div) and c.className == "actions" for c in row.children)


def test_alert_order_matches_the_engine_queue():
    overdue_raised = alert(1, "overdue", "raised", due=T0)
    overdue_acked = alert(2, "overdue", "acknowledged", due=T0 - 10)
    near = alert(3, "near_due", "raised", due=T0 - 100)
    escalated = alert(4, "overdue", "raised", level=2, due=T0 + 50)
    ranked = sorted([near, overdue_acked, overdue_raised, escalated], key=panels.alert_sort)
    assert [a["case"] for a in ranked] == [escalated["case"], overdue_raised["case"], overdue_acked["case"],
                                           near["case"]]


def test_ticker_row_is_newest_first_and_keeps_masked_text():
    rows = panels.ticker_list([summary(1), summary(2)], names())
    assert getattr(rows[0], "data-key") == summary(1)["id"]
    assert panels.ticker_sort(summary(1)) < panels.ticker_sort(summary(2))
    assert "138****5678" in _text(rows[0])
    assert "热线" in _text(rows[0])


def test_top_issues_sum_grid_counts_per_category():
    counts = [{"grid": "G1", "category": "CG-MANHOLE", "count": 3},
              {"grid": "G2", "category": "CG-MANHOLE", "count": 4},
              {"grid": "G1", "category": "CG-ROAD", "count": 5}]
    rows = panels.top_issues(counts, names())
    assert "井盖缺失破损" in _text(rows[0]) and "7" in _text(rows[0])


def test_case_timeline_lists_every_stage_clock_and_who_acted():
    case = {**summary(1), "address": "某路", "timeline": [
        {"v": 1, "kind": "report", "at": T0, "actor": "", "role": ""},
        {"v": 2, "kind": "signed", "at": T0 + 30_000, "actor": "李四", "role": "duty", "dept": "SZGS"}],
        "clocks": [{"stage": "sign", "due": T0 + 60_000, "met_at": T0 + 30_000, "state": "met"},
                   {"stage": "close", "due": T0 + 86_400_000, "met_at": None, "state": "overdue"}]}
    text = _text(panels.case_timeline(case, names()))
    assert "签收" in text and "李四" in text and "按时" in text and "超期" in text


def test_compare_table_shows_both_periods_and_the_change():
    table = panels.compare_table({"received": 120, "closure_rate": 0.9}, {"received": 100, "closure_rate": 0.8},
                                 "本期", "上期")
    text = _text(table)
    assert "+20" in text and "+10.0 个百分点" in text


def test_components_serialise_to_plain_json_for_the_relay():
    data = plain(panels.ticker_row(summary(1), names(), fresh=True))
    assert data["type"] == "Li" and data["namespace"] == "dash_html_components"
    assert data["props"]["className"] == "tick-row fresh"


@pytest.mark.parametrize(("due", "now", "text"), [
    (T0 + 299_000, T0, "剩 4:59"),
    (T0 - 62_000, T0, "超 1:02"),
    (T0 - 3_723_000, T0, "超 1:02:03"),
    (T0 + 3 * 86_400_000, T0, "剩 3天"),
])
def test_countdown_text(due, now, text):
    assert fmt.countdown(due, now) == text


def test_slotted_lists_have_fixed_slots_ordered_by_css_order():
    rows = panels.ticker_list([summary(1), summary(2)], names(), limit=4, list_id="wall-ticker")
    assert [r.id for r in rows] == [f"wall-ticker-s{i}" for i in range(4)]
    assert [getattr(r, "style", None) for r in rows[:2]] == [{"order": 0}, {"order": 1}]
    assert [r.className for r in rows[2:]] == ["slot-empty", "slot-empty"]


def test_alert_css_order_follows_the_engine_queue_score_and_fits_32_bits():
    overdue = alert(1, "overdue", "raised", due=T0 - 10 * 60_000)
    later = alert(2, "overdue", "raised", due=T0 + 60 * 60_000)
    near = alert(3, "near_due", "raised", due=T0 - 100 * 60_000)
    acked = alert(4, "overdue", "acknowledged", due=T0 - 100 * 60_000)
    escalated = alert(5, "overdue", "raised", level=2, due=T0 + 500 * 60_000)
    alerts = [near, later, acked, overdue, escalated]
    assert sorted(alerts, key=panels.alert_order) == sorted(alerts, key=panels.alert_sort)
    assert all(0 <= panels.alert_order(a) < 2**31 for a in alerts)
