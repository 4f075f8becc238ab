"""Read-model queries the screens call (contract and shapes: docs/READ_MODELS.md).

Plain functions of (client, keys, ...) returning plain dicts and lists, each a handful of
pipelined reads over the worker's read models. ``now`` is always passed in (time is a
parameter). ``masked=True`` (always on the wall) runs free text through
``feeds.privacy.mask_text``; no reporter name or phone is stored in the read models at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from feeds.catalog import room_code
from feeds.keys import Keys
from feeds.privacy import mask_text
from feeds.supervision import kpi as kpimath
from feeds.supervision import lifecycle as lc
from feeds.supervision.readmodels import counts_from_reads, queue_backlog_reads
from feeds.supervision.sla import base_stage
from feeds.supervision.statecodec import decode_state

TZ = ZoneInfo("Asia/Shanghai")
_CHUNK = 5000
SCOPES = ("dept", "street", "comm", "grid")
STAGE_NAMES = {"dispatch": "派遣", "sign": "签收", "contact": "联系上报人", "on_scene": "到场",
               "feedback": "反馈", "close": "办结", "whistle": "吹哨事项"}
_DONE = frozenset({"closed", "evaluated", "merged"})


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _check_scope(scope: str) -> str:
    if scope == "district" or scope.startswith(("street:", "dept:")) and len(scope.split(":", 1)[1]) > 0:
        return scope
    raise ValueError(f"scope must be 'district', 'street:<code>' or 'dept:<code>', got {scope!r}")


def _facts(client: Any, keys: Keys, ids: list[str]) -> list[dict]:
    """Facts rows of ``ids`` in order (missing ones skipped), one HMGET per 5,000."""
    out: list[dict] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        if chunk:
            out.extend(orjson.loads(raw) for raw in client.hmget(keys.facts, chunk) if raw)
    return out


def sla_of(f: dict, now: int) -> str:
    """A case's SLA state from its facts row, at ``now``."""
    if f["st"] in _DONE:
        return "none" if f["st"] == "merged" else ("late" if f.get("late") else "met")
    if f.get("paused"):
        return "paused"
    if f.get("due") is None:
        return "none"
    if f["due"] <= now:
        return "overdue"
    if f.get("near") is not None and f["near"] <= now:
        return "near_due"
    return "on_track"


def summary(f: dict, now: int, masked: bool = True) -> dict:
    """The case summary shape shared by lists, the alert queue and the ticker."""
    text = f.get("text") or ""
    return {"id": f["id"], "v": f.get("v"), "status": f["st"], "channel": f["ch"], "category": f["cat"],
            "level": f["lvl"], "dept": f["dept"], "street": f["street"], "community": f["comm"],
            "grid": f["grid"], "cell": format(f["cell"], "x") if f.get("cell") else "", "lon": f["lon"],
            "lat": f["lat"], "received_at": f["recv"], "closed_at": f["closed"],
            "text": mask_text(text) if masked else text, "sla": sla_of(f, now), "due": f.get("due"),
            "flags": ["calendar_fallback"] if f.get("fb") else [], "whistle": f.get("whistle")}


# --- one case ----------------------------------------------------------------------------------
def get_case(client: Any, keys: Keys, case_id: str, *, now: int, masked: bool = False) -> dict | None:
    """One case with its timeline, stage clocks and alerts; None if unknown."""
    s = decode_state(client.get(keys.case(case_id)))
    if s is None or s.get("status") is None:
        return None
    m = mask_text if masked else (lambda x: x)
    paused = s.get("paused_at") is not None
    timeline = []
    for item in s["timeline"]:
        row = {"v": item["v"], "kind": item["kind"], "at": item["at"], "actor": item.get("actor", ""),
               "role": item.get("role", ""), "dept": item.get("dept", ""), "reason": m(item.get("reason", ""))}
        if "alert" in item:
            row["alert"] = item["alert"]
        timeline.append(row)
    clocks = [{"stage": name, "name": STAGE_NAMES.get(base_stage(name), name), "start": c["start"],
               "due": c["due"], "near": c["near"], "met_at": c["met"],
               "state": lc.clock_state(c, now, paused), "calendar_fallback": c.get("fb", False)}
              for name, c in s["clocks"].items()]
    return {"id": s["id"], "v": s["v"], "status": s["status"],
            "status_name": lc.STATUS_NAMES.get(s["status"], s["status"]), "channel": s["channel"],
            "category": s["category"], "level": s["level"], "dept": s["dept"], "depts": s["depts"],
            "street": s["street"], "community": s["comm"], "grid": s["grid"],
            "cell": format(s["cell"], "x") if s.get("cell") else "", "lon": s["lon"], "lat": s["lat"],
            "received_at": s["recv"], "closed_at": s["closed_at"], "closure_reason": s["reason"],
            "satisfaction": s["sat"], "flags": s["flags"], "calendar_fallback": "calendar_fallback" in s["flags"],
            "duplicate_of": s["dup_of"], "merged_into": s["merged_into"], "whistle": s.get("whistle"),
            "reopens": s["reopens"], "rule": s["rule"], "text": m(s["text"]), "address": s["address"],
            "sla": lc.sla_status(s, now), "timeline": timeline, "clocks": clocks,
            "alerts": [alert_view(a, masked) for a in s["alerts"].values()]}


# --- backlogs ----------------------------------------------------------------------------------
def backlog_of(client: Any, keys: Keys, scope: str, code: str, *, now: int) -> dict:
    """Counts for one dept/street/comm/grid: open, on_track, near_due, overdue, oldest age."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    pipe = client.pipeline(transaction=False)
    queue_backlog_reads(pipe, keys, scope, code, now)
    counts, oldest = counts_from_reads(pipe.execute(), now)
    return {"code": code, **counts, "oldest_case": oldest}


def backlog(client: Any, keys: Keys, by: str, *, now: int) -> list[dict]:
    """Open-case counts per ``dept`` or ``street`` (every code that ever had a case), worst first."""
    if by not in ("dept", "street"):
        raise ValueError(f"backlog is by 'dept' or 'street', got {by!r}")
    codes = sorted(_s(c) for c in client.smembers(keys.backlog_codes(by)))
    pipe = client.pipeline(transaction=False)
    for code in codes:
        queue_backlog_reads(pipe, keys, by, code, now)
    res = pipe.execute()
    out = []
    for i, code in enumerate(codes):
        counts, oldest = counts_from_reads(res[i * 4:i * 4 + 4], now)
        out.append({"code": code, **counts, "oldest_case": oldest})
    out.sort(key=lambda r: (-r["overdue"], -r["near_due"], -r["open"], r["code"]))
    return out


def open_cases(client: Any, keys: Keys, scope: str, code: str, *, now: int, limit: int = 500,
               masked: bool = True) -> list[dict]:
    """Open case summaries in a dept/street/comm/grid, oldest first."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    ids = [_s(x) for x in client.zrange(keys.backlog(scope, code, "open"), 0, max(0, limit - 1))]
    return [summary(f, now, masked) for f in _facts(client, keys, ids)]


# --- alerts ------------------------------------------------------------------------------------
def alert_view(a: dict, masked: bool = True) -> dict:
    """An alert for screens: its state, level, and the actions taken on it."""
    m = mask_text if masked else (lambda x: x)
    actions = [{**act, "reason": m(act.get("reason", ""))} for act in a["actions"]]
    return {"id": a["id"], "case": a["case"], "stage": a["stage"],
            "stage_name": STAGE_NAMES.get(base_stage(a["stage"]), a["stage"]), "kind": a["kind"], "due": a["due"],
            "raised_at": a["raised_at"], "state": a["state"], "level": a["level"], "reraised": a["reraised"],
            "acked_by": a["acked_by"], "handled_at": a["handled_at"], "resolved_at": a["resolved_at"],
            "resolution": a["resolution"], "actions": actions}


def _alerts(client: Any, keys: Keys, ids: list[str], now: int, masked: bool) -> list[dict]:
    if not ids:
        return []
    rows = [orjson.loads(r) for r in client.hmget(keys.alerts, ids) if r]
    facts = {f["id"]: f for f in _facts(client, keys, list(dict.fromkeys(a["case"] for a in rows)))}
    out = []
    for a in rows:
        view = alert_view(a, masked)
        f = facts.get(a["case"])
        view["case_summary"] = summary(f, now, masked) if f else None
        out.append(view)
    return out


def alert_queue(client: Any, keys: Keys, *, now: int, limit: int = 200, masked: bool = True) -> list[dict]:
    """Live alerts, most urgent first (overdue, unhandled, higher level, oldest due), with case summaries."""
    ids = [_s(x) for x in client.zrange(keys.alert_queue, 0, max(0, limit - 1))]
    return _alerts(client, keys, ids, now, masked)


def alert_history(client: Any, keys: Keys, *, limit: int = 200, before: int | None = None,
                  now: int | None = None, masked: bool = True) -> list[dict]:
    """Resolved alerts, newest resolution first (``before``: resolved strictly before this ms)."""
    hi = f"({before}" if before is not None else "+inf"
    ids = [_s(x) for x in client.zrevrangebyscore(keys.alert_history, hi, "-inf", start=0, num=limit)]
    return _alerts(client, keys, ids, now if now is not None else 0, masked)


def get_alert(client: Any, keys: Keys, alert_id: str, *, masked: bool = True) -> dict | None:
    """One alert (no case summary)."""
    raw = client.hget(keys.alerts, alert_id)
    return alert_view(orjson.loads(raw), masked) if raw else None


# --- KPIs --------------------------------------------------------------------------------------
def cohort(client: Any, keys: Keys, start: int, end: int, scope: str = "district") -> list[dict]:
    """Facts of the cases received in [start, end) in a scope."""
    ids = [_s(x) for x in client.zrangebyscore(keys.received_index(_check_scope(scope)), start, f"({end}")]
    return _facts(client, keys, ids)


def kpis(client: Any, keys: Keys, start: int, end: int, scope: str = "district", *, now: int,
         with_cases: bool = False) -> dict:
    """KPIs of the cases received in [start, end) in a scope, as of ``now`` (definitions: feeds.supervision.kpi)."""
    values = kpimath.compute(cohort(client, keys, start, end, scope), now, with_cases)
    values.update(scope=scope, start=start, end=end, as_of=now)
    return values


def vetoes(client: Any, keys: Keys, start: int, end: int) -> list[dict]:
    """Veto events (摘星) in [start, end)."""
    return [orjson.loads(x) for x in client.zrangebyscore(keys.vetoes, start, f"({end}")]


def star_ratings(client: Any, keys: Keys, start: int, end: int, *, now: int,
                 rule: kpimath.RatingRule | None = None, config_dir: Any = None) -> list[dict]:
    """Star rating (1-5, 0 after a veto, None below the minimum volume) of each street's room."""
    if rule is None:
        from feeds.settings import CONFIG_DIR

        rule = kpimath.RatingRule.load(config_dir or CONFIG_DIR)
    by_street: dict[str, list[dict]] = {}
    for f in cohort(client, keys, start, end, "district"):
        if f["street"]:
            by_street.setdefault(f["street"], []).append(f)
    streets = set(by_street) | {_s(c) for c in client.smembers(keys.backlog_codes("street"))}
    veto_by: dict[str, list[dict]] = {}
    for v in vetoes(client, keys, start, end):
        veto_by.setdefault(v["street"], []).append(v)
    streets |= set(veto_by)
    out = []
    for street in sorted(streets):
        values = kpimath.compute(by_street.get(street, []), now)
        rated = kpimath.rate(values, rule, veto_by.get(street))
        out.append({"street": street, "room": room_code(street), **rated,
                    "kpis": {k: values[k] for k in ("received", "closed", *kpimath.RATES, "avg_hours")}})
    out.sort(key=lambda r: (r["stars"] is None, -(r["stars"] or 0), -(r["score"] or 0), r["street"]))
    return out


# --- trends, ticker, drill-down --------------------------------------------------------------
def _day_start(ms: int, tz: ZoneInfo = TZ) -> datetime:
    d = datetime.fromtimestamp(ms / 1000, tz)
    return datetime(d.year, d.month, d.day, tzinfo=tz)


def _ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def trend_daily(client: Any, keys: Keys, days: int, *, now: int, scope: str = "district",
                tz: str = "Asia/Shanghai") -> list[dict]:
    """Received vs closed per local day (``tz``: the settings' time zone), ``days`` days ending today."""
    scope = _check_scope(scope)
    today = _day_start(now, ZoneInfo(tz))
    bounds = [(today - timedelta(days=i), today - timedelta(days=i - 1)) for i in range(days - 1, -1, -1)]
    pipe = client.pipeline(transaction=False)
    for a, b in bounds:
        pipe.zcount(keys.received_index(scope), _ms(a), f"({_ms(b)}")
        pipe.zcount(keys.closed_index(scope), _ms(a), f"({_ms(b)}")
    res = pipe.execute()
    return [{"date": a.strftime("%Y-%m-%d"), "received": res[2 * i], "closed": res[2 * i + 1]}
            for i, (a, _b) in enumerate(bounds)]


def trend_hourly(client: Any, keys: Keys, *, now: int, hours: int = 24, scope: str = "district") -> list[dict]:
    """Received vs closed per clock hour over the last ``hours`` hours (the current hour included)."""
    scope = _check_scope(scope)
    top = now - now % 3_600_000
    starts = [top - i * 3_600_000 for i in range(hours - 1, -1, -1)]
    pipe = client.pipeline(transaction=False)
    for a in starts:
        pipe.zcount(keys.received_index(scope), a, f"({a + 3_600_000}")
        pipe.zcount(keys.closed_index(scope), a, f"({a + 3_600_000}")
    res = pipe.execute()
    return [{"hour": a, "received": res[2 * i], "closed": res[2 * i + 1]} for i, a in enumerate(starts)]


def reports_between(client: Any, keys: Keys, start: int, end: int, *, limit: int = 1000, masked: bool = True,
                    now: int | None = None) -> list[dict]:
    """Reports received in [start, end), oldest first (ticker and time playback); duplicates included."""
    ids = [_s(x) for x in client.zrangebyscore(keys.reports_index, start, f"({end}", start=0, num=limit)]
    return [summary(f, now if now is not None else end, masked) for f in _facts(client, keys, ids)]


def frequent_counts(client: Any, keys: Keys, start: int, end: int, *, min_count: int = 1,
                    tz: str = "Asia/Shanghai") -> list[dict]:
    """Counted reports per (grid, category) over the local days (``tz``: the worker's) covering [start, end)."""
    zone = ZoneInfo(tz)
    day = _day_start(start, zone)
    last = _day_start(max(start, end - 1), zone)
    pipe = client.pipeline(transaction=False)
    n = 0
    while day <= last:
        pipe.hgetall(keys.grid_category_day(day.strftime("%Y-%m-%d")))
        day += timedelta(days=1)
        n += 1
    totals: dict[str, int] = {}
    for h in pipe.execute() if n else []:
        for k, v in h.items():
            key = _s(k)
            totals[key] = totals.get(key, 0) + int(v)
    out = []
    for key, count in totals.items():
        if count >= min_count:
            grid, category = key.split("|", 1)
            out.append({"grid": grid, "category": category, "count": count})
    out.sort(key=lambda r: (-r["count"], r["grid"], r["category"]))
    return out


def worker_status(client: Any, keys: Keys) -> dict:
    """Worker watermark, last processed id, consumer-group lag and the scan's last ``now``."""
    meta = {_s(k): _s(v) for k, v in client.hgetall(keys.sv_meta).items()}
    lag = None
    pending = None
    try:
        for g in client.xinfo_groups(keys.log):
            if _s(g["name"]) == keys.sv_group:
                lag = g.get("lag")
                pending = g.get("pending")
    except Exception:  # no log yet
        pass
    return {"watermark": int(meta.get("watermark") or 0), "last_id": meta.get("last_id", ""),
            "last_scan": int(meta.get("last_scan") or 0), "lag": lag, "pending": pending,
            "replay_lag_ms": int(meta.get("lag") or 0)}
