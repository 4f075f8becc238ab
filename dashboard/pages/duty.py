"""/duty — the duty officers' alert console (值班告警台). Layout only."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard import auth, ids, panels, snapshot
from dashboard.context import ScreenContext


def layout(ctx: ScreenContext, token: str | None = None, **_query: Any) -> Any:
    role = auth.current_role(ctx.settings, token)
    if not auth.may_view(role, "duty"):
        return panels.login_panel("值班台 /duty")
    snap = snapshot.duty(ctx)
    names, geo = ctx.names, ctx.geo
    streets = [{"label": p.name, "value": c} for c, p in sorted(geo.places["street"].items())]
    depts = [{"label": d.name, "value": d.code} for d in ctx.catalog.departments.values()]
    head = html.Div([
        html.H1("值班告警台"),
        html.Span("合成数据 · 演示" if geo.synthetic else "", className="synthetic" if geo.synthetic else ""),
        html.Span(["在办告警 ", html.B(snap["count"], id=ids.DUTY_COUNT), " 条"]),
        html.Div(className="spacer"),
        html.Span(["数据截至 ", html.B("--:--:--", id=ids.ASOF)], className="asof"),
        html.Span(className="conn", id=ids.CONN_DOT, title="实时连接"),
        html.Span("--:--:--", id=ids.CLOCK, className="wall-clock"),
    ], className="duty-head")
    filters = html.Div([
        html.Label("镇街"), dcc.Dropdown(streets, None, id=ids.DUTY_STREET, placeholder="全部镇街", clearable=True),
        html.Label("部门"), dcc.Dropdown(depts, None, id=ids.DUTY_DEPT, placeholder="全部部门", clearable=True),
        dcc.Checklist([{"label": "声音提示", "value": "on"}], [], id=ids.DUTY_SOUND),
        html.Label("值班员"), dcc.Input(id=ids.DUTY_ACTOR, placeholder="姓名", className="note-input",
                                     style={"width": "9rem"}, debounce=False),
        dcc.Input(id=ids.DUTY_NOTE, placeholder="备注 / 催办说明（可选）", className="note-input",
                  style={"width": "24rem"}, debounce=False),
    ], className="filters")
    body = html.Div([
        html.Div([html.Div("告警队列 · 按紧急程度", className="panel-title"),
                  html.Ul(snap["queue"], id=ids.DUTY_QUEUE, className="queue alert-list",
                          **{"data-empty": "当前无临期、超期告警"})], className="panel"),
        html.Div([html.Div("已处理告警", className="panel-title"),
                  html.Ul(snap["history"], id=ids.DUTY_HISTORY, className="queue", **{"data-empty": "暂无已处理告警"})], className="panel"),
    ], className="duty-body")
    del names
    return html.Div([
        *panels.live_stores("duty", snap["meta"]),
        dcc.Store(id=ids.DUTY_ACTION),
        head, filters, body,
    ], id=ids.DUTY, className="duty", **{ids.SCREEN_MARK: "duty"})
