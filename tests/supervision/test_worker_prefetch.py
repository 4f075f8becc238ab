"""Reading the next batch while the current one commits (``Worker._start_prefetch``) changes nothing
but the timing: same read models, nothing lost when a batch fails with the next one already read."""

from __future__ import annotations

import pytest

from feeds.clock import ManualClock
from feeds.supervision.synthetic import DAY, append_log
from feeds.supervision.worker import Worker, clear_read_models
from tests.supervision.conftest import MONTH_START, dump
from tests.supervision.factories import catalog

pytestmark = pytest.mark.integration
END = MONTH_START + 8 * DAY


def _worker(store, consumer: str, prefetch: bool) -> Worker:
    w = Worker(store, clock=ManualClock(END), consumer=consumer, catalog=catalog(), batch_size=97)
    w.prefetch = prefetch
    return w


def _fresh(store) -> None:
    clear_read_models(store.client, store.keys)
    store.client.xgroup_destroy(store.keys.log, store.keys.sv_group)


def test_prefetching_workers_write_exactly_what_a_plain_one_writes(store, month_entries) -> None:
    client, keys = store.client, store.keys
    append_log(client, keys, [e for e in month_entries if e.t < END])
    plain = _worker(store, "plain", prefetch=False)
    plain.drain()
    reference = dump(client, keys)
    _fresh(store)
    fast = _worker(store, "fast", prefetch=True)
    calls = []
    collect = fast._collect_prefetch
    fast._collect_prefetch = lambda: (calls.append(1), collect())[1]  # type: ignore[method-assign]
    fast.drain()
    assert len(calls) > 10  # it did read ahead
    assert fast.stats.applied == plain.stats.applied
    assert dump(client, keys) == reference
    assert client.xpending(keys.log, keys.sv_group)["pending"] == 0


def test_a_failed_batch_leaves_the_prefetched_one_pending_and_a_restart_applies_both(store, month_entries) -> None:
    client, keys = store.client, store.keys
    append_log(client, keys, [e for e in month_entries if e.t < END])
    _worker(store, "ref", prefetch=False).drain()
    reference = dump(client, keys)
    _fresh(store)

    w = _worker(store, "victim", prefetch=True)
    write, seen = w._write, []

    def failing_write(*args, **kwargs):  # the 4th batch dies before its EXEC, the 5th already asked for
        seen.append(1)
        if len(seen) == 4:
            assert w._prefetch is not None
            raise ConnectionError("simulated: the server went away")
        return write(*args, **kwargs)

    w._write = failing_write  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        w.drain()
    assert w._prefetch is None and not w._prefetched  # the read-ahead batch was let go ...
    assert client.xpending(keys.log, keys.sv_group)["pending"] >= 2 * 97  # ... and stays pending, with the failed one
    _worker(store, "victim", prefetch=True).drain()  # a restart of the same consumer reads its pending first
    assert dump(client, keys) == reference
    assert client.xpending(keys.log, keys.sv_group)["pending"] == 0


def test_a_catch_up_leaves_its_objects_to_the_oldest_generation_and_loses_no_cycle(store, month_entries) -> None:
    """The held-off stretch ends with its survivors moved to the oldest generation untraversed
    (``Worker._release_collector``): the collector is back on, nothing stays frozen, a cycle made
    during the stretch was not collected by a young collection (there was none) and is found by a
    full collection."""
    import gc
    import weakref

    client, keys = store.client, store.keys
    append_log(client, keys, [e for e in month_entries if e.t < END])
    w = _worker(store, "gc", prefetch=True)
    apply_batch, held, witness = w.process, [], []

    class Node:
        pass

    def process(*args, **kwargs):
        held.append(not gc.isenabled())
        if not witness:  # garbage with a cycle, made while the collector is off
            a, b = Node(), Node()
            a.other, b.other = b, a
            witness.append(weakref.ref(a))
        return apply_batch(*args, **kwargs)

    w.process = process  # type: ignore[method-assign]
    assert gc.isenabled()
    w.drain()
    assert any(held)  # full batches ran with the collector held off
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert witness[0]() is not None  # not collected yet: it went to the oldest generation ...
    gc.collect()
    assert witness[0]() is None  # ... where a full collection finds it


def test_objects_someone_else_froze_stay_frozen(store, month_entries) -> None:
    import gc

    client, keys = store.client, store.keys
    append_log(client, keys, [e for e in month_entries if e.t < END])
    keep = [[i] for i in range(100)]  # lists: always tracked by the collector (atomic-only dicts are not)
    gc.freeze()
    try:
        _worker(store, "gc2", prefetch=True).drain()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        # unfrozen objects would be in the oldest generation now (the count alone moves: frozen
        # objects the drain let go are freed by reference counting)
        old = {id(o) for o in gc.get_objects(generation=2)}
        assert not any(id(d) in old for d in keep)
    finally:
        gc.unfreeze()
    assert {id(d) for d in keep} <= {id(o) for o in gc.get_objects(generation=2)}  # the check can see them


def test_case_states_are_stored_compressed_and_plain_json_ones_are_taken_over(store, month_entries) -> None:
    """The worker writes zstd frames (``statecodec``); a state stored as plain JSON (before the
    codec, or by hand) is read, and written compressed the next time its case moves."""
    import orjson

    from feeds.supervision.queries import get_case
    from feeds.supervision.statecodec import ZSTD_MAGIC, decode_state

    client, keys = store.client, store.keys
    early = [e for e in month_entries if e.t < MONTH_START + 2 * DAY]
    append_log(client, keys, early)
    w = _worker(store, "codec", prefetch=True)
    w.drain()
    raws = [client.get(k) for k in client.scan_iter(match=keys.case("*"), count=5000)]
    assert len(raws) > 100 and all(r[:4] == ZSTD_MAGIC for r in raws)
    json_bytes = sum(len(orjson.dumps(decode_state(r))) for r in raws)
    assert sum(map(len, raws)) * 3 < json_bytes

    open_case = next(e.case for e in early if e.kind == "report"
                     and get_case(client, keys, e.case, now=END)["status"] not in ("closed", "evaluated", "merged"))
    state = decode_state(client.get(keys.case(open_case)))
    client.set(keys.case(open_case), orjson.dumps(state))  # an old-format state
    w._cache.clear()
    assert get_case(client, keys, open_case, now=END)["id"] == open_case
    nxt = next(e for e in month_entries if e.case == open_case and e.v == state["v"] + 1)
    append_log(client, keys, [e for e in month_entries if MONTH_START + 2 * DAY <= e.t <= nxt.t
                              and (e.case != open_case or e is nxt)])
    w.drain()
    assert decode_state(client.get(keys.case(open_case)))["v"] == nxt.v
    assert client.get(keys.case(open_case))[:4] == ZSTD_MAGIC
