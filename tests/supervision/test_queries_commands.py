"""Queries the screens call and the command path, on a real Valkey."""

from __future__ import annotations

import orjson
import pytest

from feeds.clock import ManualClock
from feeds.model import decode_entry
from feeds.supervision import commands as cmd
from feeds.supervision import queries as q
from feeds.supervision.kpi import RatingRule
from feeds.supervision.synthetic import append_log
from feeds.supervision.worker import Worker
from tests.supervision.factories import STREET, catalog, ms

pytestmark = pytest.mark.integration
T0 = ms(2026, 11, 25, 10, 0)
MIN = 60_000


def entry(kind: str, case: str, v: int, t: int, **d):
    from feeds.supervision.synthetic import Entry
    from tests.supervision.factories import report

    if kind == "report":
        r = report(case, t, **d)
        return Entry("report", case, 1, t, r.data)
    return Entry(kind, case, v, t, {"actor": "u1", "role": "dept", **d})


@pytest.fixture
def hall(store):
    """A small district at 10:11 on 25 Nov 2026: a late 110 hand-over, an ordinary case, a closed one."""
    client, keys = store.client, store.keys
    entries = [
        entry("report", "A", 1, T0, channel="police_110", description="醉酒滋事 报警人电话13812345678"),
        entry("report", "B", 1, T0 + 1000, category="SR-GARBAGE", grid="G2"),
        entry("report", "C", 1, T0 + 2000, category="SR-GARBAGE", street="330212002", grid="G3"),
        entry("dispatched", "B", 2, T0 + 5 * MIN, dept="ZFJ"),
        entry("closed", "C", 2, T0 + 6 * MIN, closure_reason="fixed"),
    ]
    append_log(client, keys, entries)
    clock = ManualClock(T0 + 11 * MIN)
    w = Worker(store, clock=clock, consumer="q", catalog=catalog())
    w.drain()
    return client, keys, clock, w


def test_case_by_id_has_timeline_and_stage_clocks(hall) -> None:
    client, keys, clock, _ = hall
    c = q.get_case(client, keys, "A", now=clock.t, masked=True)
    assert c["status"] == "reported" and c["sla"] == "overdue"
    assert "13812345678" not in c["text"] and "138****5678" in c["text"]
    assert [t["kind"] for t in c["timeline"]] == ["report"]
    states = {x["stage"]: x["state"] for x in c["clocks"]}
    assert states == {"sign": "overdue", "contact": "overdue", "on_scene": "overdue", "feedback": "running",
                      "close": "running"}
    assert q.get_case(client, keys, "nope", now=clock.t) is None


def test_alert_queue_is_ordered_by_urgency_and_carries_the_case(hall) -> None:
    client, keys, clock, _ = hall
    queue = q.alert_queue(client, keys, now=clock.t)
    assert [a["id"] for a in queue] == ["A:sign:overdue", "A:contact:overdue", "A:on_scene:overdue"]
    a = queue[0]
    assert (a["state"], a["level"], a["kind"], a["due"]) == ("raised", 0, "overdue", T0 + MIN)
    assert a["case_summary"]["street"] == STREET and "138****5678" in a["case_summary"]["text"]


def test_backlogs_per_department_and_street(hall) -> None:
    client, keys, clock, _ = hall
    by_street = {r["code"]: r for r in q.backlog(client, keys, "street", now=clock.t)}
    assert by_street[STREET]["open"] == 2 and by_street[STREET]["overdue"] == 1
    assert by_street["330212002"]["open"] == 0
    zfj = q.backlog_of(client, keys, "dept", "ZFJ", now=clock.t)
    assert zfj["open"] == 2 and zfj["oldest_case"] == "A" and zfj["oldest_age_s"] == 11 * 60
    grid = q.open_cases(client, keys, "grid", "G2", now=clock.t)
    assert [c["id"] for c in grid] == ["B"] and grid[0]["sla"] == "on_track"


def test_commands_go_through_the_log_with_an_audit_line(hall) -> None:
    client, keys, clock, w = hall
    entry_id = cmd.ack_alert(client, keys, "A:sign:overdue", actor="值班员张", role="duty", reason="已联系",
                             now=clock.t)
    assert decode_entry(*client.xrange(keys.log, min=entry_id, max=entry_id)[0]).kind == "alert.ack"
    audit = client.xrange(keys.audit)[-1][1]
    assert audit[b"k"] == b"alert.ack" and orjson.loads(audit[b"d"])["actor"] == "值班员张"
    cmd.escalate_alert(client, keys, "A:contact:overdue", actor="leader1", role="leader", reason="督办",
                       now=clock.t + 1)
    cmd.urge_alert(client, keys, "A:on_scene:overdue", actor="d", role="duty", dept="GAFJ", now=clock.t + 2)
    w.drain()
    a = q.get_alert(client, keys, "A:sign:overdue")
    assert (a["state"], a["acked_by"]) == ("acknowledged", "值班员张")
    assert q.get_alert(client, keys, "A:contact:overdue")["level"] == 1
    assert q.get_alert(client, keys, "A:on_scene:overdue")["actions"][-1]["dept"] == "GAFJ"
    with pytest.raises(PermissionError):
        cmd.ack_alert(client, keys, "A:sign:overdue", actor="wall", role="wall")
    with pytest.raises(cmd.CommandRefused, match="no alert"):
        cmd.ack_alert(client, keys, "A:nothing:overdue", actor="d", role="duty")
    cmd.resolve_alert(client, keys, "A:sign:overdue", actor="d", role="duty", reason="已处置", now=clock.t + 3)
    w.drain()
    assert [h["id"] for h in q.alert_history(client, keys)][:1] == ["A:sign:overdue"]
    with pytest.raises(cmd.CommandRefused, match="already resolved"):
        cmd.ack_alert(client, keys, "A:sign:overdue", actor="d", role="duty")


def test_case_actions_are_checked_then_applied(hall) -> None:
    client, keys, clock, w = hall
    with pytest.raises(cmd.CommandRefused, match="not allowed"):
        cmd.case_action(client, keys, "A", "evaluated", actor="d", role="duty", data={"satisfaction": "satisfied"})
    cmd.case_action(client, keys, "A", "closed", actor="d", role="duty", reason="现场处置完毕",
                    data={"closure_reason": "fixed"}, now=clock.t)
    w.drain()
    c = q.get_case(client, keys, "A", now=clock.t)
    assert c["status"] == "closed" and c["timeline"][-1]["actor"] == "d"
    assert q.alert_queue(client, keys, now=clock.t) == []


def test_kpis_trends_ticker_and_frequent_counts(hall) -> None:
    client, keys, clock, _ = hall
    k = q.kpis(client, keys, T0 - 1, T0 + 86_400_000, now=clock.t, with_cases=True)
    assert (k["received"], k["closed"], k["open"], k["open_overdue"]) == (3, 1, 2, 1)
    assert k["cases"]["closed"] == ["C"] and k["on_time_rate"] == 0.5
    assert q.kpis(client, keys, T0 - 1, T0 + 86_400_000, "street:330212002", now=clock.t)["received"] == 1
    assert q.kpis(client, keys, T0 - 1, T0 + 86_400_000, "dept:ZFJ", now=clock.t)["received"] == 3
    with pytest.raises(ValueError, match="scope"):
        q.kpis(client, keys, 0, 1, "planet:earth", now=clock.t)
    daily = q.trend_daily(client, keys, 7, now=clock.t)
    assert len(daily) == 7 and daily[-1] == {"date": "2026-11-25", "received": 3, "closed": 1}
    hourly = q.trend_hourly(client, keys, now=clock.t)
    assert len(hourly) == 24 and hourly[-1]["received"] == 3
    ticker = q.reports_between(client, keys, T0, T0 + 1500)
    assert [r["id"] for r in ticker] == ["A", "B"] and "138****5678" in ticker[0]["text"]
    assert q.frequent_counts(client, keys, T0, T0 + 1) == [
        {"grid": "G001", "category": "SR-GARBAGE", "count": 1}, {"grid": "G2", "category": "SR-GARBAGE", "count": 1},
        {"grid": "G3", "category": "SR-GARBAGE", "count": 1}]
    assert q.worker_status(client, keys)["pending"] == 0


def test_star_ratings_need_volume_and_lose_stars_on_a_veto(hall) -> None:
    client, keys, clock, w = hall
    rule = RatingRule.from_json({"min_cases": 2, "veto_stars": 1, "bands": [{"min_score": 0, "stars": 3}],
                                 "metrics": [{"kpi": "closure_rate", "weight": 1, "floor": 0, "target": 1}]})
    rated = {r["street"]: r for r in q.star_ratings(client, keys, T0 - 1, T0 + 86_400_000, now=clock.t, rule=rule)}
    assert rated[STREET]["stars"] == 3 and rated["330212002"]["stars"] is None  # one case: no rating
    cmd.veto_room(client, keys, STREET, actor="leader1", role="leader", reason="迟报瞒报", now=clock.t)
    with pytest.raises(PermissionError):
        cmd.veto_room(client, keys, STREET, actor="d", role="duty", reason="x")
    w.drain()
    rated = {r["street"]: r for r in q.star_ratings(client, keys, T0 - 1, T0 + 86_400_000, now=clock.t, rule=rule)}
    assert (rated[STREET]["stars"], rated[STREET]["vetoes"]) == (2, 1)
