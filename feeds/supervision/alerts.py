"""The alert state machine (PagerDuty-like), pure: every function takes the time as data.

raised ──ack──► acknowledged ──urge──► urged ──escalate──► escalated ──► resolved
   │                 │ ack timeout while the stage is still unmet: re-raised
   └─ nobody acts within ``auto_escalate_after_s[level]``: escalated by the system (level 1 the
      street leader, level 2 the district), again after the next interval.

An alert is keyed by ``f"{case}:{stage}:{kind}"`` (kind ``near_due`` or ``overdue``) and lives
inside its case's state, so it is created exactly once however often the scan runs. Every
timer fires *at its own time* (raised at the near/due instant, escalated at raised + interval),
so the result does not depend on when a worker happened to look: a replay or a rebuild gives
the same alerts. The history horizon keeps backfilled history out of the live queue: an alert
whose trigger time is more than ``history_horizon_s`` before ``ref`` — the append time (stream
id) of its case's latest entry, i.e. the case's entries were written long after they happened —
is recorded as resolved history (``resolution == "history"``); a near-due warning that would be
history is not recorded at all. A live case (entries appended as they happen) never
qualifies, however long the worker was down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

NEAR_DUE = "near_due"
OVERDUE = "overdue"
KINDS = (NEAR_DUE, OVERDUE)

RAISED = "raised"
ACKNOWLEDGED = "acknowledged"
URGED = "urged"
ESCALATED = "escalated"
RESOLVED = "resolved"

SYSTEM = "system"


class IllegalCommand(ValueError):
    """A command that the alert's current state does not allow; the reason goes to dead letters."""


@dataclass(frozen=True)
class AlertPolicy:
    """Escalation timing from ``config/escalation.json``."""

    auto_escalate_after_s: tuple[int, ...] = (900, 1800)
    auto_escalate_kinds: frozenset[str] = frozenset({OVERDUE})
    ack_timeout_s: int = 7200
    ack_timeout_kinds: frozenset[str] = frozenset({OVERDUE})
    history_horizon_s: int = 86400
    level_names: tuple[str, ...] = ("值班员", "街道分管领导", "区社会治理中心")

    @property
    def max_level(self) -> int:
        return len(self.level_names) - 1

    @classmethod
    def from_json(cls, raw: dict) -> AlertPolicy:
        return cls(auto_escalate_after_s=tuple(int(x) for x in raw.get("auto_escalate_after_s", (900, 1800))),
                   auto_escalate_kinds=frozenset(raw.get("auto_escalate_kinds", [OVERDUE])),
                   ack_timeout_s=int(raw.get("ack_timeout_s", 7200)),
                   ack_timeout_kinds=frozenset(raw.get("ack_timeout_kinds", [OVERDUE])),
                   history_horizon_s=int(raw.get("history_horizon_s", 86400)),
                   level_names=tuple(raw.get("level_names", cls.level_names)))

    @classmethod
    def load(cls, config_dir: Path) -> AlertPolicy:
        p = Path(config_dir) / "escalation.json"
        return cls.from_json(orjson.loads(p.read_bytes())) if p.exists() else cls()


def alert_id(case_id: str, stage: str, kind: str) -> str:
    return f"{case_id}:{stage}:{kind}"


def split_alert_id(aid: str) -> tuple[str, str, str]:
    """``case:stage:kind`` -> (case, stage, kind); case ids never contain ':'."""
    case, stage, kind = aid.rsplit(":", 2)
    return case, stage, kind


Events = list[tuple[str, int]]  # (event name, at ms)


def _act(alert: dict, action: str, at: int, actor: str = SYSTEM, role: str = SYSTEM, reason: str = "",
         **extra: object) -> None:
    entry = {"action": action, "at": at, "actor": actor, "role": role}
    if reason:
        entry["reason"] = reason
    entry.update({k: v for k, v in extra.items() if v not in (None, "")})
    alert["actions"].append(entry)


def new_alert(case_id: str, stage: str, kind: str, due: int, at: int, ref: int,
              policy: AlertPolicy) -> tuple[dict, Events]:
    """An alert raised at ``at`` (the near-due or due instant) — or history when ``ref - at`` exceeds the horizon."""
    alert = {"id": alert_id(case_id, stage, kind), "case": case_id, "stage": stage, "kind": kind, "due": due,
             "raised_at": at, "state": RAISED, "level": 0, "reraised": 0, "since": at, "handled_at": None,
             "acked_by": "", "resolved_at": None, "resolution": "", "actions": []}
    _act(alert, "raised", at)
    if is_history(at, ref, policy):
        resolve(alert, at, "history")
        return alert, [("history", at)]
    return alert, [("raised", at)]


def is_history(at: int, ref: int, policy: AlertPolicy) -> bool:
    """An alert triggered at ``at`` is history when its case's entries were written (``ref``) more
    than the horizon later: a backfill, an imported backlog, a replayed old file."""
    return ref - at > policy.history_horizon_s * 1000


def is_open(alert: dict) -> bool:
    return alert["state"] != RESOLVED


def next_timer(alert: dict, policy: AlertPolicy) -> int | None:
    """When this alert changes by itself next: auto-escalation if nobody acted, else the ack timeout."""
    if alert["state"] == RESOLVED:
        return None
    if alert["handled_at"] is None:
        if alert["kind"] in policy.auto_escalate_kinds and alert["level"] < min(
                policy.max_level, len(policy.auto_escalate_after_s)):
            return alert["since"] + policy.auto_escalate_after_s[alert["level"]] * 1000
        return None
    if alert["kind"] in policy.ack_timeout_kinds:
        return alert["handled_at"] + policy.ack_timeout_s * 1000
    return None


def advance(alert: dict, now: int, policy: AlertPolicy) -> Events:
    """Fire every timer due at or before ``now``, each at its own time. Mutates ``alert``."""
    events: Events = []
    t = next_timer(alert, policy)
    while t is not None and t <= now:
        if alert["handled_at"] is None:
            alert["level"] += 1
            alert["state"] = ESCALATED
            alert["since"] = t
            _act(alert, "escalated", t, level=alert["level"], reason="auto: not acknowledged in time")
            events.append(("escalated", t))
        else:
            alert["state"] = RAISED
            alert["handled_at"] = None
            alert["since"] = t
            alert["reraised"] += 1
            _act(alert, "reraised", t, reason="acknowledgement timed out, still overdue")
            events.append(("reraised", t))
        t = next_timer(alert, policy)
    return events


def resolve(alert: dict, at: int, resolution: str, actor: str = SYSTEM, role: str = SYSTEM,
            reason: str = "") -> Events:
    """Close the alert (stage met, case closed, superseded, by hand, or history)."""
    if alert["state"] == RESOLVED:
        return []
    alert["state"] = RESOLVED
    alert["resolved_at"] = at
    alert["resolution"] = resolution
    _act(alert, "resolved", at, actor, role, reason, resolution=resolution)
    return [("resolved", at)]


COMMANDS = ("ack", "urge", "escalate", "note", "resolve")


def apply_command(alert: dict, command: str, at: int, actor: str, role: str, reason: str = "",
                  data: dict | None = None, policy: AlertPolicy | None = None) -> Events:
    """Apply a duty officer's command; raises :class:`IllegalCommand` with the reason when not allowed."""
    policy = policy or AlertPolicy()
    data = data or {}
    if command == "note":
        if not reason:
            raise IllegalCommand("a note needs text (reason)")
        _act(alert, "noted", at, actor, role, reason)
        return [("noted", at)]
    if alert["state"] == RESOLVED:
        raise IllegalCommand(f"alert {alert['id']} is already resolved ({alert['resolution']})")
    if command == "ack":
        if alert["state"] == ACKNOWLEDGED:
            raise IllegalCommand(f"alert {alert['id']} is already acknowledged by {alert['acked_by']}")
        alert["state"] = ACKNOWLEDGED
        alert["handled_at"] = at
        alert["acked_by"] = actor
        _act(alert, "acknowledged", at, actor, role, reason)
        return [("acknowledged", at)]
    if command == "urge":
        alert["state"] = URGED
        alert["handled_at"] = at
        alert["acked_by"] = alert["acked_by"] or actor
        _act(alert, "urged", at, actor, role, reason, dept=data.get("dept"))
        return [("urged", at)]
    if command == "escalate":
        if alert["level"] >= policy.max_level:
            raise IllegalCommand(f"alert {alert['id']} is already escalated to {policy.level_names[-1]}")
        alert["level"] += 1
        alert["state"] = ESCALATED
        alert["handled_at"] = at
        alert["acked_by"] = alert["acked_by"] or actor
        _act(alert, "escalated", at, actor, role, reason, level=alert["level"])
        return [("escalated", at)]
    if command == "resolve":
        if not reason:
            raise IllegalCommand("resolving an alert by hand needs a reason")
        return resolve(alert, at, "manual", actor, role, reason)
    raise IllegalCommand(f"unknown alert command {command!r}; expected one of {', '.join(COMMANDS)}")


def urgency(alert: dict) -> float:
    """Queue score, lower = more urgent: overdue before near-due, unhandled first, higher level, oldest due."""
    kind_rank = 0 if alert["kind"] == OVERDUE else 1
    handled = 0 if alert["handled_at"] is None else 1
    return float(((kind_rank * 2 + handled) * 3 + (2 - min(alert["level"], 2))) * 10**13 + alert["due"])
