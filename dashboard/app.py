"""``create_app(settings, store)``: the Dash multi-page app on Flask, with Flask-SocketIO.

Kept small on purpose: page layouts live in ``dashboard/pages``, callbacks in
``dashboard/callbacks``, builders in ``panels``/``figures``, reads in ``reads``/``snapshot``.
Everything the browser loads is local (the top-level ``assets/``, Dash's own bundles, ``/geo``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import dash
from dash import Dash, html
from flask import Flask, Request, abort, send_from_directory
from flask_socketio import SocketIO

from dashboard import auth, ids, sockets
from dashboard.callbacks import register_callbacks
from dashboard.context import ScreenContext, build_context
from dashboard.geodata import URL_PREFIX
from dashboard.pages import duty, tablet, wall
from feeds.settings import Settings

ASSETS = Path(__file__).resolve().parent.parent / "assets"  # the repo's top-level assets/

INDEX = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
{%metas%}
<title>{%title%}</title>
{%favicon%}
{%css%}
<script>window.LIVE_IDS = __LIVE_IDS__;</script>
__PRELOAD__
</head>
<body>
{%app_entry%}
<footer>
{%config%}
{%scripts%}
{%renderer%}
</footer>
</body>
</html>"""


def create_app(settings: Settings, store: Any, *, clock: Callable[[], int] | None = None,
               ctx: ScreenContext | None = None) -> tuple[Dash, SocketIO]:
    """The web app of one web worker: Dash pages + callbacks + Socket.IO on the store's message queue."""
    ctx = ctx or build_context(settings, store, clock=clock)
    server = Flask("dashboard")
    configure_compression(server)
    app = Dash(__name__, server=server, use_pages=True, pages_folder="", assets_folder=str(ASSETS),
               assets_ignore=PLOTLY_BUNDLE_IGNORE, title="社会治理指挥大厅", update_title=None, compress=True,
               suppress_callback_exceptions=True, serve_locally=True,
               hooks={"request_pre": "function () { setTimeout(window.startPlotly, 0); }"})
    head = (HEAD_JS.replace("__PLOTLY_JS__", json.dumps(PLOTLY_JS)).replace("__GRAPH_PAGES__", json.dumps(GRAPH_PAGES))
            .replace("__HEAT_URL__", json.dumps(ctx.geo.heat_url)))
    app.index_string = INDEX.replace("__LIVE_IDS__", json.dumps(ids.LIVE_IDS)).replace("__PRELOAD__", head)
    auth.install(server, settings)

    @server.route(f"{URL_PREFIX}/<path:name>")
    def geo_file(name: str) -> Any:
        if "/" in name or not name.endswith(".geojson"):
            abort(404)
        resp = send_from_directory(ctx.geo.folder, name, mimetype="application/geo+json", max_age=86400)
        return resp

    dash.register_page("dashboard.pages.home", path="/", title="社会治理指挥大厅", layout=home)
    dash.register_page("dashboard.pages.wall", path="/wall", title="一屏统揽 · 大屏", layout=partial(wall.layout, ctx))
    dash.register_page("dashboard.pages.tablet", path="/tablet", title="会商研判",
                       layout=partial(tablet.layout, ctx))
    dash.register_page("dashboard.pages.duty", path="/duty", title="值班告警台", layout=partial(duty.layout, ctx))
    register_callbacks(app, ctx)

    socketio = SocketIO(server, message_queue=store.url, channel=store.keys.socketio_channel,
                        async_mode="threading", transports=["websocket"],
                        ping_interval=10, ping_timeout=10)
    sockets.register(socketio, ctx)
    ctx.socketio = socketio
    return app, socketio


# The screens' plotly.js: a partial bundle of the four trace types they draw (scatter, bar,
# scattermap, choroplethmap), 3.1 MB instead of Dash's full 4.8 MB, built by tools/plotly-bundle.
# Loaded by dcc.Graph and startPlotly (below), not as a page script (assets_ignore).
PLOTLY_JS = "/assets/vendor/plotly-screens.min.js"
PLOTLY_BUNDLE_IGNORE = r"^plotly-screens\.min\.js$"
GRAPH_PAGES = ["/wall", "/tablet"]  # the pages with a dcc.Graph: plotly.js is preloaded and started early there

# Every page's <head> script, before Dash's bundles (timings: docs/BENCHMARKS.md, screens):
# - preloads: plotly.js and, on the wall, the heat GeoJSON, fetched while the bundles load
#   (outline layers are fetched by MapLibre's worker, which a preload does not serve);
# - dcc.Graph loads window._dashPlotlyJSURL, which the renderer would point at Dash's full
#   plotly.min.js: the property is pinned to our bundle;
# - startPlotly() runs the bundle while the server builds the page's content (the pages callback:
#   ~150 ms with a year of history), instead of after it, when dcc.Graph would ask for it. The
#   renderer's request_pre hook calls it (once the request is on its way); the bundle does nothing
#   if it ran already, so dcc.Graph loading it again costs no second run.
HEAD_JS = """<script>(function () {
  function pre(href, as, cors) {
    var l = document.createElement("link"); l.rel = "preload"; l.as = as;
    if (cors) l.crossOrigin = "anonymous";
    l.href = href; document.head.appendChild(l);
  }
  Object.defineProperty(window, "_dashPlotlyJSURL", {get: function () { return __PLOTLY_JS__; }, set: function () {}});
  var graphs = __GRAPH_PAGES__.indexOf(location.pathname) >= 0;  // /duty draws no graph: nothing to load
  var started = false;
  window.startPlotly = function () {
    if (!graphs || started || window.Plotly) return;
    started = true;
    var s = document.createElement("script"); s.src = __PLOTLY_JS__; s.async = true; document.head.appendChild(s);
  };
  if (graphs) pre(__PLOTLY_JS__, "script", false);
  if (location.pathname === "/wall") pre(__HEAT_URL__, "fetch", true);
})();</script>"""
STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/geo/")


class _StaticCompressionCache:
    """Flask-Compress cache that keeps only static files (fingerprinted URLs): plotly.min.js is
    compressed once per process, not on every page load; callback answers are never cached."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        if "|static|" in key and len(self.data) < 512:
            self.data[key] = value


def _compression_key(request: Request) -> str:
    if request.method == "GET" and request.path.startswith(STATIC_PREFIXES):
        return f"|static|{request.full_path}"
    return "|dynamic|"


def configure_compression(server: Flask) -> None:
    server.config["COMPRESS_CACHE_BACKEND"] = _StaticCompressionCache
    server.config["COMPRESS_CACHE_KEY"] = _compression_key
    server.config["COMPRESS_ALGORITHM"] = ["br", "gzip"]
    server.config.setdefault("COMPRESS_MIMETYPES", [
        "text/html", "text/css", "text/javascript", "application/javascript", "application/json",
        "application/geo+json"])


def home(**_query: Any) -> Any:
    return html.Div([
        html.H1("社会治理指挥大厅"),
        html.P(html.A("一屏统揽 · 大屏 /wall", href="/wall")),
        html.P(html.A("会商研判 · 平板 /tablet", href="/tablet")),
        html.P(html.A("值班告警台 /duty", href="/duty")),
    ], className="login")
