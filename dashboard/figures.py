"""Pure Plotly figure builders (and their Patch twins) for the screens.

Maps are MapLibre (``choroplethmap`` / ``scattermap``) on an inline style with no sources, so
nothing is fetched from the internet; an intranet raster basemap is an optional layer.
Outlines are map *layers* reading static GeoJSON URLs (drawn by MapLibre, no hover, no
per-feature JSON in the figure).

The wall's live layers (H3 heat and the fading markers of new reports) are *not* map traces:
they are data in a ``dcc.Store`` (:func:`heat_layer`, patched by :func:`heat_patch`) that
``assets/live-map.js`` paints on a 2D canvas over the map, projected with the map's own transform.
Why: without a GPU (software WebGL) every restyle of a map trace re-tiles the layer and redraws
the whole map, 0.2-0.5 s of the browser's main thread per heat round, and every live message
that arrives meanwhile waits (wall latency p95 was 130-400 ms); painting ~300 cells on a 2D
canvas takes ~2 ms and never touches MapLibre, which then only redraws when the view changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from dash import Patch

from dashboard import formatting as fmt

BG = "#070d1a"
TEXT = "#e8eef8"
MUTED = "#93a6c4"
ACCENT = "#56b4e9"
NEAR = "#e69f00"
OVER = "#d55e00"
OK = "#0072b2"
GOOD = "#009e73"
FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'

#: Viridis from its blue end (colour-blind safe, visible on the dark wall); 0 is transparent.
HEAT_SCALE = [[0.0, "rgba(0,0,0,0)"], [1e-9, "#31688e"], [0.3, "#26828e"], [0.55, "#35b779"],
              [0.8, "#b5de2b"], [1.0, "#fde725"]]
#: Areas on the tablet map: the same ramp, with 0 a dark blue (still tappable).
AREA_SCALE = [[0.0, "#142347"], [0.01, "#31688e"], [0.3, "#26828e"], [0.55, "#35b779"], [0.8, "#b5de2b"],
              [1.0, "#fde725"]]
#: Heat layer trace index, marker trace index in :func:`whole_wall_map` (the polling baseline).
HEAT_TRACE = 0
MARKER_TRACE = 1
HEAT_OPACITY = 0.8
MARKER_SIZE = 16
MARKER_FADE_MS = 10 * 60 * 1000  # a live marker fades out over ten minutes


def map_style(basemap_url: str | None = None, background: str = BG) -> dict[str, Any]:
    """A MapLibre style with no remote sources (optionally one intranet raster tile layer)."""
    # ``sources`` must never be empty: an empty object is dropped on its way through the figure,
    # and MapLibre then rejects the style on the next update ("missing required property sources").
    style: dict[str, Any] = {"version": 8,
                             "sources": {"none": {"type": "geojson",
                                                  "data": {"type": "FeatureCollection", "features": []}}},
                             "layers": [{"id": "bg", "type": "background",
                                         "paint": {"background-color": background}}]}
    if basemap_url:
        style["sources"]["basemap"] = {"type": "raster", "tiles": [basemap_url], "tileSize": 256}
        style["layers"].append({"id": "basemap", "type": "raster", "source": "basemap",
                                "paint": {"raster-opacity": 0.45}})
    return style


def outline_layers(urls: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """MapLibre line layers above the traces: ``(geojson url, colour, width[, minzoom])`` each.

    A ``minzoom`` keeps dense outlines (1,000 grids) off the district view, where they would be
    a grey felt and cost every frame, and brings them in when a street is in focus.
    """
    layers = []
    for url, color, width, *rest in urls:
        layer: dict[str, Any] = {"sourcetype": "geojson", "source": url, "type": "line", "below": "",
                                 "color": color, "line": {"width": width}}
        if rest and rest[0]:
            layer["minzoom"] = rest[0]
        layers.append(layer)
    return layers


def heat_z(cells: Sequence[str], counts: Mapping[str, int]) -> list[int]:
    """z values aligned with the heat trace's fixed locations (missing cells are 0)."""
    return [int(counts.get(c, 0)) for c in cells]


def heat_zmax(z: Sequence[int]) -> int:
    """Top of the colour scale: a high quantile so one very busy cell does not wash out the rest."""
    nonzero = sorted(v for v in z if v > 0)
    if not nonzero:
        return 1
    return max(1, nonzero[int(0.95 * (len(nonzero) - 1))])


def marker_arrays(reports: Sequence[Mapping[str, Any]], now_ms: int,
                  fade_ms: int = MARKER_FADE_MS) -> dict[str, list[Any]]:
    """lat/lon/opacity/colour/key/received time of live markers: newest fully opaque, gone after ``fade_ms``."""
    lat: list[float] = []
    lon: list[float] = []
    opacity: list[float] = []
    color: list[str] = []
    key: list[str] = []
    at: list[int] = []
    for r in reports:
        if r.get("lat") is None or r.get("lon") is None:
            continue
        age = now_ms - int(r.get("received_at") or 0)
        if age > fade_ms:
            continue
        lat.append(float(r["lat"]))
        lon.append(float(r["lon"]))
        opacity.append(round(max(0.15, 1 - max(0, age) / fade_ms), 3))
        color.append(marker_colour(r.get("level")))
        key.append(str(r.get("id") or ""))
        at.append(int(r.get("received_at") or 0))
    return {"lat": lat, "lon": lon, "opacity": opacity, "color": color, "key": key, "at": at}


def marker_colour(level: Any) -> str:
    """Serious reports (level 3 and up) in the overdue colour, the rest in the accent."""
    return OVER if int(level or 0) >= 3 else ACCENT


def wall_map(*, outlines: Sequence[tuple[str, str, float]], center: Mapping[str, float], zoom: float,
             basemap_url: str | None = None) -> go.Figure:
    """The wall's map figure: street/grid outlines (layers) on an offline style, and nothing live.

    It changes only with the focus view (a Patch of center/zoom); the live layers are painted
    over it from :func:`heat_layer` (see the module docstring). The one empty trace makes Plotly
    create the map subplot.
    """
    fig = go.Figure([go.Scattermap(lat=[], lon=[], mode="markers", hoverinfo="skip", name="")])
    fig.update_layout(
        map={"style": map_style(basemap_url), "center": dict(center), "zoom": zoom,
             "layers": outline_layers(outlines)},
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor=BG, plot_bgcolor=BG, showlegend=False,
        uirevision="wall", font={"family": FONT, "color": TEXT},
    )
    return fig


def heat_layer(*, url: str, cells: Sequence[str], counts: Mapping[str, int],
               markers: Mapping[str, list[Any]] | None = None, featureidkey: str = "id",
               now_ms: int = 0) -> dict[str, Any]:
    """The wall's live layers as plain data for the browser's canvas: the H3 cells of the view
    (GeoJSON by URL, fixed order), their counts (``z``), the colour ramp and the live markers."""
    z = heat_z(cells, counts)
    return {"url": url, "key": featureidkey, "cells": list(cells), "z": z, "zmax": heat_zmax(z),
            "scale": HEAT_SCALE, "opacity": HEAT_OPACITY, "marker_size": MARKER_SIZE,
            "fade_ms": MARKER_FADE_MS, "at": now_ms,
            "markers": dict(markers if markers is not None else marker_arrays([], now_ms))}


def heat_patch(cells: Sequence[str], counts: Mapping[str, int],
               markers: Mapping[str, list[Any]] | None = None, geojson_url: str | None = None,
               now_ms: int = 0) -> Patch:
    """The live update of :func:`heat_layer`: counts (+ top of the ramp) and the markers; with
    ``geojson_url`` (a new focus view) the layer's cells change too."""
    z = heat_z(cells, counts)
    p = Patch()
    if geojson_url is not None:
        p["url"] = geojson_url
        p["cells"] = list(cells)
    p["z"] = z
    p["zmax"] = heat_zmax(z)
    p["at"] = now_ms
    if markers is not None:
        p["markers"] = dict(markers)
    return p


def whole_wall_map(*, heat_geojson: Any, cells: Sequence[str], counts: Mapping[str, int],
                   outlines: Sequence[tuple[Any, ...]], center: Mapping[str, float], zoom: float,
                   markers: Mapping[str, list[Any]] | None = None) -> go.Figure:
    """Everything of the wall map in one figure (heat and markers as map traces): what the
    polling baseline of ``bench.screens`` sends every second. Not used by the product."""
    fig = wall_map(outlines=outlines, center=center, zoom=zoom)  # type: ignore[arg-type]
    z = heat_z(cells, counts)
    m = markers or {"lat": [], "lon": [], "opacity": [], "color": []}
    fig.data = ()
    fig.add_trace(go.Choroplethmap(geojson=heat_geojson, featureidkey="id", locations=list(cells), z=z,
                                   zmin=0, zmax=heat_zmax(z), colorscale=HEAT_SCALE, showscale=False,
                                   marker={"line": {"width": 0}, "opacity": HEAT_OPACITY}, hoverinfo="skip"))
    fig.add_trace(go.Scattermap(lat=m["lat"], lon=m["lon"], mode="markers", hoverinfo="skip",
                                marker={"size": MARKER_SIZE, "color": m["color"], "opacity": m["opacity"]}))
    return fig


def _axis(**kw: Any) -> dict[str, Any]:
    return {"gridcolor": "#1b2a4a", "zeroline": False, "color": MUTED, "tickfont": {"size": 13}, **kw}


def trend_figure(hourly: Sequence[Mapping[str, Any]], daily: Sequence[Mapping[str, Any]]) -> go.Figure:
    """24 h (hourly) and 30 d (daily) received vs closed, side by side."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.07,
                        subplot_titles=("近24小时", "近30天"))
    hx = [fmt.hm(h.get("hour")) for h in hourly]
    dx = [str(d.get("date", ""))[5:] for d in daily]
    fig.add_trace(go.Scatter(x=hx, y=[int(h.get("received") or 0) for h in hourly], name="受理",
                             mode="lines", line={"color": ACCENT, "width": 3}), 1, 1)
    fig.add_trace(go.Scatter(x=hx, y=[int(h.get("closed") or 0) for h in hourly], name="办结",
                             mode="lines", line={"color": NEAR, "width": 3, "dash": "dot"}), 1, 1)
    fig.add_trace(go.Bar(x=dx, y=[int(d.get("received") or 0) for d in daily], name="受理",
                         marker={"color": ACCENT}, showlegend=False), 1, 2)
    fig.add_trace(go.Scatter(x=dx, y=[int(d.get("closed") or 0) for d in daily], name="办结",
                             mode="lines", line={"color": NEAR, "width": 3}, showlegend=False), 1, 2)
    fig.update_layout(
        margin={"l": 40, "r": 10, "t": 26, "b": 28}, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        font={"family": FONT, "color": TEXT, "size": 14}, bargap=0.25,
        legend={"orientation": "h", "x": 0.0, "y": 1.18, "font": {"size": 14}, "bgcolor": "rgba(0,0,0,0)"},
        uirevision="trend",
    )
    fig.update_xaxes(_axis(type="category", nticks=8))
    fig.update_yaxes(_axis(rangemode="tozero"))
    for a in fig.layout.annotations:
        a.font = {"size": 14, "color": MUTED}
    return fig


def trend_patch(hourly: Sequence[Mapping[str, Any]], daily: Sequence[Mapping[str, Any]]) -> Patch:
    """Replace the y values of the trend (a few hundred bytes), never the whole figure."""
    p = Patch()
    p["data"][0]["x"] = [fmt.hm(h.get("hour")) for h in hourly]
    p["data"][0]["y"] = [int(h.get("received") or 0) for h in hourly]
    p["data"][1]["x"] = [fmt.hm(h.get("hour")) for h in hourly]
    p["data"][1]["y"] = [int(h.get("closed") or 0) for h in hourly]
    p["data"][2]["y"] = [int(d.get("received") or 0) for d in daily]
    p["data"][3]["y"] = [int(d.get("closed") or 0) for d in daily]
    return p


def choropleth_map(*, geojson_url: str, locations: Sequence[str], z: Sequence[float], names: Sequence[str],
                   center: Mapping[str, float], zoom: float, outlines: Sequence[tuple[str, str, float]] = (),
                   markers: Sequence[Mapping[str, Any]] = (), basemap_url: str | None = None,
                   featureidkey: str = "id", uirevision: str = "tablet") -> go.Figure:
    """Tablet map: the children of the current scope coloured by count (tap one to drill down);
    at grid level the cases as markers (tap one to open it)."""
    traces: list[Any] = []
    if locations:
        zmax = max(1.0, max(z) if z else 1.0)
        traces.append(go.Choroplethmap(
            geojson=geojson_url, featureidkey=featureidkey, locations=list(locations), z=list(z),
            zmin=0, zmax=zmax, colorscale=AREA_SCALE, showscale=True, text=list(names),
            customdata=list(locations), hovertemplate="%{text}<br>%{z} 件<extra></extra>",
            marker={"line": {"width": 1.2, "color": "#9fb4d6"}, "opacity": 0.72},
            colorbar={"thickness": 12, "tickfont": {"color": MUTED}, "x": 1.0}, name="区域"))
    if markers:
        traces.append(go.Scattermap(
            lat=[float(c["lat"]) for c in markers], lon=[float(c["lon"]) for c in markers],
            customdata=[str(c["id"]) for c in markers], text=[str(c.get("label", c["id"])) for c in markers],
            mode="markers", marker={"size": 18, "color": [OVER if c.get("sla") == "overdue" else
                                                          NEAR if c.get("sla") == "near_due" else ACCENT
                                                          for c in markers]},
            hovertemplate="%{text}<extra></extra>", name="案件"))
    fig = go.Figure(traces)
    fig.update_layout(
        map={"style": map_style(basemap_url), "center": dict(center), "zoom": zoom,
             "layers": outline_layers(outlines)},
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor=BG, showlegend=False, uirevision=uirevision,
        font={"family": FONT, "color": TEXT}, clickmode="event",
    )
    return fig


def history_figure(series: Sequence[Mapping[str, Any]], title: str = "") -> go.Figure:
    """A hotspot's (or any place's) counts per day."""
    fig = go.Figure(go.Bar(x=[str(s.get("date", ""))[5:] for s in series],
                           y=[int(s.get("count") or 0) for s in series], marker={"color": ACCENT}))
    fig.update_layout(
        title={"text": title, "font": {"size": 15, "color": MUTED}}, height=260,
        margin={"l": 40, "r": 10, "t": 34, "b": 30}, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        font={"family": FONT, "color": TEXT, "size": 13},
    )
    fig.update_xaxes(_axis(type="category", nticks=10))
    fig.update_yaxes(_axis(rangemode="tozero"))
    return fig
