"""/tablet callbacks: navigation (taps on lists, map and breadcrumbs), the view render (one
function for live and playback, so every panel moves on one clock), playback control, cast."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, html, no_update
from dash import ctx as dash_ctx

from dashboard import auth, ids, tablet_view
from dashboard.callbacks.common import register_meta_sink
from dashboard.context import ScreenContext

ON_PLAY_STATE = "function (s) { if (window.Live && window.Live.onPlayState) { window.Live.onPlayState(s); }" \
                " return window.dash_clientside.no_update; }"


def register(app: Dash, ctx: ScreenContext) -> None:
    register_meta_sink(app, "tablet")

    @app.callback(Output(ids.TAB_SCOPE, "data"), Input(ids.TAB_NAV, "data"), Input(ids.TAB_MAP, "clickData"),
                  State(ids.TAB_SCOPE, "data"), prevent_initial_call=True)
    def navigate(nav: dict | None, click: dict | None, scope: dict | None) -> Any:
        if dash_ctx.triggered_id == ids.TAB_MAP:
            return tablet_view.scope_after_map_click(ctx, scope or {}, click)
        return tablet_view.scope_after_nav(ctx, scope or {}, (nav or {}).get("nav"))

    @app.callback(
        Output(ids.TAB_CRUMBS, "children"), Output(ids.TAB_MAP, "figure"), Output(ids.TAB_KPIS, "children"),
        Output(ids.TAB_COMPARE_PANEL, "children"), Output(ids.TAB_TREND, "figure"),
        Output(ids.TAB_LIST_TITLE, "children"), Output(ids.TAB_LIST, "children"), Output(ids.TAB_HOTSPOTS, "children"),
        Output(ids.TAB_DETAIL, "children"), Output(ids.TAB_PLAY_LABEL, "children"), Output(ids.meta("tablet"), "data"),
        Input(ids.TAB_SCOPE, "data"), Input(ids.TAB_WINDOW, "value"), Input(ids.TAB_RANGE, "start_date"),
        Input(ids.TAB_RANGE, "end_date"), Input(ids.TAB_CATEGORY, "value"), Input(ids.TAB_DEPT, "value"),
        Input(ids.TAB_CHANNEL, "value"), Input(ids.TAB_LEVEL, "value"), Input(ids.TAB_COMPARE, "value"),
        Input(ids.TAB_PLAY_CLOCK, "data"), Input(ids.TAB_LIVE, "data"), Input(ids.resync("tablet"), "data"),
        State(ids.TAB_PLAY_STATE, "data"))
    def render(scope: dict | None, window: str | None, start_day: str | None, end_day: str | None,
               category: str | None, dept: str | None, channel: str | None, level: str | None,
               compare: list | None, clock_t: int | None, _live: Any, _resync: Any, play: dict | None) -> tuple:
        trigger = dash_ctx.triggered_id
        if trigger == ids.TAB_LIVE and play and play.get("active"):
            return (no_update,) * 11  # playback owns the clock: live data waits
        filters = {"category": category, "dept": dept, "channel": channel, "level": level}
        v = tablet_view.render(ctx, scope, window, start_day, end_day, filters, bool(compare), play, clock_t,
                               patch_map=trigger in (ids.TAB_PLAY_CLOCK, ids.TAB_LIVE))  # same scope: z only
        return (v.crumbs, v.map, v.kpis, v.compare, v.trend, v.list_title, v.list, v.hotspots, v.detail,
                v.play_label, v.meta)

    @app.callback(Output(ids.TAB_PLAY_STATE, "data"), Output(ids.TAB_PLAY, "children"), Output(ids.TAB_PLAY_CLOCK, "data"),
                  Input(ids.TAB_PLAY, "n_clicks"), State(ids.TAB_PLAY_STATE, "data"), State(ids.TAB_PLAY_DAY, "value"),
                  State(ids.TAB_PLAY_SPEED, "value"), prevent_initial_call=True)
    def play(_n: int, state: dict | None, day: str | None, speed: int | None) -> tuple:
        new = tablet_view.toggle_play(ctx, state or {}, day, speed)
        return new, ("■ 停止回放" if new.get("active") else "▶ 回放"), (new.get("start") if new.get("active") else None)

    app.clientside_callback(ON_PLAY_STATE, Output(ids.meta_sink("tablet"), "data", allow_duplicate=True),
                            Input(ids.TAB_PLAY_STATE, "data"), prevent_initial_call=True)

    @app.callback(Output(ids.TOAST, "children", allow_duplicate=True),
                  Input(ids.TAB_CAST, "n_clicks"), Input(ids.TAB_RELEASE, "n_clicks"),
                  State(ids.TAB_SCOPE, "data"), State(ids.TAB_WINDOW, "value"), State(ids.TAB_RANGE, "start_date"),
                  State(ids.TAB_RANGE, "end_date"), prevent_initial_call=True)
    def cast(_c: int, _r: int, scope: dict | None, window: str | None, start_day: str | None,
             end_day: str | None) -> Any:
        role = auth.current_role(ctx.settings)
        if not auth.may(role, "cast"):
            return html.Span("当前角色无权投屏", **{"data-result": "error"})
        if dash_ctx.triggered_id == ids.TAB_RELEASE:
            tablet_view.release_cast(ctx)
            return html.Span("已收回投屏，大屏恢复轮巡", **{"data-result": "ok"})
        label = tablet_view.cast_view(ctx, scope or {}, window or "today", start_day, end_day)
        return html.Span(f"已投屏到大屏：{label}", **{"data-result": "ok"})
