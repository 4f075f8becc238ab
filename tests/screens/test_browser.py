"""Browser journeys in headless Chromium against the real product (``python -m dashboard``).

The wall renders the demo jurisdiction with data (screenshots at 1920×1080 and 3840×2160); a
report posted to ``POST /api/events`` appears on the wall; a case that passes its deadline
raises an alert on /duty, signing it updates /duty and the wall and lands in the audit stream;
the tablet drills from the district to one case by taps; a dropped network shows the banner
and recovery resyncs what was missed.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.screens.conftest import SHOTS, CuttableProxy, External, Product, new_page, report

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def grid_points() -> list[dict[str, Any]]:
    """Grids of the demo jurisdiction with a point inside each (and their street/community)."""
    from geo.layer import load_demo_layer

    grid = load_demo_layer().level("grid")
    pts = grid.geometry.representative_point()
    out = []
    for gid, comm, street, p in zip(grid["grid_id"], grid["community_code"], grid["street_code"], pts, strict=True):
        out.append({"grid": str(gid), "community": str(comm), "street": str(street), "lon": p.x, "lat": p.y})
    return out


@pytest.fixture(scope="module")
def overdue_case(quiet_product: Product, grid_points: list[dict]) -> dict[str, Any]:
    """A 110 hand-over (the 1312 rule: sign within 1 minute), posted early so its deadline passes
    while the other journeys run."""
    g = grid_points[40]
    res = quiet_product.post_events([report(g["lon"], g["lat"], channel="police_110", category="ZA-QUARREL",
                                            text="KTV醉酒顾客与店员争执，110移交", tag="overdue")])
    assert res[0]["status"] == "accepted", res
    return {"case": res[0]["case_id"], "posted": time.monotonic(), **g}


def _wait_live(page: Any, timeout: float = 30) -> None:
    page.wait_for_function("() => window.Live && Live.connected && Live.pending === false && Live.seq !== null",
                           timeout=timeout * 1000)


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / name))


# --- the wall ------------------------------------------------------------------------------------
def test_wall_renders_the_demo_jurisdiction_with_data(browser: Any, demo_product: Product) -> None:
    ext = External()
    page = new_page(browser, 1920, 1080, external=ext)
    page.goto(demo_product.base + "/wall?token=wall")
    page.wait_for_selector("#wall-map .js-plotly-plot canvas", timeout=60_000)
    _wait_live(page)
    assert "鄞州区" in page.inner_text(".wall-title")
    assert "合成数据" in page.inner_text(".wall-head")
    page.wait_for_function("() => +document.getElementById('kpi-received').textContent.replace(/,/g, '') > 0",
                           timeout=60_000)
    assert page.locator("#wall-ticker li").count() > 0
    assert page.locator("#wall-backlog .bar-row").count() > 0
    # the heat is painted over the map: cells with counts drawn, and pixels on the overlay canvas
    page.wait_for_function("() => window.LiveMap && LiveMap.painted && LiveMap.painted.cells > 0", timeout=60_000)
    inked = page.evaluate("""() => {
        const cv = document.getElementById('wall-heat-canvas');
        const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
        return n;
    }""")
    assert inked > 1000, inked
    # the map drew the jurisdiction: its GeoJSON came from the product, and MapLibre has a canvas
    time.sleep(3)
    _shot(page, "wall-1920x1080.png")
    assert ext.urls == []
    page.context.close()


def test_screens_load_the_partial_plotly_bundle_not_the_full_one(browser: Any, demo_product: Product) -> None:
    """The wall and the tablet draw their map and trends with the partial bundle
    (tools/plotly-bundle): Dash's full plotly.min.js is never fetched."""
    from dashboard.app import PLOTLY_JS

    urls: list[str] = []
    page = new_page(browser, 1920, 1080)
    page.on("request", lambda req: urls.append(req.url))
    page.goto(demo_product.base + "/wall?token=wall")
    page.wait_for_selector("#wall-map .js-plotly-plot canvas", timeout=60_000)
    page.wait_for_selector("#wall-trend .main-svg", timeout=60_000)
    page.goto(demo_product.base + "/tablet?token=leader")
    page.wait_for_selector(".js-plotly-plot canvas", timeout=60_000)
    traces = page.evaluate("() => Object.keys(Plotly.PlotSchema.get().traces).sort()")
    page.context.close()
    assert any(u.endswith(PLOTLY_JS) for u in urls), urls
    assert not [u for u in urls if "plotly.min.js" in u]
    assert traces == ["bar", "choroplethmap", "scatter", "scattermap"]
    # the duty console draws no graph: it never loads plotly.js
    duty_urls: list[str] = []
    page = new_page(browser, 1920, 1080)
    page.on("request", lambda req: duty_urls.append(req.url))
    page.goto(demo_product.base + "/duty?token=duty")
    _wait_live(page)
    assert page.evaluate("() => window.Plotly === undefined")
    page.context.close()
    assert not [u for u in duty_urls if "plotly" in u], duty_urls


@pytest.mark.parametrize(("width", "height", "scale", "name"), [
    (3840, 2160, 1, "wall-3840x2160.png"),
    (1920, 1080, 2, "wall-1920x1080@2x.png"),
])
def test_wall_scales_to_4k_without_scrolling(browser: Any, demo_product: Product, width: int, height: int,
                                             scale: float, name: str) -> None:
    page = new_page(browser, width, height, scale)
    page.goto(demo_product.base + "/wall?token=wall")
    page.wait_for_selector("#wall-map .js-plotly-plot canvas", timeout=60_000)
    _wait_live(page)
    time.sleep(3)
    dims = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
                         " innerWidth, innerHeight, parseFloat(getComputedStyle(document.documentElement).fontSize)]")
    assert dims[0] <= dims[2] and dims[1] <= dims[3], f"the wall scrolls: {dims}"
    assert dims[4] == pytest.approx(width / 120, rel=0.02)  # type scales with the screen
    _shot(page, name)
    page.context.close()


def test_duty_and_tablet_screenshots(browser: Any, demo_product: Product) -> None:
    for path, token, name, w, h in (("/duty", "duty", "duty-1920x1080.png", 1920, 1080),
                                    ("/tablet", "leader", "tablet-1366x1024.png", 1366, 1024)):
        page = new_page(browser, w, h)
        page.goto(f"{demo_product.base}{path}?token={token}")
        page.wait_for_selector("[data-live-page]", timeout=60_000)
        _wait_live(page)
        time.sleep(3)
        _shot(page, name)
        page.context.close()


def test_screens_refuse_a_missing_or_wrong_role(browser: Any, demo_product: Product) -> None:
    page = new_page(browser)
    page.goto(demo_product.base + "/duty?token=wall")
    page.wait_for_selector("#login-panel", timeout=30_000)
    assert page.locator("[data-live-page]").count() == 0
    page.context.close()
    page = new_page(browser)  # the plain /wall of the README opens the read-only wall
    page.goto(demo_product.base + "/wall")
    page.wait_for_selector('[data-live-page="wall"]', timeout=30_000)
    page.goto(demo_product.base + "/tablet")
    page.wait_for_selector("#login-panel", timeout=30_000)
    page.context.close()


# --- live push -----------------------------------------------------------------------------------
def test_a_report_posted_over_http_appears_on_the_wall(browser: Any, quiet_product: Product,
                                                       grid_points: list[dict], overdue_case: dict) -> None:
    page = new_page(browser)
    page.goto(quiet_product.base + "/wall?token=wall")
    _wait_live(page)
    before = page.inner_text("#kpi-received")
    g = grid_points[100]
    t0 = time.monotonic()
    case = quiet_product.post_events([report(g["lon"], g["lat"], category="SR-GARBAGE",
                                             text="楼道垃圾堆积，联系电话13812345678", tag="wall")])[0]["case_id"]
    row = page.wait_for_selector(f'#wall-ticker li[data-key="{case}"]', timeout=10_000)
    elapsed = time.monotonic() - t0
    text = row.inner_text()
    # masked personal data only: the phone inside the text is masked, the reporter's name never shown
    assert "138****5678" in text and "13812345678" not in text and "王小明" not in page.content()
    page.wait_for_function(f"() => document.getElementById('kpi-received').textContent !== {before!r}",
                           timeout=10_000)
    assert elapsed < 5, f"ingest → wall took {elapsed:.2f}s"
    # live updates leave nothing behind in Dash's undo history (it grew with every set_props)
    assert page.evaluate("() => Live.stats.applied") > 0
    assert page.evaluate("() => window.dash_stores.map(s => s.getState().history.past.length)") == [0]
    page.context.close()


def test_tablet_drills_from_district_to_one_case_by_taps(browser: Any, quiet_product: Product,
                                                         grid_points: list[dict]) -> None:
    g = grid_points[300]
    case = quiet_product.post_events([report(g["lon"], g["lat"], category="CG-ROAD", text="道路塌陷",
                                             tag="tablet")])[0]["case_id"]
    time.sleep(1)
    page = new_page(browser, 1366, 1024)
    page.goto(quiet_product.base + "/tablet?token=leader")
    _wait_live(page)
    for level, code in (("street", g["street"]), ("community", g["community"]), ("grid", g["grid"]),
                        ("case", case)):
        target = page.locator(f'#tab-list [data-nav="{level}|{code}"]')
        target.wait_for(timeout=20_000)
        target.click()
        if level != "case":
            page.wait_for_selector(f'#tab-crumbs [data-nav="{level}|{code}"]', timeout=20_000)
    page.wait_for_selector(f'#case-detail[data-case="{case}"]', timeout=20_000)
    detail = page.inner_text("#case-detail")
    assert "道路破损塌陷" in detail and "办理过程" in detail and "环节时钟" in detail
    _shot(page, "tablet-case-1366x1024.png")
    # the breadcrumb leads back up to the district
    page.locator("#tab-crumbs button").first.click()
    page.wait_for_selector(f'#tab-list [data-nav="street|{g["street"]}"]', timeout=20_000)
    page.context.close()


def test_a_leader_casts_the_tablet_view_to_the_wall_and_releases_it(browser: Any, quiet_product: Product,
                                                                     grid_points: list[dict]) -> None:
    g = grid_points[200]
    wall = new_page(browser)
    wall.goto(quiet_product.base + "/wall?token=wall")
    _wait_live(wall)
    tablet = new_page(browser, 1366, 1024)
    tablet.goto(quiet_product.base + "/tablet?token=leader")
    _wait_live(tablet)
    tablet.locator(f'#tab-list [data-nav="street|{g["street"]}"]').click()
    crumb = tablet.locator(f'#tab-crumbs [data-nav="street|{g["street"]}"]')
    crumb.wait_for(timeout=20_000)
    street = crumb.inner_text()
    tablet.locator("#tab-cast").click()
    wall.wait_for_function(f"() => document.getElementById('wall-cast').textContent.includes({street!r})",
                           timeout=10_000)
    wall.wait_for_function(f"() => document.getElementById('wall-focus').textContent.includes({street!r})",
                           timeout=10_000)
    _shot(wall, "wall-cast-1920x1080.png")
    tablet.locator("#tab-release").click()
    wall.wait_for_function("() => document.getElementById('wall-cast').textContent === ''", timeout=10_000)
    wall.context.close()
    tablet.context.close()


def test_playback_moves_every_panel_on_one_clock(browser: Any, quiet_product: Product,
                                                 grid_points: list[dict]) -> None:
    g = grid_points[250]
    quiet_product.post_events([report(g["lon"], g["lat"], category="MS-FLOOD", text="积水内涝", tag="play")])
    page = new_page(browser, 1366, 1024)
    page.goto(quiet_product.base + "/tablet?token=leader")
    _wait_live(page)
    page.locator("#tab-play-speed label", has_text="3600×").click()
    page.locator("#tab-play").click()
    page.wait_for_function("() => document.getElementById('tab-play-label').textContent.startsWith('回放')",
                           timeout=20_000)
    first = page.inner_text("#tab-play-label")
    page.wait_for_function(f"() => document.getElementById('tab-play-label').textContent !== {first!r}",
                           timeout=20_000)
    # the trend is the playback's hourly one, and the counters are the replayed instant's
    assert "回放" in page.inner_text("#tab-trend")
    page.wait_for_function("() => +document.getElementById('tab-kpi-received').textContent > 0", timeout=60_000)
    _shot(page, "tablet-playback-1366x1024.png")
    page.locator("#tab-play").click()
    page.wait_for_function("() => document.getElementById('tab-play-label').textContent === '实时'", timeout=20_000)
    page.context.close()


def test_network_drop_shows_the_banner_and_recovery_resyncs(browser: Any, quiet_product: Product,
                                                            grid_points: list[dict]) -> None:
    proxy = CuttableProxy(quiet_product.port)
    try:
        page = new_page(browser)
        page.goto(proxy.base + "/wall?token=wall&rotate=0")  # a wall told to keep its view
        _wait_live(page)
        assert page.evaluate("Live.rot.enabled") is False
        assert not page.locator("#live-banner.show").count()
        proxy.blackhole()  # a pulled cable: no close, no reset — only the heartbeat can tell
        t0 = time.monotonic()
        page.wait_for_selector("#live-banner.show", timeout=20_000)
        assert time.monotonic() - t0 <= 20
        assert "中断" in page.inner_text("#live-banner")
        g = grid_points[500]
        missed = quiet_product.post_events([report(g["lon"], g["lat"], category="SR-BANNER", text="路灯杆违规横幅",
                                                   tag="drop")])[0]["case_id"]
        time.sleep(1)
        assert page.locator(f'#wall-ticker li[data-key="{missed}"]').count() == 0
        proxy.restore()
        page.wait_for_selector("#live-banner.show", state="detached", timeout=30_000)
        page.wait_for_selector(f'#wall-ticker li[data-key="{missed}"]', timeout=20_000)
        # the resync's snapshot refilled the panels but left the page's own settings alone
        assert page.evaluate("Live.stats.resyncs") >= 1
        assert page.evaluate("Live.rot.enabled") is False
        _shot(page, "wall-recovered-1920x1080.png")
        page.context.close()
    finally:
        proxy.close()


def test_an_overdue_case_alerts_duty_and_signing_reaches_every_screen(browser: Any, quiet_product: Product,
                                                                      overdue_case: dict) -> None:
    alert_id = f"{overdue_case['case']}:sign:overdue"
    duty = new_page(browser)
    wall = new_page(browser)
    duty.goto(quiet_product.base + "/duty?token=duty")
    wall.goto(quiet_product.base + "/wall?token=wall")
    _wait_live(duty)
    _wait_live(wall)
    remaining = 60 - (time.monotonic() - overdue_case["posted"])
    row = f'#duty-queue li[data-key="{alert_id}"]'
    duty.wait_for_selector(row, timeout=(max(0, remaining) + 30) * 1000)
    wall.wait_for_selector(f'#wall-alerts li[data-key="{alert_id}"]', timeout=10_000)
    assert "超期" in duty.inner_text(row)
    duty.fill("#duty-actor", "测试值班员")
    duty.locator(f'button[data-action="ack"][data-alert="{alert_id}"]').click()
    duty.wait_for_selector(f"{row}.acked", timeout=10_000)
    wall.wait_for_selector(f'#wall-alerts li[data-key="{alert_id}"].acked', timeout=10_000)
    assert "已签收" in duty.inner_text("#toast")
    _shot(duty, "duty-signed-1920x1080.png")

    from feeds.store import connect

    client = connect(quiet_product.redis_url())
    try:
        audit = [orjson.loads(f[b"d"]) | {"k": f[b"k"].decode()} for _id, f in client.xrange("{330212}:audit")]
    finally:
        client.close()
    signed = [a for a in audit if a.get("alert") == alert_id and a["k"] == "alert.ack"]
    assert signed and signed[0]["actor"] == "测试值班员" and signed[0]["role"] == "duty"
    duty.context.close()
    wall.context.close()


def test_the_wall_rotates_within_one_page_and_a_serious_alert_breaks_in(browser: Any, quiet_product: Product,
                                                                        grid_points: list[dict],
                                                                        overdue_case: dict) -> None:
    """?rotate=2: district → each street, 2 s a view, by patching the map (no page navigation); a
    serious case's alert (a level-3 110 hand-over: its 1-minute sign clock is near due at 48 s)
    focuses its street for 15 s, then the rotation resumes."""
    # the module's other serious alert (the overdue 110 case) must not be the one that breaks in
    time.sleep(max(0.0, 65 - (time.monotonic() - overdue_case["posted"])))
    wall = new_page(browser)
    wall.goto(quiet_product.base + "/wall?token=wall&rotate=2")
    _wait_live(wall)
    g = grid_points[300]
    res = quiet_product.post_events([{**report(g["lon"], g["lat"], channel="police_110", category="ZA-GAMBLING",
                                               text="棋牌室疑似聚众赌博，110移交", tag="breakin"), "level": 3}])
    assert res[0]["status"] == "accepted", res
    wall.evaluate("window.__samePage = true")
    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(set(seen)) < 4:
        seen.append(wall.inner_text("#wall-focus").split("\n")[0])
        time.sleep(0.5)
    views = list(dict.fromkeys(seen))
    assert len(views) >= 4, views
    assert views[0].endswith("全域")                      # it starts on the whole district
    assert all(v != views[0] for v in views[1:])           # then one street after another
    assert wall.evaluate("window.__samePage") is True       # the same page all along
    zoom = wall.evaluate("document.querySelector('#wall-map .js-plotly-plot')._fullLayout.map.zoom")
    assert zoom > wall.evaluate("Live.rot.views[0].zoom")  # the map itself moved in, not only the label
    # the break-in: the case's street, marked as such, held while the rotation would have moved on
    wall.wait_for_function("() => document.getElementById('wall-focus').textContent.includes('临时聚焦')",
                           timeout=90_000)
    assert wall.evaluate("Live.mapView") == g["street"]
    time.sleep(6)
    assert "临时聚焦" in wall.inner_text("#wall-focus") and wall.evaluate("Live.mapView") == g["street"]
    wall.wait_for_function("() => document.getElementById('wall-focus').textContent.includes('轮巡')",
                           timeout=20_000)
    assert wall.evaluate("window.__samePage") is True
    wall.context.close()


def test_the_main_command_stops_everything_on_sigterm(tmp_path: Any) -> None:
    import os

    p = Product(tmp_path / "stop", GOV_DEMO="1", GOV_DEMO_BACKFILL_DAYS="0").start()
    pid = int((p.data_dir / "valkey" / "server.pid").read_text())
    assert "/wall" in p.log() and os.path.exists(f"/proc/{pid}")
    assert p.stop() == 0
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), "the embedded Valkey outlived the product"
