"""SLA rules from data (``config/sla.json``) and the stage clocks they start. Pure: ``now`` is passed in.

A rule matches a report by (channel, category, level); the most specific matching rule of the
report's rule set wins (ties: first in the file). A rule lists stages; each stage clock starts
at an event (``received`` = the report, or an update kind such as ``dispatched``), may be
restarted by other kinds (``restart_on``, e.g. ``reopened``), and is met by the kinds in
``met_by`` (a counting closure meets every running clock). Durations and near-due thresholds
are data: ``{"minutes": 1}``, ``{"working_days": 7}``, ``{"fraction": 0.8}`` (of the working time
when the limit counts working days or hours, else of the elapsed time),
``{"before_working_hours": 1}``; a limit may also take the due from a field the source sent
(``{"from_attr": "servicedate", ..., "else": {"days": 7}}``, see :func:`due_from_attr`).

A clock is a small dict kept inside the case state::

    {"stage": "sign", "start": ms, "due": ms, "near": ms, "met": ms | None,
     "state": "running" | "met" | "late" | "cancelled", "nf": near alert fired, "df": overdue fired,
     "fb": calendar fallback used}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from feeds.supervision.workcalendar import HOUR_MS, MINUTE_MS, Deadline, WorkCalendar

RECEIVED = "received"


@dataclass(frozen=True, slots=True)
class StageRule:
    stage: str
    start: str
    limit: dict
    near: dict
    met_by: frozenset[str]
    restart_on: frozenset[str] = frozenset()
    extendable: bool = False
    name: str = ""
    #: derived once (a report starts several clocks): whether the limit counts working time, and
    #: the kinds that meet the clock in a fixed order, as the clock keeps them
    working: bool = field(init=False, default=False, compare=False, repr=False)
    by: tuple[str, ...] = field(init=False, default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "working", counts_working_time(self.limit))
        object.__setattr__(self, "by", tuple(sorted(self.met_by)))

    @classmethod
    def from_json(cls, raw: dict, near_default: dict, stage_defs: dict[str, dict]) -> StageRule:
        stage = raw["stage"]
        base = stage_defs.get(stage, {})
        merged = {**base, **raw}
        if "limit" not in merged:
            raise ValueError(f"stage {stage!r} has no limit")
        return cls(stage=stage, start=merged.get("start", RECEIVED), limit=dict(merged["limit"]),
                   near=dict(merged.get("near", near_default)),
                   met_by=frozenset(merged.get("met_by", [])),
                   restart_on=frozenset(merged.get("restart_on", [])),
                   extendable=bool(merged.get("extendable", False)), name=str(merged.get("name", stage)))


@dataclass(frozen=True, slots=True)
class SlaRule:
    name: str
    match: dict[str, frozenset]
    stages: tuple[StageRule, ...]
    doc: str = ""

    @property
    def specificity(self) -> int:
        return len(self.match)

    def matches(self, channel: str, category: str, level: int) -> bool:
        m = self.match
        return (("channel" not in m or channel in m["channel"])
                and ("category" not in m or category in m["category"])
                and ("level" not in m or level in m["level"]))

    def stage(self, stage: str) -> StageRule | None:
        for s in self.stages:
            if s.stage == stage:
                return s
        return None


@dataclass(frozen=True)
class SlaBook:
    """All rule sets; ``channels`` maps a channel to its rule set (default ``default``)."""

    rulesets: dict[str, tuple[SlaRule, ...]]
    channels: dict[str, str]
    whistle: dict[str, StageRule]
    work_hours: tuple[tuple[str, str], ...] = ()
    _by_name: dict[str, SlaRule] = field(default_factory=dict, repr=False, compare=False)
    _chosen: dict[tuple[str, str, int], SlaRule] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: dict) -> SlaBook:
        near_default = raw.get("near_default", {"fraction": 0.8})
        stage_defs = raw.get("stages", {})
        rulesets: dict[str, tuple[SlaRule, ...]] = {}
        channels: dict[str, str] = {}
        for set_name, body in raw["rulesets"].items():
            rules = []
            for r in body["rules"]:
                match = {k: frozenset(v if isinstance(v, list) else [v]) for k, v in r.get("match", {}).items()}
                bad = set(match) - {"channel", "category", "level"}
                if bad:
                    raise ValueError(f"rule {r.get('name')!r} matches on unknown fields {sorted(bad)}")
                stages = tuple(StageRule.from_json(s, near_default, stage_defs) for s in r["stages"])
                rules.append(SlaRule(name=r["name"], match=match, stages=stages, doc=r.get("_doc", "")))
            if not any(r.specificity == 0 for r in rules):
                raise ValueError(f"rule set {set_name!r} needs a catch-all rule (no 'match')")
            rulesets[set_name] = tuple(rules)
            for ch in body.get("channels", []):
                channels[ch] = set_name
        if "default" not in rulesets:
            raise ValueError("sla.json needs a 'default' rule set")
        whistle = {grade: StageRule.from_json({"stage": "whistle", "start": "whistle", "extendable": True,
                                               "met_by": ["resolved"], **spec}, near_default, {})
                   for grade, spec in raw.get("whistle", {}).items()}
        return cls(rulesets=rulesets, channels=channels, whistle=whistle,
                   work_hours=tuple(tuple(w) for w in raw.get("work_hours", [])))

    @classmethod
    def load(cls, config_dir: Path) -> SlaBook:
        return cls.from_json(orjson.loads((Path(config_dir) / "sla.json").read_bytes()))

    def rule_for(self, channel: str, category: str, level: int) -> SlaRule:
        """The most specific matching rule of the channel's rule set."""
        key = (channel, category, level)
        hit = self._chosen.get(key)
        if hit is not None:
            return hit
        rules = self.rulesets[self.channels.get(channel, "default")]
        best: SlaRule | None = None
        for r in rules:
            if r.matches(channel, category, level) and (best is None or r.specificity > best.specificity):
                best = r
        assert best is not None  # a catch-all exists
        if len(self._chosen) < 100_000:
            self._chosen[key] = best
        return best

    def rule_named(self, name: str) -> SlaRule | None:
        return self._by_name.get(name)

    def __post_init__(self) -> None:
        self._by_name.update((r.name, r) for rules in self.rulesets.values() for r in rules)


WORKING_UNITS = frozenset({"working_days", "working_hours"})


def counts_working_time(limit: dict) -> bool:
    """Whether a stage limit is counted on the work calendar (working days or hours; for a limit
    taken from a source field, its fallback's unit): its near-due fraction is of working time."""
    if "from_attr" in limit:
        limit = limit.get("else") or {}
    return not WORKING_UNITS.isdisjoint(limit)


def near_time(spec: dict, start: int, due: int, cal: WorkCalendar, working: bool = False) -> Deadline:
    """When a clock becomes near-due: a fraction of the allowed time, or some time before the due.

    ``working``: the clock counts working time (see :func:`counts_working_time`); then a fraction is
    of the *working* time between start and due, placed on the work calendar. A fraction of the
    elapsed wall time would put a 5-working-day clock started on a Friday evening near-due on the
    next Monday at ~01:00 — and every such clock at once.
    """
    (unit, amount), = spec.items()
    if unit == "fraction":
        if working:
            point = cal.working_fraction(start, due, float(amount))
            if point is not None:
                return Deadline(min(point[0], due), point[1])
        return Deadline(start + int((due - start) * float(amount)))
    if unit == "before_minutes":
        d = Deadline(due - int(amount * MINUTE_MS))
    elif unit == "before_hours":
        d = Deadline(due - int(amount * HOUR_MS))
    elif unit == "before_working_hours":
        d = cal.sub_working_hours(due, float(amount))
    else:
        raise ValueError(f"unknown near-due spec {spec}; expected fraction, before_minutes, before_hours "
                         "or before_working_hours")
    return Deadline(max(start, d.at), d.fallback)


def due_from_attr(spec: dict, start: int, attrs: dict | None) -> int | None:
    """A due instant the source gave in one of its own fields (e.g. LA 311's ``servicedate``).

    ``spec``: ``{"from_attr": name, "format": strptime format, "tz": zone, "end_of_day": bool}``.
    None when the field is missing, unparsable, or not after ``start`` (then the rule's ``else``).
    """
    raw = (attrs or {}).get(spec["from_attr"])
    if raw in (None, ""):
        return None
    zone = ZoneInfo(spec.get("tz", "UTC"))
    try:
        d = datetime.strptime(str(raw), spec["format"]).replace(tzinfo=zone)
    except (ValueError, KeyError):
        return None
    if spec.get("end_of_day"):
        d = datetime(d.year, d.month, d.day, tzinfo=zone) + timedelta(days=1)
    at = int(d.timestamp() * 1000)
    return at if at > start else None


def resolve_limit(limit: dict, start: int, cal: WorkCalendar, attrs: dict | None = None) -> Deadline:
    """The due of a stage limit: a duration, or a source field with a duration as fallback."""
    if "from_attr" in limit:
        at = due_from_attr(limit, start, attrs)
        return Deadline(at) if at is not None else cal.add(start, limit["else"])
    return cal.add(start, limit)


def start_clock(rule: StageRule, start: int, cal: WorkCalendar, name: str | None = None,
                limit: dict | None = None, attrs: dict | None = None) -> dict:
    """A running clock for ``rule`` started at ``start`` (``attrs``: the report's source fields)."""
    working = rule.working if limit is None else counts_working_time(limit)
    limit = limit or rule.limit
    due = resolve_limit(limit, start, cal, attrs)
    near = near_time(rule.near, start, due.at, cal, working)
    return {"stage": name or rule.stage, "start": start, "due": due.at, "near": near.at, "met": None,
            "state": "running", "nf": False, "df": False, "fb": due.fallback or near.fallback}


EXTENSION_UNITS = ("minutes", "hours", "days", "working_days", "working_hours")


def extension_spec(data: dict) -> dict | None:
    """The duration an extension asks for (``until`` ms, or one duration unit), or None."""
    if data.get("until") is not None:
        return {"until": int(data["until"])}
    for unit in EXTENSION_UNITS:
        if data.get(unit) is not None:
            amount = float(data[unit])  # a ValueError here is dead-lettered by the lifecycle
            if not 0 < amount < 1e6:
                raise ValueError(f"{unit} must be a positive number, got {data[unit]!r}")
            return {unit: amount}
    return None


def extend_clock(clock: dict, rule: StageRule, spec: dict, cal: WorkCalendar) -> dict:
    """Move a running clock's due by ``spec`` (or to ``until``); the near-due point follows the rule.

    The result has not fired any alert yet; the lifecycle gives it a new instance name when the old
    one had fired, so alert ids stay unique.
    """
    if "until" in spec:
        due = Deadline(max(int(spec["until"]), clock["start"]))
    elif "working_days" in spec:  # a due at 24:00 belongs to the day before: count from that day
        due = cal.add(clock["due"] - 1, spec)
    else:
        due = cal.add(clock["due"], spec)
    near = near_time(rule.near, clock["start"], due.at, cal, rule.working)
    out = dict(clock)
    out.update(due=due.at, near=near.at, nf=False, df=False, fb=clock["fb"] or due.fallback or near.fallback)
    return out


def base_stage(clock_name: str) -> str:
    """``close@2`` (a restarted clock) -> ``close``."""
    return clock_name.split("@", 1)[0]
