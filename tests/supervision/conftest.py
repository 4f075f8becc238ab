"""Supervision fixtures on top of the shared ones (tests/conftest.py: a real Valkey, a namespace per test)."""

from __future__ import annotations

from typing import Any

import pytest

from feeds.keys import Keys
from feeds.supervision.statecodec import decode_state
from feeds.supervision.synthetic import month
from tests.supervision.factories import catalog, ms

MONTH_START = ms(2026, 10, 1)
MONTH_DAYS = 30


@pytest.fixture(scope="session")
def month_entries() -> list:
    """A synthetic month (3,000 cases, ~19,000 entries), generated once."""
    return month(catalog(), MONTH_START, MONTH_DAYS, per_day=100, seed=11)


def dump(client: Any, keys: Keys) -> dict:
    """Every read-model key with its content (worker bookkeeping left out), for equality checks."""
    out: dict = {}
    for pattern in (keys.case("*"), keys.sv("*"), keys.heat_day("*")):
        for raw in client.scan_iter(match=pattern, count=5000):
            k = raw.decode()
            if k == keys.sv_meta:
                continue
            t = client.type(k).decode()
            if t == "hash":
                out[k] = {f.decode(): x for f, x in client.hgetall(k).items()}
            elif k.startswith(keys.case("")):
                out[k] = {"s": decode_state(client.get(k))}
            elif t == "zset":
                out[k] = client.zrange(k, 0, -1, withscores=True)
            elif t == "set":
                out[k] = sorted(client.smembers(k))
            else:
                out[k] = client.get(k)
    return out
