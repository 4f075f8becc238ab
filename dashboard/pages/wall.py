"""/wall — the video wall's one-screen overview (一屏统揽). Layout only."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard import auth, ids, panels, snapshot
from dashboard.context import ScreenContext

GRAPH_CONFIG = {"displayModeBar": False, "scrollZoom": False, "doubleClick": False, "responsive": True}


def layout(ctx: ScreenContext, token: str | None = None, rotate: str = "1", **_query: Any) -> Any:
    role = auth.current_role(ctx.settings, token)
    if not auth.may_view(role, "wall"):
        return panels.login_panel("大屏 /wall")
    snap = snapshot.wall(ctx)
    rotating, dwell_ms = snapshot.rotation(rotate)
    snap["meta"]["rotate"] = rotating
    geo = ctx.geo
    head = html.Div([
        html.Div(f"{geo.name}社会治理中心 · 一屏统揽", className="wall-title"),
        html.Span("合成数据 · 演示" if geo.synthetic else "", className="synthetic" if geo.synthetic else ""),
        html.Div(className="spacer"),
        html.Span(["数据截至 ", html.B("--:--:--", id=ids.ASOF)], className="asof"),
        html.Span(className="conn", id=ids.CONN_DOT, title="实时连接"),
        html.Span("--:--:--", id=ids.CLOCK, className="wall-clock"),
    ], className="wall-head")
    left = html.Div([
        html.Div([html.Div("今日态势", className="panel-title"),
                  html.Div(snap["kpis"], id=ids.WALL_KPIS, className="kpis")], className="panel"),
        html.Div([html.Div("部门积压", className="panel-title"), panels.backlog_legend(),
                  html.Div(snap["backlog"], id=ids.WALL_BACKLOG, className="bars", style={"marginTop": "0.4rem"})],
                 className="panel", style={"flex": "1"}),
    ], className="col")
    center = html.Div([
        html.Div([
            dcc.Graph(id=ids.WALL_MAP, figure=snap["map"], config=GRAPH_CONFIG, className="graph",
                      style={"height": "100%"}),
            html.Canvas(id=ids.WALL_HEAT_CANVAS, className="heat-overlay"),
            html.Div(snap["focus"], id=ids.WALL_FOCUS, className="map-caption"),
            html.Div(snap["cast"], id=ids.WALL_CAST, className="cast-badge"),
            html.Div("热力：今日上报数（H3 网格，聚焦镇街时更细）· 圆点：10 分钟内新上报 · 线：镇街边界（聚焦时含网格）",
                     className="map-legend"),
        ], className="panel map-panel"),
        html.Div([html.Div(["受理与办结趋势"], className="panel-title"),
                  dcc.Graph(id=ids.WALL_TREND, figure=snap["trend"], config=GRAPH_CONFIG, className="graph",
                            style={"height": "100%"})], className="panel trend-panel"),
    ], className="col")
    right = html.Div([
        html.Div([html.Div(["超期 / 临期告警", html.Span(["共 ", html.Span(snap["alert_count"], id=ids.WALL_ALERT_COUNT),
                                                   " 条"], className="sub")], className="panel-title"),
                  html.Ul(snap["alerts"], id=ids.WALL_ALERTS, className="alert-list", **{"data-empty": "当前无临期、超期告警"})], className="panel alerts"),
        html.Div([
            html.Div([html.Div("高频问题 · 今日", className="panel-title"),
                      html.Ul(snap["topissues"], id=ids.WALL_TOPISSUES, className="rank-list")], className="panel"),
            html.Div([html.Div("新发热点", className="panel-title"),
                      html.Ul(snap["hotspots"], id=ids.WALL_HOTSPOTS, className="rank-list")], className="panel"),
        ], className="two"),
        html.Div([html.Div(["最新上报", html.Span("个人信息已脱敏", className="sub")], className="panel-title"),
                  html.Ul(snap["ticker"], id=ids.WALL_TICKER, className="ticker-list", **{"data-empty": "暂无上报"})], className="panel ticker"),
    ], className="col")
    return html.Div([
        *panels.live_stores("wall", snap["meta"]),
        dcc.Store(id=ids.WALL_MAP_TICK), dcc.Store(id=ids.WALL_MAP_DONE), dcc.Store(id=ids.WALL_HEAT, data=snap["heat"]),
        head,
        html.Div([left, center, right], className="wall-body"),
    ], id=ids.WALL, className="wall", **{ids.SCREEN_MARK: "wall", "data-rotate-ms": str(dwell_ms)})
