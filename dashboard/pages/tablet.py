"""/tablet — leaders' consultation (会商研判): drill-down, filters, comparison, hotspot history,
case timeline, time playback, cast to the wall. Layout only; touch first (44 px targets)."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard import auth, formatting, ids, panels
from dashboard.context import ScreenContext
from dashboard.reads import WINDOWS

GRAPH_CONFIG = {"displayModeBar": False, "scrollZoom": True, "responsive": True}


def _dropdown(id_: str, options: list[dict], placeholder: str) -> Any:
    return dcc.Dropdown(options, None, id=id_, placeholder=placeholder, clearable=True, searchable=False,
                        style={"minWidth": "10rem"})


def layout(ctx: ScreenContext, token: str | None = None, **_query: Any) -> Any:
    role = auth.current_role(ctx.settings, token)
    if not auth.may_view(role, "tablet"):
        return panels.login_panel("会商研判 /tablet")
    geo, cat = ctx.geo, ctx.catalog
    now = ctx.now()
    days = [{"label": "最近24小时", "value": "last24h"}] + [
        {"label": formatting.day_str(now - i * 86_400_000), "value": formatting.day_str(now - i * 86_400_000)}
        for i in range(0, 8)]
    head = html.Div([
        html.H1("会商研判"),
        html.Span("合成数据 · 演示" if geo.synthetic else "", className="synthetic" if geo.synthetic else ""),
        html.Div(id=ids.TAB_CRUMBS, className="crumbs"),
        html.Div(className="spacer"),
        html.Span(["数据截至 ", html.B("--:--:--", id=ids.ASOF)], className="asof"),
        html.Span(className="conn", id=ids.CONN_DOT, title="实时连接"),
        html.Span("--:--:--", id=ids.CLOCK, className="wall-clock"),
    ], className="tab-head")
    filters = html.Div([
        dcc.RadioItems([{"label": v[0], "value": k} for k, v in WINDOWS.items()] + [{"label": "自定义", "value": "custom"}],
                       "today", id=ids.TAB_WINDOW, inline=True),
        dcc.DatePickerRange(id=ids.TAB_RANGE, display_format="YYYY-MM-DD", start_date_placeholder_text="开始",
                            end_date_placeholder_text="结束"),
        _dropdown(ids.TAB_CATEGORY, [{"label": c.name, "value": c.code} for c in cat.categories.values()], "全部类别"),
        _dropdown(ids.TAB_DEPT, [{"label": d.short, "value": d.code} for d in cat.departments.values()], "全部部门"),
        _dropdown(ids.TAB_CHANNEL, [{"label": c.name, "value": c.code} for c in cat.channels.values()], "全部渠道"),
        _dropdown(ids.TAB_LEVEL, [{"label": n, "value": str(k)} for k, n in sorted(
            {1: "网格自处", 2: "村社处置", 3: "镇街处置", 4: "区级处置"}.items())], "全部等级"),
        dcc.Checklist([{"label": "对比上一周期", "value": "on"}], [], id=ids.TAB_COMPARE, inline=True),
    ], className="filters")
    play = html.Div([
        html.Span("时间回放", className="muted"),
        dcc.Dropdown(days, "last24h", id=ids.TAB_PLAY_DAY, clearable=False, searchable=False, style={"minWidth": "11rem"}),
        dcc.RadioItems([{"label": f"{s}×", "value": s} for s in (60, 300, 900, 3600)], 300, id=ids.TAB_PLAY_SPEED,
                       inline=True),
        html.Button("▶ 回放", id=ids.TAB_PLAY, className="btn primary", n_clicks=0),
        html.Span("实时", id=ids.TAB_PLAY_LABEL, className="play-label"),
        html.Div(style={"flex": "1"}),
        html.Button("投屏到大屏", id=ids.TAB_CAST, className="btn warn", n_clicks=0),
        html.Button("收回投屏", id=ids.TAB_RELEASE, className="btn", n_clicks=0),
    ], className="play")
    body = html.Div([
        html.Div([
            html.Div(dcc.Graph(id=ids.TAB_MAP, config=GRAPH_CONFIG, style={"height": "100%"}),
                     className="panel tab-map"),
            html.Div([html.Div("趋势", className="panel-title"),
                      dcc.Graph(id=ids.TAB_TREND, config={"displayModeBar": False}, style={"height": "16rem"})],
                     className="panel"),
            html.Div([html.Div("热点", className="panel-title"), html.Div(id=ids.TAB_HOTSPOTS, className="drill-list")],
                     className="panel"),
        ], className="tab-right"),
        html.Div([
            html.Div(id=ids.TAB_KPIS, className="tab-kpis"),
            html.Div(id=ids.TAB_COMPARE_PANEL),
            html.Div([html.Div(id=ids.TAB_LIST_TITLE, className="panel-title"),
                      html.Div(id=ids.TAB_LIST, className="drill-list")], className="panel"),
            html.Div(id=ids.TAB_DETAIL, className="panel detail"),
        ], className="tab-right"),
    ], className="tab-body")
    return html.Div([
        *panels.live_stores("tablet", {"seq": 0, "page": "tablet"}),
        dcc.Store(id=ids.TAB_SCOPE, data={"level": "district", "code": geo.district.code}),
        dcc.Store(id=ids.TAB_NAV), dcc.Store(id=ids.TAB_LIVE), dcc.Store(id=ids.TAB_PLAY_CLOCK),
        dcc.Store(id=ids.TAB_PLAY_STATE, data={"active": False}),
        head, filters, play, body,
    ], id=ids.TABLET, className="tablet", **{ids.SCREEN_MARK: "tablet"})
