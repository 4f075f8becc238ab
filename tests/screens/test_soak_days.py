"""The soak's like-with-like points: the first sample of each simulated day (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bench.screens import day_starts

CST = ZoneInfo("Asia/Shanghai")


def at(*a: int) -> int:
    return int(datetime(*a, tzinfo=CST).timestamp() * 1000)


def test_the_first_sample_after_each_simulated_midnight_is_kept() -> None:
    samples = [
        {"t": 0.0, "heap_mb": 15.0, "rss_mb": 400.0, "messages": 0, "data_at": None},  # before the first message
        {"t": 60.0, "heap_mb": 20.0, "rss_mb": 500.0, "messages": 10, "data_at": at(2026, 12, 4, 23, 0)},
        {"t": 120.0, "heap_mb": 21.0, "rss_mb": 501.0, "messages": 20, "data_at": at(2026, 12, 5, 0, 40)},
        {"t": 180.0, "heap_mb": 22.0, "rss_mb": 502.0, "messages": 30, "data_at": at(2026, 12, 5, 23, 59)},
        {"t": 240.0, "heap_mb": 23.0, "rss_mb": 503.0, "messages": 40, "data_at": at(2026, 12, 6, 1, 5)},
    ]
    days = day_starts(samples)
    assert [(d["day"], d["t"], d["heap_mb"]) for d in days] == [("2026-12-05 Sat", 120.0, 21.0),
                                                                 ("2026-12-06 Sun", 240.0, 23.0)]


def test_midnight_is_the_halls_not_utcs() -> None:
    # 23:30 UTC is 07:30 the next morning in the hall: one day change, at the hall's midnight
    samples = [{"t": float(i), "heap_mb": 1.0, "rss_mb": 1.0, "messages": i, "data_at": at(2026, 12, 5, 7, 0) + i * 3_600_000}
               for i in range(20)]
    assert [d["t"] for d in day_starts(samples)] == [17.0]
