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


def _list_meta(rows: list[dict], key: str, sort: Any, limit: int) -> dict[str, Any]:
    rows = rows[:limit]
    return {"keys": [str(r.get(key)) for r in rows], "sorts": [sort(r) for r in rows], "max": limit}


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
    fig = None
    if with_map:
        heat = reads.heat(r, start, end, geo.heat_res)
        recent = [t for t in ticker if now - int(t.get("received_at") or 0) < figures.MARKER_FADE_MS]
        fig = figures.wall_map(heat_url=geo.heat_url, cells=geo.heat_cells, counts=heat,
                               outlines=geo.outlines(), center=view["center"], zoom=view["zoom"],
                               markers=figures.marker_arrays(recent, now), basemap_url=ctx.settings.basemap_url,
                               featureidkey=geo.featureidkey)
    meta = {
        "seq": seq, "at": now, "page": "wall",
        "lists": {ids.WALL_ALERTS: _list_meta(alerts, "id", panels.alert_sort, WALL_ALERTS_MAX),
                  ids.WALL_TICKER: _list_meta(ticker, "id", panels.ticker_sort, TICKER_MAX)},
        "views": geo.focus_views(), "rotate": True, "cast": cast,
    }
    return {
        "meta": meta,
        "kpis": panels.kpi_tiles(kpis),
        "backlog": panels.backlog_bars(backlog, names),
        "alerts": panels.alert_list(alerts, names, limit=WALL_ALERTS_MAX),
        "alert_count": str(n_alerts),
        "ticker": panels.ticker_list(ticker, names, limit=TICKER_MAX),
        "topissues": panels.top_issues(counts, names),
        "hotspots": panels.hotspot_rows(hotspots, names),
        "trend": figures.trend_figure(hourly, daily) if with_map else None,
        "trend_patch": figures.trend_patch(hourly, daily),
        "map": fig,
        "focus": [view["name"], _sub(view.get("sub") or "")],
        "cast": f"领导投屏 · {cast.get('label', '')}" if cast else "",
    }


def _sub(text: str) -> Any:
    from dash import html

    return html.Span(text, className="sub")


def wall_map_patch(ctx: ScreenContext) -> Any:
    """The heat layer's catch-up: z values of today's counts and the fading live markers."""
    r = ctx.reader
    now = r.now()
    start, end = reads.window_bounds("today", now)
    cast = ctx.get_cast()
    if cast and cast.get("window"):
        start, end = reads.window_bounds(cast["window"], now, cast.get("start_day"), cast.get("end_day"))
    heat = reads.heat(r, start, end, ctx.geo.heat_res)
    recent = reads.latest_reports(r, limit=200, lookback_ms=figures.MARKER_FADE_MS, masked=True, now=now)
    return figures.heat_patch(ctx.geo.heat_cells, heat, figures.marker_arrays(recent, now))


def wall_hotspots(ctx: ScreenContext, now: int) -> list[dict]:
    """Emerging hotspots from ``geo.hotspots`` (when present) over today's per-grid counts."""
    try:
        from geo import hotspots as hs  # type: ignore[attr-defined]
    except ImportError:
        return emerging_grids(ctx, now)
    fn = getattr(hs, "emerging_hotspots", None)
    if fn is None:
        return emerging_grids(ctx, now)
    return list(fn(ctx, now))  # pragma: no cover - wired when geo.hotspots lands


def emerging_grids(ctx: ScreenContext, now: int, baseline_days: int = 14, limit: int = 6) -> list[dict]:
    """Grids whose count today most exceeds their recent daily average (a simple stand-in ranking)."""
    r = ctx.reader
    t0, t1 = reads.window_bounds("today", now)
    today = reads.frequent(r, t0, t1)
    base = reads.frequent(r, t0 - baseline_days * reads.DAY_MS, t0)
    per_grid_today: dict[str, int] = {}
    top_cat: dict[str, tuple[int, str]] = {}
    for row in today:
        g = str(row.get("grid"))
        n = int(row.get("count") or 0)
        per_grid_today[g] = per_grid_today.get(g, 0) + n
        if n > top_cat.get(g, (0, ""))[0]:
            top_cat[g] = (n, str(row.get("category")))
    per_grid_base: dict[str, int] = {}
    for row in base:
        g = str(row.get("grid"))
        per_grid_base[g] = per_grid_base.get(g, 0) + int(row.get("count") or 0)
    scored = []
    for g, n in per_grid_today.items():
        mean = per_grid_base.get(g, 0) / baseline_days
        if n >= 2 and n > 2 * mean:
            scored.append({"grid": g, "count": n, "score": (n - mean) / (mean + 1), "category": top_cat[g][1],
                           "street": ctx.geo.street_of_grid.get(g), "key": g})
    scored.sort(key=lambda h: (-h["score"], -h["count"]))
    return scored[:limit]


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
            "lists": {ids.DUTY_QUEUE: _list_meta(shown, "id", panels.alert_sort, DUTY_ALERTS_MAX)}}
    return {
        "meta": meta,
        "queue": panels.alert_list(shown, ctx.names, variant="duty", limit=DUTY_ALERTS_MAX),
        "count": str(total),
        "history": [panels.history_row(a, ctx.names) for a in history] or [panels.empty("暂无已处理告警")],
    }


def _matches(alert: dict, street: str | None, dept: str | None) -> bool:
    s = alert.get("case_summary") or {}
    return (not street or s.get("street") == street) and (not dept or s.get("dept") == dept)
