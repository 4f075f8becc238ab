"""Assembling the /tablet view from a query: map, KPIs, comparison, trend, lists, detail.

One ``render`` serves live mode and playback (``as_of`` = the playback clock), so the map, the
counters, the trend and the lists always show the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from dash import Patch, html

from dashboard import consult, figures, panels, reads
from dashboard import formatting as fmt
from dashboard.consult import Query
from dashboard.context import ScreenContext
from dashboard.geodata import CHILD

#: The tablet's map is smaller than the wall's: zoom out from the wall-sized fit.
TABLET_ZOOM_OFFSET = -1.0
LEVEL_NAMES = {"district": "区", "street": "镇街", "community": "社区/村", "grid": "网格", "case": "案件"}


@dataclass
class TabletView:
    crumbs: Any
    map: Any
    kpis: Any
    compare: Any
    trend: Any
    list_title: Any
    list: Any
    hotspots: Any
    detail: Any
    play_label: Any
    meta: Any


# --- navigation -------------------------------------------------------------------------------
def scope_after_nav(ctx: ScreenContext, scope: dict, nav: str | None) -> dict:
    """A tap on a list row / breadcrumb (``level|code``) -> the new scope (detail kept separately)."""
    if not nav or "|" not in nav:
        return scope
    level, code = nav.split("|", 1)
    if level == "case":
        return {**scope, "detail": {"kind": "case", "id": code}}
    if level == "hotspot":
        return {**scope, "detail": {"kind": "hotspot", "id": code}}
    if level in ("district", "street", "community", "grid"):
        return {"level": level, "code": code}
    return scope


def scope_after_map_click(ctx: ScreenContext, scope: dict, click: dict | None) -> dict:
    """A tap on the map: a child polygon drills down; a case marker opens the case."""
    try:
        point = (click or {})["points"][0]
    except (KeyError, IndexError, TypeError):
        return scope
    code = str(point.get("customdata") if point.get("customdata") is not None else point.get("location", ""))
    if isinstance(point.get("customdata"), list):
        code = str(point["customdata"][0])
    level = scope.get("level", "district")
    if level == "grid":
        return {**scope, "detail": {"kind": "case", "id": code}}
    child = CHILD.get(level, "")
    if ctx.geo.place(child, code) is None:
        return scope
    return {"level": child, "code": code}


# --- the render --------------------------------------------------------------------------------
def render(ctx: ScreenContext, scope: dict | None, window: str | None, start_day: str | None, end_day: str | None,
           filters: dict, compare: bool, play: dict | None, clock_t: int | None, *,
           patch_map: bool = False) -> TabletView:
    scope = scope or {"level": "district", "code": ctx.geo.district.code}
    q = Query.from_inputs(scope, window, start_day, end_day, filters, play, clock_t)
    now = ctx.now() if q.as_of is None else q.as_of
    seq = ctx.delta_seq()
    start, end = q.bounds(ctx.now())
    reports = consult.filter_reports(consult.reports_in(ctx, start, end), q)
    names, geo = ctx.names, ctx.geo
    level, code = q.level, q.code or geo.district.code

    # map + list: children of the scope (or the grid's cases)
    if level == "grid":
        child_counts: dict[str, int] = {}
        rows: list[dict] = []
        cases = sorted(reports, key=lambda r: -int(r.get("received_at") or 0))
        list_title = f"{names.grid(code)} · 案件（{len(cases)}）"
        list_children = panels.case_rows(cases[:60], names)
    else:
        child = CHILD[level]
        child_counts = dict(consult.count_by(reports, consult.LEVEL_FIELD[child]))
        rows = consult.children_rows(geo, level, code, child_counts,
                                     consult.child_backlog(ctx, level, code) if q.as_of is None else {})
        list_title = f"下级{LEVEL_NAMES[child]}（{len(rows)}）· 点按下钻"
        list_children = panels.drill_rows(rows, child)
    fig = _map(ctx, level, code, rows, reports, patch_map)

    # KPIs (engine) and comparison
    kpis = _kpis(ctx, q, start, end, now, reports)
    kpi_children = _kpi_tiles(kpis)
    compare_children: Any = None
    if compare and q.as_of is None:
        pa, pb = reads.previous_bounds(start, end)
        prev = _kpis(ctx, q, pa, pb, ctx.now(), consult.filter_reports(consult.reports_in(ctx, pa, pb), q))
        compare_children = html.Div([
            html.Div("两期对比", className="panel-title"),
            panels.compare_table(kpis, prev, reads.window_label(q.window, start, end),
                                 f"上一周期（{fmt.day_str(pa)} 至 {fmt.day_str(pb - 1)}）"),
        ], className="panel compare-panel", id="compare-table")

    # trend: playback -> hourly up to the clock; live -> daily over the window (engine for street/district)
    if q.as_of is not None:
        series = consult.hourly_series(reports, start, start + 24 * 3_600_000)
        trend = _bars([fmt.hm(s["hour"]) for s in series], [s["received"] for s in series], "回放：每小时受理")
    else:
        days = consult.daily_series(reports, start, end)
        trend = _bars([d["date"][5:] for d in days], [d["count"] for d in days],
                      f"{reads.window_label(q.window, start, end)} · 每日受理（已筛选）")

    hot = _hotspots(ctx, q, reports)
    detail = _detail(ctx, scope.get("detail"))
    crumbs = _crumbs(ctx, level, code)
    label = "实时" if q.as_of is None else f"回放 {fmt.md_hm(q.as_of)}:{fmt.local_dt(q.as_of).strftime('%S')}"
    meta = {"seq": seq, "at": ctx.now(), "page": "tablet"}
    return TabletView(crumbs, fig, kpi_children, compare_children, trend, list_title, list_children, hot, detail,
                      label, meta)


def _kpis(ctx: ScreenContext, q: Query, start: int, end: int, now: int, reports: list) -> dict:
    values: dict[str, Any] = {}
    try:
        values = dict(reads.kpis_between(ctx.reader, start, end, q.kpi_scope, now=now))
    except (NotImplementedError, ValueError):
        values = {}
    if q.level in ("community", "grid") or any(k in dict(q.filters) for k in ("category", "channel", "level")):
        values["received"] = len(reports)  # the engine's KPIs are per district/street/department
    return values


def _kpi_tiles(values: dict) -> list:
    """The wall's tiles without its "today": on the tablet the window (or the playback) says when."""
    return panels.kpi_tiles(values, prefix="tab-kpi-", labels={"received": "受理", "closed": "办结"})


def _map(ctx: ScreenContext, level: str, code: str, rows: list[dict], reports: list, patch_map: bool) -> Any:
    geo = ctx.geo
    if level == "grid":
        place = geo.place("grid", code)
        markers = [{"id": r.get("id"), "lat": r.get("lat"), "lon": r.get("lon"), "sla": r.get("sla"),
                    "label": f"{ctx.names.category(r.get('category'))} {fmt.md_hm(r.get('received_at'))}"}
                   for r in reports if r.get("lat") is not None]
        if patch_map:
            p = Patch()
            return p  # markers change little within a grid during playback; keep the figure
        return figures.choropleth_map(geojson_url=geo.url("grid"), locations=[code], z=[0], names=[place.name if place else code],
                                      center=place.center if place else geo.district.center,
                                      zoom=(place.zoom if place else 12) + TABLET_ZOOM_OFFSET, outlines=[(geo.url("grid"), "#56b4e9", 2.0)],
                                      markers=markers, basemap_url=ctx.settings.basemap_url,
                                      uirevision=f"grid-{code}")
    child = CHILD[level]
    rows = sorted(rows, key=lambda r: r["code"])  # the map's order is fixed (the list's follows the counts)
    locations = [r["code"] for r in rows]
    z = [r["count"] for r in rows]
    if patch_map:
        p = Patch()
        p["data"][0]["z"] = z
        p["data"][0]["zmax"] = max(1, max(z) if z else 1)
        return p
    place = geo.district if level == "district" else geo.place(level, code)
    return figures.choropleth_map(geojson_url=geo.url(child), locations=locations, z=z,
                                  names=[r["name"] for r in rows], center=place.center if place else geo.district.center,
                                  zoom=(place.zoom if place else geo.district.zoom) + TABLET_ZOOM_OFFSET,
                                  outlines=[(geo.url("street"), "rgba(86,180,233,0.9)", 1.5)],
                                  basemap_url=ctx.settings.basemap_url, uirevision=f"{level}-{code}")


def _bars(x: list, y: list, title: str) -> go.Figure:
    fig = figures.history_figure([{"date": "     " + str(a), "count": b} for a, b in zip(x, y, strict=True)], title)
    fig.update_layout(height=None)
    return fig


def _hotspots(ctx: ScreenContext, q: Query, reports: list) -> Any:
    from dashboard import snapshot

    hs = snapshot.emerging(ctx, ctx.now() if q.as_of is None else q.as_of)
    if q.level in ("street", "community") and q.code:
        key = "street" if q.level == "street" else None
        hs = [h for h in hs if (key and h.get("street") == q.code)
              or (q.level == "community" and ctx.geo.community_of_grid.get(h["grid"]) == q.code)]
    return panels.hotspot_rows(hs, ctx.names, clickable=True)


def _detail(ctx: ScreenContext, detail: dict | None) -> Any:
    if not detail:
        return html.Div("点按列表、地图或热点查看详情：案件全过程、各环节时钟；热点历史。", className="muted")
    if detail.get("kind") == "case":
        case = reads.case(ctx.reader, str(detail.get("id")), masked=False)
        if case is None:
            return html.Div(f"未找到案件 {detail.get('id')}", className="muted")
        return panels.case_timeline(case, ctx.names)
    if detail.get("kind") == "hotspot":
        grid = str(detail.get("id"))
        h = consult.hotspot_history(ctx, grid)
        names = ctx.names
        from dash import dcc

        return html.Div([
            html.H3(f"热点：{names.street(ctx.geo.street_of_grid.get(grid))} · {names.grid(grid)}", style={"margin": "0.2rem 0"}),
            html.Div(f"主要承办部门：{names.dept(h['dept'], short=False) if h['dept'] else '—'} · 主要问题："
                     + "、".join(f"{names.category(c)}（{n}）" for c, n in h["categories"]), className="muted"),
            dcc.Graph(figure=figures.history_figure(h["series"], "近30天每日上报"), config={"displayModeBar": False}),
            html.Div(panels.case_rows(h["cases"], names)),
        ], id="hotspot-detail")
    return None


def _crumbs(ctx: ScreenContext, level: str, code: str) -> list:
    out: list[Any] = []
    for i, (lv, c, name) in enumerate(consult.scope_chain(ctx.geo, level, code)):
        if i:
            out.append(html.Span("›", className="sep"))
        out.append(html.Button(name, className="btn", **{"data-nav": panels.nav(lv, c)}))
    return out


# --- playback -----------------------------------------------------------------------------------
def toggle_play(ctx: ScreenContext, state: dict, day: str | None, speed: int | None) -> dict:
    """Start (or stop) replaying a day (or the last 24 h) at ``speed``× on one clock."""
    if state.get("active"):
        return {"active": False}
    now = ctx.now()
    if not day or day == "last24h":
        start, end = now - 24 * 3_600_000, now
    else:
        start = fmt.day_to_ms(day)
        end = min(start + 24 * 3_600_000, now)
    return {"active": True, "playing": True, "start": start, "end": end, "speed": int(speed or 300)}


# --- cast to the wall ----------------------------------------------------------------------------
def cast_view(ctx: ScreenContext, scope: dict, window: str, start_day: str | None, end_day: str | None) -> str:
    level, code = scope.get("level", "district"), scope.get("code", ctx.geo.district.code)
    view = ctx.geo.view_of(level, code, sub="领导投屏") if level != "district" else None
    if view is None:
        d = ctx.geo.district
        view = {"name": d.name, "center": d.center, "zoom": d.zoom, "code": d.code, "sub": "领导投屏"}
    start, end = reads.window_bounds(window, ctx.now(), start_day, end_day)
    label = f"{ctx.names.place(level, code) if level != 'district' else ctx.geo.district.name} · " \
            f"{reads.window_label(window, start, end)}"
    payload = {"label": label, "view": view, "level": level, "code": code, "window": window,
               "start_day": start_day, "end_day": end_day, "at": ctx.now()}
    ctx.set_cast(payload)
    if ctx.socketio is not None:
        ctx.socketio.emit("cast", payload, to="wall", namespace="/")
    return label


def release_cast(ctx: ScreenContext) -> None:
    ctx.set_cast(None)
    if ctx.socketio is not None:
        ctx.socketio.emit("cast", None, to="wall", namespace="/")
