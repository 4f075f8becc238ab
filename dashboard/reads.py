"""The screens' read side: read-model queries of the supervision engine, by time window.

Thin: every function here is a call into ``feeds.supervision.queries`` (or the heat counters /
hotspot library) with the window turned into ms bounds. Business rules (KPIs, SLA, alert
urgency) stay in the engine. Functions take a ``Reader`` (client + keys + clock) so they can
be called from a Dash callback, from the relay thread, or from a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dashboard import formatting as fmt
from feeds.keys import Keys
from feeds.supervision import queries as q

DAY_MS = 86_400_000

#: Time windows of the tablet filter (today / 7 d / 30 d / custom).
WINDOWS = {"today": ("今日", 1), "7d": ("近7天", 7), "30d": ("近30天", 30)}


@dataclass
class Reader:
    client: Any
    keys: Keys
    clock: Callable[[], int]

    def now(self) -> int:
        return self.clock()


def window_bounds(window: str, now: int, start_day: str | None = None, end_day: str | None = None) -> tuple[int, int]:
    """[start, end) in ms of a window ending today (or a custom day range, both days included)."""
    today0 = fmt.day_start_ms(now)
    if window == "custom" and start_day and end_day:
        a, b = sorted((fmt.day_to_ms(start_day), fmt.day_to_ms(end_day)))
        return a, b + DAY_MS
    days = WINDOWS.get(window, WINDOWS["today"])[1]
    return today0 - (days - 1) * DAY_MS, today0 + DAY_MS


def previous_bounds(start: int, end: int) -> tuple[int, int]:
    """The period of the same length just before [start, end) (for comparisons)."""
    return start - (end - start), start


def window_label(window: str, start: int, end: int) -> str:
    if window in WINDOWS:
        return WINDOWS[window][0]
    return f"{fmt.day_str(start)} 至 {fmt.day_str(end - 1)}"


def kpis_today(r: Reader, scope: str = "district") -> dict:
    """Today's KPIs (engine) plus the district's open overdue total for the wall's alarm tile."""
    now = r.now()
    start, end = window_bounds("today", now)
    values = dict(q.kpis(r.client, r.keys, start, end, scope, now=now))
    if scope == "district":
        values["overdue_all"] = overdue_open_total(r)
    return values


def kpis_between(r: Reader, start: int, end: int, scope: str = "district", *, now: int | None = None) -> dict:
    return q.kpis(r.client, r.keys, start, end, scope, now=r.now() if now is None else now)


def backlog_by_dept(r: Reader) -> list[dict]:
    return q.backlog(r.client, r.keys, "dept", now=r.now())


def backlog_by_street(r: Reader) -> list[dict]:
    return q.backlog(r.client, r.keys, "street", now=r.now())


def backlog_of(r: Reader, scope: str, code: str) -> dict:
    return q.backlog_of(r.client, r.keys, scope, code, now=r.now())


def alerts(r: Reader, limit: int = 200, masked: bool = True) -> list[dict]:
    return q.alert_queue(r.client, r.keys, now=r.now(), limit=limit, masked=masked)


def alert_history(r: Reader, limit: int = 50) -> list[dict]:
    return q.alert_history(r.client, r.keys, limit=limit)


def latest_reports(r: Reader, limit: int = 14, lookback_ms: int = 3 * DAY_MS, masked: bool = True,
                   *, now: int | None = None) -> list[dict]:
    """The newest reports first (ticker): widening windows back from ``now``, so a busy day
    never reads more than it shows."""
    now = r.now() if now is None else now
    rows: list[dict] = []
    for span in (5 * 60_000, 3_600_000, 6 * 3_600_000, DAY_MS, lookback_ms):
        span = min(span, lookback_ms)
        rows = q.reports_between(r.client, r.keys, now - span, now + 1, limit=20_000, masked=masked, now=now)
        if len(rows) >= limit or span >= lookback_ms:
            break
    return list(reversed(rows[-limit:]))


def reports_since(r: Reader, since: int, limit: int = 500, masked: bool = True) -> list[dict]:
    """Reports received at or after ``since`` (oldest first): what the ticker has not shown yet."""
    now = r.now()
    return q.reports_between(r.client, r.keys, since, max(now, since) + 1, limit=limit, masked=masked, now=now)


def overdue_open_total(r: Reader) -> int:
    """Open overdue cases in the whole district (the streets' backlogs partition the open cases)."""
    return sum(int(b.get("overdue") or 0) for b in backlog_by_street(r))


def reports_between(r: Reader, start: int, end: int, limit: int = 100_000, masked: bool = True,
                    now: int | None = None) -> list[dict]:
    return q.reports_between(r.client, r.keys, start, end, limit=limit, masked=masked, now=now)


def trend(r: Reader, scope: str = "district", *, now: int | None = None) -> tuple[list[dict], list[dict]]:
    now = r.now() if now is None else now
    return (q.trend_hourly(r.client, r.keys, now=now, hours=24, scope=scope),
            q.trend_daily(r.client, r.keys, 30, now=now, scope=scope))


def frequent(r: Reader, start: int, end: int) -> list[dict]:
    return q.frequent_counts(r.client, r.keys, start, end)


def case(r: Reader, case_id: str, masked: bool = False) -> dict | None:
    return q.get_case(r.client, r.keys, case_id, now=r.now(), masked=masked)


def case_summary(r: Reader, case_id: str) -> dict | None:
    """Masked summary fields of a case (for alert rows)."""
    c = q.get_case(r.client, r.keys, case_id, now=r.now(), masked=True)
    if c is None:
        return None
    return {k: c.get(k) for k in ("id", "status", "channel", "category", "level", "dept", "street",
                                  "community", "grid", "cell", "lon", "lat", "received_at", "sla")}


def open_cases(r: Reader, scope: str, code: str, limit: int = 200, masked: bool = True) -> list[dict]:
    return q.open_cases(r.client, r.keys, scope, code, now=r.now(), limit=limit, masked=masked)


def by_category(rows: list[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        out[str(row.get("category"))] = out.get(str(row.get("category")), 0) + int(row.get("count") or 0)
    return out


def heat(r: Reader, start: int, end: int, res: int, **filters: Any) -> dict[str, int]:
    """Report counts per H3 cell (hex id, rolled up to ``res``) over the local days covering [start, end).

    One ``feeds.heat_counters.query_heat`` call (the counters are per day); filters are
    category / dept / channel / level.
    """
    from feeds.heat_counters import query_heat
    from geo.h3cells import cells_to_strings

    first, last = fmt.local_dt(start).date(), fmt.local_dt(max(start, end - 1)).date()
    result = query_heat(r.client, r.keys, first, last, res, **{k: v for k, v in filters.items() if v})
    return dict(zip(cells_to_strings(result.cells), (int(v) for v in result.values.tolist()), strict=True))


def day_list(start: int, end: int) -> list[str]:
    """Local days ``YYYY-MM-DD`` touching [start, end)."""
    days = []
    t = fmt.day_start_ms(start)
    while t < end:
        days.append(fmt.day_str(t))
        t += DAY_MS
    return days
