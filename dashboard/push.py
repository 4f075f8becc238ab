"""The live-push relay: supervision deltas (Redis pub/sub) -> small view-ready socket.io messages.

Run it in ONE process (the worker side of ``python -m dashboard``), never in every web worker:
it emits through a write-only ``SocketIO(message_queue=url, channel=Keys.socketio_channel)``,
and Flask-SocketIO's Redis message queue fans each message out to every web worker and from
there to every browser in the room (``wall``, ``duty``, ``tablet``).

Each message is ``{"s0": first delta seq, "s": last delta seq, "at": server ms, "ops": [...]}``.
Deltas that arrive together are coalesced (so a burst never queues up), and every room gets
every seq range (with no ops when nothing on that screen changed) so the browser can tell a gap
from silence. What the deltas carry themselves (a new report from the ingest's ``report``
delta, an alert) goes out at once; what needs the read models (KPIs, backlogs, counts) follows
in a second message for the same range, marked ``"f": 1``. The ops are rendered here with the same panel builders as
the snapshot (``dashboard.panels``), for the wall role (personal data masked by the engine).
A heartbeat (``hb``) every few seconds carries the last seq: the browser's watchdog and its
gap check both run on it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from plotly.io.json import to_json_plotly

from dashboard import figures, ids, panels, reads
from dashboard.geodata import MapGeo
from dashboard.names import Names
from feeds.clock import SystemClock

log = logging.getLogger(__name__)

ROOMS = ("wall", "duty", "tablet")
HEARTBEAT_S = 3.0
WALL_ALERTS_MAX = 10
DUTY_ALERTS_MAX = 100
TICKER_MAX = 14
SLOW_PANELS_S = 10.0  # trend and high-frequency ranking refresh at most this often


def plain(component: Any) -> Any:
    """A Dash component, list of them or Patch as plain JSON data (what set_props takes in the browser)."""
    return json.loads(to_json_plotly(component))


def map_op(reports: list[dict]) -> dict[str, Any]:
    """The wall map's op for new reports: their markers at once (painted by live.js over the map,
    no map redraw) and a catch-up of the heat at the next paced round."""
    pts = [[str(r.get("id")), round(float(r["lon"]), 6), round(float(r["lat"]), 6),
            figures.marker_colour(r.get("level")), int(r.get("received_at") or 0)]
           for r in reports if r.get("lon") is not None and r.get("lat") is not None]
    return {"t": "map", "pts": pts}


class LiveViews:
    """Turns a batch of deltas into ops per room (reads the read models; no socket.io here)."""

    def __init__(self, reader: reads.Reader, names: Names, geo: MapGeo | None,
                 hotspots: Callable[[int], list[dict]] | None = None) -> None:
        self.reader = reader
        self.hotspots = hotspots
        self.names = names
        self.geo = geo
        self._summaries: OrderedDict[str, dict] = OrderedDict()
        self._slow_at = 0.0
        self._ticker_since = reader.now() - 60_000  # reports received from here on are "new"
        self._ticker_seen: OrderedDict[str, None] = OrderedDict()

    # --- helpers --------------------------------------------------------------------------
    def _summary(self, case_id: str, refresh: bool = False) -> dict:
        if not refresh and case_id in self._summaries:
            self._summaries.move_to_end(case_id)
            return self._summaries[case_id]
        s = reads.case_summary(self.reader, case_id) or {"id": case_id}
        self._summaries[case_id] = s
        while len(self._summaries) > 5000:
            self._summaries.popitem(last=False)
        return s

    def _alert_ops(self, event: str, alert: dict) -> tuple[list[dict], list[dict]]:
        """(wall ops, duty ops) for one alert event."""
        aid = str(alert.get("id"))
        live = event != "resolved"
        summary = self._summary(str(alert.get("case")))
        alert = {**alert, "case_summary": summary}
        fresh = event in ("raised", "reraised")
        match = {"street": summary.get("street") or "", "dept": summary.get("dept") or ""}
        sort = panels.alert_sort(alert)
        order = panels.alert_order(alert)
        wall = {"t": "list", "id": ids.WALL_ALERTS, "key": aid, "sort": sort, "order": order,
                "item": plain(panels.alert_row(alert, self.names, fresh=fresh)) if live else None}
        duty = {"t": "list", "id": ids.DUTY_QUEUE, "key": aid, "sort": sort, "order": order, "match": match,
                "item": plain(panels.alert_row(alert, self.names, variant="duty", fresh=fresh)) if live else None}
        wall_ops, duty_ops = [wall], [duty]
        if fresh:
            view = None
            if self.geo is not None and summary.get("street"):
                view = self.geo.view_of("street", str(summary["street"]), sub="新告警 · 临时聚焦")
            serious = alert.get("kind") == "overdue" or int(summary.get("level") or 0) >= 3
            wall_ops.append({"t": "alert", "breakin": bool(serious and view), "view": view, "key": aid})
            duty_ops.append({"t": "alert", "key": aid})
        if event == "resolved":
            duty_ops.append({"t": "prepend", "id": ids.DUTY_HISTORY, "max": 50,
                             "item": plain(panels.history_row(alert, self.names))})
        return wall_ops, duty_ops

    # --- the one entry point ----------------------------------------------------------------
    def ops_for(self, deltas: list[dict], *, force_slow: bool = False) -> tuple[dict[str, list[dict]],
                                                                               dict[str, list[dict]]]:
        """(instant ops, follow-up ops) per room for a batch of deltas (both phases at once)."""
        instant = self.instant_ops(deltas)
        return instant, self.followup_ops(deltas, force_slow=force_slow)

    def instant_ops(self, deltas: list[dict]) -> dict[str, list[dict]]:
        """What the deltas carry themselves: a new report's ticker row and map hint (from the
        ingest's ``report`` delta, no read at all) and alert rows (one case read each)."""
        instant: dict[str, list[dict]] = {r: [] for r in ROOMS}
        reported = [d for d in deltas if d.get("type") == "report"]
        for d in deltas:
            if d.get("type") == "alert":
                w, u = self._alert_ops(str(d.get("event") or "raised"), d.get("alert") or {})
                instant["wall"].extend(w)
                instant["duty"].extend(u)
        if reported:
            fresh = self._remember([self._summary_of_report(d) for d in reported])
            instant["wall"].extend(self._ticker_rows(fresh))
            if fresh:
                instant["wall"].append(map_op(fresh))
            instant["tablet"].append({"t": "dirty"})
        return instant

    def followup_ops(self, deltas: list[dict], *, force_slow: bool = False) -> dict[str, list[dict]]:
        """What needs the read models: KPIs, backlogs, counts, trend and rankings."""
        follow: dict[str, list[dict]] = {r: [] for r in ROOMS}
        kpi_values: dict | None = None
        backlog = False
        alerts_changed = False
        any_case = False
        for d in deltas:
            kind = d.get("type")
            if kind == "case":
                any_case = True
                if d.get("case") in self._summaries:
                    self._summary(str(d["case"]), refresh=True)
            elif kind == "cases":  # the engine's summary of a bulk batch: the same reads, once
                any_case = True
                self._summaries.clear()
            elif kind == "alert":
                alerts_changed = True
            elif kind == "backlog":
                backlog = backlog or d.get("scope") == "dept"
            elif kind == "kpi" and d.get("scope", "district") == "district":
                kpi_values = {**(kpi_values or {}), **(d.get("values") or {})}
        if any_case:  # reports no delta announced (a bulk source) still reach the ticker
            fresh = self._remember(reads.reports_since(self.reader, self._ticker_since, limit=500, masked=True))
            follow["wall"].extend(self._ticker_rows(fresh))
            if fresh:
                follow["wall"].append(map_op(fresh))
        if kpi_values is not None or any_case:  # a report or a closure moves today's KPIs
            follow["wall"].extend(panels.kpi_ops({**(kpi_values or {}), **reads.kpis_today(self.reader)}))
        if backlog:
            rows = reads.backlog_by_dept(self.reader)
            follow["wall"].append({"t": "props", "id": ids.WALL_BACKLOG,
                                   "p": {"children": plain(panels.backlog_bars(rows, self.names))}})
        if alerts_changed:
            n = len(reads.alerts(self.reader, limit=1000))
            follow["wall"].append({"t": "props", "id": ids.WALL_ALERT_COUNT, "p": {"children": str(n)}})
            follow["duty"].append({"t": "props", "id": ids.DUTY_COUNT, "p": {"children": str(n)}})
        now = time.monotonic()
        if (any_case or force_slow) and (force_slow or now - self._slow_at >= SLOW_PANELS_S):
            self._slow_at = now
            follow["wall"].extend(self._slow_ops())
        if any_case or alerts_changed:
            follow["tablet"].append({"t": "dirty"})
        return follow

    def _summary_of_report(self, d: dict) -> dict:
        """The ticker's case summary from an ingest ``report`` delta (text already masked there)."""
        grid = str(d.get("grid") or "")
        community = self.geo.community_of_grid.get(grid, "") if self.geo is not None else ""
        return {"id": str(d.get("case")), "channel": d.get("channel"), "category": d.get("category"),
                "level": d.get("level"), "street": d.get("street"), "community": community, "grid": grid,
                "lon": d.get("lon"), "lat": d.get("lat"), "received_at": d.get("at"), "text": d.get("desc") or "",
                "dup": d.get("dup") or ""}

    def _remember(self, rows: list[dict]) -> list[dict]:
        """The rows the ticker has not shown yet (each report once, whichever way it came)."""
        fresh = [x for x in rows if str(x.get("id")) not in self._ticker_seen]
        for x in fresh:
            self._ticker_seen[str(x.get("id"))] = None
            self._ticker_since = max(self._ticker_since, int(x.get("received_at") or 0))
        while len(self._ticker_seen) > 2000:
            self._ticker_seen.popitem(last=False)
        return fresh

    def _ticker_rows(self, reports: list[dict]) -> list[dict]:
        out = []
        for s in reports[-TICKER_MAX:]:
            out.append({"t": "list", "id": ids.WALL_TICKER, "key": str(s.get("id")), "sort": panels.ticker_sort(s),
                        "item": plain(panels.ticker_row(s, self.names, fresh=True))})
        return out

    def _slow_ops(self) -> list[dict]:
        """Trend (a Patch of y values) and the high-frequency ranking."""
        ops: list[dict] = []
        hourly, daily = reads.trend(self.reader)
        ops.append({"t": "props", "id": ids.WALL_TREND, "p": {"figure": plain(figures.trend_patch(hourly, daily))}})
        now = self.reader.now()
        start, end = reads.window_bounds("today", now)
        counts = reads.frequent(self.reader, start, end)
        ops.append({"t": "props", "id": ids.WALL_TOPISSUES,
                    "p": {"children": plain(panels.top_issues(counts, self.names))}})
        if self.hotspots is not None:
            ops.append({"t": "props", "id": ids.WALL_HOTSPOTS,
                        "p": {"children": plain(panels.hotspot_rows(self.hotspots(now), self.names))}})
        return ops


class Relay:
    """Subscribes to ``Keys.deltas`` and emits rendered ops to the screens' rooms."""

    def __init__(self, store: Any, views: LiveViews, *, emitter: Any = None,
                 clock: Callable[[], int] | None = None) -> None:
        self.store = store
        self.keys = store.keys
        self.views = views
        self.clock = clock or SystemClock()
        self.emitter = emitter
        self.last_seq = 0
        self.sent_messages = 0
        self.sent_bytes = 0

    def _emitter(self) -> Any:
        if self.emitter is None:
            from flask_socketio import SocketIO

            self.emitter = SocketIO(message_queue=self.store.url, channel=self.keys.socketio_channel,
                                    async_mode="threading")
        return self.emitter

    def emit_batch(self, deltas: list[dict]) -> dict[str, list[dict]]:
        """Render and emit one coalesced batch: the instant message, then the follow-up (``f``)
        with what needed the read models. Returns the messages per room (for tests)."""
        seqs = [int(d.get("seq") or 0) for d in deltas]
        s0 = min(seqs) if seqs else self.last_seq + 1
        s1 = max(seqs) if seqs else self.last_seq
        em = self._emitter()
        out: dict[str, list[dict]] = {r: [] for r in ROOMS}
        follow: dict[str, list[dict]] = {}
        try:
            instant = self.views.instant_ops(deltas)
        except Exception:  # a read failed: tell the screens to resync rather than skip silently
            log.exception("relay could not render deltas %s..%s; screens will resync", s0, s1)
            instant = {r: [{"t": "resync"}] for r in ROOMS}
        for room in ROOMS:  # every room gets every seq range, so silence is never mistaken for a gap
            self._send(em, room, {"s0": s0, "s": s1, "at": self.clock(), "ops": instant.get(room, [])}, out)
        self.last_seq = max(self.last_seq, s1)
        try:
            follow = self.views.followup_ops(deltas)
        except Exception:
            log.exception("relay could not read the panels for %s..%s; screens will resync", s0, s1)
            follow = {r: [{"t": "resync"}] for r in ROOMS}
        for room in ROOMS:
            if follow.get(room):
                self._send(em, room, {"s0": s0, "s": s1, "at": self.clock(), "ops": follow[room], "f": 1}, out)
        return out

    def _send(self, em: Any, room: str, msg: dict, out: dict[str, list[dict]]) -> None:
        em.emit("d", msg, to=room, namespace="/")
        out[room].append(msg)
        self.sent_messages += 1
        self.sent_bytes += len(orjson.dumps(msg))

    def heartbeat(self) -> None:
        self._emitter().emit("hb", {"at": self.clock(), "seq": self.last_seq}, namespace="/")

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; reconnects to Redis with capped backoff."""
        backoff = 0.2
        while not stop.is_set():
            client = None
            try:
                client = self.store.new_client()
                self.last_seq = int(client.get(self.keys.delta_seq) or 0)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.keys.deltas)
                log.info("relay subscribed to %s at seq %s", self.keys.deltas, self.last_seq)
                backoff = 0.2
                self._loop(pubsub, stop)
            except Exception:
                if stop.is_set():
                    break
                log.exception("relay lost its subscription; retrying in %.1fs", backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if client is not None:
                    try:
                        client.close()
                    except Exception:
                        pass

    def _loop(self, pubsub: Any, stop: threading.Event) -> None:
        next_hb = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_hb:
                self.heartbeat()
                next_hb = now + HEARTBEAT_S
            msg = pubsub.get_message(timeout=min(0.5, max(0.01, next_hb - now)))
            if msg is None:
                continue
            batch = [msg]
            while len(batch) < 500:  # drain what is already there: coalesce a burst
                more = pubsub.get_message(timeout=0)
                if more is None:
                    break
                batch.append(more)
            deltas = []
            for m in batch:
                try:
                    deltas.append(orjson.loads(m["data"]))
                except (orjson.JSONDecodeError, TypeError, KeyError):
                    log.warning("relay: not a JSON delta: %r", m.get("data"))
            if deltas:
                deltas.sort(key=lambda d: int(d.get("seq") or 0))
                self.emit_batch(deltas)
