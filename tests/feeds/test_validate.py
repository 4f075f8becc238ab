"""Validation: every kind of bad input gets a reason a person can act on (no server needed)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from feeds.catalog import Catalog
from feeds.model import Flag
from feeds.settings import CONFIG_DIR, Settings
from feeds.validate import Reason, Rejection, TimeParser, Validator, has_markup, parse_body
from tests.feeds.factories import NOW, report, update

YINZHOU_BBOX = (121.45, 29.61, 121.90, 29.92)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(Settings(), Catalog.load(Path(CONFIG_DIR)), bbox=YINZHOU_BBOX)


def one(validator: Validator, item: object, **kw):
    reports, updates, rejections = validator.validate([item], NOW, **kw)
    return (reports + updates + rejections)[0]


@pytest.mark.parametrize(("item", "reason", "words"), [
    ("just text", Reason.NOT_AN_OBJECT, "JSON object"),
    ([1, 2], Reason.NOT_AN_OBJECT, "list"),
    (report(channel=None), Reason.MISSING_FIELD, "channel"),
    (report(channel="wechat"), Reason.UNKNOWN_CHANNEL, "wechat"),
    (report(source_id=None), Reason.MISSING_FIELD, "source_id"),
    (report(source_id=""), Reason.MISSING_FIELD, "source_id"),
    (report(source_id="x" * 200), Reason.INVALID_FIELD, "source_id"),
    (report(source_id="a\x1eb"), Reason.INVALID_FIELD, "printable"),
    (report(source_id={"id": 1}), Reason.INVALID_FIELD, "source_id must be text"),
    (report(reported_at=None), Reason.MISSING_FIELD, "reported_at"),
    (report(reported_at="yesterday"), Reason.INVALID_TIME, "ISO-8601"),
    (report(reported_at=float("nan")), Reason.INVALID_TIME, "finite"),
    (report(reported_at=True), Reason.INVALID_TIME, "True"),
    (report(lon=None, lat=None, address=None), Reason.MISSING_FIELD, "location"),
    (report(lat=None), Reason.MISSING_FIELD, "lat"),
    (report(lon="east"), Reason.INVALID_FIELD, "lon must be a number"),
    (report(lon=200.0, lat=95.0), Reason.COORDINATES_OUT_OF_RANGE, "-180..180"),
    (report(lon=121.5, lat=-91.0), Reason.COORDINATES_OUT_OF_RANGE, "lat"),
    (report(lon=float("inf")), Reason.COORDINATES_OUT_OF_RANGE, "finite"),
    (report(crs="EPSG:3857"), Reason.INVALID_FIELD, "crs"),
    (report(level=7), Reason.INVALID_FIELD, "level must be 1-4"),
    (report(level="high"), Reason.INVALID_FIELD, "level"),
    (report(description="漏水\x00"), Reason.NUL_CHARACTER, "description"),
    (report(address="a\x00b"), Reason.NUL_CHARACTER, "address"),
    (report(reporter={"name": "\x00"}), Reason.NUL_CHARACTER, "reporter.name"),
    (report(reporter="张三"), Reason.INVALID_FIELD, "reporter must be an object"),
    (report(description=["a"]), Reason.INVALID_FIELD, "description must be text"),
    (report(description="x" * 30_000), Reason.INVALID_FIELD, "at most"),
    (report(dept="NOPE"), Reason.INVALID_FIELD, "department"),
    (report(category="a|b"), Reason.INVALID_FIELD, "'|'"),
    (update("signed", case_id=None), Reason.MISSING_FIELD, "case_id"),
    (update("teleported", case_id="YZ1"), Reason.UNKNOWN_KIND, "teleported"),
    (update("signed", case_id="YZ1", at=None), Reason.MISSING_FIELD, "at"),
    (update("signed", case_id="YZ1", version=1), Reason.INVALID_VERSION, ">= 2"),
    (update("signed", case_id="YZ1", version="two"), Reason.INVALID_VERSION, "positive integer"),
    (update("dispatched", case_id="YZ1", dept=None), Reason.MISSING_FIELD, "dept"),
    (update("dispatched", case_id="YZ1", dept="NOPE"), Reason.INVALID_FIELD, "department"),
    (update("closed", case_id="YZ1", closure_reason="bored"), Reason.INVALID_FIELD, "closure_reason"),
    (update("evaluated", case_id="YZ1", satisfaction=5), Reason.INVALID_FIELD, "satisfaction"),
    (update("whistle", case_id="YZ1", grade="huge"), Reason.INVALID_FIELD, "grade"),
    (update("extension_requested", case_id="YZ1", hours=None), Reason.MISSING_FIELD, "hours or until"),
    (update("extension_requested", case_id="YZ1", hours=-3), Reason.INVALID_FIELD, "hours"),
    (update("signed", channel="grid_app", source_id="A1", case_id=None, data="x"), Reason.INVALID_FIELD, "data"),
])
def test_bad_items_are_rejected_with_a_reason_that_names_the_problem(validator, item, reason, words) -> None:
    got = one(validator, item)
    assert isinstance(got, Rejection), got
    assert got.reason == reason
    assert words in got.detail
    assert got.raw is item


def test_a_valid_report_passes_with_its_fields_typed(validator) -> None:
    r = one(validator, report(level="3", lon="121.5498", lat="29.8171", reported_at="2026-11-25 16:00:00"))
    assert (r.channel, r.category, r.level, r.src_lon, r.src_lat) == ("grid_app", "SR-GARBAGE", 3, 121.5498, 29.8171)
    assert r.reported_at == 1_795_593_600_000  # 16:00 Asia/Shanghai = 08:00 UTC
    assert r.received_at == NOW and r.flags == []
    assert r.reporter["phone"] == "13812345678"


def test_swapped_lat_lon_is_corrected_and_flagged(validator) -> None:
    r = one(validator, report(lon=29.8171, lat=121.5498))
    assert (r.src_lon, r.src_lat) == (121.5498, 29.8171)
    assert Flag.SWAPPED_LATLON in r.flags


def test_swapped_lat_lon_within_range_is_caught_by_the_jurisdiction_box() -> None:
    v = Validator(Settings(), Catalog.load(Path(CONFIG_DIR)), bbox=(-118.7, 33.7, -118.1, 34.4))
    r = v.validate([report(lon=34.05, lat=-118.25)], NOW)[0][0]
    assert (r.src_lon, r.src_lat) == (-118.25, 34.05) and Flag.SWAPPED_LATLON in r.flags


def test_unknown_category_is_kept_flagged_for_manual_dispatch(validator) -> None:
    r = one(validator, report(category="UFO-SIGHTING"))
    assert r.category == "UFO-SIGHTING" and Flag.UNKNOWN_CATEGORY in r.flags
    assert one(validator, report(category=None)).flags == [Flag.UNKNOWN_CATEGORY]


def test_category_may_be_given_by_its_chinese_name(validator) -> None:
    r = one(validator, report(category="井盖缺失破损"))
    assert r.category == "CG-MANHOLE" and r.level == 2 and r.flags == []


def test_markup_is_kept_as_text_and_flagged(validator) -> None:
    text = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    r = one(validator, report(description=text))
    assert r.description == text and Flag.MARKUP_IN_TEXT in r.flags


@pytest.mark.parametrize(("text", "markup"), [
    ("<b>bold</b>", True), ("a &lt; b", True), ("javascript:alert(1)", True), ("1 < 2 and 3 > 2", False),
    ("普通描述：路灯不亮", False), ("", False),
])
def test_markup_detection(text: str, markup: bool) -> None:
    assert has_markup(text) is markup


def test_a_future_reported_time_keeps_the_source_time_and_flags_the_skew(validator) -> None:
    r = one(validator, report(reported_at=NOW + 3 * 3600_000))
    assert r.reported_at == NOW + 3 * 3600_000 and r.received_at == NOW
    assert Flag.CLOCK_SKEW in r.flags


def test_a_reset_device_clock_is_flagged_too(validator) -> None:
    assert Flag.CLOCK_SKEW in one(validator, report(reported_at=0)).flags
    assert Flag.CLOCK_SKEW not in one(validator, report(reported_at=NOW + 60_000)).flags  # within 300 s


def test_received_time_is_ours_unless_the_source_is_trusted(validator) -> None:
    item = report(received_at=NOW - 86_400_000)
    assert one(validator, item).received_at == NOW
    assert one(validator, item, trust_received=True).received_at == NOW - 86_400_000


def test_a_zero_zero_point_means_no_location(validator) -> None:
    r = one(validator, report(lon=0, lat=0))
    assert r.src_lon is None and Flag.NO_LOCATION in r.flags


def test_unknown_fields_are_kept_in_attrs(validator) -> None:
    r = one(validator, report(ward="7", attrs={"status": "Open"}))
    assert r.attrs == {"ward": "7", "status": "Open"}


def test_updates_name_their_case_by_id_or_by_source(validator) -> None:
    u = one(validator, update("dispatched", channel="grid_app", source_id="A1", dept="ZFJ", actor="王五"))
    assert (u.kind, u.channel, u.source_id, u.version, u.data) == ("dispatched", "grid_app", "A1", 0,
                                                                   {"dept": "ZFJ", "actor": "王五"})
    u = one(validator, update("extension_approved", case_id="YZ1", hours=None, until="2026-12-01T00:00:00+08:00",
                              version=5))
    assert u.case_id == "YZ1" and u.version == 5 and u.data["until"] == 1_796_054_400_000


@pytest.mark.parametrize(("value", "ms"), [
    (1_795_600_000_000, 1_795_600_000_000), (1_795_600_000, 1_795_600_000_000), ("1795600000000", 1_795_600_000_000),
    ("2026-11-25T00:00:00Z", 1_795_564_800_000), ("2026/11/25 08:00:00", 1_795_564_800_000),
    ("2026-11-25T08:00:00+08:00", 1_795_564_800_000),
])
def test_times_in_the_usual_spellings(value, ms) -> None:
    assert TimeParser("Asia/Shanghai")(value, "t") == ms


def test_json_body_of_one_object_or_an_array() -> None:
    assert parse_body(b'{"a": 1}', "application/json", 100) == [{"a": 1}]
    assert parse_body(b'[{"a": 1}, 2]', "application/json; charset=utf-8", 100) == [{"a": 1}, 2]


def test_invalid_utf8_and_invalid_json_are_told_apart() -> None:
    [bad] = parse_body(b'{"description": "\xff\xfe"}', "application/json", 100)
    assert isinstance(bad, Rejection) and bad.reason == Reason.INVALID_UTF8 and "byte" in bad.detail
    [bad] = parse_body(b'{"description": "\\ud800"}', "application/json", 100)
    assert bad.reason == Reason.INVALID_UTF8
    [bad] = parse_body(b'{"description": ', "application/json", 100)
    assert bad.reason == Reason.INVALID_JSON


def test_json_lines_reject_bad_lines_in_place_and_keep_the_rest() -> None:
    body = b"\n".join([orjson.dumps(report(source_id="L1")), b"{nope", b"", b"\xff",
                       b'{"x": "' + b"y" * 600 + b'"}', orjson.dumps(report(source_id="L2"))])
    items = parse_body(body, "application/x-ndjson", 500)
    assert [type(i).__name__ for i in items] == ["dict", "Rejection", "Rejection", "Rejection", "dict"]
    assert [i.reason for i in items if isinstance(i, Rejection)] == [Reason.INVALID_JSON, Reason.INVALID_UTF8,
                                                                    Reason.PAYLOAD_TOO_LARGE]
