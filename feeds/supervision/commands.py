"""The command path the screens call: every human action is appended to the log, with an audit line.

Each function checks its arguments (who, what, why), appends one entry to the log with the
case's next version through the ingest path's trusted ``append_updates`` (atomic with its audit
line in ``Keys.audit``), and returns the log entry id. The worker applies it like any other
update; whether it was legal *at that point of the case's history* is decided there (an
illegal command is dead-lettered with its reason). Commands that are obviously illegal against
the current read model (an unknown alert, an already resolved one) are refused at once with
:class:`CommandRefused`, so the console can say why.

Contract and kinds: docs/READ_MODELS.md.
"""

from __future__ import annotations

from typing import Any

import orjson

from feeds.clock import SystemClock
from feeds.keys import Keys
from feeds.model import Update, UpdateKind, entry_fields
from feeds.supervision import alerts as al
from feeds.supervision.lifecycle import ALLOWED, CommandKind
from feeds.supervision.statecodec import decode_state

ROLES = frozenset({"duty", "leader", "admin", "system"})
MAX_REASON = 2000


class CommandRefused(ValueError):
    """The command cannot be accepted; the message says why (shown to the officer)."""


def _now(now: int | None) -> int:
    return SystemClock().wall() if now is None else int(now)


def _check_actor(actor: str, role: str, reason: str) -> None:
    if role not in ROLES:
        raise PermissionError(f"role {role!r} may not act; one of {sorted(ROLES)} is needed")
    if not actor or not isinstance(actor, str):
        raise CommandRefused("every action names its actor")
    if len(reason) > MAX_REASON:
        raise CommandRefused(f"reason is {len(reason)} characters; at most {MAX_REASON}")


def _append(client: Any, keys: Keys, case_id: str, kind: str, at: int, actor: str, role: str,
            data: dict) -> str:
    from feeds.ingest import append_updates

    audit = {"actor": actor, "role": role, "at": at, "reason": data.get("reason", ""),
             **{k: v for k, v in data.items() if k in ("alert", "dept", "closure_reason")}}
    [res] = append_updates(client, keys, [Update(case_id=case_id, version=0, kind=kind, at=at, actor=actor,
                                                 role=role, data=data)], audit=[audit])
    if res.status != "accepted":
        raise CommandRefused(f"{kind} on {case_id} was not appended: {res.status} {res.reason}".strip())
    return res.id


# --- alerts ------------------------------------------------------------------------------------
def _alert_command(client: Any, keys: Keys, kind: CommandKind, alert_id: str, actor: str, role: str,
                   reason: str, now: int | None, extra: dict | None = None) -> str:
    _check_actor(actor, role, reason)
    try:
        case_id, _stage, akind = al.split_alert_id(alert_id)
    except ValueError:
        raise CommandRefused(f"alert id {alert_id!r} is not case:stage:kind") from None
    if akind not in al.KINDS:
        raise CommandRefused(f"alert id {alert_id!r} has kind {akind!r}; expected one of {al.KINDS}")
    raw = client.hget(keys.alerts, alert_id)
    if raw is None:
        raise CommandRefused(f"no alert {alert_id}")
    alert = orjson.loads(raw)
    if kind != CommandKind.ALERT_NOTE and alert["state"] == al.RESOLVED:
        raise CommandRefused(f"alert {alert_id} is already resolved ({alert['resolution']})")
    data = {"alert": alert_id, "reason": reason, **(extra or {})}
    return _append(client, keys, case_id, kind, _now(now), actor, role, data)


def ack_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str = "",
              now: int | None = None) -> str:
    """签收: the duty officer takes the alert (stops auto-escalation; re-raised after the ack timeout)."""
    return _alert_command(client, keys, CommandKind.ALERT_ACK, alert_id, actor, role, reason, now)


def urge_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str = "",
               dept: str | None = None, now: int | None = None) -> str:
    """催办: urge the department (default: the case's)."""
    return _alert_command(client, keys, CommandKind.ALERT_URGE, alert_id, actor, role, reason, now,
                          {"dept": dept} if dept else None)


def escalate_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str = "",
                   now: int | None = None) -> str:
    """督办: escalate one level (1 the street's leader, 2 the district centre)."""
    return _alert_command(client, keys, CommandKind.ALERT_ESCALATE, alert_id, actor, role, reason, now)


def note_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str,
               now: int | None = None) -> str:
    """A note in the alert's history (no state change)."""
    if not reason:
        raise CommandRefused("a note needs text")
    return _alert_command(client, keys, CommandKind.ALERT_NOTE, alert_id, actor, role, reason, now)


def resolve_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str,
                  now: int | None = None) -> str:
    """Close an alert by hand (the case's clocks keep running); a reason is required."""
    if not reason:
        raise CommandRefused("resolving an alert by hand needs a reason")
    return _alert_command(client, keys, CommandKind.ALERT_RESOLVE, alert_id, actor, role, reason, now)


# --- cases and rooms ---------------------------------------------------------------------------
def case_action(client: Any, keys: Keys, case_id: str, kind: str, *, actor: str, role: str, reason: str = "",
                data: dict | None = None, now: int | None = None) -> str:
    """Append a case update (an ``UpdateKind`` value) from a screen, e.g. dispatch, close, whistle."""
    _check_actor(actor, role, reason)
    if kind not in UpdateKind._value2member_map_:
        raise CommandRefused(f"unknown case action {kind!r}; expected one of {sorted(UpdateKind._value2member_map_)}")
    state = decode_state(client.get(keys.case(case_id)))
    if state is None or state.get("status") is None:
        raise CommandRefused(f"no case {case_id}")
    allowed = ALLOWED.get(kind)
    if allowed is not None and state["status"] not in allowed:
        raise CommandRefused(f"{kind} is not allowed when case {case_id} is {state['status']}")
    body = dict(data or {})
    if reason:
        body["reason"] = reason
    return _append(client, keys, case_id, kind, _now(now), actor, role, body)


def veto_room(client: Any, keys: Keys, street_code: str, *, actor: str, role: str, reason: str,
              stars: int | None = None, now: int | None = None) -> str:
    """摘星: remove stars from a street's room for the rating period containing ``now``."""
    _check_actor(actor, role, reason)
    if role not in ("leader", "admin"):
        raise PermissionError("only a leader may take stars away")
    if not street_code or not reason:
        raise CommandRefused("a veto names the street and the reason")
    if stars is not None and not 1 <= int(stars) <= 5:
        raise CommandRefused(f"stars removed must be 1-5, got {stars}")
    at = _now(now)
    data: dict[str, Any] = {"street": street_code, "reason": reason, "actor": actor, "role": role}
    if stars is not None:
        data["stars"] = int(stars)
    room = f"ROOM-{street_code}"
    pipe = client.pipeline(transaction=True)
    pipe.xadd(keys.log, entry_fields(CommandKind.ROOM_VETO.value, room, 0, at, orjson.dumps(data)))
    pipe.xadd(keys.audit, {"c": room, "v": 0, "k": CommandKind.ROOM_VETO.value, "d": orjson.dumps(
        {"actor": actor, "role": role, "at": at, "reason": reason, "stars": stars})})
    entry_id, _audit = pipe.execute()
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
