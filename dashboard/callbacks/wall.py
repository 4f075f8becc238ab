"""/wall callbacks: resync from the read models; the live layers' paced catch-up (a Patch of their
store, painted over the map by live.js)."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output

from dashboard import ids, snapshot
from dashboard.callbacks.common import register_meta_sink
from dashboard.context import ScreenContext

ON_HEAT = "function (d) { if (window.Live && window.Live.onHeat) { window.Live.onHeat(d); }" \
          " return window.dash_clientside.no_update; }"
ON_MAP_DONE = "function (d) { if (window.Live && window.Live.onMapDone) { window.Live.onMapDone(d); }" \
              " return window.dash_clientside.no_update; }"


def register(app: Dash, ctx: ScreenContext) -> None:
    register_meta_sink(app, "wall")

    @app.callback(
        Output(ids.meta("wall"), "data"), Output(ids.WALL_KPIS, "children"), Output(ids.WALL_BACKLOG, "children"),
        Output(ids.WALL_ALERTS, "children"), Output(ids.WALL_ALERT_COUNT, "children"),
        Output(ids.WALL_TICKER, "children"), Output(ids.WALL_TOPISSUES, "children"),
        Output(ids.WALL_HOTSPOTS, "children"), Output(ids.WALL_TREND, "figure"), Output(ids.WALL_HEAT, "data"),
        Output(ids.WALL_CAST, "children"),
        Input(ids.resync("wall"), "data"), prevent_initial_call=True)
    def resync_wall(_trigger: Any) -> tuple:
        s = snapshot.wall(ctx, with_map=False)
        return (s["meta"], s["kpis"], s["backlog"], s["alerts"], s["alert_count"], s["ticker"], s["topissues"],
                s["hotspots"], s["trend_patch"], snapshot.wall_map_patch(ctx, (_trigger or {}).get("view")), s["cast"])

    @app.callback(Output(ids.WALL_HEAT, "data", allow_duplicate=True), Output(ids.WALL_MAP_DONE, "data"),
                  Input(ids.WALL_MAP_TICK, "data"), prevent_initial_call=True)
    def heat_catch_up(tick: Any) -> tuple:
        tick = tick or {}
        return snapshot.wall_map_patch(ctx, tick.get("view"), new_view=bool(tick.get("newView"))), tick

    app.clientside_callback(ON_HEAT, Output(ids.meta_sink("wall"), "data", allow_duplicate=True),
                            Input(ids.WALL_HEAT, "data"), prevent_initial_call="initial_duplicate")
    app.clientside_callback(ON_MAP_DONE, Output(ids.meta_sink("wall"), "data", allow_duplicate=True),
                            Input(ids.WALL_MAP_DONE, "data"), prevent_initial_call=True)
