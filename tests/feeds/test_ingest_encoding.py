"""A report's record as the log script receives it (feeds/ingest.lua): byte for byte what the
script parses, whatever shortcuts the encoder takes (pure: no server)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from feeds.ingest import _GEO_MAX_LAT, _LINK_TAIL, DESC_CHARS, Ingestor, _record
from feeds.model import Flag
from feeds.privacy import mask_text
from feeds.settings import Settings
from feeds.validate import ReportIn


def _reference(ing: Ingestor, r: ReportIn, item_delta: bool) -> tuple:
    """The record spelled out field by field: the payload, then its flags and the link tail."""
    body = orjson.dumps({
        "channel": r.channel, "source_id": r.source_id, "category": r.category, "level": r.level,
        "lon": r.lon, "lat": r.lat, "src_crs": r.src_crs, "src_lon": r.src_lon, "src_lat": r.src_lat,
        "address": r.address, "description": r.description, "reporter": r.reporter,
        "reported_at": r.reported_at, "received_at": r.received_at, "cell": r.cell,
        "grid_id": r.grid_id, "community_code": r.community_code, "street_code": r.street_code,
        "dept": r.dept, "attrs": r.attrs})
    flags = b",".join([b'"' + str(f).encode() + b'"' for f in r.flags])
    body = body[:-1] + b',"flags":[' + flags + _LINK_TAIL
    tail = b""
    if item_delta:
        tail = orjson.dumps({
            "category": r.category, "channel": r.channel, "level": r.level, "lon": r.lon, "lat": r.lat,
            "cell": format(r.cell, "x") if r.cell else "", "grid": r.grid_id, "street": r.street_code,
            "at": r.received_at, "desc": mask_text(r.description[:DESC_CHARS * 2])[:DESC_CHARS]})[1:]
    located = ing.dedup_radius > 0 and r.lon is not None and abs(r.lat) <= _GEO_MAX_LAT and ";" not in r.category
    at, cat, chan = str(r.received_at).encode(), r.category.encode(), r.channel.encode()
    rec_head = b";" + b"|".join((cat, chan, at, b"")) if located else b""
    rec_tail = b"|%d|%d" % (round(r.lon * 1e7), round(r.lat * 1e7)) if located else b""
    header = b"\x1f".join((ing._case_prefix(r.received_at).encode(), cat, chan, at, rec_head, rec_tail, tail))
    nums = (r.received_at, r.lon, r.lat) if located else (r.received_at, 0.0, 0.0)
    return r.index, _record(f"{r.channel}|{r.source_id}".encode(), header, body), ing._case_prefix(r.received_at), nums


def _report(**kw) -> ReportIn:
    base = dict(index=0, channel="hotline_12345", source_id="H-1", category="CG-MANHOLE", level=2,
                src_lon=121.55, src_lat=29.81, src_crs="GCJ02", address="天童南路", description="井盖缺失<script>",
                reporter={"name": "张三", "phone": "13812345678"}, reported_at=1764034200000,
                received_at=1764034260000, flags=[], lon=121.5453, lat=29.8127, cell=622819745267351551,
                grid_id="G1", community_code="330212002001", street_code="330212002", attrs={"k": "v"})
    base.update(kw)
    return ReportIn(**base)


@pytest.mark.parametrize("report", [
    _report(),
    _report(flags=[Flag.MARKUP_IN_TEXT]),
    _report(flags=[Flag.UNKNOWN_CATEGORY, Flag.CLOCK_SKEW, Flag.OUTSIDE_JURISDICTION]),
    _report(lon=None, lat=None, cell=0, grid_id="", flags=[Flag.NO_LOCATION]),
    _report(lat=89.0),  # beyond GEOADD's latitude: no point in the header
    _report(description="", address="", reporter={}, attrs={}),
    _report(category="井盖;破损", flags=[Flag.UNKNOWN_CATEGORY]),  # ';' starts a candidate record
], ids=["plain", "one-flag", "three-flags", "no-location", "polar", "empty-texts", "semicolon-category"])
@pytest.mark.parametrize("item_delta", [False, True])
@pytest.mark.parametrize("dedup", [True, False])
def test_the_record_is_what_the_log_script_parses(tmp_path: Path, report: ReportIn, item_delta: bool,
                                                  dedup: bool) -> None:
    settings = Settings(redis_url=None, data_dir=tmp_path, demo=False, dedup_window_s=10800 if dedup else 0)
    ing = Ingestor(settings, None)
    got = ing._encode_report(report, item_delta)
    assert got == _reference(ing, report, item_delta)
    body = got[1].rsplit(b"\r\n", 2)[-2]
    assert body.endswith(_LINK_TAIL) and orjson.loads(body)["duplicate_of"] == ""


def test_mask_strings_masks_every_string_and_leaves_numbers_and_keys() -> None:
    from feeds.privacy import mask_strings

    value = {"text": "电话13812345678", "13812345678": 13812345678, "list": ["身份证330212199001011234", 1.5, None]}
    out = mask_strings(value)
    assert out == {"text": "电话138****5678", "13812345678": 13812345678, "list": ["身份证3302**********1234", 1.5, None]}
    assert value["text"] == "电话13812345678"  # a new value; the argument is not changed
