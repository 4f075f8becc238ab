"""The relay against a real Valkey: ingest → worker → deltas → ops the screens apply."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from dashboard.context import build_context
from dashboard.push import LiveViews, Relay
from feeds.ingest import Ingestor
from feeds.supervision.worker import Worker

pytestmark = pytest.mark.integration


class Captured:
    """A stand-in for the write-only SocketIO emitter: keeps what would have been emitted."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str]] = []

    def emit(self, event: str, data: dict, to: str | None = None, namespace: str = "/") -> None:
        self.sent.append((event, data, to or ""))


def _drain(pubsub: Any) -> list[dict]:
    out = []
    while (m := pubsub.get_message(timeout=0.2)) is not None:
        out.append(orjson.loads(m["data"]))
    return out


@pytest.fixture
def setup(store: Any, client: Any) -> Any:
    ctx = build_context(store.settings, store)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(store.keys.deltas)
    pubsub.get_message(timeout=0.2)
    yield ctx, pubsub, Ingestor.from_store(store), Worker(store)
    pubsub.close()


def _report(ctx: Any, tag: str, channel: str = "hotline_12345") -> dict:
    grid = next(iter(ctx.geo.places["grid"].values()))
    return {"channel": channel, "source_id": f"relay-{tag}-{time.time_ns()}", "reported_at": int(time.time() * 1000),
            "category": "SR-GARBAGE", "lon": grid.lon, "lat": grid.lat, "address": "测试路",
            "description": "楼道垃圾堆积，联系电话13812345678", "reporter": {"name": "王小明", "phone": "13812345678"}}


def test_a_report_reaches_the_wall_ticker_at_once_masked_and_the_kpis_follow(setup: Any) -> None:
    ctx, pubsub, ingestor, worker = setup
    case = ingestor.ingest([_report(ctx, "t")], source="test")[0].case_id
    worker.drain()
    deltas = _drain(pubsub)
    assert {d["type"] for d in deltas} >= {"report", "case"}
    views = LiveViews(ctx.reader, ctx.names, ctx.geo)
    instant, follow = views.ops_for(deltas)
    rows = [op for op in instant["wall"] if op["t"] == "list" and op["id"] == "wall-ticker"]
    assert [op["key"] for op in rows] == [case]
    text = orjson.dumps(rows[0]["item"]).decode()
    assert "138****5678" in text and "13812345678" not in text and "王小明" not in text
    # its marker goes out at once with the row (painted over the map, no map redraw)
    (pts,) = [op["pts"] for op in instant["wall"] if op["t"] == "map"]
    grid = next(iter(ctx.geo.places["grid"].values()))
    assert [p[0] for p in pts] == [case] and abs(pts[0][1] - grid.lon) < 1e-5 and abs(pts[0][2] - grid.lat) < 1e-5
    kpi = {op["id"]: op["p"]["children"] for op in follow["wall"] if op["id"].startswith("kpi-")}
    assert kpi["kpi-received"] == "1"
    # the same report seen again (e.g. through the read models) is not shown twice
    again, _ = views.ops_for(deltas)
    assert not [op for op in again["wall"] if op["t"] == "list" and op["id"] == "wall-ticker"]


def test_relay_sends_every_room_every_seq_range_then_the_follow_up(setup: Any) -> None:
    ctx, pubsub, ingestor, worker = setup
    ingestor.ingest([_report(ctx, "s")], source="test")
    worker.drain()
    deltas = _drain(pubsub)
    em = Captured()
    relay = Relay(ctx.store, LiveViews(ctx.reader, ctx.names, ctx.geo), emitter=em)
    relay.emit_batch(deltas)
    seqs = sorted(d["seq"] for d in deltas)
    first = {to: data for ev, data, to in em.sent if ev == "d" and not data.get("f")}
    assert set(first) == {"wall", "duty", "tablet"}
    assert all((m["s0"], m["s"]) == (seqs[0], seqs[-1]) for m in first.values())
    follow = [data for ev, data, to in em.sent if ev == "d" and data.get("f") and to == "wall"]
    assert follow and follow[0]["s"] == seqs[-1]
    assert relay.last_seq == seqs[-1]


def test_a_deadline_alert_becomes_a_row_on_wall_and_duty_and_signing_updates_both(setup: Any) -> None:
    ctx, pubsub, ingestor, worker = setup
    from feeds.clock import ManualClock
    from feeds.supervision.commands import ack_alert

    t0 = int(time.time() * 1000)
    clock = ManualClock(t0)
    worker.clock = clock
    case = ingestor.ingest([_report(ctx, "a", channel="police_110")], source="test", now=t0)[0].case_id
    worker.drain()
    _drain(pubsub)
    clock.set(t0 + 61_000)  # the 1312 rule: sign within one minute
    worker.drain()
    deltas = _drain(pubsub)
    views = LiveViews(ctx.reader, ctx.names, ctx.geo)
    instant, _ = views.ops_for(deltas)
    aid = f"{case}:sign:overdue"
    assert any(op.get("key") == aid and op["item"] for op in instant["wall"] if op["t"] == "list")
    duty = [op for op in instant["duty"] if op["t"] == "list" and op.get("key") == aid]
    assert duty and 'data-action' in orjson.dumps(duty[0]["item"]).decode()
    ack_alert(ctx.client, ctx.keys, aid, actor="李四", role="duty", now=t0 + 62_000)
    clock.set(t0 + 62_000)
    worker.drain()
    instant, _ = views.ops_for(_drain(pubsub))
    acked = [op for op in instant["wall"] if op["t"] == "list" and op.get("key") == aid]
    assert acked and "acked" in acked[-1]["item"]["props"]["className"]


def test_a_duty_action_is_stamped_with_the_products_clock(setup: Any) -> None:
    """签收 from /duty goes through the command path at the screens' present (a sped-up demo's
    time, not the machine's: the alert it answers was raised on that clock)."""
    ctx, pubsub, ingestor, worker = setup
    from dashboard.actions import alert_action
    from feeds.clock import ManualClock
    from feeds.model import entry_head

    t0 = int(time.time() * 1000) + 5 * 3_600_000  # hours ahead of the machine, as at 100x
    clock = ManualClock(t0)
    worker.clock = ctx.clock = clock
    case = ingestor.ingest([_report(ctx, "c", channel="police_110")], source="test", now=t0)[0].case_id
    worker.drain()
    clock.set(t0 + 61_000)
    worker.drain()
    clock.set(t0 + 63_000)
    result = alert_action(ctx, "ack", f"{case}:sign:overdue", role="duty")
    assert result.ok, result.message
    ((_, fields),) = ctx.client.xrange(ctx.keys.log, min=result.entry_id, max=result.entry_id)
    assert entry_head(fields)[3] == t0 + 63_000


def test_a_bulk_batchs_case_summary_still_refreshes_the_ticker_and_the_kpis(setup: Any) -> None:
    """More changed cases than ``CASE_DELTAS_PER_BATCH`` in one batch (a catch-up, a bulk import)
    come as one ``cases`` summary; the screens' follow-up still reads the new reports and KPIs
    (the relay ignored the summary before)."""
    ctx, pubsub, ingestor, worker = setup
    ingestor.ingest([_report(ctx, f"bulk{i}") for i in range(250)], source="test", deltas="none")
    worker.drain()
    deltas = _drain(pubsub)
    assert [d for d in deltas if d["type"] == "cases"] and not [d for d in deltas if d["type"] == "case"]
    _, follow = LiveViews(ctx.reader, ctx.names, ctx.geo).ops_for(deltas)
    kpi = {op["id"]: op["p"]["children"] for op in follow["wall"] if op.get("id", "").startswith("kpi-")}
    assert kpi["kpi-received"] == "250"
    assert [op for op in follow["wall"] if op["t"] == "list" and op["id"] == "wall-ticker"]
    assert {"t": "dirty"} in follow["tablet"]
