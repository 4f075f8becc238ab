"""A deterministic synthetic log (reports and the updates that follow them) for tests and the bench.

It exercises every path of the lifecycle — 110 hand-overs with the "1312" clocks, dispatch and
signing, returns and re-dispatch, whistles, extensions, suspensions, reopenings, closures with
every reason, evaluations, cross-channel duplicates, a few illegal and unknown entries, and duty
officers acknowledging alerts — with event times in order, so the log can be appended with
stream ids equal to the event times (what a live system produces). Not the demo simulator (the
ingest path owns that): this one writes straight to the log, for the supervision engine alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from feeds.catalog import Catalog
from feeds.keys import Keys
from feeds.model import REPORT_KIND, Report, Reporter, encode_report, entry_fields

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
STREETS = ("330212001", "330212002", "330212003", "330212004", "330212005", "330212006")
CHANNELS = (("grid_app", 0.40), ("hotline_12345", 0.20), ("police_110", 0.10), ("citizen_app", 0.15),
            ("city_ops", 0.15))


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    case: str
    v: int
    t: int
    d: dict

    def fields(self) -> dict[str, Any]:
        return entry_fields(self.kind, self.case, self.v, self.t, orjson.dumps(self.d))


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(w for _, w in weighted)
    for item, w in weighted:
        x -= w
        if x <= 0:
            return item
    return weighted[-1][0]


def month(catalog: Catalog, start: int, days: int = 30, per_day: int = 100, seed: int = 7) -> list[Entry]:
    """``days`` days of cases from ``start`` (ms); entries sorted by time, cut at the end."""
    rng = random.Random(seed)
    cats = tuple((c.code, c.share) for c in catalog.categories.values())
    depts = sorted(catalog.departments)
    end = start + days * DAY
    entries: list[Entry] = []
    n = days * per_day
    recent: list[str] = []
    for i in range(n):
        cid = f"SIM{i:07d}"
        t0 = start + int(rng.random() * days * DAY)
        entries.extend(_case(rng, catalog, cid, t0, end, cats, depts, recent))
        recent.append(cid)
    entries.sort(key=lambda e: (e.t, e.case, e.v))
    return entries


def _case(rng: random.Random, catalog: Catalog, cid: str, t0: int, end: int, cats: tuple, depts: list[str],
          recent: list) -> list[Entry]:
    channel = _pick(rng, CHANNELS)
    category = _pick(rng, cats)
    cat = catalog.categories[category]
    street = STREETS[rng.randrange(len(STREETS))]
    comm = f"{street}{rng.randrange(1, 9):03d}"
    grid = f"G{comm}{rng.randrange(1, 6):02d}"
    dup = ""
    if recent and rng.random() < 0.03:
        dup = recent[rng.randrange(max(0, len(recent) - 50), len(recent))]
    r = Report(case_id=cid, channel=channel, source_id=cid, category=category, level=cat.level,
               lon=121.5 + rng.random() * 0.1, lat=29.8 + rng.random() * 0.1, src_crs="WGS84", src_lon=None,
               src_lat=None, address="", description=f"{cat.name} 联系电话1380000{rng.randrange(1000, 9999)}",
               reporter=Reporter(), reported_at=t0, received_at=t0, cell=0x8a309a000000000 + rng.randrange(4096),
               grid_id=grid, community_code=comm, street_code=street, duplicate_of=dup)
    enc = encode_report(r)
    out = [Entry(REPORT_KIND, cid, 1, t0, orjson.loads(enc["d"]))]
    if dup:
        return out
    v = 1
    t = t0

    def add(kind: str, dt: int, **data: Any) -> bool:
        nonlocal v, t
        t += max(1000, dt)
        if t >= end:
            return False
        v += 1
        data.setdefault("actor", f"u{rng.randrange(50)}")
        data.setdefault("role", "dept")
        out.append(Entry(kind, cid, v, t, data))
        return True

    dept = cat.dept or depts[rng.randrange(len(depts))]
    if channel == "police_110":
        sign_at = rng.choice((20_000, 45_000, 50_000, 90_000, 150_000))
        if sign_at > 80_000 and rng.random() < 0.7:  # the duty officer acks the sign-overdue alert
            if not add("alert.ack", MIN + 20_000, alert=f"{cid}:sign:overdue", role="duty", actor="duty1",
                       reason="已签收督办"):
                return out
            sign_at -= MIN + 20_000
        steps = [("signed", sign_at, {}), ("contacted", rng.randrange(30_000, 200_000), {}),
                 ("on_scene", rng.randrange(3, 12) * MIN, {}), ("feedback", rng.randrange(10, 150) * MIN, {})]
    else:
        steps = [("dispatched", rng.randrange(5, 120) * MIN, {"dept": dept}),
                 ("signed", rng.randrange(5, 200) * MIN, {})]
        if rng.random() < 0.05:
            steps += [("returned", rng.randrange(10, 60) * MIN, {"reason": "非本部门职责"}),
                      ("dispatched", rng.randrange(10, 60) * MIN, {"dept": depts[rng.randrange(len(depts))]}),
                      ("signed", rng.randrange(5, 100) * MIN, {})]
        if cat.level >= 3 and rng.random() < 0.2:
            steps.append(("whistle", rng.randrange(1, 6) * HOUR, {
                "grade": rng.choice(("general", "major", "serious")), "depts": rng.sample(depts, 2)}))
        if rng.random() < 0.04:
            steps += [("extension_requested", rng.randrange(1, 30) * HOUR, {"hours": 48, "reason": "需协调"}),
                      ("extension_approved", rng.randrange(1, 4) * HOUR, {})]
        if rng.random() < 0.02:
            steps += [("suspended", rng.randrange(1, 10) * HOUR, {"reason": "等待当事人"}),
                      ("resumed", rng.randrange(4, 30) * HOUR, {})]
        steps.append(("on_scene", rng.randrange(1, 20) * HOUR, {}))
    steps.append(("resolved", int(rng.expovariate(1 / (30 * HOUR))), {}))
    reason = _pick(rng, (("fixed", 0.88), ("no_action", 0.04), ("referred", 0.02), ("duplicate", 0.03),
                         ("not_ours", 0.03)))
    if rng.random() < 0.08:  # left open at the end of the period
        steps = steps[:rng.randrange(1, len(steps))]
        reason = ""
    for kind, dt, data in steps:
        if not add(kind, dt, **data):
            return out
    if not reason:
        return out
    if not add("closed", rng.randrange(10, 600) * MIN, closure_reason=reason):
        return out
    if rng.random() < 0.03 and reason == "fixed":
        if not add("reopened", rng.randrange(1, 48) * HOUR, reason="群众反映未解决"):
            return out
        if not add("closed", rng.randrange(2, 72) * HOUR, closure_reason="fixed"):
            return out
    if rng.random() < 0.6:
        sat = _pick(rng, (("satisfied", 0.8), ("basically", 0.15), ("dissatisfied", 0.05)))
        add("evaluated", rng.randrange(1, 48) * HOUR, satisfaction=sat, role="citizen")
    if rng.random() < 0.01:
        add("signed", HOUR)  # illegal after closure: a dead letter
    if rng.random() < 0.005:
        add("mystery.kind", HOUR)  # unknown kind: a dead letter
    return out


def append_log(client: Any, keys: Keys, entries: list[Entry], *, ids_from_time: bool = True,
               chunk: int = 1000) -> str:
    """XADD the entries (stream id = event time, as a live log has it, unless told otherwise) and keep
    the per-case version hash like the ingest path does; returns the last id."""
    last = ""
    for i in range(0, len(entries), chunk):
        pipe = client.pipeline(transaction=False)
        part = entries[i:i + chunk]
        top: dict[str, int] = {}
        for e in part:
            pipe.xadd(keys.log, e.fields(), id=f"{e.t}-*" if ids_from_time else "*")
            top[e.case] = max(top.get(e.case, 0), e.v)
        cur = client.hmget(keys.versions, list(top)) if top else []
        mapping = {c: max(v, int(old or 0)) for (c, v), old in zip(top.items(), cur, strict=True)}
        if mapping:
            pipe.hset(keys.versions, mapping=mapping)
        res = pipe.execute()
        ids = res[:len(part)]
        if ids:
            last = ids[-1].decode() if isinstance(ids[-1], bytes) else ids[-1]
    return last


def chunks_by_time(entries: list[Entry], step: int) -> Iterator[tuple[int, list[Entry]]]:
    """(chunk end ms, entries with t < end) in consecutive windows of ``step`` ms."""
    if not entries:
        return
    start = entries[0].t
    i = 0
    bound = start + step
    while i < len(entries):
        j = i
        while j < len(entries) and entries[j].t < bound:
            j += 1
        yield bound, entries[i:j]
        i = j
        bound += step


def open_reports(catalog: Catalog, start: int, end: int, n: int, seed: int = 3) -> list[Entry]:
    """``n`` reports received in [start, end) and nothing else: a backlog of open cases (bench)."""
    rng = random.Random(seed)
    cats = tuple((c.code, c.share) for c in catalog.categories.values())
    out = []
    for i in range(n):
        t0 = start + int(rng.random() * (end - start))
        category = _pick(rng, cats)
        street = STREETS[rng.randrange(len(STREETS))]
        comm = f"{street}{rng.randrange(1, 9):03d}"
        r = Report(case_id=f"OPEN{i:07d}", channel=_pick(rng, CHANNELS), source_id=str(i), category=category,
                   level=catalog.categories[category].level, lon=121.55, lat=29.85, src_crs="WGS84", src_lon=None,
                   src_lat=None, address="", description=catalog.categories[category].name, reporter=Reporter(),
                   reported_at=t0, received_at=t0, cell=0x8a309a000000000 + rng.randrange(4096),
                   grid_id=f"G{comm}{rng.randrange(1, 6):02d}", community_code=comm, street_code=street)
        out.append(Entry(REPORT_KIND, r.case_id, 1, t0, orjson.loads(encode_report(r)["d"])))
    out.sort(key=lambda e: e.t)
    return out
