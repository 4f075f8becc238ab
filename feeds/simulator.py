"""Demo simulator: a believable live district, fed through the same ingest path as real sources.

It produces reports *and* what follows them: the command room dispatches, departments sign,
call the reporter, go on scene, feed back, resolve and close on realistic (sometimes late)
schedules; citizens evaluate; a few cases are returned, extended, whistled (吹哨) or
reopened; the same problem sometimes arrives through a second channel. Volumes and rhythm are
calibrated to DOMAIN.md: ~440,000 reports a year (~1,200 a day) over the jurisdiction's
streets and grids, peaks 9–11 and 14–17, quieter nights and weekends, category mix from
``config/categories.json`` ``share``, channel mix led by the grid workers' app, recurring
hotspots; average handling ~3 days, closure rate ~99.7 %, effective disposal ~96 %,
satisfaction ~95 %. Departments act against the deadlines the supervision engine enforces:
each stage's due comes from ``feeds.supervision.sla`` (the rule for the case's channel,
category and level, on the engine's work calendar), ~99 % of early stages and ~96 % of
closures are met, the rest late by a heavy-tailed margin (district on-time rate ~0.96).
``tests/feeds/test_simulator.py`` measures these, the last with the real worker.

Deterministic: a day's events depend only on (seed, day), so a restart that backfills the
same days again sends the same source ids and update ids, and ingest answers "duplicate".
Updates name their case by (channel, source id) and carry no version: ingest gives each the
case's next one, so duty officers' commands interleave safely.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from feeds.catalog import Catalog, room_code
from feeds.clock import Clock, DemoClock, SystemClock
from feeds.ingest import IngestUnavailable
from feeds.settings import Settings
from feeds.supervision.sla import RECEIVED, SlaBook, SlaRule, extend_clock, start_clock
from feeds.supervision.workcalendar import WorkCalendar
from geo.crs import from_wgs84

log = logging.getLogger(__name__)

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000

#: reports by hour of day (relative): peaks 9–11 and 14–17, low at night
HOURLY = np.array([0.18, 0.12, 0.10, 0.10, 0.12, 0.22, 0.45, 0.85, 1.45, 2.05, 2.15, 1.85,
                   1.15, 1.35, 1.85, 1.95, 1.90, 1.55, 1.05, 0.95, 0.85, 0.65, 0.45, 0.28])
#: by weekday Mon..Sun (relative; weekends lower)
WEEKLY = np.array([1.10, 1.07, 1.05, 1.04, 1.02, 0.88, 0.84])

#: channel mix (the grid workers' app first; the six platforms; hotlines; apps; walk-ins; sensors)
CHANNELS = {"grid_app": 0.42, "hotline_12345": 0.14, "citizen_app": 0.08, "minhu": 0.06, "public_affairs": 0.04,
            "city_ops": 0.05, "oa": 0.02, "jingantong": 0.03, "law_enforcement": 0.04, "police_110": 0.05,
            "walk_in": 0.03, "sensor": 0.04}
#: channels that favour some categories (weight multipliers)
AFFINITY = {
    "sensor": {"CG-MANHOLE": 30, "MS-FLOOD": 30, "XF-FACILITY": 20, "CG-STREETLIGHT": 15, "SR-POLLUTION": 8},
    "police_110": {"ZA-QUARREL": 40, "JF-NEIGHBOUR": 8, "SR-NOISE": 8, "ZA-GAMBLING": 20, "JF-WAGE": 5},
    "law_enforcement": {"CG-VENDOR": 6, "CG-CONSTRUCTION": 8, "SR-BANNER": 4, "SR-SCRAP": 5},
    "jingantong": {"ZA-RENTAL": 15, "ZA-GAMBLING": 10, "ZA-QUARREL": 5},
    "city_ops": {"CG-ROAD": 5, "CG-MANHOLE": 5, "CG-STREETLIGHT": 5, "MS-WATER": 4, "CG-PARKING": 3},
    "walk_in": {"JF-WAGE": 10, "MS-PETITION": 10, "JF-LAND": 8, "MS-ELDERLY": 5},
    "minhu": {"MS-PETITION": 4, "JF-PROPERTY": 3, "SR-NOISE": 2},
}
#: coordinates as the channel's app sends them (Amap-based apps GCJ-02, Baidu-based BD-09)
CHANNEL_CRS = {"citizen_app": "GCJ02", "minhu": "BD09", "city_ops": "GCJ02"}
SOURCE_PREFIX = {"grid_app": "GA", "hotline_12345": "RX", "citizen_app": "MS", "minhu": "MH", "public_affairs": "GW",
                 "city_ops": "CY", "oa": "OA", "jingantong": "JA", "law_enforcement": "ZF", "police_110": "JJ",
                 "walk_in": "CK", "sensor": "IOT"}
URGENT = frozenset({"CG-MANHOLE", "MS-FLOOD", "XF-EXIT", "AQ-CHEMICAL", "AQ-HAZARD", "ZA-QUARREL", "AQ-BUILDING"})
#: categories settled much faster than average (manholes within hours, banners within a day)
QUICK = {"CG-MANHOLE": 0.06, "MS-FLOOD": 0.25, "XF-EXIT": 0.3, "ZA-QUARREL": 0.15, "SR-BANNER": 0.35,
         "CG-PARKING": 0.3, "CG-VENDOR": 0.45, "CG-STREETLIGHT": 0.6}
HOTSPOT_CATEGORIES = ["CG-VENDOR", "SR-GARBAGE", "SR-NOISE", "CG-PARKING", "XF-EBIKE", "JF-PROPERTY",
                      "SR-STAIRWELL", "CG-CONSTRUCTION", "SR-BANNER", "ZA-RENTAL"]
#: mean handling days (received → closed) by level before category speed-ups; calibrated to ~3 days overall
LEVEL_DAYS = {1: 2.7, 2: 4.9, 3: 7.9, 4: 11.0}
HANDLING_SIGMA = 0.65
#: grid workers settle this share of their own level-1 reports on the spot (网格自处), within hours, any day
SELF_HANDLED = 0.2
CITIZEN_CHANNELS = frozenset({"hotline_12345", "citizen_app", "minhu", "public_affairs", "oa", "police_110", "walk_in",
                              "city_ops", "jingantong", "law_enforcement"})

# --- departments against their deadlines -------------------------------------------------------
# Every stage clock of a case comes from the supervision engine's own SLA rules (config/sla.json
# through feeds.supervision.sla, on its official work calendar): the departments act against
# the deadlines the engine enforces. A stage is met late with the probability in STAGE_LATE,
# by a heavy-tailed margin; otherwise its action falls inside the window.

#: the stages before closure, in order
STAGES = ("dispatch", "sign", "contact", "on_scene", "feedback")
#: pace of a stage met in time: lognormal (median, sigma) of the share of its allowed time used
STAGE_PACE = {"dispatch": (0.2, 0.7), "sign": (0.25, 0.8), "contact": (0.5, 0.4), "on_scene": (0.4, 0.5),
              "feedback": (0.3, 0.6)}
#: 110 hand-overs keep '1312' (DOMAIN.md, Yueqing Chengnan): signed within the minute, the reporter called
#: within 3, on scene in ~8 min, settled (fed back) in ~25
PACE_110 = {"sign": (0.5, 0.3), "contact": (0.6, 0.2), "on_scene": (0.8, 0.1), "feedback": (0.21, 0.35)}
#: probability that a stage is met late; the closure deadline is the one departments miss most
STAGE_LATE = {"dispatch": 0.002, "sign": 0.005, "contact": 0.005, "on_scene": 0.005, "feedback": 0.004,
              "close": 0.036}
#: lateness of a missed stage: lognormal with this median share of the allowed time, sigma LATE_SIGMA
LATE_MARGIN = {"close": 0.12}
LATE_MARGIN_DEFAULT = 0.5
LATE_SIGMA = 1.0
#: out of working hours, the share of work started at once by the duty staff (the rest waits for the morning):
#: the command rooms' night duty dispatches, departments' duty officers sign
DUTY = {"dispatch": 0.92, "sign": 0.7}
#: an action that would come after the near-due point is hurried in before it this often (else it is
#: finished after the warning, still in time)
HURRY = 0.92
WORKING_UNITS = frozenset({"working_hours", "working_days"})
#: a closure that would overrun its due: the department asks for an extension (level 2+, where allowed)
EXTEND_P = 0.4
EXTEND_WORKING_DAYS = (3, 5, 7)
#: working hours per calendar day of a working week (7.5 h × 5 / 7): maps handling days into working time
WORK_HOURS_PER_DAY = 7.5 * 5 / 7

ROADS = ["天童南路", "四明中路", "钱湖北路", "首南中路", "鄞县大道", "日丽中路", "惠风东路", "宁南南路", "中山东路",
         "学士路", "嵩江中路", "泰康中路", "兴宁路", "百丈东路", "福明路", "桑田路", "姜山大道", "前河南路", "宁穿路",
         "贸城中路", "杭州湾大道", "沧海路", "鄞城大道", "甬港南路", "锦寓路", "曙光路", "天童北路", "鄞州大道"]
PLACES = ["小区", "菜市场", "商业街", "学校门口", "公交站", "工地", "老旧小区", "公园", "农贸市场", "写字楼", "出租房", "厂房"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红晓燕文斌宇浩凯鹏飞欣怡子涵梓萱浩然雨轩俊杰"

DESCRIPTIONS: dict[str, list[str]] = {
    "CG-MANHOLE": ["{p}路面井盖缺失，有行人跌落风险", "{p}井盖破损松动，车辆经过异响", "{p}雨水井盖被盗，已临时围挡"],
    "CG-ROAD": ["{p}路面塌陷约一平方米", "{p}人行道砖块松动破损", "{p}道路坑洼积水，电动车易摔倒"],
    "CG-STREETLIGHT": ["{p}一排路灯晚上不亮", "{p}路灯闪烁，夜间照明不足"],
    "CG-PARKING": ["{p}车辆乱停堵塞消防通道", "{p}机动车占用人行道停放", "{p}共享单车大量堆积占道"],
    "CG-VENDOR": ["{p}流动摊贩占道经营", "{p}夜市摊位占用人行道", "{p}店外经营堵塞通道"],
    "CG-CONSTRUCTION": ["{p}疑似违法搭建彩钢棚", "{p}楼顶违章加层", "{p}私自围墙圈地"],
    "SR-BANNER": ["{p}路灯杆上违规悬挂横幅", "{p}墙面乱张贴小广告", "{p}违规设置广告牌"],
    "SR-GARBAGE": ["{p}生活垃圾堆放未及时清运", "{p}建筑垃圾乱倒", "{p}垃圾桶满溢，异味较大"],
    "SR-STAIRWELL": ["{p}楼道堆放杂物，影响通行", "{p}楼道内堆放纸箱易燃物", "{p}楼梯间停放电动车堆杂物"],
    "SR-SCRAP": ["{p}无证废品收购点占道堆放", "{p}废品站噪声扰民、堆放杂乱"],
    "SR-NOISE": ["{p}夜间施工噪声扰民", "{p}广场舞音响声音过大", "{p}商铺高音喇叭招揽生意"],
    "SR-POLLUTION": ["{p}餐饮油烟直排", "{p}河道有污水排入", "{p}工厂夜间排放异味气体"],
    "SR-GREEN": ["{p}绿化带被毁种菜", "{p}行道树被砍伐"],
    "JF-WAGE": ["{p}工地拖欠农民工工资，十余人讨薪", "{p}装修工人反映工资未结清"],
    "JF-NEIGHBOUR": ["{p}邻里因漏水问题发生纠纷", "{p}邻居占用公共走道引发矛盾"],
    "JF-RENOVATION": ["{p}装修施工时间违规，邻居投诉", "{p}装修破坏承重墙引发纠纷"],
    "JF-PROPERTY": ["{p}业主与物业因收费发生纠纷", "{p}物业服务不到位，业主不满"],
    "JF-CONSUMER": ["{p}预付卡商家跑路", "{p}商家拒绝退款引发纠纷"],
    "JF-LAND": ["{p}村民因宅基地边界发生纠纷", "{p}山林承包合同纠纷"],
    "AQ-HAZARD": ["{p}小作坊存在安全生产隐患", "{p}仓库违规存放液化气瓶"],
    "AQ-CHEMICAL": ["{p}疑似非法小化工作坊，气味刺鼻"],
    "AQ-BUILDING": ["{p}老旧房屋外墙开裂，有坠落风险", "{p}拆迁后危房无人看管"],
    "XF-EXIT": ["{p}消防通道被杂物堵塞", "{p}安全出口被锁闭"],
    "XF-EBIKE": ["{p}电动车飞线充电", "{p}楼道内电动车违规充电"],
    "XF-FACILITY": ["{p}消防栓损坏漏水", "{p}灭火器过期缺失"],
    "ZA-QUARREL": ["{p}KTV内醉酒顾客滋事", "{p}饭店醉酒人员争吵推搡"],
    "ZA-GAMBLING": ["{p}出租房疑似聚众赌博", "{p}有人散发涉诈传单"],
    "ZA-RENTAL": ["{p}群租房人员混杂，存在安全隐患", "{p}出租房未登记流动人口"],
    "MS-WATER": ["{p}小区停水未通知", "{p}自来水管爆裂"],
    "MS-ELDERLY": ["{p}独居老人需要帮扶", "{p}困难家庭申请救助"],
    "MS-HEALTH": ["{p}鼠患严重", "{p}公共厕所卫生差"],
    "MS-FLOOD": ["{p}暴雨后道路积水没过脚踝", "{p}地下车库进水"],
    "MS-PETITION": ["{p}居民反映拆迁补偿问题", "{p}群众反映办事难"],
    "QT-OTHER": ["{p}其他事项咨询", "{p}群众来电反映情况"],
}


@dataclass(frozen=True)
class SimParams:
    """Knobs of the demo district (defaults are the calibration)."""

    seed: int = 20261125
    per_year: int = 440_000
    hotspots: int = 40
    hotspot_share: float = 0.08
    twin_share: float = 0.015  # the same problem re-reported through another channel
    never_closed: float = 0.003  # stuck cases (closure rate ~99.7 %)
    skewed_clock: float = 0.001  # devices with a wrong clock (flagged by ingest)
    include_updates: bool = True


@dataclass
class _Grids:
    """What the simulator needs from the jurisdiction: sample points per grid and names."""

    pools: list[np.ndarray]  # per grid: (k, 2) lon/lat WGS84 inside the grid
    weights: np.ndarray  # per grid: share of the district's reports
    street_codes: list[str]
    street_names: list[str]
    community_names: list[str]


@dataclass
class _Hotspot:
    grid: int
    lon: float
    lat: float
    category: str


@dataclass(frozen=True, slots=True)
class _Window:
    """A stage clock of a case, as the supervision engine will run it."""

    start: int
    due: int
    near: int
    working: bool  # counted in working time (working hours / days) rather than elapsed


@dataclass(order=True)
class _Pending:
    at: int
    tie: int
    item: dict[str, Any] = field(compare=False)


class Simulator:
    """Generates the district's events day by day, deterministic per (seed, day)."""

    def __init__(self, settings: Settings, catalog: Catalog, index: Any, params: SimParams | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.params = params or SimParams(seed=settings.demo_seed)
        self.tz = ZoneInfo(settings.timezone)
        # the supervision engine's deadlines and work calendar (the same tables the worker loads)
        self.sla = SlaBook.load(Path(settings.config_dir))
        self.cal = WorkCalendar.load(Path(settings.config_dir), tz=settings.timezone,
                                     work_hours=[list(w) for w in self.sla.work_hours] or None)
        self.grids = _sample_grids(index, self.params.seed)
        cats = [c for c in catalog.categories.values() if c.share > 0]
        self.categories = [c.code for c in cats]
        self.cat_share = np.array([c.share for c in cats]) / sum(c.share for c in cats)
        self.channels = list(CHANNELS)
        self.chan_share = np.array([CHANNELS[c] for c in self.channels])
        self.chan_share /= self.chan_share.sum()
        self.cat_index = {c: i for i, c in enumerate(self.categories)}
        # P(channel | category) ∝ P(channel) * affinity
        m = np.tile(self.chan_share, (len(self.categories), 1))
        for ch, aff in AFFINITY.items():
            for cat, w in aff.items():
                if cat in self.cat_index:
                    m[self.cat_index[cat], self.channels.index(ch)] *= w
        self.chan_given_cat = m / m.sum(axis=1, keepdims=True)
        rng = np.random.default_rng([self.params.seed, 7])
        self.hotspots = self._make_hotspots(rng)
        self.workers = [f"{SURNAMES[rng.integers(len(SURNAMES))]}{GIVEN[rng.integers(len(GIVEN))]}"
                        f"{GIVEN[rng.integers(len(GIVEN))]}" for _ in self.grids.pools]
        self.worker_phones = [f"13{rng.integers(5, 10)}{rng.integers(10**8):08d}" for _ in self.grids.pools]

    def _make_hotspots(self, rng: np.random.Generator) -> list[_Hotspot]:
        out = []
        grid_p = self.grids.weights ** 2 / (self.grids.weights ** 2).sum()  # mostly urban
        for i in range(self.params.hotspots):
            g = int(rng.choice(len(grid_p), p=grid_p))
            pool = self.grids.pools[g]
            lon, lat = pool[rng.integers(len(pool))]
            out.append(_Hotspot(g, float(lon), float(lat), HOTSPOT_CATEGORIES[i % len(HOTSPOT_CATEGORIES)]))
        return out

    # --- calendar ---------------------------------------------------------------------------------
    def local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.tz)

    def day_start(self, d: date) -> int:
        return int(datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp() * 1000)

    def work_after(self, t: int, minutes: float) -> int:
        """``minutes`` of working time (the SLA's work hours on official working days) after ``t``."""
        return self.cal.add_working_hours(t, minutes / 60).at

    def working_hours_between(self, a: int, b: int) -> float:
        """Working hours (the SLA's work hours on official working days) in ``[a, b)``."""
        total = 0
        d = self.cal.local_date(a)
        last = self.cal.local_date(b)
        while a < b and d <= last:
            if self.cal.is_workday(d):
                base = self.day_start(d)
                for lo, hi in self.cal.work_hours:
                    s, e = max(base + lo * MIN, a), min(base + hi * MIN, b)
                    if e > s:
                        total += e - s
            d += timedelta(days=1)
        return total / HOUR

    def in_work_time(self, t: int) -> bool:
        return self.cal.add_working_hours(t, 0).at == t

    # --- one day ----------------------------------------------------------------------------------
    def expected_reports(self, d: date) -> float:
        """Mean number of reports on day ``d``: the yearly volume shaped by weekday, season and
        public holidays (the day's actual count is Poisson around it)."""
        doy = d.timetuple().tm_yday
        season = 1.0 + 0.08 * math.sin(2 * math.pi * (doy - 110) / 365.25)
        holiday = 0.8 if (not self.cal.is_workday(d) and d.weekday() < 5) else 1.0
        weekly = WEEKLY[d.weekday()] / WEEKLY.mean()
        return self.params.per_year / 365.25 * weekly * season * holiday

    def day(self, d: date) -> list[dict[str, Any]]:
        """All reports received on local day ``d`` and every update that follows them (any later time)."""
        was_enabled = gc.isenabled()
        gc.disable()  # ~10^4 acyclic dicts a day: the cyclic collector would only rescan live data
        try:
            return self._day(d)
        finally:
            if was_enabled:
                gc.enable()

    def _day(self, d: date) -> list[dict[str, Any]]:
        p = self.params
        rng = np.random.default_rng([p.seed, d.toordinal()])
        n = int(rng.poisson(self.expected_reports(d)))
        start = self.day_start(d)
        hours = rng.choice(24, size=n, p=HOURLY / HOURLY.sum())
        t = np.sort(start + hours * HOUR + rng.integers(0, HOUR, size=n))

        hot = rng.random(n) < p.hotspot_share
        cat_idx = rng.choice(len(self.categories), size=n, p=self.cat_share)
        hs = rng.integers(len(self.hotspots), size=n)
        grid = rng.choice(len(self.grids.weights), size=n, p=self.grids.weights)
        pick = rng.random(n)
        jitter = rng.normal(0, 0.00025, size=(n, 2))
        lon = np.empty(n)
        lat = np.empty(n)
        cats: list[str] = []
        for i in range(n):
            if hot[i]:
                h = self.hotspots[hs[i]]
                grid[i] = h.grid
                lon[i], lat[i] = h.lon + jitter[i, 0], h.lat + jitter[i, 1]
                cats.append(h.category)
            else:
                pool = self.grids.pools[grid[i]]
                lon[i], lat[i] = pool[int(pick[i] * len(pool))]
                cats.append(self.categories[cat_idx[i]])
        u = rng.random(n)
        chans = [self.channels[int(np.searchsorted(np.cumsum(self.chan_given_cat[self.cat_index[c]]), u[i] * 0.999999))]
                 for i, c in enumerate(cats)]
        twins = np.flatnonzero(rng.random(n) < p.twin_share)

        items: list[dict[str, Any]] = []
        seqs: Counter[str] = Counter()
        for i in range(n):
            items.extend(self._case(rng, d, seqs, int(t[i]), cats[i], chans[i], int(grid[i]),
                                    float(lon[i]), float(lat[i]), twin_of=None))
        for i in twins:  # the same problem through another channel, a little later, nearby
            other = [c for c in self.channels if c not in (chans[i], "sensor")]
            ch = other[int(rng.integers(len(other)))]
            dt = int(rng.integers(10, 180)) * MIN
            ang, dist = rng.random() * 2 * math.pi, 50 + rng.random() * 250
            dlon = dist * math.cos(ang) / (111_320 * math.cos(math.radians(lat[i])))
            dlat = dist * math.sin(ang) / 110_574
            items.extend(self._case(rng, d, seqs, int(t[i]) + dt, cats[i], ch, int(grid[i]),
                                    float(lon[i]) + dlon, float(lat[i]) + dlat, twin_of=i))
        return items

    def _case(self, rng: np.random.Generator, d: date, seqs: Counter[str], t: int, cat: str, ch: str, grid: int,
              lon: float, lat: float, twin_of: int | None) -> list[dict[str, Any]]:
        p = self.params
        seqs[ch] += 1
        sid = f"{SOURCE_PREFIX[ch]}{d:%Y%m%d}{seqs[ch]:05d}" + ("D" if twin_of is not None else "")
        category = self.catalog.categories[cat]
        level = min(4, category.level + (1 if rng.random() < 0.1 else 0))
        crs = CHANNEL_CRS.get(ch, "WGS84")
        src_lon, src_lat = (lon, lat) if crs == "WGS84" else from_wgs84(lon, lat, crs)
        road = ROADS[int(rng.integers(len(ROADS)))]
        place = f"{self.grids.community_names[grid]}{road}{int(rng.integers(1, 999))}号"
        where = PLACES[int(rng.integers(len(PLACES)))]
        texts = DESCRIPTIONS.get(cat, ["{p}群众反映问题"])
        desc = texts[int(rng.integers(len(texts)))].format(p=f"{road}{where}")
        reported = t - int(rng.integers(0, 120_000))
        if rng.random() < p.skewed_clock:
            reported += int(rng.integers(1, 30)) * DAY  # a device with a wrong clock
        report: dict[str, Any] = {
            "channel": ch, "source_id": sid, "category": cat, "level": level,
            "lon": round(float(src_lon), 6), "lat": round(float(src_lat), 6), "crs": crs,
            "address": f"{self.grids.street_names[grid]}{place}", "description": desc,
            "reported_at": reported, "received_at": t,
        }
        if ch == "grid_app":
            report["reporter"] = {"name": self.workers[grid], "phone": self.worker_phones[grid]}
        elif ch != "sensor" and (rng.random() < 0.75 or ch == "police_110"):  # a 110 call has a caller
            report["reporter"] = {"name": _name(rng), "phone": f"1{rng.integers(3, 10)}{rng.integers(10**9):09d}"}
        elif ch == "sensor":
            report["description"] = f"物联感知设备告警：{desc}"
            report["attrs"] = {"device": f"IOT-{grid:04d}-{int(rng.integers(100)):02d}"}
        if not p.include_updates:
            return [report]
        updates = self._lifecycle(rng, t, cat, ch, level, grid, twin=twin_of is not None, has_reporter="reporter" in report)
        for k, u in enumerate(updates, 1):
            u["channel"] = ch
            u["source_id"] = sid
            u["update_id"] = f"{k}:{u['kind']}"
        return [report, *updates]

    # --- a case's life, against the deadlines the supervision engine enforces ----------------------
    def _window(self, rule: SlaRule, stage: str, starts: dict[str, int]) -> _Window | None:
        """The case's ``stage`` clock as the engine starts it (its own rule, limit, near-due point and
        calendar); None when the rule has no such stage or its start has not happened."""
        srule = rule.stage(stage)
        if srule is None or srule.start not in starts:
            return None
        clock = start_clock(srule, starts[srule.start], self.cal)
        return _Window(clock["start"], clock["due"], clock["near"], next(iter(srule.limit)) in WORKING_UNITS)

    def _later(self, t: int, hours: float, working: bool) -> int:
        """``hours`` after ``t``: working time (work hours of working days) or elapsed."""
        return self.cal.add_working_hours(t, hours).at if working else t + int(hours * HOUR)

    def _allowed(self, start: int, due: int, working: bool) -> float:
        """Hours a clock allows between ``start`` and ``due`` (working hours where it counts them)."""
        return self.working_hours_between(start, due) if working else max(0, due - start) / HOUR

    def _between(self, rng: np.random.Generator, lo: int, hi: int, working: bool) -> int:
        """A random instant in ``[lo, hi]``, in working time where the clock counts it (if there is any)."""
        at = self._later(lo, self._allowed(lo, hi, working) * rng.uniform(0.05, 0.95), working)
        return at if at <= hi else lo + int((hi - lo) * rng.uniform(0.05, 0.95))

    def _pace(self, rng: np.random.Generator, w: _Window, pace: tuple[float, float]) -> int:
        """An action taking a lognormal share (median, sigma) of the clock's allowed time."""
        share = min(rng.lognormal(math.log(pace[0]), pace[1]), 3.0)
        return self._later(w.start, self._allowed(w.start, w.due, w.working) * share, w.working)

    def _meet(self, rng: np.random.Generator, stage: str, w: _Window, after: int, natural: int,
              squeeze_from: float = 0.0) -> int:
        """When the action that meets ``stage``'s clock ``w`` happens (not before ``after``).

        Late with probability ``STAGE_LATE[stage]``, by a heavy-tailed margin past the due. Otherwise
        at its ``natural`` time where that is before the near-due point; a later one is mostly
        hurried in before it (from ``squeeze_from`` of the window on), else finished after the
        near-due warning but in time.
        """
        if rng.random() < STAGE_LATE[stage]:
            margin = (LATE_MARGIN.get(stage, LATE_MARGIN_DEFAULT) * self._allowed(w.start, w.due, w.working)
                      * rng.lognormal(0.0, LATE_SIGMA))
            return max(self._later(w.due, margin, w.working), w.due + 1000, after)
        at = max(natural, after)
        if at <= w.near or after >= w.due:
            return at
        lo = max(after, w.start + int((w.due - w.start) * squeeze_from))
        if lo < w.near and rng.random() < HURRY:
            return self._between(rng, lo, w.near, w.working)
        return at if at <= w.due else self._between(rng, max(lo, w.near), w.due, w.working)

    def _lifecycle(self, rng: np.random.Generator, t: int, cat: str, ch: str, level: int, grid: int, *,
                   twin: bool, has_reporter: bool) -> list[dict[str, Any]]:
        """The case's updates with their times: dispatch → sign → ... → close → evaluate.

        Each stage is acted on against its clock from the engine's SLA rule for the case's
        (channel, category, level), on the engine's work calendar: working-time clocks are met in
        working hours (the duty staff take some night reports at once), 24/7 clocks around the clock.
        """
        p = self.params
        out: list[dict[str, Any]] = []
        category = self.catalog.categories[cat]
        street = self.grids.street_codes[grid]
        dept = category.dept or room_code(street)
        rule = self.sla.rule_for(ch, cat, level)
        police = ch == "police_110"
        urgent = cat in URGENT or police  # handled around the clock
        on_the_spot = ch == "grid_app" and level == 1 and not urgent and rng.random() < SELF_HANDLED
        working = not (urgent or on_the_spot)  # steps without a clock of their own: in working time
        pace = {**STAGE_PACE, **PACE_110} if police else STAGE_PACE
        starts = {RECEIVED: t}

        def add(kind: str, at: int, **data: Any) -> int:
            out.append({"kind": kind, "at": int(at), **data})
            return int(at)

        def act(stage: str, after: int, hours: float, duty: float = 0.0) -> int:
            """The action meeting ``stage``: against its clock where the rule has one (the duty staff
            act at once on a share ``duty`` of what arrives out of working hours), else ``hours``
            after ``after`` (in working time where ``working``)."""
            w = self._window(rule, stage, starts)
            if w is None:
                at = self._later(after, hours, working)
                # in time for the next clock that runs (e.g. on scene within 2 h of an urgent dispatch)
                nxt = next((w for w in (self._window(rule, n, starts) for n in STAGES[STAGES.index(stage) + 1:])
                            if w is not None), None)
                if nxt is not None and at > nxt.near > after:
                    at = self._between(rng, after, nxt.near, False)
                return at
            if duty and w.working and not self.in_work_time(w.start) and rng.random() < duty:
                natural = w.start + int(rng.lognormal(math.log(0.4), 0.6) * HOUR)
            else:
                natural = self._pace(rng, w, pace[stage])
            return self._meet(rng, stage, w, after, natural)

        # the room dispatches (110 hand-overs go straight on), the department signs
        dispatched = act("dispatch", t + 10_000, rng.uniform(0, 15) / 3600 if police else rng.lognormal(-1.2, 0.7),
                         1.0 if on_the_spot else DUTY["dispatch"])
        add("dispatched", dispatched, dept=dept)
        starts["dispatched"] = dispatched
        if twin:  # recognised as a repeat of an earlier case and closed as such
            add("closed", dispatched + int(rng.uniform(20, 220) * MIN), closure_reason="duplicate")
            return out
        if not police and rng.random() < 0.02:  # returned: not this department's matter, re-dispatched by the room
            back = add("returned", self._later(dispatched, rng.uniform(0.1, 0.4), not urgent),
                       reason="非本部门职责，申请退回")
            dept = room_code(street)
            dispatched = add("dispatched", self._later(back, rng.uniform(0.15, 0.8), not urgent), dept=dept)
            starts["dispatched"] = dispatched
        signed = act("sign", dispatched + 5_000, rng.lognormal(-0.7, 0.8), 1.0 if on_the_spot else DUTY["sign"])
        contacted = None
        if has_reporter and ch != "grid_app":
            contacted = act("contact", signed + 20_000, rng.lognormal(math.log(25 / 60), 0.8))
        after = max(signed, contacted or 0) + 30_000
        on_scene = act("on_scene", after, rng.lognormal(math.log(0.2 if on_the_spot else 0.75), 0.55) if not working
                       else rng.lognormal(math.log(2), 0.7))
        feedback = act("feedback", on_scene + MIN, rng.lognormal(math.log(0.5 if on_the_spot else 1.5), 0.7))

        close_rule = rule.stage("close")
        wc = self._window(rule, "close", starts)
        if rng.random() < p.never_closed:  # stuck: suspended (挂起) for a decision that never comes; clocks stop
            due = wc.near if wc else feedback + 3 * DAY
            add("signed", signed)
            if contacted is not None:
                add("contacted", contacted)
            add("on_scene", on_scene)
            add("feedback", feedback)
            add("suspended", max(feedback + 30 * MIN, t + int((due - t) * rng.uniform(0.2, 0.5))),
                reason="需上级部门研究决定，申请挂起")
            return out

        # handling: urgent and quick matters around the clock, the rest in working time
        days = LEVEL_DAYS[level] * QUICK.get(cat, 1.0) * (0.4 if police else 1.0)
        h = rng.lognormal(math.log(days) - 0.5 * HANDLING_SIGMA ** 2, HANDLING_SIGMA)  # mean = days
        if on_the_spot:
            h = rng.lognormal(math.log(2.5 / 24), 0.6)
        around_clock = urgent or on_the_spot or cat in QUICK
        natural = t + int(h * DAY) if around_clock else self._later(t, h * WORK_HOURS_PER_DAY, True)
        earliest = feedback + 20 * MIN
        extension = None
        if (wc is not None and close_rule is not None and close_rule.extendable and level >= 2 and not police
                and natural > wc.due and rng.random() < EXTEND_P):  # will overrun: asks for more time in time
            req = max(signed + HOUR, self._later(t + int((wc.near - t) * rng.uniform(0.5, 0.9)), 0, True))
            ok = min(self._later(req, rng.lognormal(math.log(2), 0.6), True), wc.near - 30 * MIN)
            if ok > req:
                n = int(rng.choice(EXTEND_WORKING_DAYS))  # working days more, sent as the new due ('until')
                moved = extend_clock(start_clock(close_rule, t, self.cal), close_rule, {"working_days": n}, self.cal)
                extension = (req, ok, moved["due"])
                wc = _Window(wc.start, moved["due"], moved["near"], wc.working)
                earliest = max(earliest, ok + 10 * MIN)
        closed = self._meet(rng, "close", wc, earliest, natural, 0.6) if wc else max(natural, earliest)
        gap = rng.lognormal(math.log(2), 0.8)  # hours from resolution to closure (the room checks)
        resolved = closed - int(gap * HOUR) if around_clock else self.cal.sub_working_hours(closed, gap).at
        resolved = max(resolved, feedback + 10 * MIN)
        closed = max(closed, resolved + 5 * MIN)

        add("signed", signed)
        if contacted is not None:
            add("contacted", contacted)
        add("on_scene", on_scene)
        add("feedback", feedback)
        if level >= 3 and rng.random() < 0.05:  # whistle (吹哨): departments must report in
            at = signed + int(rng.lognormal(math.log(6), 0.8) * HOUR)
            grade = rng.choice(["general", "major", "serious"], p=[0.7, 0.25, 0.05])
            others = [c for c in self.catalog.departments if c != dept]
            depts = [str(d) for d in rng.choice(others, size=int(rng.integers(2, 5)), replace=False)]
            if at < resolved - 30 * MIN:
                add("whistle", at, grade=str(grade), depts=depts)
        if extension is not None:
            req, ok, until = extension
            add("extension_requested", req, until=until, reason="需协调多部门，申请延期")
            add("extension_approved", ok, until=until)
        add("resolved", resolved)
        r = rng.random()
        reason = ("fixed" if r < 0.9755 else "not_ours" if r < 0.9875 else "no_action" if r < 0.9955 else "referred")
        add("closed", closed, closure_reason=reason)
        evaluate_p = 0.75 if (has_reporter and ch in CITIZEN_CHANNELS) else 0.15
        if reason == "fixed" and rng.random() < evaluate_p:
            s = rng.random()
            sat = "satisfied" if s < 0.86 else "basically" if s < 0.955 else "dissatisfied"
            ev = add("evaluated", closed + int(rng.lognormal(math.log(10), 1.0) * HOUR), satisfaction=sat)
            if sat == "dissatisfied" and rng.random() < 0.4:  # handled again: the close clock restarts
                again = add("reopened", ev + int((2 + 20 * rng.random()) * HOUR), reason="群众不满意，重新办理")
                natural = self._later(again, rng.lognormal(math.log(1.5), 0.6) * WORK_HOURS_PER_DAY, True)
                wr = self._window(rule, "close", {RECEIVED: again})
                closed2 = self._meet(rng, "close", wr, again + HOUR, natural, 0.6) if wr else natural
                res2 = max(again + 30 * MIN, self.cal.sub_working_hours(closed2, rng.lognormal(math.log(2), 0.8)).at)
                closed2 = max(closed2, res2 + 5 * MIN)
                add("resolved", res2)
                add("closed", closed2, closure_reason="fixed")
                add("evaluated", closed2 + int(rng.lognormal(math.log(8), 0.8) * HOUR),
                    satisfaction="basically" if rng.random() < 0.6 else "satisfied")
        return out

    # --- time line -------------------------------------------------------------------------------
    def timeline(self, start: int, end: int | None = None) -> Iterator[dict[str, Any]]:
        """Every event from ``start`` (ms) on, in time order (reports at ``received_at``, updates at
        ``at``), up to ``end`` or forever. Reports received before ``start`` are not generated."""
        heap: list[_Pending] = []
        tie = itertools.count()
        d = self.local(start).date()
        before: set[str] = set()  # cases reported before start: their updates are left out too
        while True:
            day_end = self.day_start(d + timedelta(days=1))
            for item in self.day(d):
                if "kind" not in item:
                    at = item["received_at"]
                    if at < start:
                        before.add(item["source_id"])
                        continue
                elif item["source_id"] in before:
                    continue
                else:
                    at = item["at"]
                if at >= start:
                    heapq.heappush(heap, _Pending(at, next(tie), item))
            while heap and heap[0].at < day_end:
                p = heapq.heappop(heap)
                if end is not None and p.at >= end:
                    return
                yield p.item
            d += timedelta(days=1)


def _name(rng: np.random.Generator) -> str:
    n = 1 + int(rng.random() < 0.7)
    return SURNAMES[int(rng.integers(len(SURNAMES)))] + "".join(GIVEN[int(rng.integers(len(GIVEN)))] for _ in range(n))


def _sample_grids(index: Any, seed: int, per_grid: int = 48) -> _Grids:
    """Sample points inside each grid (rejection sampling located by geo's index) and weight
    the grids: every grid has a few hundred households, urban ones see more activity."""
    rng = np.random.default_rng([seed, 3])
    gdf = index.layer.gdf
    bounds = np.asarray(gdf.geometry.bounds.to_numpy(), dtype=float)  # minx miny maxx maxy
    n = len(gdf)
    pools: list[list[np.ndarray]] = [[] for _ in range(n)]
    have = np.zeros(n, dtype=int)
    for _ in range(8):
        need = np.flatnonzero(have < per_grid)
        if need.size == 0:
            break
        k = per_grid * 3
        g = np.repeat(need, k)
        lon = bounds[g, 0] + rng.random(g.size) * (bounds[g, 2] - bounds[g, 0])
        lat = bounds[g, 1] + rng.random(g.size) * (bounds[g, 3] - bounds[g, 1])
        _, pos = index.locate_lnglat(lon, lat)
        ok = pos == g
        for gi in need:
            sel = ok & (g == gi)
            if sel.any():
                pts = np.column_stack([lon[sel], lat[sel]])[: per_grid - have[gi]]
                pools[gi].append(pts)
                have[gi] += len(pts)
    centre = np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2])
    final = [np.vstack(p) if p else centre[i:i + 1] for i, p in enumerate(pools)]
    area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    urban = np.where(area < np.median(area), 1.35, 0.75)
    w = urban * rng.lognormal(0, 0.35, size=n)
    return _Grids(final, w / w.sum(), [str(x) for x in gdf["street_code"]], [str(x) for x in gdf["street_name"]],
                  [str(x) for x in gdf["community_name"]])


# --- running it --------------------------------------------------------------------------------
def make_simulator(settings: Settings, *, index: Any = None, seed: int | None = None, per_year: int | None = None,
                   include_updates: bool = True, catalog: Catalog | None = None) -> Simulator:
    """A simulator on the settings' jurisdiction (geo's grid index) and catalog."""
    if index is None:
        from geo.index import GridIndex

        index = GridIndex.from_config(settings.jurisdiction, resolution=settings.h3_resolution,
                                      cache_dir=Path(settings.data_dir) / "cache")
    params = SimParams(seed=settings.demo_seed if seed is None else seed,
                       per_year=per_year or SimParams.per_year, include_updates=include_updates)
    return Simulator(settings, catalog or Catalog.load(Path(settings.config_dir)), index, params)


def run_simulator(ingestor: Any, settings: Settings, backfill_days: float, live: bool = True,
                  stop_event: threading.Event | None = None, *, seed: int | None = None,
                  per_year: int | None = None, progress: bool = False, now: int | None = None,
                  simulator: Simulator | None = None, clock: Clock | None = None) -> dict[str, int]:
    """Backfill ``backfill_days`` ending now as fast as the server takes it, then (``live``)
    keep producing on ``clock`` until ``stop_event`` is set.

    ``clock``: the product's clock (``feeds.clock``); a ``DemoClock`` (sped up) is started when
    the live part starts, so the reports' received times are the present of every other part
    reading that clock. None: real time from ``now`` (the machine's, unless pinned).

    Meant for a thread of the main process: everything goes through ``ingestor`` in process.
    Returns counts of results by status.
    """
    sim = simulator or make_simulator(settings, index=getattr(ingestor.locator, "index", None), seed=seed,
                                      per_year=per_year, catalog=ingestor.catalog)
    stop = stop_event or threading.Event()
    t_now = now if now is not None else (clock or SystemClock()).wall()
    stats: Counter[str] = Counter()
    while True:  # the log server may be down: the backfill is idempotent, so start it again
        try:
            events, pending = _backfill(ingestor, sim, t_now, backfill_days, stop, stats, progress)
            break
        except IngestUnavailable as e:
            log.warning("simulator: %s; backfill restarts in 2 s", e)
            if stop.wait(2.0):
                return dict(stats)
    log.info("simulator backfill done: %s", dict(stats))
    if not live or stop.is_set():
        return dict(stats)

    if clock is None:  # real time, continuing from the backfill's end
        clock = DemoClock(1.0, now_ns=lambda: t_now * 1_000_000)
    if isinstance(clock, DemoClock):
        clock.start()
    speed = getattr(clock, "speed", 1.0)
    queue = itertools.chain(pending, events)
    nxt = next(queue, None)
    while nxt is not None and not stop.is_set():
        sim_now = clock.wall()
        batch = []
        while nxt is not None and _time_of(nxt) <= sim_now:
            batch.append(nxt)
            nxt = next(queue, None)
        if batch:
            try:
                for r in ingestor.ingest(batch, source="simulator", trust_received=True, deltas="item"):
                    stats[r.status] += 1
            except IngestUnavailable as e:  # the demo feed waits and sends the same events again
                log.warning("simulator: %s; retrying in 1 s", e)
                stop.wait(1.0)
                queue = itertools.chain(batch[1:], [nxt] if nxt is not None else [], queue)
                nxt = batch[0]
                continue
        if nxt is None:
            break
        stop.wait(min(max((_time_of(nxt) - sim_now) / 1000 / speed, 0.01), 1.0))
    return dict(stats)


def _time_of(item: dict[str, Any]) -> int:
    return item["received_at"] if "kind" not in item else item["at"]


def _backfill(ingestor: Any, sim: Simulator, t_now: int, days: float, stop: threading.Event,
              stats: Counter[str], progress: bool) -> tuple[Iterator[dict[str, Any]], list[dict[str, Any]]]:
    """Send every event of the ``days`` before ``t_now``, two batches in flight; return the
    rest of the time line (the first future event in ``pending``)."""
    events = sim.timeline(t_now - int(days * DAY))
    pending: list[dict[str, Any]] = []

    def batches() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for item in events:
            if _time_of(item) > t_now:
                pending.append(item)
                break
            batch.append(item)
            if len(batch) >= 2000:
                yield batch
                batch = []
                if stop.is_set():
                    return
        if batch:
            yield batch

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="ev", desc=f"backfill {days:g} d", mininterval=0.5)
    try:
        for results in ingestor.ingest_stream(batches(), source="simulator", trust_received=True, deltas="batch"):
            for r in results:
                stats[r.status] += 1
            if bar is not None:
                bar.update(len(results))
    finally:
        if bar is not None:
            bar.close()
    return events, pending
