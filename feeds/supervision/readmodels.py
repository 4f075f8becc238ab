"""Read models as *projections* of the case state, written incrementally as diffs.

Every read model is a pure function of the case states (and the policy): the case hash, a
facts row, sorted-set memberships (backlogs, KPI indexes, deadlines, alert queue/history) and
alert rows. The worker computes the projection of a case before and after a batch and writes
only the difference, so a rebuild that re-applies the log from scratch produces the same keys.
Only two things are counters: the heat hash (``feeds.heat_counters``) and the grid×category
day hash; they are incremented once when a report is first applied, and the batch that does it
commits atomically with its XACK, so at-least-once delivery still counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from feeds.keys import Keys
from feeds.supervision import alerts as al
from feeds.supervision.lifecycle import DONE, OPEN, next_timer

Member = tuple[str, str]  # (zset key, member)


@dataclass(slots=True)
class Projection:
    """Everything a case contributes to the read models."""

    state: bytes | None
    v: int
    facts: dict | None
    members: dict[Member, float]
    alerts: dict[str, bytes]
    codes: frozenset[tuple[str, str]] = frozenset()


EMPTY = Projection(None, 0, None, {}, {})


def running_bounds(state: dict) -> tuple[int | None, int | None]:
    """(earliest near-due, earliest due) over the running clocks; None when paused or none run."""
    if state.get("paused_at") is not None:
        return None, None
    near = due = None
    for c in state["clocks"].values():
        if c["state"] == "running":
            near = c["near"] if near is None else min(near, c["near"])
            due = c["due"] if due is None else min(due, c["due"])
    return near, due


def facts_of(state: dict) -> dict:
    """The compact row behind KPIs, lists and summaries (one HMGET serves thousands)."""
    near, due = running_bounds(state)
    return {"id": state["id"], "v": state["v"], "st": state["status"], "ch": state["channel"],
            "cat": state["category"], "lvl": state["level"], "dept": state["dept"], "street": state["street"],
            "comm": state["comm"], "grid": state["grid"], "cell": state["cell"], "lon": state["lon"],
            "lat": state["lat"], "recv": state["recv"], "closed": state["closed_at"], "reason": state["reason"],
            "late": any(c["state"] == "late" for c in state["clocks"].values()), "due": due, "near": near,
            "sat": state["sat"], "reopens": state["reopens"], "counted": state["counted"],
            "text": state["text"][:140], "fb": "calendar_fallback" in state["flags"],
            "paused": state.get("paused_at") is not None, "whistle": (state.get("whistle") or {}).get("grade")}


def scopes_of(state: dict) -> list[tuple[str, str]]:
    """(scope, code) pairs an open case belongs to: each responsible dept, its street, community, grid."""
    out = [("dept", d) for d in state["depts"] if d]
    for scope, code in (("street", state["street"]), ("comm", state["comm"]), ("grid", state["grid"])):
        if code:
            out.append((scope, code))
    return out


def members_of(state: dict, keys: Keys, policy: al.AlertPolicy) -> dict[Member, float]:
    cid = state["id"]
    m: dict[Member, float] = {(keys.reports_index, cid): state["recv"]}
    status = state["status"]
    if state["counted"]:
        idx = ["district"]
        if state["street"]:
            idx.append("street:" + state["street"])
        if state["dept"]:
            idx.append("dept:" + state["dept"])
        for scope in idx:
            m[(keys.received_index(scope), cid)] = state["recv"]
            if status in DONE and state["closed_at"] is not None:
                m[(keys.closed_index(scope), cid)] = state["closed_at"]
        if status in OPEN:
            near, due = running_bounds(state)
            for scope, code in scopes_of(state):
                m[(keys.backlog(scope, code, "open"), cid)] = state["recv"]
                if scope in ("dept", "street") and due is not None:
                    m[(keys.backlog(scope, code, "near"), cid)] = near
                    m[(keys.backlog(scope, code, "due"), cid)] = due
    t = next_timer(state, policy)
    if t is not None:
        m[(keys.deadlines, cid)] = t
    for aid, alert in state["alerts"].items():
        if alert["state"] == al.RESOLVED:
            m[(keys.alert_history, aid)] = alert["resolved_at"]
        else:
            m[(keys.alert_queue, aid)] = al.urgency(alert)
    return m


def project(state: dict | None, keys: Keys, policy: al.AlertPolicy, raw: bytes | None = None) -> Projection:
    """The projection of a state (``raw``: its bytes, when already serialised)."""
    if state is None:
        return EMPTY
    raw = raw if raw is not None else orjson.dumps(state)
    if state["status"] is None:  # a stub holding parked entries: no read model but the case hash
        return Projection(raw, state["v"], None, {}, {})
    alerts = {aid: orjson.dumps(a) for aid, a in state["alerts"].items()}
    codes = frozenset([("dept", d) for d in state["owners"]] + ([("street", state["street"])] if state["street"] else []))
    return Projection(raw, state["v"], facts_of(state), members_of(state, keys, policy), alerts, codes)


def write_diff(pipe: Any, keys: Keys, case_id: str, old: Projection, new: Projection) -> set[tuple[str, str]]:
    """Queue the commands turning ``old`` into ``new``; returns the (scope, code) backlogs touched."""
    if new.state != old.state and new.state is not None:
        pipe.hset(keys.case(case_id), mapping={"s": new.state, "v": new.v})
    if new.facts != old.facts:
        if new.facts is None:
            pipe.hdel(keys.facts, case_id)
        else:
            pipe.hset(keys.facts, case_id, orjson.dumps(new.facts))
    touched: set[tuple[str, str]] = set()
    adds: dict[str, dict[str, float]] = {}
    for km, score in new.members.items():
        if old.members.get(km) != score:
            adds.setdefault(km[0], {})[km[1]] = score
    rems: dict[str, list[str]] = {}
    for km in old.members:
        if km not in new.members:
            rems.setdefault(km[0], []).append(km[1])
    bl = keys.sv("bl:")
    for key, mapping in adds.items():
        pipe.zadd(key, mapping)
    for scope, code in new.codes - old.codes:  # every dept that ever held a case, every street
        pipe.sadd(keys.backlog_codes(scope), code)
    for key, members in rems.items():
        pipe.zrem(key, *members)
    for key in (*adds, *rems):
        if key.startswith(bl):
            scope, code, _kind = key[len(bl):].rsplit(":", 2)
            if scope in ("dept", "street"):
                touched.add((scope, code))
    changed_alerts = {aid: raw for aid, raw in new.alerts.items() if old.alerts.get(aid) != raw}
    if changed_alerts:
        pipe.hset(keys.alerts, mapping=changed_alerts)
    gone = [aid for aid in old.alerts if aid not in new.alerts]
    if gone:
        pipe.hdel(keys.alerts, *gone)
    return touched


def backlog_counts(open_n: int, near_n: int, due_n: int, oldest: float | None, now: int) -> dict:
    """Counts from ZCARD(open), ZCOUNT(near, -inf, now), ZCOUNT(due, -inf, now), oldest received."""
    overdue = due_n
    near_due = max(0, near_n - due_n)
    return {"open": open_n, "on_track": max(0, open_n - overdue - near_due), "near_due": near_due,
            "overdue": overdue, "oldest_age_s": int((now - oldest) / 1000) if oldest is not None else 0}


def queue_backlog_reads(pipe: Any, keys: Keys, scope: str, code: str, now: int) -> None:
    """Queue the four reads :func:`backlog_counts` needs (pipelined by callers)."""
    pipe.zcard(keys.backlog(scope, code, "open"))
    pipe.zcount(keys.backlog(scope, code, "near"), "-inf", now)
    pipe.zcount(keys.backlog(scope, code, "due"), "-inf", now)
    pipe.zrange(keys.backlog(scope, code, "open"), 0, 0, withscores=True)


def counts_from_reads(results: list, now: int) -> tuple[dict, str | None]:
    """(counts, oldest case id) from the four results of :func:`queue_backlog_reads`."""
    open_n, near_n, due_n, first = results
    oldest = first[0][1] if first else None
    oldest_case = (first[0][0].decode() if isinstance(first[0][0], bytes) else first[0][0]) if first else None
    return backlog_counts(int(open_n), int(near_n), int(due_n), oldest, now), oldest_case
