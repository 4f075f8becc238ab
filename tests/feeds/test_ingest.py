"""The ingest path against a real server: log entries, idempotency, versions, duplicates, deltas."""

from __future__ import annotations

import logging
import threading

import orjson
import pytest

from feeds.ingest import (
    Ingestor,
    append_updates,
    dead_letter_reasons,
    read_dead_letters,
    stream_stats,
)
from feeds.model import Flag, Update, decode_entry, report_from_entry
from tests.feeds.factories import FAR, INSIDE, NEAR, NOW, report, update

pytestmark = pytest.mark.integration


def ingestor_flags(ingestor, res):
    """The flags the log holds for an accepted report."""
    [(_, fields)] = ingestor.client.xrange(ingestor.keys.log, res.id, res.id)
    return report_from_entry(decode_entry(res.id, fields)).flags


def log_entries(client, keys):
    return [decode_entry(i, f) for i, f in client.xrange(keys.log)]


def test_an_accepted_report_is_one_log_entry_with_its_case_version_and_grid(ingestor, client, store) -> None:
    [res] = ingestor.ingest([report(source_id="A1", lon=121.5545, lat=29.8146, crs="GCJ02")], now=NOW)
    assert res.status == "accepted" and res.case_id.startswith("YZ261125") and len(res.case_id) == 15
    [entry] = log_entries(client, store.keys)
    assert (entry.id, entry.kind, entry.case_id, entry.version, entry.at) == (res.id, "report", res.case_id, 1, NOW)
    rep = report_from_entry(entry)
    assert rep.src_crs == "GCJ02" and (rep.src_lon, rep.src_lat) == (121.5545, 29.8146)
    assert abs(rep.lon - 121.5498) < 0.001 and abs(rep.lat - 29.8171) < 0.001  # GCJ-02 shifted back ~500 m
    assert rep.cell > 0 and rep.grid_id.startswith(rep.community_code) and rep.street_code == "330212002"
    assert rep.reporter.phone == "13812345678"  # kept in the log ...
    assert client.hget(store.keys.versions, res.case_id) == b"1"


def test_personal_data_never_appears_in_clear_in_logs_or_reprs(ingestor, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ingestor.ingest([report(source_id="PII"), report(source_id="PII"), report(channel="nope")], now=NOW)
    r = report()
    from feeds.model import Reporter
    text = repr(Reporter(**r["reporter"])) + caplog.text
    assert "13812345678" not in text and "330212199001011234" not in text and "张三" not in text


def test_the_same_channel_and_source_id_twice_is_one_case(ingestor, client, store) -> None:
    a = ingestor.ingest([report(source_id="S1")], now=NOW)[0]
    b, c = ingestor.ingest([report(source_id="S1", description="again"), report(source_id="S1")], now=NOW)
    assert (b.status, b.case_id, c.status, c.case_id) == ("duplicate", a.case_id, "duplicate", a.case_id)
    other = ingestor.ingest([report(source_id="S1", channel="hotline_12345", lon=FAR[0], lat=FAR[1])], now=NOW)[0]
    assert other.status == "accepted" and other.case_id != a.case_id
    assert client.xlen(store.keys.log) == 2


def test_updates_get_the_next_version_and_stale_ones_change_nothing(ingestor, client, store) -> None:
    case = ingestor.ingest([report(source_id="V1")], now=NOW)[0].case_id
    res = ingestor.ingest([
        update("dispatched", channel="grid_app", source_id="V1"),  # by (channel, source id): v2
        update("signed", case_id=case),  # v3
        update("on_scene", case_id=case, version=5),  # explicit, ahead: v5
        update("contacted", case_id=case, version=4),  # older than 5: stale
        update("feedback", case_id=case, version=5),  # equal: stale
        update("resolved", case_id=case),  # next: v6
    ], now=NOW)
    assert [(r.status, r.version) for r in res] == [("accepted", 2), ("accepted", 3), ("accepted", 5),
                                                  ("stale", 5), ("stale", 5), ("accepted", 6)]
    assert "stale, ignored" in res[3].reason
    kinds = [(e.kind, e.version) for e in log_entries(client, store.keys)]
    assert kinds == [("report", 1), ("dispatched", 2), ("signed", 3), ("on_scene", 5), ("resolved", 6)]
    assert client.hget(store.keys.versions, case) == b"6"
    assert client.xlen(store.keys.dead_letters) == 0  # stale is an answer, not an error


def test_an_update_and_its_report_in_one_batch_and_out_of_order_versions(ingestor) -> None:
    res = ingestor.ingest([update("signed", channel="grid_app", source_id="B1", version=3),
                           report(source_id="B1"),
                           update("dispatched", channel="grid_app", source_id="B1", version=2),
                           update("closed", channel="grid_app", source_id="B1", version=4)], now=NOW)
    assert [r.status for r in res] == ["rejected", "accepted", "accepted", "accepted"]
    assert res[0].reason.startswith("unknown_case") and res[3].version == 4


def test_updates_for_unknown_cases_are_dead_lettered(ingestor, client, store) -> None:
    res = ingestor.ingest([update("signed", case_id="YZ2611259999999"),
                           update("signed", channel="grid_app", source_id="never")], now=NOW)
    assert [r.status for r in res] == ["rejected", "rejected"]
    dl = read_dead_letters(client, store.keys, newest_first=False)
    assert [d["reason"] for d in dl] == ["unknown_case", "unknown_case"]
    assert orjson.loads(dl[0]["raw"])["case_id"] == "YZ2611259999999"


def test_a_resent_update_with_its_update_id_is_a_duplicate(ingestor, client, store) -> None:
    case = ingestor.ingest([report(source_id="U1")], now=NOW)[0].case_id
    first = ingestor.ingest([update("signed", case_id=case, update_id="sig-1")], now=NOW)[0]
    again = ingestor.ingest([update("signed", case_id=case, update_id="sig-1")], now=NOW)[0]
    assert (first.status, again.status, again.case_id) == ("accepted", "duplicate", case)
    assert client.xlen(store.keys.log) == 2


def test_the_full_bad_input_list_is_dead_lettered_and_the_good_items_still_go_in(ingestor, client, store) -> None:
    items = [
        report(source_id="OK1"),
        {"channel": "grid_app"},  # missing fields
        report(lon=181.5, lat=95.0),  # out of range
        report(source_id="SW", lon=INSIDE[1], lat=INSIDE[0]),  # swapped: kept
        report(source_id="OUT", lon=116.40, lat=39.90),  # Beijing: outside, kept
        report(source_id="CAT", category="UFO"),  # unknown category: kept
        report(description="bad\x00text"),  # NUL
        report(source_id="BIG", description="长" * 19_000, attrs={"photo": "x" * 20_000}),  # oversized (> 64 KiB stored)
        report(source_id="HTML", description="<script>alert(1)</script>"),  # kept as text
        report(source_id="SKEW", reported_at=NOW + 86_400_000),  # skewed clock: kept
        report(source_id="SUR", description="\ud800"),  # unencodable text
        42,
    ]
    res = ingestor.ingest(items, now=NOW)
    status = {i: r.status for i, r in enumerate(res)}
    assert [i for i, s in status.items() if s == "accepted"] == [0, 3, 4, 5, 8, 9]
    flags = {e.data["source_id"]: e.data["flags"] for e in log_entries(client, store.keys)}
    assert flags == {"OK1": [], "SW": [Flag.SWAPPED_LATLON], "OUT": [Flag.OUTSIDE_JURISDICTION],
                     "CAT": [Flag.UNKNOWN_CATEGORY], "HTML": [Flag.MARKUP_IN_TEXT], "SKEW": [Flag.CLOCK_SKEW]}
    reasons = [d["reason"] for d in read_dead_letters(client, store.keys, newest_first=False)]
    assert sorted(reasons) == sorted(["missing_field", "coordinates_out_of_range", "nul_character",
                                      "payload_too_large", "invalid_utf8", "not_an_object"])
    assert dead_letter_reasons(client, store.keys)["missing_field"] == 1
    by_reason = {d["reason"]: d for d in read_dead_letters(client, store.keys)}
    assert by_reason["not_an_object"]["raw"] == b"42" and by_reason["not_an_object"]["index"] == 11
    assert b"\\ud800" in by_reason["invalid_utf8"]["raw"]  # raw kept, escaped
    assert by_reason["payload_too_large"]["size"] > 64 * 1024


def test_skewed_reports_keep_the_source_time_but_the_log_time_is_ours(ingestor, client, store) -> None:
    ingestor.ingest([report(source_id="SK", reported_at=NOW + 7 * 86_400_000)], now=NOW)
    [e] = log_entries(client, store.keys)
    assert e.at == NOW and e.data["reported_at"] == NOW + 7 * 86_400_000 and e.data["received_at"] == NOW


# --- cross-channel duplicates ------------------------------------------------------------------
def test_the_same_problem_through_another_channel_nearby_is_linked(ingestor, client, store) -> None:
    a = ingestor.ingest([report(source_id="D1", channel="grid_app")], now=NOW)[0]
    b = ingestor.ingest([report(source_id="D2", channel="hotline_12345", lon=NEAR[0], lat=NEAR[1])],
                        now=NOW + 600_000)[0]
    assert b.status == "accepted" and b.case_id != a.case_id and b.duplicate_of == a.case_id
    e = log_entries(client, store.keys)[1]
    assert e.data["duplicate_of"] == a.case_id and Flag.DUPLICATE_CANDIDATE in e.data["flags"]
    # a third channel links to the first case, not to the linked one
    c = ingestor.ingest([report(source_id="D3", channel="citizen_app", lon=NEAR[0], lat=NEAR[1])],
                        now=NOW + 900_000)[0]
    assert c.duplicate_of == a.case_id


@pytest.mark.parametrize(("change", "linked"), [
    ({}, True),
    ({"channel": "grid_app"}, False),  # same channel: two grid workers' own reports stay separate
    ({"category": "CG-VENDOR"}, False),
    ({"lon": FAR[0], "lat": FAR[1]}, False),
    ({"at": NOW + 4 * 3600_000}, False),  # beyond the 3 h window
    ({"at": NOW - 3600_000}, False),  # earlier than the first report
])
def test_duplicate_linking_needs_same_category_other_channel_close_in_space_and_time(
        ingestor, change, linked) -> None:
    ingestor.ingest([report(source_id="E1", channel="grid_app")], now=NOW)
    at = change.pop("at", NOW + 60_000)
    item = report(source_id="E2", channel="hotline_12345", lon=NEAR[0], lat=NEAR[1])
    item.update(change)
    res = ingestor.ingest([item], now=at)[0]
    assert bool(res.duplicate_of) is linked



@pytest.mark.parametrize("size", [1, 40], ids=["live-batch", "bulk-batch"])
def test_earlier_batches_are_link_targets_whether_a_batch_reads_one_category_or_all(ingestor, size) -> None:
    """A small batch reads only its categories' records from the bucket strings, a bulk batch
    parses them all: both find the earlier report among other categories' records."""
    others = [report(source_id=f"O{k}", category=c, channel=ch, lon=INSIDE[0] + d, lat=INSIDE[1])
              for k, (c, ch, d) in enumerate([("CG-VENDOR", "grid_app", 0.0), ("SR-GARBAGE", "citizen_app", 0.05),
                                              ("CG-MANHOLE", "minhu", 0.0)])]
    first = ingestor.ingest([*others, report(source_id="Q1", channel="grid_app")], now=NOW)[-1]
    filler = [report(source_id=f"Q-far-{k}", category="CG-VENDOR", channel="hotline_12345", lon=FAR[0], lat=FAR[1])
              for k in range(size - 1)]
    res = ingestor.ingest([*filler, report(source_id="Q2", channel="hotline_12345", lon=NEAR[0], lat=NEAR[1])],
                          now=NOW + 600_000)
    assert res[-1].duplicate_of == first.case_id


@pytest.mark.parametrize("size", [1, 40], ids=["live-batch", "bulk-batch"])
def test_categories_with_separators_neither_break_nor_confuse_linking(ingestor, size) -> None:
    """Unknown categories are free text (no '|'): one holding ';' is kept and not linked, and
    it does not make another category's report a target."""
    filler = [report(source_id=f"W-far-{k}-{size}", category="CG-VENDOR", lon=FAR[0], lat=FAR[1])
              for k in range(size - 1)]
    a = ingestor.ingest([*filler, report(source_id=f"W1-{size}", category="坏;SR-GARBAGE")], now=NOW)[-1]
    b = ingestor.ingest([*filler, report(source_id=f"W2-{size}", channel="minhu", category="坏;SR-GARBAGE",
                                         lon=NEAR[0], lat=NEAR[1]),
                         report(source_id=f"W3-{size}", channel="minhu", lon=NEAR[0], lat=NEAR[1])],
                        now=NOW + 60_000)[-2:]  # (the filler again: answered duplicate, keeps the batch's size)
    assert a.status == "accepted" and Flag.UNKNOWN_CATEGORY in ingestor_flags(ingestor, a)
    assert [r.status for r in b] == ["accepted", "accepted"] and b[0].duplicate_of == "" and b[1].duplicate_of == ""

def test_duplicates_within_one_batch_are_linked_too(ingestor) -> None:
    res = ingestor.ingest([report(source_id="F1", channel="grid_app"),
                           report(source_id="F2", channel="minhu", lon=NEAR[0], lat=NEAR[1])], now=NOW)
    assert res[1].duplicate_of == res[0].case_id


def test_a_closed_case_is_no_longer_a_duplicate_target(ingestor, store, client) -> None:
    a = ingestor.ingest([report(source_id="G1")], now=NOW)[0]
    append_updates(client, store.keys, [Update(a.case_id, 0, "closed", NOW + 1000, data={"closure_reason": "fixed"})])
    b = ingestor.ingest([report(source_id="G2", channel="hotline_12345")], now=NOW + 2000)[0]
    assert b.duplicate_of == ""
    ingestor.ingest([update("reopened", case_id=a.case_id)], now=NOW + 3000)
    c = ingestor.ingest([report(source_id="G3", channel="citizen_app", category="SR-GARBAGE")], now=NOW + 4000)[0]
    assert c.duplicate_of in (a.case_id, b.case_id) and c.duplicate_of


def test_linking_can_be_switched_off(store, locator) -> None:
    ing = Ingestor(store.settings.with_(dedup_window_s=0), store.client, keys=store.keys, locator=locator)
    ing.ingest([report(source_id="H1")], now=NOW)
    assert ing.ingest([report(source_id="H2", channel="minhu")], now=NOW)[0].duplicate_of == ""


def test_old_duplicate_buckets_are_dropped(ingestor, client, store) -> None:
    for day in range(5):
        ingestor.ingest([report(source_id=f"K{day}", lon=FAR[0] - day * 0.01)], now=NOW + day * 86_400_000)
    assert client.zcard(store.keys.recent_buckets) == 1



def test_every_answer_names_the_case_and_entry_the_log_holds(ingestor, client, store) -> None:
    """New reports are answered with their log id alone and the client numbers their cases from
    the sequence: mixed with repeats (before and within the batch), linked reports, reports
    without a point, updates and refusals, every answer must match the log."""
    first = ingestor.ingest([report(source_id="M0")], now=NOW)[0]
    batch = [report(source_id="M1"),
             report(source_id="M0"),  # known before the batch
             report(source_id="M2", channel="hotline_12345", lon=NEAR[0], lat=NEAR[1]),  # linked to M1
             report(source_id="M3", lon=None, lat=None),  # no point, address only
             update("signed", channel="grid_app", source_id="M1"),
             report(source_id="M3", lon=None, lat=None),  # repeated within the batch
             update("signed", case_id="YZ2611259999999"),  # no such case
             report(source_id="M4", lon=FAR[0], lat=FAR[1], category="CG-MANHOLE"),
             report(source_id="M5", channel="nope")]  # refused before the script
    res = ingestor.ingest(batch, now=NOW + 1000)
    assert [r.status for r in res] == ["accepted", "duplicate", "accepted", "accepted", "accepted",
                                      "duplicate", "rejected", "accepted", "rejected"]
    assert res[1].case_id == first.case_id and res[5].case_id == res[3].case_id
    assert res[2].duplicate_of == res[0].case_id and res[4].case_id == res[0].case_id and res[4].version == 2
    by_id = {e.id: e for e in log_entries(client, store.keys)}
    for r in (res[0], res[2], res[3], res[4], res[7]):
        assert (by_id[r.id].case_id, by_id[r.id].version) == (r.case_id, r.version)
    seqs = [int(r.case_id[-7:]) for r in (first, res[0], res[2], res[3], res[7])]
    assert seqs == list(range(seqs[0], seqs[0] + 5))  # one number each, in order, none skipped
    assert client.hget(store.keys.idempotency, "grid_app|M4") == res[7].case_id.encode()


def test_duplicate_buckets_of_the_old_geo_set_form_are_skipped_and_dropped(ingestor, client, store) -> None:
    """Before 2026-12-04 a bucket was a geo set named {ns}:recent:<bucket>: after an upgrade its
    members are not link targets, nothing fails on it, and it goes with its bucket."""
    bk = NOW // ingestor.bucket_ms
    old = f"{store.keys.recent}:{bk}"
    client.geoadd(old, (INSIDE[0], INSIDE[1], f"SR-GARBAGE|citizen_app|{NOW - 1000}|YZ2611250000099|"
                                           f"{INSIDE[0]}|{INSIDE[1]}"))
    client.zadd(store.keys.recent_buckets, {str(bk): bk * ingestor.bucket_ms})
    res = ingestor.ingest([report(source_id="U1")], now=NOW)[0]
    assert res.status == "accepted" and res.duplicate_of == ""
    ingestor.ingest([report(source_id="U2", lon=FAR[0], lat=FAR[1])], now=NOW + 2 * 86_400_000)
    assert not client.exists(old) and not client.exists(store.keys.recent_bucket(bk))

# --- deltas ----------------------------------------------------------------------------------
def test_each_accepted_report_publishes_a_small_pii_free_delta(ingestor, store) -> None:
    sub = store.new_client().pubsub()
    sub.subscribe(store.keys.deltas)
    assert sub.get_message(timeout=1)["type"] == "subscribe"
    res = ingestor.ingest([report(source_id="P1", description="住户13812345678反映：" + "很长的描述" * 20)], now=NOW)[0]
    msg = orjson.loads(sub.get_message(timeout=2)["data"])
    assert msg["type"] == "report" and msg["case"] == res.case_id and msg["id"] == res.id and msg["seq"] >= 1
    assert {"category", "channel", "level", "lon", "lat", "cell", "grid", "street", "at", "desc", "dup", "v"} <= set(msg)
    assert msg["grid"] and msg["street"] == "330212002" and len(msg["cell"]) == 15 and msg["at"] == NOW
    assert len(msg["desc"]) <= 60 and "13812345678" not in msg["desc"] and "138****5678" in msg["desc"]
    ingestor.ingest([report(source_id="P2"), report(source_id="P3")], now=NOW, deltas="batch")
    msg = orjson.loads(sub.get_message(timeout=2)["data"])
    assert msg["type"] == "reports" and msg["count"] == 2
    sub.close()


# --- trusted command path and pipelined stream --------------------------------------------------
def test_append_updates_allocates_versions_atomically_across_threads(ingestor, client, store) -> None:
    case = ingestor.ingest([report(source_id="T1")], now=NOW)[0].case_id

    def worker(n: int) -> None:
        c = store.new_client()
        for i in range(20):
            append_updates(c, store.keys, [Update(case, 0, "alert.note", NOW + i, actor=f"w{n}")],
                           audit=[{"actor": f"w{n}", "role": "duty", "reason": "note"}])
        c.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [e.version for e in log_entries(client, store.keys)]
    assert versions == list(range(1, 82))
    audit = client.xrange(store.keys.audit)
    assert len(audit) == 80 and {a[1][b"k"] for a in audit} == {b"alert.note"}
    assert orjson.loads(audit[0][1][b"d"])["role"] == "duty"


def test_append_updates_answers_stale_and_unknown(ingestor, client, store) -> None:
    case = ingestor.ingest([report(source_id="T2")], now=NOW)[0].case_id
    res = append_updates(client, store.keys, [Update(case, 1, "signed", NOW), Update("nope", 0, "signed", NOW),
                                              Update(case, 0, "signed", NOW)])
    assert [r.status for r in res] == ["stale", "rejected", "accepted"]


def test_the_pipelined_stream_gives_the_same_answers_in_order(ingestor, client, store) -> None:
    batches = [[report(source_id=f"Q{b}-{i}", lon=FAR[0] + i * 1e-4) for i in range(30)] + [{"bad": 1}]
               for b in range(5)]
    batches[2].append(report(source_id="Q0-0"))  # a duplicate of batch 0
    out = list(ingestor.ingest_stream(batches, now=NOW, deltas="none"))
    assert [len(r) for r in out] == [31, 31, 32, 31, 31]
    assert out[2][-1].status == "duplicate" and out[2][-1].case_id == out[0][0].case_id
    assert sum(r.status == "accepted" for b in out for r in b) == 150
    stats = stream_stats(client, store.keys)
    assert stats["log_entries"] == 150 and stats["dead_letters"] == 5 and stats["cases"] == 150
    ids = [e.id for e in log_entries(client, store.keys)]
    assert ids == [r.id for b in out for r in b if r.status == "accepted"]


def test_a_large_list_goes_in_several_round_trips_in_order(store, locator, client) -> None:
    ing = Ingestor.from_store(store, locator=locator, batch_size=10)
    items = [report(source_id=f"L{i}", lon=FAR[0] + i * 1e-4) if i % 7 else {"bad": i} for i in range(25)]
    res = ing.ingest(items, now=NOW)
    assert [r.status for r in res] == ["rejected" if i % 7 == 0 else "accepted" for i in range(25)]
    assert [e.data["source_id"] for e in log_entries(client, store.keys)] == [
        f"L{i}" for i in range(25) if i % 7]
