"""HTTP ingest: per-item answers, JSON lines, 413, health; through Flask's test client."""

from __future__ import annotations

import orjson
import pytest

from feeds.http_api import make_app
from feeds.ingest import read_dead_letters
from tests.feeds.factories import report

pytestmark = pytest.mark.integration


@pytest.fixture
def http(ingestor):
    return make_app(ingestor).test_client()


def test_one_event_gets_accepted_with_its_case_id(http) -> None:
    r = http.post("/api/events", json=report(source_id="H1"))
    assert r.status_code == 200
    [res] = r.get_json()["results"]
    assert res["status"] == "accepted" and res["case_id"].startswith("YZ") and "-" in res["id"]


def test_a_batch_answers_per_item_in_order(http) -> None:
    body = [report(source_id="H2"), {"channel": "grid_app"}, report(source_id="H2"),
            report(source_id="H3", lon=500, lat=500)]
    results = http.post("/api/events", json=body).get_json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "duplicate", "rejected"]
    assert results[1]["reason"].startswith("missing_field: ")
    assert results[2]["case_id"] == results[0]["case_id"]
    assert results[3]["reason"].startswith("coordinates_out_of_range")


def test_json_lines_with_a_broken_line(http, client, store) -> None:
    body = orjson.dumps(report(source_id="N1")) + b"\n{broken\n" + orjson.dumps(report(source_id="N2")) + b"\n"
    r = http.post("/api/events", data=body, content_type="application/x-ndjson")
    assert [x["status"] for x in r.get_json()["results"]] == ["accepted", "rejected", "accepted"]
    [dl] = read_dead_letters(client, store.keys)
    assert dl["reason"] == "invalid_json" and dl["raw"] == b"{broken" and dl["source"] == "http"


def test_invalid_utf8_body_is_one_rejection_and_a_dead_letter(http, client, store) -> None:
    r = http.post("/api/events", data=b'{"description": "\xc3\x28"}', content_type="application/json")
    assert r.status_code == 200
    assert r.get_json()["results"][0]["reason"].startswith("invalid_utf8")
    assert read_dead_letters(client, store.keys)[0]["raw"] == b'{"description": "\xc3\x28"}'


def test_markup_is_answered_and_stored_as_plain_text(http, client, store) -> None:
    text = "<script>document.cookie</script>"
    http.post("/api/events", json=report(source_id="X1", description=text))
    entry = client.xrange(store.keys.log)[-1][1]
    assert orjson.loads(entry[b"d"])["description"] == text


def test_a_body_over_the_limit_is_413_and_dead_lettered(store, locator, client) -> None:
    from feeds.ingest import Ingestor

    ing = Ingestor(store.settings.with_(max_batch_bytes=2000), client, keys=store.keys, locator=locator)
    http = make_app(ing).test_client()
    body = orjson.dumps([report(source_id=f"B{i}") for i in range(20)])
    r = http.post("/api/events", data=body, content_type="application/json")
    assert r.status_code == 413 and "body_too_large" in r.get_json()["error"]
    [dl] = read_dead_letters(client, store.keys)
    assert dl["reason"] == "body_too_large" and dl["raw"] == body and client.xlen(store.keys.log) == 0


def test_health_reports_the_log(http) -> None:
    http.post("/api/events", json=[report(source_id="Z1"), 3])
    h = http.get("/api/health").get_json()
    assert h["status"] == "ok" and h["log_entries"] == 1 and h["dead_letters"] == 1


def test_an_unreachable_log_is_503_and_accepts_nothing(store, locator) -> None:
    from feeds.ingest import Ingestor
    from feeds.store import connect

    dead = connect("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    http = make_app(Ingestor(store.settings, dead, keys=store.keys, locator=locator)).test_client()
    r = http.post("/api/events", json=report())
    assert r.status_code == 503 and "nothing was accepted" in r.get_json()["error"]
    assert http.get("/api/health").status_code == 503
