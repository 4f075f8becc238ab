"""/duty callbacks: the filtered queue (snapshot on resync / filter change) and the four actions,
each a call into the supervision engine's command path."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, html, no_update

from dashboard import actions, ids, snapshot
from dashboard.callbacks.common import register_meta_sink
from dashboard.context import ScreenContext


def register(app: Dash, ctx: ScreenContext) -> None:
    register_meta_sink(app, "duty")

    @app.callback(
        Output(ids.meta("duty"), "data"), Output(ids.DUTY_QUEUE, "children"), Output(ids.DUTY_COUNT, "children"),
        Output(ids.DUTY_HISTORY, "children"),
        Input(ids.resync("duty"), "data"), Input(ids.DUTY_STREET, "value"), Input(ids.DUTY_DEPT, "value"),
        prevent_initial_call=True)
    def resync_duty(_trigger: Any, street: str | None, dept: str | None) -> tuple:
        s = snapshot.duty(ctx, street=street, dept=dept)
        return s["meta"], s["queue"], s["count"], s["history"]

    @app.callback(Output(ids.TOAST, "children"), Output(ids.TOAST, "className"), Output(ids.DUTY_NOTE, "value"),
                  Input(ids.DUTY_ACTION, "data"), State(ids.DUTY_NOTE, "value"), State(ids.DUTY_ACTOR, "value"),
                  prevent_initial_call=True)
    def act(request: dict | None, note: str | None, actor: str | None) -> tuple:
        if not request:
            return no_update, no_update, no_update
        result = actions.alert_action(ctx, str(request.get("action")), str(request.get("alert")),
                                      note=note or "", actor=actor or "")
        cls = "toast" if result.ok else "toast err"
        return html.Span(result.message, **{"data-result": "ok" if result.ok else "error"}), cls, \
            ("" if result.ok else no_update)
