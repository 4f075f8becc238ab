"""The case lifecycle as a pure state machine over log entries (no I/O; time is the entry's).

    reported → accepted → dispatched → signed → in_progress (contacted / on_scene) → feedback
      → resolved → closed (closure reason) → evaluated
    plus returned (for re-dispatch), extension requested/approved, whistle (吹哨, graded),
    duplicate_merged, reopened, suspended/resumed, and the duty officers' alert commands.

``apply(state, entry, rules)`` returns a :class:`Transition` (previous, current,
changed — Grafana's shape) with the new state and its effects. Versions make replays harmless:
an entry at or below the applied version is a no-op; one above the next version is parked in
the state until the gap fills, then applied in order. An illegal transition is rejected into a
``("dead", reason, entry)`` effect and still consumes its version, so later entries are never
stuck behind it. Before an entry is applied, the case's timers (stage near-due/overdue,
alert escalation and ack timeout) are fired up to the entry's time, each at its own instant:
the state after a log prefix is the same whenever and however often a worker looked.
The one input that is not event time, the history horizon of alerts, compares an alert's
trigger time with the *append* time (stream id) of the case's latest applied entry — also a
fact of the log — so a rebuild classifies every alert exactly as the live run did.

``apply`` takes ownership of ``state`` (mutates and returns it): copying every state on the hot
path would halve the transition rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from feeds.catalog import Catalog
from feeds.model import REPORT_KIND, ClosureReason, LogEntry, Satisfaction, UpdateKind, WhistleGrade
from feeds.supervision import alerts as al
from feeds.supervision.routing import GridLookup, Router
from feeds.supervision.sla import (
    RECEIVED,
    SlaBook,
    StageRule,
    base_stage,
    extend_clock,
    extension_spec,
    start_clock,
)
from feeds.supervision.workcalendar import WorkCalendar


class Status(StrEnum):
    REPORTED = "reported"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    IN_PROGRESS = "in_progress"
    FEEDBACK = "feedback"
    RESOLVED = "resolved"
    RETURNED = "returned"
    REOPENED = "reopened"
    CLOSED = "closed"
    EVALUATED = "evaluated"
    MERGED = "merged"


STATUS_NAMES = {Status.REPORTED: "已上报", Status.ACCEPTED: "已受理", Status.DISPATCHED: "已派遣",
                Status.SIGNED: "已签收", Status.IN_PROGRESS: "处置中", Status.FEEDBACK: "已反馈",
                Status.RESOLVED: "处置完毕", Status.RETURNED: "已退回", Status.REOPENED: "重新办理",
                Status.CLOSED: "已办结", Status.EVALUATED: "已评价", Status.MERGED: "已合并"}


class CommandKind(StrEnum):
    """Log kinds of the duty officers' commands (appended by ``feeds.supervision.commands``)."""

    ALERT_ACK = "alert.ack"
    ALERT_URGE = "alert.urge"
    ALERT_ESCALATE = "alert.escalate"
    ALERT_NOTE = "alert.note"
    ALERT_RESOLVE = "alert.resolve"
    ROOM_VETO = "room.veto"  # 摘星: not a case entry (version 0), handled by the worker


OPEN = frozenset({Status.REPORTED, Status.ACCEPTED, Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS,
                  Status.FEEDBACK, Status.RESOLVED, Status.RETURNED, Status.REOPENED})
DONE = frozenset({Status.CLOSED, Status.EVALUATED, Status.MERGED})
#: Closures that count as handled; "duplicate" and "not ours" never inflate the closure rate.
COUNTING_CLOSURES = frozenset({ClosureReason.FIXED, ClosureReason.NO_ACTION, ClosureReason.REFERRED})

#: a grid worker may settle a level-1 matter himself, and a room signs 110 hand-overs without a dispatch
_WORKING = frozenset({Status.REPORTED, Status.ACCEPTED, Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS,
                      Status.FEEDBACK, Status.REOPENED})
K = UpdateKind
#: kind -> statuses it may be applied in
ALLOWED: dict[str, frozenset[str]] = {
    K.ACCEPTED: frozenset({Status.REPORTED}),
    K.DISPATCHED: frozenset({Status.REPORTED, Status.ACCEPTED, Status.RETURNED, Status.DISPATCHED,
                             Status.REOPENED}),
    K.SIGNED: frozenset({Status.REPORTED, Status.ACCEPTED, Status.DISPATCHED, Status.REOPENED}),
    K.CONTACTED: _WORKING,
    K.ON_SCENE: _WORKING,
    K.FEEDBACK: _WORKING,
    K.RESOLVED: _WORKING,
    K.CLOSED: OPEN,
    K.EVALUATED: frozenset({Status.CLOSED}),
    K.EXTENSION_REQUESTED: OPEN,
    K.EXTENSION_APPROVED: OPEN,
    K.WHISTLE: OPEN,
    K.RETURNED: frozenset({Status.DISPATCHED, Status.SIGNED, Status.REOPENED}),
    K.DUPLICATE_MERGED: OPEN,
    K.REOPENED: frozenset({Status.CLOSED, Status.EVALUATED}),
    K.SUSPENDED: OPEN,
    K.RESUMED: OPEN,
}
#: kind -> status after it (None: unchanged)
NEXT_STATUS: dict[str, str | None] = {
    K.ACCEPTED: Status.ACCEPTED, K.DISPATCHED: Status.DISPATCHED, K.SIGNED: Status.SIGNED,
    K.CONTACTED: Status.IN_PROGRESS, K.ON_SCENE: Status.IN_PROGRESS, K.FEEDBACK: Status.FEEDBACK,
    K.RESOLVED: Status.RESOLVED, K.CLOSED: Status.CLOSED, K.EVALUATED: Status.EVALUATED,
    K.RETURNED: Status.RETURNED, K.DUPLICATE_MERGED: Status.MERGED, K.REOPENED: Status.REOPENED,
}
ALERT_COMMANDS = {CommandKind.ALERT_ACK: "ack", CommandKind.ALERT_URGE: "urge",
                  CommandKind.ALERT_ESCALATE: "escalate", CommandKind.ALERT_NOTE: "note",
                  CommandKind.ALERT_RESOLVE: "resolve"}


@dataclass(frozen=True)
class Rules:
    """Everything pure the lifecycle needs, loaded once."""

    sla: SlaBook
    calendar: WorkCalendar
    router: Router
    policy: al.AlertPolicy

    @classmethod
    def load(cls, config_dir: Path, catalog: Catalog, district_code: str,
             grid_lookup: GridLookup | None = None, tz: str = "Asia/Shanghai") -> Rules:
        sla = SlaBook.load(config_dir)
        cal = WorkCalendar.load(config_dir, tz=tz, work_hours=[list(w) for w in sla.work_hours] or None)
        return cls(sla=sla, calendar=cal, router=Router(catalog, district_code, grid_lookup),
                   policy=al.AlertPolicy.load(config_dir))


@dataclass
class Transition:
    previous: str | None
    current: str | None
    state: dict
    effects: list[tuple] = field(default_factory=list)
    applied: int = 0

    @property
    def changed(self) -> bool:
        return self.previous != self.current


def new_state(case_id: str) -> dict:
    return {"id": case_id, "v": 0, "status": None, "last_t": 0, "pending": {}, "clocks": {}, "alerts": {},
            "timeline": []}


def entry_to_dict(e: LogEntry) -> dict:
    return {"id": e.id, "k": e.kind, "c": e.case_id, "v": e.version, "t": e.at, "d": e.data}


def entry_from_dict(d: dict) -> LogEntry:
    return LogEntry(id=d["id"], kind=d["k"], case_id=d["c"], version=d["v"], at=d["t"], data=d["d"])


# --- the entry point -------------------------------------------------------------------------
def apply(state: dict | None, entry: LogEntry, rules: Rules) -> Transition:
    """Apply one log entry to a case state (None: a case not seen yet)."""
    if state is None:
        state = new_state(entry.case_id)
    previous = state["status"]
    tr = Transition(previous, previous, state)
    v = entry.version
    if v <= state["v"]:
        tr.effects.append(("duplicate", entry.id))
        return tr
    if v > state["v"] + 1:
        key = str(v)
        if key in state["pending"]:
            tr.effects.append(("duplicate", entry.id))
        else:
            state["pending"][key] = entry_to_dict(entry)
            tr.effects.append(("parked", entry.id))
        return tr
    _step(state, entry, rules, tr.effects)
    tr.applied = 1
    pending = state["pending"]
    while pending:
        nxt = pending.pop(str(state["v"] + 1), None)
        if nxt is None:
            break
        _step(state, entry_from_dict(nxt), rules, tr.effects)
        tr.applied += 1
    tr.current = state["status"]
    return tr


def _reject(effects: list, reason: str, e: LogEntry) -> None:
    effects.append(("dead", reason, e))


def appended_at(e: LogEntry) -> int:
    """When the entry was appended to the log: the ms part of its stream id (its time if none)."""
    head = e.id.split("-", 1)[0]
    return int(head) if head.isdigit() else e.at


def _step(state: dict, e: LogEntry, rules: Rules, effects: list) -> None:
    state["v"] = e.version
    if e.kind == REPORT_KIND:
        if state["status"] is not None:
            return _reject(effects, "a second report for an existing case", e)
        if e.version != 1:
            return _reject(effects, f"a report must be version 1, got {e.version}", e)
        try:
            return _on_report(state, e, rules, effects)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # malformed payload: never a crash loop
            state.update(new_state(state["id"]), v=e.version)
            return _reject(effects, f"malformed report: {type(exc).__name__}: {exc}", e)
    if state["status"] is None:
        return _reject(effects, f"{e.kind!r} before the case's report (version 1 must be the report)", e)
    t = e.at
    now = max(state["last_t"], t)
    advance(state, now - 1, rules, effects)
    state["last_t"] = now
    state["appended"] = appended_at(e)
    handler = _HANDLERS.get(e.kind)
    if handler is None:
        return _reject(effects, f"unknown kind {e.kind!r}", e)
    allowed = ALLOWED.get(e.kind)
    if allowed is not None and state["status"] not in allowed:
        return _reject(effects, f"{e.kind!r} is not allowed when the case is {str(state['status'])!r}", e)
    try:
        error = handler(state, e, t, rules, effects)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # malformed data: never a crash loop
        error = f"malformed {e.kind}: {type(exc).__name__}: {exc}"
    if error:
        return _reject(effects, error, e)
    nxt = NEXT_STATUS.get(e.kind)
    if nxt is not None:
        state["status"] = nxt
    _timeline(state, e)
    if e.kind in UpdateKind._value2member_map_:
        _meet(state, e.kind, t, effects)


_TIMELINE_FIELDS = (("actor", "actor"), ("role", "role"), ("dept", "dept"), ("reason", "reason"),
                    ("closure_reason", "reason"), ("alert", "alert"))


def _timeline(state: dict, e: LogEntry) -> None:
    d = e.data
    item = {"v": e.version, "kind": e.kind, "at": e.at}
    for src, dst in _TIMELINE_FIELDS:
        if src in d and d[src]:
            item[dst] = d[src]
    state["timeline"].append(item)


# --- timers ----------------------------------------------------------------------------------
def advance(state: dict, now: int, rules: Rules, effects: list) -> None:
    """Fire every timer of the case at or before ``now``, each at its own time."""
    if state["status"] in OPEN and state.get("paused_at") is None:
        for name, c in list(state["clocks"].items()):
            if c["state"] != "running":
                continue
            if not c["nf"] and c["near"] <= now and c["near"] < c["due"]:
                c["nf"] = True
                _raise(state, name, al.NEAR_DUE, c, c["near"], rules, effects)
            if not c["df"] and c["due"] <= now:
                c["df"] = True
                near = state["alerts"].get(al.alert_id(state["id"], name, al.NEAR_DUE))
                if near is not None and al.is_open(near):
                    _alert_events(effects, near, al.advance(near, c["due"], rules.policy))
                    _alert_events(effects, near, al.resolve(near, c["due"], "superseded"))
                _raise(state, name, al.OVERDUE, c, c["due"], rules, effects)
    for alert in state["alerts"].values():
        if alert["state"] != al.RESOLVED:
            _alert_events(effects, alert, al.advance(alert, now, rules.policy))


def _raise(state: dict, stage: str, kind: str, clock: dict, at: int, rules: Rules, effects: list) -> None:
    aid = al.alert_id(state["id"], stage, kind)
    if aid in state["alerts"]:  # exactly once per (case, stage, kind)
        return
    ref = state.get("appended", at)
    if kind == al.NEAR_DUE and al.is_history(at, ref, rules.policy):
        return  # a warning about the past warns nobody: history keeps only what was overdue
    alert, events = al.new_alert(state["id"], stage, kind, clock["due"], at, ref, rules.policy)
    state["alerts"][aid] = alert
    _alert_events(effects, alert, events)


def _alert_events(effects: list, alert: dict, events: al.Events) -> None:
    for name, at in events:
        effects.append(("alert", name, alert["id"], at))


def next_timer(state: dict, policy: al.AlertPolicy) -> int | None:
    """The next instant at which this case changes by itself (None: never)."""
    best: int | None = None
    if state["status"] in OPEN and state.get("paused_at") is None:
        for c in state["clocks"].values():
            if c["state"] != "running":
                continue
            if not c["nf"] and c["near"] < c["due"]:
                best = c["near"] if best is None else min(best, c["near"])
            if not c["df"]:
                best = c["due"] if best is None else min(best, c["due"])
    for alert in state["alerts"].values():
        t = al.next_timer(alert, policy)
        if t is not None:
            best = t if best is None else min(best, t)
    return best


def sla_status(state: dict, now: int) -> str:
    """on_track / near_due / overdue / paused for an open case; met / late when done; none without clocks."""
    clocks = state["clocks"].values()
    if state["status"] in OPEN:
        running = [c for c in clocks if c["state"] == "running"]
        if not running:
            return "none"
        if state.get("paused_at") is not None:
            return "paused"
        if any(c["due"] <= now for c in running):
            return "overdue"
        if any(c["near"] <= now for c in running):
            return "near_due"
        return "on_track"
    if any(c["state"] == "late" for c in clocks):
        return "late"
    if any(c["state"] == "met" for c in clocks):
        return "met"
    return "none"


def clock_state(clock: dict, now: int, paused: bool = False) -> str:
    """A stage clock's state for screens: met / late / running / near_due / overdue / paused / cancelled."""
    if clock["state"] != "running":
        return clock["state"]
    if paused:
        return "paused"
    if clock["due"] <= now:
        return "overdue"
    if clock["near"] <= now:
        return "near_due"
    return "running"


# --- clocks ----------------------------------------------------------------------------------
def _stage_rule(state: dict, name: str, rules: Rules) -> StageRule | None:
    stage = base_stage(name)
    if stage == "whistle":
        grade = (state.get("whistle") or {}).get("grade", WhistleGrade.GENERAL)
        return rules.sla.whistle.get(grade)
    rule = rules.sla.rule_named(state.get("rule") or "")
    return rule.stage(stage) if rule else None


def _instance_name(state: dict, stage: str) -> str:
    clocks = state["clocks"]
    if stage not in clocks:
        return stage
    n = 2
    while f"{stage}@{n}" in clocks:
        n += 1
    return f"{stage}@{n}"


def _end_instance(state: dict, name: str, at: int, how: str, effects: list) -> None:
    """Close a clock instance that is replaced (restart, extension after an alert) or cancelled."""
    state["clocks"][name]["state"] = how
    _resolve_stage_alerts(state, name, at, how, effects)


def _resolve_stage_alerts(state: dict, name: str, at: int, resolution: str, effects: list) -> None:
    for kind in al.KINDS:
        alert = state["alerts"].get(al.alert_id(state["id"], name, kind))
        if alert is not None and al.is_open(alert):
            _alert_events(effects, alert, al.resolve(alert, at, resolution))


def _add_clock(state: dict, srule: StageRule, t: int, rules: Rules, effects: list,
               limit: dict | None = None, attrs: dict | None = None) -> None:
    clocks = state["clocks"]
    stage = srule.stage
    if clocks:
        instance = stage + "@"
        for name, c in list(clocks.items()):
            if c["state"] == "running" and (name == stage or name.startswith(instance)):
                _end_instance(state, name, t, "superseded", effects)
    name = _instance_name(state, stage)
    clock = start_clock(srule, t, rules.calendar, name, limit, attrs)
    clock["by"] = srule.by  # shared, never mutated (a list once read back from storage)
    clock["ext"] = srule.extendable
    clocks[name] = clock
    if clock["fb"]:
        _flag_fallback(state, name, effects)


def _flag_fallback(state: dict, name: str, effects: list) -> None:
    if "calendar_fallback" not in state["flags"]:
        state["flags"].append("calendar_fallback")
    effects.append(("log", f"case {state['id']}: stage {name} deadline uses the weekends-only calendar "
                           "fallback (year not in the official calendar data)"))


def _start_clocks(state: dict, kind: str, t: int, rules: Rules, effects: list, attrs: dict | None = None) -> None:
    rule = rules.sla.rule_named(state.get("rule") or "")
    if rule is None:
        return
    for srule in rule.stages:
        if srule.start == kind or kind in srule.restart_on:
            _add_clock(state, srule, t, rules, effects, attrs=attrs)


def _meet(state: dict, kind: str, t: int, effects: list) -> None:
    for name, c in state["clocks"].items():
        if c["state"] == "running" and kind in c["by"]:
            _meet_clock(state, name, c, t, effects)


def _meet_clock(state: dict, name: str, c: dict, t: int, effects: list) -> None:
    c["met"] = t
    c["state"] = "met" if t <= c["due"] else "late"
    _resolve_stage_alerts(state, name, t, "met", effects)


def _resolve_all_alerts(state: dict, at: int, resolution: str, effects: list) -> None:
    for alert in state["alerts"].values():
        if al.is_open(alert):
            _alert_events(effects, alert, al.resolve(alert, at, resolution))


def _own(state: dict, depts: list[str]) -> None:
    """Remember every department that ever held the case (the backlog boards list them)."""
    owners = state["owners"]
    for d in depts:
        if d not in owners:
            owners.append(d)


# --- handlers: return None when applied, or the reason it is illegal -----------------------
Handler = Callable[[dict, LogEntry, int, Rules, list], "str | None"]


def _on_report(state: dict, e: LogEntry, rules: Rules, effects: list) -> None:
    d = e.data
    loc = rules.router.locality(d.get("grid_id") or "", d.get("community_code") or "",
                                d.get("street_code") or "")
    category = d.get("category") or ""
    level = int(d.get("level") or 0)
    if not 1 <= level <= 4:
        cat = rules.router.catalog.categories.get(category)
        level = cat.level if cat else 1
    received = int(d.get("received_at") or e.at)
    channel = d.get("channel") or ""
    dept = d.get("dept") or rules.router.owner(category, loc.street)  # a source may route it itself
    state.update(status=Status.REPORTED, channel=channel, category=category, level=level,
                 lon=d.get("lon"), lat=d.get("lat"), cell=int(d.get("cell") or 0), grid=loc.grid,
                 comm=loc.community, street=loc.street, recv=received, reported=d.get("reported_at"),
                 text=d.get("description") or "", address=d.get("address") or "",
                 flags=list(d.get("flags") or []), dup_of=d.get("duplicate_of") or "", merged_into="",
                 dept=dept, depts=[dept], rule="", closed_at=None, reason=None, sat=None, reopens=0,
                 returns=0, paused_at=None, paused_ms=0, whistle=None, ext_req=None, counted=True,
                 last_t=received, appended=appended_at(e), owners=[dept])
    state["timeline"].append({"v": 1, "kind": REPORT_KIND, "at": received, "channel": channel, "dept": dept})
    effects.append(("report", {"counted": not state["dup_of"], "recv": received, "grid": loc.grid,
                               "category": category, "cell": state["cell"], "channel": channel, "level": level,
                               "dept": dept}))
    if state["dup_of"]:
        # A cross-channel duplicate linked at intake is counted once, as part of the earlier case:
        # no clocks, no alerts, not in backlogs or KPIs. Its source keeps sending that work order's
        # updates, so its own lifecycle still follows them (an explicit duplicate_merged by the
        # room, by contrast, ends a case).
        state.update(merged_into=state["dup_of"], counted=False)
        return
    rule = rules.sla.rule_for(channel, category, level)
    state["rule"] = rule.name
    _start_clocks(state, RECEIVED, received, rules, effects, d.get("attrs"))


def _on_simple(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    return None


def _on_dispatched(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    dept = e.data.get("dept")
    if not dept or not isinstance(dept, str):
        return "dispatched needs a department code (dept)"
    state["dept"] = dept
    extra = (state.get("whistle") or {}).get("depts", [])
    state["depts"] = sorted({dept, *extra})
    _own(state, [dept])
    _start_clocks(state, K.DISPATCHED, t, rules, effects)
    return None


def _on_closed(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    reason = e.data.get("closure_reason")
    if reason not in ClosureReason._value2member_map_:
        return f"closed needs a closure_reason in {sorted(ClosureReason._value2member_map_)}, got {reason!r}"
    for name, c in state["clocks"].items():
        if c["state"] == "running":
            if reason in COUNTING_CLOSURES:
                _meet_clock(state, name, c, t, effects)
            else:
                _end_instance(state, name, t, "cancelled", effects)
    _resolve_all_alerts(state, t, "closed", effects)
    state.update(closed_at=t, reason=reason, paused_at=None)
    return None


def _on_evaluated(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    sat = e.data.get("satisfaction")
    if sat not in Satisfaction._value2member_map_:
        return f"evaluated needs satisfaction in {sorted(Satisfaction._value2member_map_)}, got {sat!r}"
    state["sat"] = sat
    return None


def _on_ext_requested(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    spec = extension_spec(e.data)
    if spec is None:
        return "extension_requested needs hours, days, working_days, working_hours or until"
    state["ext_req"] = {"at": t, "spec": spec, "stage": e.data.get("stage")}
    return None


def _on_ext_approved(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    req = state.get("ext_req") or {}
    spec = extension_spec(e.data) or req.get("spec")
    if spec is None:
        return "extension_approved without a duration and without a pending request"
    stage = e.data.get("stage") or req.get("stage")
    targets = [n for n, c in state["clocks"].items() if c["state"] == "running"
               and ((stage and base_stage(n) == stage) or (not stage and c.get("ext")))]
    if not targets:
        return f"no running clock to extend (stage {stage!r})" if stage else "no running extendable clock"
    for name in targets:
        c = state["clocks"][name]
        srule = _stage_rule(state, name, rules)
        if srule is None:
            return f"no SLA rule for stage {name!r} any more"
        moved = extend_clock(c, srule, spec, rules.calendar)
        if c["nf"] or c["df"]:  # alerts fired: a new instance, so a new alert gets a new id
            _end_instance(state, name, t, "extended", effects)
            new_name = _instance_name(state, base_stage(name))
            state["clocks"][new_name] = {**moved, "stage": new_name}
            name = new_name
        else:
            state["clocks"][name] = moved
        if moved["fb"]:
            _flag_fallback(state, name, effects)
    state["ext_req"] = None
    return None


def _on_whistle(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    grade = e.data.get("grade")
    depts = e.data.get("depts")
    if grade not in rules.sla.whistle:
        return f"whistle needs a grade in {sorted(rules.sla.whistle)}, got {grade!r}"
    if depts is None:  # the departments to report in may be named later; the case's own for now
        depts = list(state["depts"])
    if not isinstance(depts, list) or not depts or not all(isinstance(x, str) and x for x in depts):
        return "whistle needs a non-empty list of department codes (depts)"
    state["whistle"] = {"grade": grade, "depts": sorted(set(depts)), "at": t}
    state["depts"] = sorted({state["dept"], *depts})
    _own(state, depts)
    _add_clock(state, rules.sla.whistle[grade], t, rules, effects)
    return None


def _on_returned(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    room = rules.router.room_for(state["street"])
    state.update(dept=room, depts=[room], returns=state["returns"] + 1)
    _own(state, [room])
    return None


def _on_merged(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    into = e.data.get("into")
    if not into or into == state["id"]:
        return "duplicate_merged needs another case id (into)"
    for name, c in state["clocks"].items():
        if c["state"] == "running":
            _end_instance(state, name, t, "cancelled", effects)
    _resolve_all_alerts(state, t, "closed", effects)
    state.update(merged_into=into, closed_at=t, reason=ClosureReason.DUPLICATE, paused_at=None)
    return None


def _on_reopened(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    state.update(reopens=state["reopens"] + 1, closed_at=None, reason=None, sat=None)
    state["status"] = Status.REOPENED  # before the clocks: a restart needs an open case
    _start_clocks(state, K.REOPENED, t, rules, effects)
    return None


def _on_suspended(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    if state.get("paused_at") is not None:
        return "the case is already suspended"
    state["paused_at"] = t
    return None


def _on_resumed(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    since = state.get("paused_at")
    if since is None:
        return "resumed but the case is not suspended"
    shift = max(0, t - since)
    for c in state["clocks"].values():
        if c["state"] == "running":
            c["due"] += shift
            c["near"] += shift
    state.update(paused_at=None, paused_ms=state["paused_ms"] + shift)
    return None


def _on_alert_command(state: dict, e: LogEntry, t: int, rules: Rules, effects: list) -> str | None:
    aid = e.data.get("alert") or ""
    alert = state["alerts"].get(aid)
    if alert is None:
        return f"no alert {aid!r} on this case"
    d = e.data
    try:
        events = al.apply_command(alert, ALERT_COMMANDS[e.kind], t, d.get("actor") or "", d.get("role") or "",
                                  d.get("reason") or "", d, rules.policy)
    except al.IllegalCommand as exc:
        return str(exc)
    _alert_events(effects, alert, events)
    return None


_HANDLERS: dict[str, Handler] = {
    K.ACCEPTED: _on_simple, K.SIGNED: _on_simple, K.CONTACTED: _on_simple, K.ON_SCENE: _on_simple,
    K.FEEDBACK: _on_simple, K.RESOLVED: _on_simple, K.DISPATCHED: _on_dispatched, K.CLOSED: _on_closed,
    K.EVALUATED: _on_evaluated, K.EXTENSION_REQUESTED: _on_ext_requested,
    K.EXTENSION_APPROVED: _on_ext_approved, K.WHISTLE: _on_whistle, K.RETURNED: _on_returned,
    K.DUPLICATE_MERGED: _on_merged, K.REOPENED: _on_reopened, K.SUSPENDED: _on_suspended,
    K.RESUMED: _on_resumed,
    **{kind: _on_alert_command for kind in ALERT_COMMANDS},
}
