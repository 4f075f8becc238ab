"""The accelerated demo runs every part of the product on one clock (integration: real server).

At 100x (the screens' soak) the simulator emits a day in 14.4 minutes. Before, only the feed ran
fast: the screens' clock stayed the machine's, so new reports were dated hours in the wall's
future, their markers never faded (the soak's browser heap grew with every report) and "today"
was the machine's today.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from dashboard import figures, reads
from dashboard.run import Product
from feeds.clock import DemoClock, SystemClock

pytestmark = pytest.mark.integration


def test_a_sped_up_demo_runs_the_feed_engine_ingest_and_screens_on_one_clock(settings) -> None:
    s = dataclasses.replace(settings, demo=True, demo_backfill_days=0)
    p = Product(s, demo_speed=600.0).start()
    try:
        clock = p.clock
        assert isinstance(clock, DemoClock)
        assert p.worker.clock is clock and p.ctx.clock == clock.wall and p.ingestor.clock == clock.wall
        deadline = time.monotonic() + 150  # at 600x: 25 simulated hours, a night included
        reports: list[dict] = []
        while time.monotonic() < deadline:
            if clock.started and clock.wall() - time.time() * 1000 > 2 * 3_600_000:
                reports = reads.latest_reports(p.ctx.reader, limit=500, lookback_ms=reads.DAY_MS)
                if len(reports) >= 20:
                    break
            time.sleep(0.5)
        assert len(reports) >= 20, "the sped-up feed produced no reports"
        now = p.ctx.now()
        assert max(r["received_at"] for r in reports) <= now  # nothing from the screens' future
        markers = figures.marker_arrays(reports, now)["key"]
        recent = [r["id"] for r in reports if now - r["received_at"] <= figures.MARKER_FADE_MS]
        assert markers == recent and len(markers) < len(reports)  # ten (simulated) minutes on: faded out
    finally:
        p.stop()


def test_the_product_runs_on_the_machines_clock_without_a_sped_up_demo(settings) -> None:
    p = Product(dataclasses.replace(settings, demo=False)).start()
    try:
        assert isinstance(p.clock, SystemClock) and p.worker.clock is p.clock
        assert abs(p.ctx.now() - time.time() * 1000) < 5_000
    finally:
        p.stop()
