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

from dataclasses import dataclass, field
from typing import Any

import orjson

from feeds.keys import Keys
from feeds.supervision import alerts as al
from feeds.supervision.lifecycle import DONE, OPEN, next_timer
from feeds.supervision.statecodec import shipped_codec


@dataclass(slots=True)
class Projection:
    """Everything a case contributes to the read models.

    Sorted-set memberships are keyed by the set's key: the case id is the member of every set but
    the alert queue/history, whose members are the case's alert ids (``alert_members``). Plain
    string keys, not (key, member) tuples: ~15 fewer objects per case for the allocator and the
    garbage collector, and the diff hashes strings whose hash is cached.
    """

    state: bytes | None
    v: int
    facts: dict | None
    members: dict[str, float]  # sorted set -> score of the case id in it
    alerts: dict[str, tuple[tuple[str, int], dict]]  # id -> (fingerprint, the alert)
    codes: frozenset[tuple[str, str]] = frozenset()
    alert_members: dict[str, tuple[str, float]] = field(default_factory=dict)  # alert id -> (sorted set, score)


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


class _KeyCache(dict):
    """Key names by (kind, scope/code) for one Keys: formatting them was a tenth of the write path."""

    def __init__(self, keys: Keys) -> None:
        super().__init__()
        self.keys = keys
        self.touch_of: dict[str, tuple[str, str]] = {}  # dept/street backlog key -> (scope, code)
        self.reports, self.deadlines = keys.reports_index, keys.deadlines
        self.alertq, self.alerth = keys.alert_queue, keys.alert_history

    def __missing__(self, k: tuple[str, str, str]) -> str:
        kind, a, b = k
        if kind == "recv":
            v = self.keys.received_index(a)
        elif kind == "closed":
            v = self.keys.closed_index(a)
        else:
            v = self.keys.backlog(a, b, kind)
            if a in ("dept", "street"):
                self.touch_of[v] = (a, b)
        self[k] = v
        return v


_KEY_CACHES: dict[Keys, _KeyCache] = {}


def _names(keys: Keys) -> _KeyCache:
    kc = _KEY_CACHES.get(keys)
    if kc is None or len(kc) > 100_000:
        kc = _KEY_CACHES[keys] = _KeyCache(keys)
    return kc


def members_of(state: dict, keys: Keys,
               policy: al.AlertPolicy) -> tuple[dict[str, float], dict[str, tuple[str, float]]]:
    """(sorted set -> score of the case id in it, alert id -> (alert queue or history, score))."""
    n = _names(keys)
    recv = state["recv"]
    m: dict[str, float] = {n.reports: recv}
    status = state["status"]
    if state["counted"]:
        idx = ["district"]
        if state["street"]:
            idx.append("street:" + state["street"])
        if state["dept"]:
            idx.append("dept:" + state["dept"])
        closed = state["closed_at"] if status in DONE else None
        for scope in idx:
            m[n["recv", scope, ""]] = recv
            if closed is not None:
                m[n["closed", scope, ""]] = closed
        if status in OPEN:
            near, due = running_bounds(state)
            for scope, code in scopes_of(state):
                m[n["open", scope, code]] = recv
                if due is not None and (scope == "dept" or scope == "street"):
                    m[n["near", scope, code]] = near
                    m[n["due", scope, code]] = due
    t = next_timer(state, policy)
    if t is not None:
        m[n.deadlines] = t
    alerts = {aid: (n.alerth, alert["resolved_at"]) if alert["state"] == al.RESOLVED
              else (n.alertq, al.urgency(alert)) for aid, alert in state["alerts"].items()}
    return m, alerts


def project(state: dict | None, keys: Keys, policy: al.AlertPolicy, raw: bytes | None = None) -> Projection:
    """The projection of a state (``raw``: its stored bytes, when already encoded)."""
    if state is None:
        return EMPTY
    raw = raw if raw is not None else shipped_codec().encode(state)
    if state["status"] is None:  # a stub holding parked entries: no read model but the case key
        return Projection(raw, state["v"], None, {}, {})
    # every change to an alert appends to its actions: (state, number of actions) tells changed ones
    alerts = {aid: ((a["state"], len(a["actions"])), a) for aid, a in state["alerts"].items()}
    codes = frozenset([("dept", d) for d in state["owners"]] + ([("street", state["street"])] if state["street"] else []))
    members, alert_members = members_of(state, keys, policy)
    return Projection(raw, state["v"], facts_of(state), members, alerts, codes, alert_members)


class Writes:
    """The writes of one batch, grouped by key: one command per key, not one per case.

    Each case contributes a few small writes (zset memberships, counters); a batch of 1,000
    entries touches a few hundred keys, so it becomes a few hundred plain commands in the
    batch's MULTI/EXEC (packed by the worker's own RESP encoder). Plain commands, not a script:
    a Lua script carrying them as JSON cost the server more (decoding and re-dispatching each
    write) than the commands themselves. ``hincrby`` lets
    ``feeds.heat_counters.record_heat_many`` write into it like into a pipeline.
    """

    def __init__(self) -> None:
        self.strings: dict[str, bytes] = {}
        self.hset: dict[str, dict[str, bytes]] = {}
        self.hdel: dict[str, list[str]] = {}
        self.zadd: dict[str, dict[str, float]] = {}
        self.zrem: dict[str, list[str]] = {}
        self.sadd: dict[str, set[str]] = {}
        self.incr: dict[str, dict[str, int]] = {}
        self.touched: set[tuple[str, str]] = set()

    def hincrby(self, key: str, field: str, n: int = 1) -> None:
        h = self.incr.setdefault(key, {})
        h[field] = h.get(field, 0) + int(n)

    def flush(self, tx: Any) -> None:
        """Queue the grouped writes on ``tx`` (a MULTI pipeline, or the worker's command queue)."""
        if self.strings:
            tx.mset(self.strings)
        for key, mapping in self.hset.items():
            tx.hset(key, mapping=mapping)
        for key, fields in self.hdel.items():
            tx.hdel(key, *fields)
        for key, scores in self.zadd.items():
            tx.zadd(key, scores)
        for key, members in self.zrem.items():
            tx.zrem(key, *members)
        for key, codes in self.sadd.items():
            tx.sadd(key, *sorted(codes))
        for key, counts in self.incr.items():
            for f, n in counts.items():
                tx.hincrby(key, f, n)


def write_diff(w: Writes, keys: Keys, case_id: str, old: Projection, new: Projection) -> None:
    """Add to ``w`` the writes turning ``old`` into ``new`` (and note the backlogs touched)."""
    if new.state != old.state and new.state is not None:
        w.strings[keys.case(case_id)] = new.state
    if new.facts != old.facts:
        if new.facts is None:
            w.hdel.setdefault(keys.facts, []).append(case_id)
        else:
            w.hset.setdefault(keys.facts, {})[case_id] = orjson.dumps(new.facts)
    touch_of = _names(keys).touch_of
    old_m, new_m = old.members, new.members
    for zkey, score in new_m.items():
        if old_m.get(zkey) != score:
            w.zadd.setdefault(zkey, {})[case_id] = score
            sc = touch_of.get(zkey)
            if sc is not None:
                w.touched.add(sc)
    for zkey in old_m:
        if zkey not in new_m:
            w.zrem.setdefault(zkey, []).append(case_id)
            sc = touch_of.get(zkey)
            if sc is not None:
                w.touched.add(sc)
    old_am, new_am = old.alert_members, new.alert_members
    for aid, (zkey, score) in new_am.items():
        prev = old_am.get(aid)
        if prev is None or prev[1] != score or prev[0] != zkey:
            w.zadd.setdefault(zkey, {})[aid] = score
        if prev is not None and prev[0] != zkey:  # raised -> resolved: queue -> history
            w.zrem.setdefault(prev[0], []).append(aid)
    for aid, (zkey, _score) in old_am.items():
        if aid not in new_am:
            w.zrem.setdefault(zkey, []).append(aid)
    for scope, code in new.codes - old.codes:  # every dept that ever held a case, every street
        w.sadd.setdefault(keys.backlog_codes(scope), set()).add(code)
    old_alerts = old.alerts
    for aid, (fp, alert) in new.alerts.items():
        prev = old_alerts.get(aid)
        if prev is None or prev[0] != fp:
            w.hset.setdefault(keys.alerts, {})[aid] = orjson.dumps(alert)
    gone = [aid for aid in old.alerts if aid not in new.alerts]
    if gone:
        w.hdel.setdefault(keys.alerts, []).extend(gone)


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
