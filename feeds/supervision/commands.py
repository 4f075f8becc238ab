"""The command path the screens call (contract: docs/READ_MODELS.md). STUB: signatures only."""

from __future__ import annotations

from typing import Any

from feeds.keys import Keys


def ack_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str = "",
              now: int | None = None) -> str:
    """签收 an alert."""
    raise NotImplementedError


def urge_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str = "",
               dept: str | None = None, now: int | None = None) -> str:
    """催办: urge the department."""
    raise NotImplementedError


def escalate_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str = "",
                   now: int | None = None) -> str:
    """督办: escalate one level (street leader, then district)."""
    raise NotImplementedError


def note_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str,
               now: int | None = None) -> str:
    """Add a note to an alert."""
    raise NotImplementedError


def resolve_alert(client: Any, keys: Keys, alert_id: str, *, actor: str, role: str, reason: str,
                  now: int | None = None) -> str:
    """Close an alert by hand."""
    raise NotImplementedError


def case_action(client: Any, keys: Keys, case_id: str, kind: str, *, actor: str, role: str, reason: str = "",
                data: dict | None = None, now: int | None = None) -> str:
    """Append a case update (an UpdateKind value) from a screen."""
    raise NotImplementedError


def veto_room(client: Any, keys: Keys, street_code: str, *, actor: str, role: str, reason: str,
              stars: int | None = None, now: int | None = None) -> str:
    """摘星: remove stars from a street room for the period containing ``now``."""
    raise NotImplementedError
