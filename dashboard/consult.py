"""The consultation view (/tablet): what a scope + filters + window (+ playback clock) shows.

Counting is plain aggregation of the engine's report summaries (``reports_between``) by place
and category; KPIs, backlogs, trends and case timelines come from the engine's queries. The
pure part (``filter_reports``, ``count_by``, ``children_rows``, ``hourly_series``) is tested
without Redis.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard import formatting as fmt
from dashboard import reads
from dashboard.context import ScreenContext
from dashboard.geodata import CHILD, MapGeo

#: The summary field that holds each level's code.
LEVEL_FIELD = {"street": "street", "community": "community", "grid": "grid"}
FILTER_FIELDS = ("category", "dept", "channel", "level")


@dataclass(frozen=True)
class Query:
    """Scope, filters and window of the tablet, plus the playback clock (None = live)."""

    level: str = "district"
    code: str = ""
    window: str = "today"
    start_day: str | None = None
    end_day: str | None = None
    filters: tuple[tuple[str, str], ...] = ()
    as_of: int | None = None
    play_start: int | None = None

    @classmethod
    def from_inputs(cls, scope: Mapping[str, Any] | None, window: str | None, start_day: str | None,
                    end_day: str | None, filters: Mapping[str, Any], play: Mapping[str, Any] | None = None,
                    clock_t: int | None = None) -> Query:
        scope = scope or {}
        f = tuple(sorted((k, str(v)) for k, v in filters.items() if v not in (None, "", [])))
        playing = bool(play and play.get("active") and clock_t)
        return cls(level=str(scope.get("level") or "district"), code=str(scope.get("code") or ""),
                   window=window or "today", start_day=start_day, end_day=end_day, filters=f,
                   as_of=int(clock_t) if playing and clock_t else None,
                   play_start=int(play["start"]) if playing and play else None)

    def bounds(self, now: int) -> tuple[int, int]:
        if self.as_of is not None and self.play_start is not None:
            return self.play_start, self.as_of + 1
        return reads.window_bounds(self.window, now, self.start_day, self.end_day)

    @property
    def kpi_scope(self) -> str:
        """The engine's KPI scope for this view (district, street or department)."""
        dept = dict(self.filters).get("dept")
        if self.level in ("street", "community", "grid") and self.code:
            street = self.code if self.level == "street" else ""
            if street:
                return f"street:{street}"
        if dept:
            return f"dept:{dept}"
        return "district"


def filter_reports(reports: Iterable[Mapping[str, Any]], q: Query, geo: MapGeo | None = None) -> list[Mapping[str, Any]]:
    """Reports inside the scope that pass every filter (and, in playback, received by ``as_of``)."""
    f = dict(q.filters)
    out = []
    for r in reports:
        if q.as_of is not None and int(r.get("received_at") or 0) > q.as_of:
            continue
        if q.level in LEVEL_FIELD and q.code and str(r.get(LEVEL_FIELD[q.level]) or "") != q.code:
            continue
        if any(str(r.get(k) if r.get(k) is not None else "") != v for k, v in f.items()):
            continue
        out.append(r)
    return out


def count_by(reports: Iterable[Mapping[str, Any]], key: str) -> Counter:
    return Counter(str(r.get(key) or "") for r in reports)


def children_rows(geo: MapGeo, level: str, code: str, counts: Mapping[str, int],
                  backlog: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The scope's children (streets of the district, ...) with counts, busiest first."""
    child = CHILD[level]
    codes = geo.kids(level, code) if level != "district" else list(geo.places["street"])
    rows = []
    for c in codes:
        p = geo.place(child, c)
        b = backlog.get(c, {})
        rows.append({"code": c, "name": p.name if p else c, "count": int(counts.get(c, 0)),
                     "open": b.get("open"), "overdue": b.get("overdue")})
    rows.sort(key=lambda r: (-r["count"], r["name"]))
    return rows


def hourly_series(reports: Iterable[Mapping[str, Any]], start: int, end: int,
                  bucket_ms: int = 3_600_000) -> list[dict[str, Any]]:
    """Received per bucket (hour) over [start, end) — the playback trend."""
    n = max(1, (end - start + bucket_ms - 1) // bucket_ms)
    counts = [0] * n
    for r in reports:
        i = (int(r.get("received_at") or 0) - start) // bucket_ms
        if 0 <= i < n:
            counts[i] += 1
    return [{"hour": start + i * bucket_ms, "received": c} for i, c in enumerate(counts)]


def daily_series(reports: Iterable[Mapping[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    counts = Counter(fmt.day_str(int(r.get("received_at") or 0)) for r in reports)
    return [{"date": d, "count": counts.get(d, 0)} for d in reads.day_list(start, end)]


# --- reading, with a short cache so drill-down taps on one window stay fast ---------------------
@dataclass
class _Cache:
    ttl_s: float = 5.0
    entries: dict[tuple, tuple[float, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple, load: Any) -> Any:
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get(key)
            if hit and now - hit[0] < self.ttl_s:
                return hit[1]
        value = load()
        with self.lock:
            if len(self.entries) > 16:
                self.entries.clear()
            self.entries[key] = (now, value)
        return value


_reports_cache = _Cache()


def reports_in(ctx: ScreenContext, start: int, end: int, *, masked: bool = True) -> list[dict]:
    """Report summaries received in [start, end) (cached a few seconds)."""
    return _reports_cache.get((ctx.keys.namespace, start, end, masked),
                              lambda: reads.reports_between(ctx.reader, start, end, masked=masked))


def child_backlog(ctx: ScreenContext, level: str, code: str) -> dict[str, dict]:
    """Open / overdue counts of each child of the scope."""
    child = CHILD[level]
    r = ctx.reader
    if level == "district":
        return {str(b.get("code")): b for b in reads.backlog_by_street(r)}
    scope = {"community": "comm", "grid": "grid"}.get(child)
    if scope is None:
        return {}
    return {c: reads.backlog_of(r, scope, c) for c in ctx.geo.kids(level, code)}


def hotspot_history(ctx: ScreenContext, grid: str, days: int = 30) -> dict[str, Any]:
    """A hotspot (grid)'s counts per day, its cases and the department answering most of them."""
    now = ctx.now()
    start, end = reads.window_bounds("30d" if days == 30 else "7d", now)
    reports = [r for r in reports_in(ctx, start, end) if str(r.get("grid")) == grid]
    depts = count_by(reports, "dept")
    depts.pop("", None)
    return {"grid": grid, "series": daily_series(reports, start, end), "cases": sorted(
        reports, key=lambda r: -int(r.get("received_at") or 0))[:30],
            "dept": depts.most_common(1)[0][0] if depts else None,
            "categories": count_by(reports, "category").most_common(3)}


def scope_chain(geo: MapGeo, level: str, code: str) -> list[tuple[str, str, str]]:
    """Breadcrumbs (level, code, name) from the district down to the scope."""
    chain: list[tuple[str, str, str]] = []
    lv, c = level, code
    while lv in ("street", "community", "grid") and c:
        p = geo.place(lv, c)
        if p is None:
            break
        chain.append((lv, c, p.name))
        lv, c = {"grid": "community", "community": "street", "street": "district"}[lv], p.parent
    d = geo.district
    chain.append(("district", d.code, d.name))
    return list(reversed(chain))


def top_categories(reports: Sequence[Mapping[str, Any]], n: int = 6) -> list[dict[str, Any]]:
    return [{"category": c, "count": k} for c, k in count_by(reports, "category").most_common(n)]
