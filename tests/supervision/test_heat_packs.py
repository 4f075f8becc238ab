"""Heat packs kept warm by the supervision engine: at the end of a full rebuild and when the day rolls over."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feeds.clock import ManualClock
from feeds.heat_counters import DAY_TOTAL_FIELD, heat_pack_key, query_heat
from feeds.supervision.synthetic import DAY, HOUR, append_log
from feeds.supervision.worker import HEAT_PACK_DAYS, Worker, rebuild
from tests.supervision.conftest import MONTH_START
from tests.supervision.factories import catalog, local

pytestmark = pytest.mark.integration


def _days_with_counters(client, keys) -> dict[str, int]:
    """'YYYYMMDD' -> the day's event total, for every heat day hash (packs left out)."""
    prefix = keys.heat_day("")
    out = {}
    for raw in client.scan_iter(match=keys.heat_day("*"), count=1000):
        k = raw.decode()
        if not k.endswith(":pack"):
            out[k.removeprefix(prefix)] = int(client.hget(k, DAY_TOTAL_FIELD) or 0)
    return out


def _packed_days(client, keys) -> set[str]:
    return {raw.decode().removeprefix(keys.heat_day("")).removesuffix(":pack")
            for raw in client.scan_iter(match=keys.heat_day("*:pack"), count=1000)}


def test_a_rebuild_with_pack_heat_packs_every_counted_day(store, month_entries) -> None:
    client, keys = store.client, store.keys
    part = [e for e in month_entries if e.t < MONTH_START + 5 * DAY]
    append_log(client, keys, part)
    clock = ManualClock(MONTH_START + 5 * DAY)
    w = Worker(store, clock=clock, consumer="rebuilder", catalog=catalog(), publish=False)
    rebuild(w, pack_heat=True)
    days = _days_with_counters(client, keys)
    assert len(days) >= 5 and all(n > 0 for n in days.values())
    assert _packed_days(client, keys) == set(days)
    first, last = min(days), max(days)
    from_packs = query_heat(client, keys, first, last, 8, write_back=False)
    client.delete(*[heat_pack_key(keys, d) for d in days])  # the same query straight from the hashes
    from_hashes = query_heat(client, keys, first, last, 8, write_back=False)
    assert from_packs.as_dict() == from_hashes.as_dict() and from_packs.n_events == sum(days.values())


def test_a_rebuild_without_pack_heat_leaves_no_pack(store, month_entries) -> None:
    client, keys = store.client, store.keys
    append_log(client, keys, [e for e in month_entries if e.t < MONTH_START + 2 * DAY])
    rebuild(Worker(store, clock=ManualClock(MONTH_START + 2 * DAY), consumer="r", catalog=catalog(), publish=False))
    assert _days_with_counters(client, keys) and not _packed_days(client, keys)


def test_the_loop_packs_the_month_before_when_the_day_rolls_over(store, month_entries) -> None:
    client, keys = store.client, store.keys
    end = MONTH_START + 6 * DAY
    append_log(client, keys, [e for e in month_entries if e.t < end])
    clock = ManualClock(end + 10 * HOUR)  # 10:00 on the seventh day
    w = Worker(store, clock=clock, consumer="w", catalog=catalog(), publish=False)
    w.drain()
    w._pack_heat_when_the_day_rolls_over(clock.wall())  # first look at the day: nothing packed yet
    assert not _packed_days(client, keys)
    clock.advance(12 * HOUR)  # 22:00, same day
    w._pack_heat_when_the_day_rolls_over(clock.wall())
    assert not _packed_days(client, keys)
    clock.advance(3 * HOUR)  # 01:00 the next day
    w._pack_heat_when_the_day_rolls_over(clock.wall())
    today = local(clock.wall()).date()
    window = {(today - timedelta(days=i)).strftime("%Y%m%d") for i in range(1, HEAT_PACK_DAYS + 1)}
    expected = {d for d, n in _days_with_counters(client, keys).items() if n and d in window}
    assert len(expected) >= 6 and _packed_days(client, keys) == expected
