"""Every component id of the screens, in one place.

Page modules, callbacks, the live-push client (``assets/live.js`` reads ``LIVE_IDS`` from the
page) and the browser tests all name components through these constants.
"""

from __future__ import annotations

# --- shared by every screen -------------------------------------------------------------
URL = "url"
SCREEN_MARK = "data-live-page"  # attribute of each screen's root: which room live.js joins


def resync(page: str) -> str:
    """dcc.Store bumped by live.js on (re)connect or a seq gap: the page reloads its snapshot."""
    return f"{page}-resync"


def meta(page: str) -> str:
    """dcc.Store written with the snapshot: {seq, at, lists, views, cast, filters}."""
    return f"{page}-meta"


def meta_sink(page: str) -> str:
    """Dummy output of the clientside callback that hands the snapshot meta to live.js."""
    return f"{page}-meta-sink"

BANNER = "live-banner"  # "connection lost" banner (shown by live.js)
ASOF = "live-asof"  # "数据截至 hh:mm:ss"
CLOCK = "live-clock"  # wall clock text
CONN_DOT = "live-conn"  # connection status indicator
TOAST = "toast"  # result of an action
LOGIN = "login-panel"

# --- /wall -------------------------------------------------------------------------------
WALL = "wall"
WALL_MAP = "wall-map"
WALL_HEAT = "wall-heat"  # dcc.Store: the live layers' data (heat counts, markers) painted by live.js
WALL_HEAT_CANVAS = "wall-heat-canvas"  # the 2D canvas over the map they are painted on
WALL_MAP_TICK = "wall-map-tick"  # dcc.Store bumped by live.js when the heat should catch up
WALL_MAP_DONE = "wall-map-done"  # dcc.Store written with the map patch (live.js paces on it)
WALL_FOCUS = "wall-focus"  # focus-view caption over the map
WALL_FOCUS_VIEWS = "wall-focus-views"  # dcc.Store: rotation views (name, center, zoom)
WALL_CAST = "wall-cast"  # "领导投屏" badge
WALL_KPI_PREFIX = "kpi-"  # + KPI key, e.g. "kpi-received"
WALL_KPIS = "wall-kpis"
WALL_BACKLOG = "wall-backlog"
WALL_TOPISSUES = "wall-topissues"
WALL_HOTSPOTS = "wall-hotspots"
WALL_TREND = "wall-trend"
WALL_TREND_MODE = "wall-trend-mode"
WALL_TICKER = "wall-ticker"
WALL_ALERTS = "wall-alerts"
WALL_ALERT_COUNT = "wall-alert-count"

# --- /duty -------------------------------------------------------------------------------
DUTY = "duty"
DUTY_QUEUE = "duty-queue"
DUTY_COUNT = "duty-count"
DUTY_STREET = "duty-street"
DUTY_DEPT = "duty-dept"
DUTY_SOUND = "duty-sound"
DUTY_HISTORY = "duty-history"
DUTY_NOTE = "duty-note"
DUTY_ACTOR = "duty-actor"
DUTY_ACTION = "duty-action"  # dcc.Store: {"action", "alert", "t"} written by live.js on a button tap

# --- /tablet -----------------------------------------------------------------------------
TABLET = "tablet"
TAB_SCOPE = "tab-scope"  # dcc.Store: {"level", "code"} of the drill-down
TAB_CRUMBS = "tab-crumbs"
TAB_NAV = "tablet-nav"  # dcc.Store: {"nav": "level|code", "t"} written by live.js on a tap of [data-nav]
TAB_MAP = "tab-map"
TAB_WINDOW = "tab-window"
TAB_RANGE = "tab-range"
TAB_CATEGORY = "tab-category"
TAB_DEPT = "tab-dept"
TAB_CHANNEL = "tab-channel"
TAB_LEVEL = "tab-level"
TAB_COMPARE = "tab-compare"
TAB_KPIS = "tab-kpis"
TAB_COMPARE_PANEL = "tab-compare-panel"
TAB_TREND = "tab-trend"
TAB_LIST = "tab-list"
TAB_LIST_TITLE = "tab-list-title"
TAB_HOTSPOTS = "tab-hotspots"
TAB_DETAIL = "tab-detail"  # hotspot history or case timeline
TAB_PLAY = "tab-play"
TAB_PLAY_DAY = "tab-play-day"
TAB_PLAY_SPEED = "tab-play-speed"
TAB_PLAY_CLOCK = "tab-play-clock"  # dcc.Store: {"t": ms} of the playback clock (None = live)
TAB_PLAY_LABEL = "tab-play-label"
TAB_PLAY_STATE = "tab-play-state"  # dcc.Store: {"playing", "start", "end", "speed"}
TAB_LIVE = "tab-live"  # dcc.Store bumped by live.js (at most every few s) when the data changed
TAB_CAST = "tab-cast"
TAB_RELEASE = "tab-release"

#: Ids the live-push client needs, written into the page as ``window.LIVE_IDS``.
LIVE_IDS = {
    "banner": BANNER,
    "asof": ASOF, "clock": CLOCK, "conn": CONN_DOT, "mapTick": WALL_MAP_TICK,
    "mapDone": WALL_MAP_DONE, "map": WALL_MAP, "heat": WALL_HEAT, "heatCanvas": WALL_HEAT_CANVAS, "focus": WALL_FOCUS, "focusViews": WALL_FOCUS_VIEWS,
    "cast": WALL_CAST, "kpiPrefix": WALL_KPI_PREFIX, "backlog": WALL_BACKLOG,
    "topIssues": WALL_TOPISSUES, "hotspots": WALL_HOTSPOTS, "trend": WALL_TREND,
    "ticker": WALL_TICKER, "alerts": WALL_ALERTS, "alertCount": WALL_ALERT_COUNT,
    "dutyQueue": DUTY_QUEUE, "dutyCount": DUTY_COUNT, "dutySound": DUTY_SOUND,
    "dutyHistory": DUTY_HISTORY, "dutyAction": DUTY_ACTION, "tabNav": TAB_NAV, "playClock": TAB_PLAY_CLOCK, "playState": TAB_PLAY_STATE,
    "playLabel": TAB_PLAY_LABEL, "tabLive": TAB_LIVE, "mapDoneSink": WALL_MAP_DONE,
}



def slot(list_id: str, i: int) -> str:
    """The id of slot ``i`` of a live list (see ``panels.slotted``)."""
    return f"{list_id}-s{i}"
