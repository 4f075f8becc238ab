"""Callbacks every live screen shares: hand the snapshot meta to live.js."""

from __future__ import annotations

from dash import Dash, Input, Output

from dashboard import ids

ON_SNAPSHOT = "function (meta) { if (window.Live && window.Live.onSnapshot) { window.Live.onSnapshot(meta); }" \
              " return window.dash_clientside.no_update; }"


def register_meta_sink(app: Dash, page: str) -> None:
    app.clientside_callback(ON_SNAPSHOT, Output(ids.meta_sink(page), "data"), Input(ids.meta(page), "data"))
