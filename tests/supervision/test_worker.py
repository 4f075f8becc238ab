"""The worker on a real Valkey: replay vs rebuild, crashes, duplicates, several workers, horizon."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from feeds.clock import ManualClock
from feeds.supervision import queries as q
from feeds.supervision.synthetic import DAY, HOUR, append_log, chunks_by_time
from feeds.supervision.worker import Worker, rebuild
from tests.supervision.conftest import MONTH_DAYS, MONTH_START, dump
from tests.supervision.factories import ROOT, catalog, rules

pytestmark = pytest.mark.integration
END = MONTH_START + MONTH_DAYS * DAY + HOUR


def worker(store, clock: ManualClock, consumer: str = "w1", **kw) -> Worker:
    return Worker(store, clock=clock, consumer=consumer, catalog=catalog(), **kw)


def alerts_summary(client, keys) -> dict:
    return {k.decode(): (a := orjson.loads(v))["state"] + "|" + a["resolution"] + f"|{a['raised_at']}|{a['level']}"
            for k, v in client.hgetall(keys.alerts).items()}


@pytest.mark.slow
def test_a_month_replayed_incrementally_equals_a_full_rebuild(store, month_entries) -> None:
    client, keys = store.client, store.keys
    clock = ManualClock(MONTH_START)
    w = worker(store, clock, batch_size=700)
    for bound, part in chunks_by_time(month_entries, 6 * HOUR):  # the log grows; the worker keeps up
        append_log(client, keys, part)
        clock.set(bound)
        w.drain()
    clock.set(END)
    w.scan()
    incremental = dump(client, keys)
    assert len(incremental) > 1000
    n_alerts = client.hlen(keys.alerts)
    assert n_alerts > 100 and client.zcard(keys.alert_queue) > 0

    rebuilt_stats = rebuild(worker(store, clock, consumer="rebuilder", publish=False), chunk=1000)
    assert rebuilt_stats.entries == len(month_entries)
    assert dump(client, keys) == incremental

    # KPIs over the month make sense against what the generator did
    k = q.kpis(client, keys, MONTH_START, END, now=END, with_cases=True)
    assert k["received"] == 3000 - sum(1 for e in month_entries if e.kind == "report" and e.d["duplicate_of"])
    assert 0.7 < k["closure_rate"] < 1.0 and k["by_reason"]["duplicate"] > 0
    assert len(k["cases"]["closed"]) == k["closed"]


def test_illegal_and_unknown_entries_are_dead_lettered_once_even_across_a_rebuild(store, month_entries) -> None:
    client, keys = store.client, store.keys
    part = [e for e in month_entries if e.t < MONTH_START + 10 * DAY]
    append_log(client, keys, part)
    clock = ManualClock(MONTH_START + 10 * DAY)
    w = worker(store, clock)
    st = w.drain()
    expected = sum(1 for e in part if e.kind == "mystery.kind") + sum(
        1 for e in part if e.kind == "signed" and any(
            x.case == e.case and x.kind == "closed" and x.v < e.v for x in part))
    assert st.dead == expected > 0
    dlq = client.xrange(keys.dead_letters)
    assert len(dlq) == expected
    assert {d[1][b"source"] for d in dlq} == {b"supervision"}
    rebuild(worker(store, clock, consumer="r", publish=False))
    assert len(client.xrange(keys.dead_letters)) == expected


def test_ten_times_duplicated_and_shuffled_updates_change_nothing(store, month_entries) -> None:
    client, keys = store.client, store.keys
    part = [e for e in month_entries if e.t < MONTH_START + 7 * DAY]
    end = MONTH_START + 7 * DAY
    clock = ManualClock(end)
    # the shuffled copy is appended now, so the history horizon (append time vs event time) is
    # switched off here to compare like with like; tests of the horizon are elsewhere
    r = rules()
    r = dataclasses.replace(r, policy=dataclasses.replace(r.policy, history_horizon_s=10**9))
    append_log(client, keys, part)
    worker(store, clock, rules=r).drain()
    worker(store, clock, rules=r).scan(end)
    ordered = dump(client, keys)

    from feeds.supervision.worker import clear_read_models

    clear_read_models(client, keys)
    client.delete(keys.log)
    noisy = part * 10
    random.Random(5).shuffle(noisy)
    append_log(client, keys, noisy, ids_from_time=False)
    w = worker(store, clock, consumer="w2", rules=r)
    log = client.xrange(keys.log, min="-", max="+")
    for i in range(0, len(log), 1000):  # in arrival order, no scan in between: a shuffled log's
        w.process(log[i:i + 1000], ack=False)  # event times are no clock
    w.scan(end)
    shuffled = dump(client, keys)
    for d in (ordered, shuffled):  # the one field that is about the log's ids, not the case:
        for k, v in d.items():     # when its latest entry was appended
            if k.startswith(keys.case("")):
                v["s"].pop("appended")
    assert shuffled == ordered


def test_a_worker_that_was_down_raises_every_alert_that_fell_due_meanwhile(store, month_entries) -> None:
    client, keys = store.client, store.keys
    part = [e for e in month_entries if e.t < MONTH_START + 2 * DAY]
    append_log(client, keys, part)
    clock = ManualClock(MONTH_START + 2 * DAY)
    w = worker(store, clock)
    w.drain()
    live_before = client.zcard(keys.alert_queue)
    clock.advance(3 * DAY)  # nobody was watching for three days (and nothing new was reported)
    w2 = worker(store, clock, consumer="w-back")
    w2.run_once()
    assert client.zcard(keys.alert_queue) > live_before
    overdue_open = [c for c in q.kpis(client, keys, MONTH_START, clock.t, now=clock.t, with_cases=True)
                    ["cases"]["open_overdue"]]
    queued = {orjson.loads(v)["case"] for v in client.hmget(
        keys.alerts, [x.decode() for x in client.zrange(keys.alert_queue, 0, -1)])}
    missing = [c for c in overdue_open if c not in queued]
    assert missing == []  # every overdue open case has a live alert
    assert client.zcount(keys.deadlines, "-inf", clock.t) == 0


def test_backfilled_history_is_recorded_as_history_not_as_live_alerts(store, month_entries) -> None:
    client, keys = store.client, store.keys
    part = [e for e in month_entries if e.t < MONTH_START + 5 * DAY]
    append_log(client, keys, part, ids_from_time=False)  # appended now, happened a month+ ago: a backfill
    clock = ManualClock(int(time.time() * 1000))
    worker(store, clock).drain()
    alerts = [orjson.loads(v) for v in client.hvals(keys.alerts)]
    assert alerts and all(a["state"] == "resolved" for a in alerts)
    assert client.zcard(keys.alert_queue) == 0
    assert sum(a["resolution"] == "history" for a in alerts) > 0


def test_two_workers_in_one_group_fire_each_alert_exactly_once(store, month_entries) -> None:
    client, keys = store.client, store.keys
    part = [e for e in month_entries if e.t < MONTH_START + 4 * DAY]
    end = MONTH_START + 4 * DAY
    clock = ManualClock(end)
    ref_ns = keys  # reference run first, in this namespace, then compare alerts after clearing
    append_log(client, keys, part)
    worker(store, clock).drain()
    reference = alerts_summary(client, ref_ns)

    from feeds.supervision.worker import clear_read_models

    clear_read_models(client, keys)
    client.xgroup_destroy(keys.log, keys.sv_group)
    raised: list[str] = []
    sub = client.pubsub()
    sub.subscribe(keys.deltas)
    workers = [worker(store, clock, consumer=f"w{i}", batch_size=100) for i in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), kwargs={"block_ms": 20}) for w in workers]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while time.time() < deadline:
        info = {g["name"].decode(): g for g in client.xinfo_groups(keys.log)}
        g = info.get(keys.sv_group)
        if g and g["lag"] == 0 and g["pending"] == 0:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(10)
    assert all(w.stats.entries > 0 for w in workers)  # both took part
    for _ in range(2):
        workers[0].scan(end)
    while (m := sub.get_message(timeout=0.2)) is not None:
        if m["type"] == "message":
            d = orjson.loads(m["data"])
            if d["type"] == "alert" and d["event"] == "raised":
                raised.append(d["alert"]["id"])
    sub.close()
    assert alerts_summary(client, keys) == reference
    assert len(raised) == len(set(raised))  # no alert raised twice


@pytest.mark.slow
def test_killing_the_worker_mid_stream_loses_and_duplicates_no_alert(store, month_entries, settings,
                                                                      tmp_path: Path) -> None:
    client, keys = store.client, store.keys
    part = [e for e in month_entries if e.t < MONTH_START + 12 * DAY]
    end = MONTH_START + 12 * DAY
    append_log(client, keys, part)
    clock = ManualClock(end)
    worker(store, clock, consumer="ref").drain()
    reference = alerts_summary(client, keys)
    ref_dump = dump(client, keys)
    n_audit = client.xlen(keys.audit)

    from feeds.supervision.worker import clear_read_models

    clear_read_models(client, keys)
    client.xgroup_destroy(keys.log, keys.sv_group)
    env = {**os.environ, "REDIS_URL": settings.redis_url, "GOV_NAMESPACE": settings.namespace,
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "feeds.supervision", "worker", "--now", str(end), "--consumer", "victim",
           "--batch", "50"]
    kills = 0
    for _ in range(3):  # kill -9 it three times at random points, then let it finish
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while time.time() - t0 < 30:
            done = client.hget(keys.sv_meta, "last_id")
            if done and random.random() < 0.3:
                break
            time.sleep(0.05)
        time.sleep(random.random() * 0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    out = subprocess.run([*cmd, "--once"], env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    worker(store, clock, consumer="victim").scan(end)
    assert kills == 3
    assert alerts_summary(client, keys) == reference
    assert dump(client, keys) == ref_dump  # every read model, counters included: nothing applied twice
    assert client.xlen(keys.audit) == n_audit  # system audit lines written once
    assert client.xpending(keys.log, keys.sv_group)["pending"] == 0


def test_deltas_carry_increasing_seq_and_every_kind(store, month_entries) -> None:
    client, keys = store.client, store.keys
    sub = client.pubsub()
    sub.subscribe(keys.deltas)
    sub.get_message(timeout=1)
    part = [e for e in month_entries if e.t < MONTH_START + DAY]
    append_log(client, keys, part)
    clock = ManualClock(MONTH_START + DAY)
    w = worker(store, clock)
    w.drain()
    w.publish_kpi_tick()
    msgs = []
    while (m := sub.get_message(timeout=0.3)) is not None:
        if m["type"] == "message":
            msgs.append(orjson.loads(m["data"]))
    sub.close()
    seqs = [m["seq"] for m in msgs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert {m["type"] for m in msgs} >= {"case", "alert", "backlog", "kpi"}
    case = next(m for m in msgs if m["type"] == "case")
    assert {"case", "v", "status", "sla"} <= set(case)
    bl = next(m for m in msgs if m["type"] == "backlog")
    assert set(bl["counts"]) == {"open", "on_track", "near_due", "overdue", "oldest_age_s"}
