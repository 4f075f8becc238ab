"""File replay: mapping files, the real Los Angeles 311 export end to end, pacing, time order."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from feeds.catalog import Catalog
from feeds.ingest import Ingestor, read_dead_letters
from feeds.mappings import Mapping, MappingError
from feeds.model import decode_entry
from feeds.normalise import load_locator
from feeds.replay import _paced, replay_file, timeline
from feeds.settings import CONFIG_DIR
from tests.feeds.factories import report

LA_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "la_myla311_10k_2020-01-01_to_01-03.csv.gz"
LA_MAPPING = Path(CONFIG_DIR) / "mappings" / "la311.json"
CATALOG = Catalog.load(Path(CONFIG_DIR))


def write(path: Path, obj: object) -> Path:
    path.write_bytes(orjson.dumps(obj))
    return path


@pytest.mark.parametrize(("change", "words"), [
    ({"fields": {"channel": "c", "source_id": "s", "reported_at": "t", "colour": "x"}}, "unknown target"),
    ({"fields": {"channel": "c", "source_id": "s"}}, "fields.reported_at is required"),
    ({"fields": {"channel": {"column": "c", "map": "nope"}, "source_id": "s", "reported_at": "t"}}, "value map"),
    ({"fields": {"channel": {"column": "c", "value": "x"}, "source_id": "s", "reported_at": "t"}}, "exactly one"),
    ({"fields": {"channel": {"value": "fax"}, "source_id": "s", "reported_at": "t"}}, "unknown codes ['fax']"),
    ({"fields": {"channel": {"value": "oa"}, "source_id": "s", "reported_at": "t"},
      "updates": [{"kind": "teleported", "at": "x"}]}, "updates[0].kind"),
])
def test_a_broken_mapping_file_says_what_to_change(tmp_path: Path, change: dict, words: str) -> None:
    with pytest.raises(MappingError, match=None) as e:
        Mapping.load(write(tmp_path / "m.json", change), CATALOG)
    assert words in str(e.value)


def test_the_la_mapping_maps_columns_values_times_and_closures() -> None:
    m = Mapping.load(LA_MAPPING, CATALOG)
    items = m.items(next(m.read(LA_FILE, chunk_rows=50)))
    first = items[0]
    assert first["channel"] == "la311" and first["source_id"] == "1-1523590121"
    assert first["category"] == "LA-DUMPING" and first["dept"] == "LA-BOS"
    assert first["reported_at"] == 1_577_865_900_000  # 1/1/20 0:05 in Los Angeles = 08:05 UTC
    assert (first["lon"], first["lat"]) == ("-118.4994716", "34.19402846")
    assert first["attrs"]["requesttype"] == "Illegal Dumping Pickup" and first["attrs"]["status"] == "Closed"
    closes = [i for i in items if i.get("kind") == "closed"]
    assert closes[0]["source_id"] == first["source_id"] and closes[0]["closure_reason"] == "fixed"
    assert closes[0]["at"] == 1_577_983_380_000  # 1/2/20 8:43


def test_updates_never_come_before_their_report_and_time_is_ordered() -> None:
    chunk = [report(source_id="A", reported_at=5000), report(source_id="B", reported_at=1000),
             {"kind": "closed", "channel": "grid_app", "source_id": "A", "at": 4000, "closure_reason": "fixed"},
             {"kind": "closed", "channel": "grid_app", "source_id": "B", "at": 9000, "closure_reason": "fixed"}]
    order = [(it.get("kind", "report"), it["source_id"]) for it in timeline([chunk])]
    assert order == [("report", "B"), ("report", "A"), ("closed", "A"), ("closed", "B")]


def test_pacing_follows_the_speed() -> None:
    events = [{"kind": "x", "at": 1_000_000 + i * 10_000} for i in range(5)]  # 10 s apart
    t0 = time.monotonic()
    batches = list(_paced(events, speed=100.0, stop_event=None, size=500))  # 0.1 s apart
    assert 0.3 <= time.monotonic() - t0 < 1.5
    assert sum(len(b) for b in batches) == 5 and len(batches) >= 4


@pytest.mark.integration
def test_the_real_los_angeles_export_replays_end_to_end(store, client) -> None:
    mapping = Mapping.load(LA_MAPPING, CATALOG)
    locator = load_locator(store.settings, mapping.jurisdiction)  # the 99 Neighborhood Councils
    ing = Ingestor.from_store(store, locator=locator, catalog=mapping.extend_catalog(CATALOG), case_prefix="LA")
    summary = replay_file(ing, LA_FILE, mapping, progress=False)
    print("\n".join(summary.lines()))
    assert summary.rows == 10_000 and summary.status["reports:accepted"] == 10_000
    assert summary.status["updates:accepted"] == 9_969 and summary.rejected == 0
    assert client.xlen(store.keys.log) == 19_969
    entries = [decode_entry(i, f) for i, f in client.xrange(store.keys.log, count=3)]
    assert entries[0].case_id.startswith("LA2001") and entries[0].data["channel"] == "la311"
    assert entries[0].at == entries[0].data["reported_at"]  # the source's clock is re-enacted
    flags: Counter[str] = Counter()
    councils = set()
    for i, f in client.xrange(store.keys.log):
        if decode_entry(i, f).kind == "report":
            d = orjson.loads(f[b"d"])
            flags.update(d["flags"])
            councils.add(d["grid_id"])
    assert flags == {"outside_jurisdiction": 139, "no_location": 11}  # 98.6 % fall inside a council
    assert len(councils - {""}) == 99
    # replaying again changes nothing
    again = replay_file(ing, LA_FILE, mapping, progress=False, max_rows=300)
    assert again.accepted == 0 and again.status["reports:duplicate"] == 300
    assert client.xlen(store.keys.log) == 19_969


@pytest.mark.integration
def test_json_lines_in_the_ingest_schema_with_a_bad_line(tmp_path: Path, ingestor, client, store) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([orjson.dumps(report(source_id="J1")), b"{oops",
                                 orjson.dumps({"kind": "signed", "channel": "grid_app", "source_id": "J1",
                                               "at": 1_795_600_000_000})]))
    summary = replay_file(ingestor, path, None, progress=False)
    assert summary.accepted == 2 and summary.rejected == 1
    [dl] = read_dead_letters(client, store.keys)
    assert dl["reason"] == "invalid_json" and dl["raw"] == b"{oops"


@pytest.mark.integration
def test_a_csv_with_its_own_mapping_and_a_speed(tmp_path: Path, ingestor, client, store) -> None:
    csv = tmp_path / "city.csv"
    csv.write_text("编号,类型,经度,纬度,时间,状态,办结时间\n"
                   "A1,垃圾,121.5545,29.8146,2026-11-25 09:00:00,已办结,2026-11-25 09:00:02\n"
                   "A2,井盖,121.5600,29.8200,2026-11-25 09:00:01,处理中,\n", encoding="utf-8")
    mapping = write(tmp_path / "city.json", {
        "timezone": "Asia/Shanghai", "crs": "GCJ02",
        "fields": {"channel": {"value": "city_ops"}, "source_id": "编号", "reported_at": "时间",
                   "category": {"column": "类型", "map": "cat"}, "lon": "经度", "lat": "纬度",
                   "description": {"template": "{类型}问题"}},
        "values": {"cat": {"垃圾": "SR-GARBAGE", "井盖": "CG-MANHOLE"}},
        "attrs": ["状态"],
        "updates": [{"kind": "closed", "at": "办结时间", "when": {"状态": ["已办结"]},
                     "data": {"closure_reason": "fixed"}}]})
    m = Mapping.load(mapping, CATALOG)
    t0 = time.monotonic()
    summary = replay_file(ingestor, csv, m, speed=2.0, progress=False)
    assert time.monotonic() - t0 >= 0.9  # 2 s of source time at 2×
    assert summary.accepted == 3 and summary.rejected == 0
    entries = [decode_entry(i, f) for i, f in client.xrange(store.keys.log)]
    assert [e.kind for e in entries] == ["report", "report", "closed"]
    assert entries[0].data["grid_id"] and entries[0].data["src_crs"] == "GCJ02"
    assert entries[1].data["category"] == "CG-MANHOLE" and entries[1].data["description"] == "井盖问题"
    assert entries[0].data["attrs"] == {"状态": "已办结"}


def test_json_lines_through_a_mapping_keep_plain_values(tmp_path: Path) -> None:
    rows = [{"id": f"A{i}", "created_date": "2026-11-25 09:00:00", "x": 121.55, "y": 29.82, "n": i} for i in range(3)]
    data = tmp_path / "x.jsonl"
    data.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    m = Mapping.load(write(tmp_path / "m.json", {
        "fields": {"channel": {"value": "oa"}, "source_id": "id", "reported_at": "created_date", "lon": "x",
                   "lat": "y"}, "attrs": ["n", "created_date"]}), CATALOG)
    [item, *_] = m.items(next(m.read(data)))
    assert item == {"channel": "oa", "source_id": "A0", "reported_at": 1_795_568_400_000, "lon": 121.55,
                    "lat": 29.82, "crs": "WGS84", "attrs": {"n": 0, "created_date": "2026-11-25 09:00:00"}}
    orjson.dumps(item)  # storable as is


@pytest.mark.integration
def test_a_broken_line_in_a_mapped_json_lines_file_is_dead_lettered(tmp_path: Path, ingestor, client, store) -> None:
    data = tmp_path / "x.jsonl"
    data.write_bytes(b'{"id": "B1", "t": 1795600000000, "x": 121.55, "y": 29.82}\n{broken\n[1, 2]\n')
    m = Mapping.load(write(tmp_path / "m.json", {
        "fields": {"channel": {"value": "oa"}, "source_id": "id", "reported_at": "t", "lon": "x", "lat": "y"}}),
        CATALOG)
    summary = replay_file(ingestor, data, m, progress=False)
    assert summary.accepted == 1 and summary.rejected == 2
    assert {d["raw"] for d in read_dead_letters(client, store.keys)} == {b"{broken", b"[1, 2]"}


@pytest.mark.integration
def test_a_malformed_csv_line_is_dead_lettered_and_the_rest_replays(tmp_path: Path, ingestor, client, store) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("id,t,x,y\nC1,1795600000000,121.55,29.82\nC2,1795600000001,121.55,29.82,extra,fields\n"
                   "C3,1795600000002,121.56,29.83\n", encoding="utf-8")
    m = Mapping.load(write(tmp_path / "m.json", {
        "fields": {"channel": {"value": "oa"}, "source_id": "id", "reported_at": "t", "lon": "x", "lat": "y"}}),
        CATALOG)
    summary = replay_file(ingestor, csv, m, progress=False)
    assert summary.accepted == 2 and summary.rejected == 1
    [dl] = read_dead_letters(client, store.keys)
    assert dl["reason"] == "invalid_field" and dl["raw"] == b"C2,1795600000001,121.55,29.82,extra,fields"
