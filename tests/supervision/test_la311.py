"""The real-city check: Los Angeles 311 replayed through the ingest path, supervised, KPIs printed.

The committed mapping (config/mappings/la311.json) replays 10,000 real MyLA311 requests and
the closures derived from them; the la311 rule set of config/sla.json gives the deadlines
(servicedate end of day when the source gave a usable one, else N days by request type).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from feeds.keys import Keys
from feeds.supervision import queries as q
from feeds.supervision.worker import Worker
from tests.supervision.factories import ROOT, catalog

LA_FILE = ROOT.parent / "shared" / "data" / "la_myla311_10k_2020-01-01_to_01-03.csv.gz"
pytestmark = [pytest.mark.integration, pytest.mark.slow]
AS_OF = int(datetime(2020, 8, 4, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp() * 1000)


@pytest.mark.skipif(not LA_FILE.exists(), reason=f"LA 311 sample not found at {LA_FILE} (../shared/data)")
def test_la311_replays_gets_deadlines_and_prints_kpis(settings, store) -> None:
    env = {**os.environ, "REDIS_URL": settings.redis_url, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "feeds", "--namespace", settings.namespace, "replay", str(LA_FILE), "--mapping",
                          "config/mappings/la311.json", "--no-progress"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    keys = Keys(settings.namespace)
    w = Worker(store.client, keys, settings, catalog(), consumer="la")
    st = w.drain()
    assert st.applied == store.client.xlen(keys.log) and st.dead == 0

    k = q.kpis(store.client, keys, 0, AS_OF, now=AS_OF, with_cases=True)
    print("\nLA 311 (10,000 requests of 1-3 Jan 2020, as of 4 Aug 2020):",
          {x: k[x] for x in ("received", "closed", "open", "closure_rate", "on_time_rate", "avg_hours",
                              "p90_hours", "by_reason")})
    assert k["received"] == 10_000
    assert k["by_reason"] == {"fixed": 9723, "no_action": 244, "referred": 2}  # Closed / Cancelled / Referred Out
    assert k["closure_rate"] == pytest.approx(9969 / 10_000)
    assert 0.5 < k["on_time_rate"] < 1.0 and k["p90_hours"] > k["avg_hours"] / 10
    assert len(k["cases"]["late"]) == round((1 - k["on_time_rate"]) * (len(k["cases"]["on_time"]) + len(
        k["cases"]["late"])))
    # the deadline came from the source's service date when it had one
    case = q.get_case(store.client, keys, k["cases"]["on_time"][0], now=AS_OF)
    assert case["rule"].startswith("la311-") and case["clocks"][0]["stage"] == "close"
    # every alert of a replayed history is history, none floods the live queue
    assert store.client.zcard(keys.alert_queue) == 0
    by_dept = {r["code"] for r in q.backlog(store.client, keys, "dept", now=AS_OF)}
    assert "LA-BOS" in by_dept
