"""Read-model queries the screens call (contract: docs/READ_MODELS.md). STUB: signatures only."""

from __future__ import annotations

from typing import Any

from feeds.keys import Keys


def get_case(client: Any, keys: Keys, case_id: str, *, now: int, masked: bool = False) -> dict | None:
    """One case with its timeline, stage clocks and alerts; None if unknown."""
    raise NotImplementedError


def backlog(client: Any, keys: Keys, by: str, *, now: int) -> list[dict]:
    """Open-case counts per ``dept`` or ``street``: open/on_track/near_due/overdue/oldest_age_s."""
    raise NotImplementedError


def backlog_of(client: Any, keys: Keys, scope: str, code: str, *, now: int) -> dict:
    """Counts for one dept/street/comm/grid."""
    raise NotImplementedError


def open_cases(client: Any, keys: Keys, scope: str, code: str, *, now: int, limit: int = 500,
               masked: bool = True) -> list[dict]:
    """Open case summaries in a dept/street/comm/grid, oldest first."""
    raise NotImplementedError


def alert_queue(client: Any, keys: Keys, *, now: int, limit: int = 200, masked: bool = True) -> list[dict]:
    """Live alerts, most urgent first, each with its case summary."""
    raise NotImplementedError


def alert_history(client: Any, keys: Keys, *, limit: int = 200, before: int | None = None) -> list[dict]:
    """Resolved alerts, newest first."""
    raise NotImplementedError


def get_alert(client: Any, keys: Keys, alert_id: str) -> dict | None:
    """One alert."""
    raise NotImplementedError


def kpis(client: Any, keys: Keys, start: int, end: int, scope: str = "district", *, now: int,
         with_cases: bool = False) -> dict:
    """KPIs of the cases received in [start, end) in a scope, as of ``now``."""
    raise NotImplementedError


def star_ratings(client: Any, keys: Keys, start: int, end: int, *, now: int, rule: dict | None = None) -> list[dict]:
    """Star rating (1-5, None below the minimum volume) of each street's command room."""
    raise NotImplementedError


def trend_daily(client: Any, keys: Keys, days: int, *, now: int, scope: str = "district") -> list[dict]:
    """Received vs closed per local day, ``days`` days ending today."""
    raise NotImplementedError


def trend_hourly(client: Any, keys: Keys, *, now: int, hours: int = 24, scope: str = "district") -> list[dict]:
    """Received vs closed per hour over the last ``hours`` hours."""
    raise NotImplementedError


def reports_between(client: Any, keys: Keys, start: int, end: int, *, limit: int = 1000,
                    masked: bool = True) -> list[dict]:
    """Reports received in [start, end), oldest first (ticker and time playback)."""
    raise NotImplementedError


def frequent_counts(client: Any, keys: Keys, start: int, end: int, *, min_count: int = 1) -> list[dict]:
    """Counted reports per (grid, category) over the local days covering [start, end)."""
    raise NotImplementedError


def worker_status(client: Any, keys: Keys) -> dict:
    """Worker watermark, last processed id, lag and clock mode."""
    raise NotImplementedError
