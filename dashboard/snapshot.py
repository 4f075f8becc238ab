"""Snapshots: each live screen's whole state read from the read models, plus the delta seq it
was read at. The page layout renders one directly (first paint needs no extra round trip) and
the resync callback reloads one after a reconnect or a gap; the browser then applies only the
deltas after that seq.
"""

from __future__ import annotations

from typing import Any

from dashboard import figures, ids, panels, reads
from dashboard.context import ScreenContext
from dashboard.push import DUTY_ALERTS_MAX, TICKER_MAX, WALL_ALERTS_MAX

ROTATE_DWELL_S = 20           # each focus view's time on the wall by default
ROTATE_DWELL_RANGE_S = (2, 3600)


def rotation(rotate: str | None) -> tuple[bool, int]:
    """(on, dwell ms) from the page's ``?rotate=``: ``0`` off, ``1`` (or nothing, or anything
    unreadable) on at the default dwell, ``N`` on at N seconds a view (clamped), so a hall sets its
    rhythm in the wall PC's URL."""
    text = (rotate or "1").strip()
    if text == "0":
        return False, ROTATE_DWELL_S * 1000
    try:
        seconds = int(text)
    except ValueError:
        return True, ROTATE_DWELL_S * 1000
    lo, hi = ROTATE_DWELL_RANGE_S
    return True, 1000 * (ROTATE_DWELL_S if seconds == 1 else min(hi, max(lo, seconds)))


def _list_meta(rows: list[dict], key: str, sort: Any, limit: int, order: Any = None) -> dict[str, Any]:
    """What live.js keeps per slotted list (``panels.slotted``): per slot its row's key, sort value
    and CSS order (None/0 for an empty slot), and the number of slots."""
    rows = rows[:limit]
    pad = [None] * (limit - len(rows))
    return {"keys": [str(r.get(key)) for r in rows] + pad, "sorts": [sort(r) for r in rows] + pad,
            "orders": [order(r) if order else i for i, r in enumerate(rows)] + [0] * len(pad), "max": limit}


def wall(ctx: ScreenContext, *, with_map: bool = True) -> dict[str, Any]:
    """Everything the wall shows, as panel children / figures, and the meta for live.js.

    ``with_map=False`` (a resync) leaves the map figure out: the caller patches its heat.
    """
    seq = ctx.delta_seq()  # first: anything published after this is replayed on top
    r = ctx.reader
    now = r.now()
    names, geo = ctx.names, ctx.geo
    kpis = reads.kpis_today(r)
    backlog = reads.backlog_by_dept(r)
    alerts = reads.alerts(r, limit=WALL_ALERTS_MAX, masked=True)
    n_alerts = len(reads.alerts(r, limit=1000, masked=True)) if len(alerts) >= WALL_ALERTS_MAX else len(alerts)
    ticker = reads.latest_reports(r, limit=TICKER_MAX, masked=True, now=now)
    hourly, daily = reads.trend(r, now=now)
    start, end = reads.window_bounds("today", now)
    counts = reads.frequent(r, start, end)
    hotspots = wall_hotspots(ctx, now)
    cast = ctx.get_cast()
    view = (cast or {}).get("view") or geo.focus_views()[0]
    fig = heat_layer = None
    if with_map:
        fig = figures.wall_map(outlines=geo.outlines(), center=view["center"], zoom=view["zoom"],
                               basemap_url=ctx.settings.basemap_url)
        heat_layer = wall_heat(ctx, None, now=now)
    meta = {
        "seq": seq, "at": now, "page": "wall",
        "lists": {ids.WALL_ALERTS: _list_meta(alerts, "id", panels.alert_sort, WALL_ALERTS_MAX, panels.alert_order),
                  ids.WALL_TICKER: _list_meta(ticker, "id", panels.ticker_sort, TICKER_MAX)},
        "views": geo.focus_views(), "cast": cast,
    }  # no "rotate": it is the page's own setting (?rotate=0, pages/wall.py); a resync must not reset it
    return {
        "meta": meta,
        "kpis": panels.kpi_tiles(kpis),
        "backlog": panels.backlog_bars(backlog, names),
        "alerts": panels.alert_list(alerts, names, limit=WALL_ALERTS_MAX, list_id=ids.WALL_ALERTS),
        "alert_count": str(n_alerts),
        "ticker": panels.ticker_list(ticker, names, limit=TICKER_MAX, list_id=ids.WALL_TICKER),
        "topissues": panels.top_issues(counts, names),
        "hotspots": panels.hotspot_rows(hotspots, names),
        "trend": figures.trend_figure(hourly, daily) if with_map else None,
        "trend_patch": figures.trend_patch(hourly, daily),
        "map": fig,
        "heat": heat_layer,
        "focus": [view["name"], _sub(view.get("sub") or "")],
        "cast": f"领导投屏 · {cast.get('label', '')}" if cast else "",
    }


def _sub(text: str) -> Any:
    from dash import html

    return html.Span(text, className="sub")


def _heat_inputs(ctx: ScreenContext, view: str | None, now: int) -> tuple[str, list[str], dict, dict]:
    """(GeoJSON url, cells, counts, markers) of the wall's live layers for a focus ``view`` (a
    street code: that street's fine cells; else the district's coarse ones): today's counts, or
    the cast window's, and the reports of the last ``MARKER_FADE_MS``."""
    r = ctx.reader
    start, end = reads.window_bounds("today", now)
    cast = ctx.get_cast()
    if cast and cast.get("window"):
        start, end = reads.window_bounds(cast["window"], now, cast.get("start_day"), cast.get("end_day"))
    url, cells, res = ctx.geo.heat_layer(view)
    heat = reads.heat(r, start, end, res)
    recent = reads.latest_reports(r, limit=200, lookback_ms=figures.MARKER_FADE_MS, masked=True, now=now)
    return url, cells, heat, figures.marker_arrays(recent, now)


def wall_heat(ctx: ScreenContext, view: str | None = None, *, now: int | None = None) -> dict[str, Any]:
    """The wall's live layers in full (the page's first data)."""
    now = ctx.reader.now() if now is None else now
    url, cells, heat, markers = _heat_inputs(ctx, view, now)
    return figures.heat_layer(url=url, cells=cells, counts=heat, markers=markers,
                              featureidkey=ctx.geo.featureidkey, now_ms=now)


def wall_map_patch(ctx: ScreenContext, view: str | None = None, *, new_view: bool = True) -> Any:
    """The live layers' catch-up (a Patch of :func:`wall_heat`'s data): counts and markers; on a
    ``new_view`` the layer's GeoJSON and cells change too."""
    now = ctx.reader.now()
    url, cells, heat, markers = _heat_inputs(ctx, view, now)
    return figures.heat_patch(cells, heat, markers, geojson_url=url if new_view else None, now_ms=now)


def wall_hotspots(ctx: ScreenContext, now: int, limit: int = 6) -> list[dict]:
    """Emerging hotspots (``geo.hotspots.emerging_hotspots``): today's count per (grid, category)
    against the mean of the previous seven days."""
    return emerging(ctx, now)[:limit]


def emerging(ctx: ScreenContext, now: int, baseline_days: int = 7) -> list[dict]:
    import pandas as pd

    from geo.hotspots import emerging_hotspots

    r = ctx.reader
    t0, t1 = reads.window_bounds("today", now)
    rows = []
    for period in range(baseline_days + 1):
        a = t0 - period * reads.DAY_MS
        for row in reads.frequent(r, a, a + reads.DAY_MS):
            rows.append((row["grid"], row["category"], period, int(row["count"])))
    if not rows:
        return []
    counts = pd.DataFrame(rows, columns=["unit", "category", "period", "count"])
    dept_of = {c.code: c.dept for c in ctx.catalog.categories.values() if c.dept}
    found = emerging_hotspots(counts, ctx.geo.places_frame(), dept_of, baseline_periods=baseline_days)
    return [{"grid": str(h.grid_id or h.unit), "key": str(h.unit), "street": str(h.street_code or ""),
             "category": str(h.category), "dept": str(h.dept or ""), "count": int(h.count),
             "baseline": float(h.baseline)} for h in found.itertuples()]


def duty(ctx: ScreenContext, street: str | None = None, dept: str | None = None) -> dict[str, Any]:
    """The duty console: the live alert queue (filtered), its count and the handled history."""
    seq = ctx.delta_seq()
    r = ctx.reader
    now = r.now()
    alerts = reads.alerts(r, limit=1000, masked=True)
    total = len(alerts)
    shown = [a for a in alerts if _matches(a, street, dept)][:DUTY_ALERTS_MAX]
    history = reads.alert_history(r, limit=50)
    meta = {"seq": seq, "at": now, "page": "duty", "filters": {"street": street or "", "dept": dept or ""},
            "lists": {ids.DUTY_QUEUE: _list_meta(shown, "id", panels.alert_sort, DUTY_ALERTS_MAX, panels.alert_order)}}
    return {
        "meta": meta,
        "queue": panels.alert_list(shown, ctx.names, variant="duty", limit=DUTY_ALERTS_MAX, list_id=ids.DUTY_QUEUE),
        "count": str(total),
        "history": [panels.history_row(a, ctx.names) for a in history],
    }


def _matches(alert: dict, street: str | None, dept: str | None) -> bool:
    s = alert.get("case_summary") or {}
    return (not street or s.get("street") == street) and (not dept or s.get("dept") == dept)
