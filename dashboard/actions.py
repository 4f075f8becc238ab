"""Human actions from the screens, each one call into ``feeds.supervision.commands``.

The role comes from the request's token (``dashboard.auth``) and is checked here *and* by the
engine (which writes the log entry and the audit line atomically). The screens never change
what they show on their own: the result arrives as a delta on every connected screen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dashboard import auth
from dashboard.context import ScreenContext
from dashboard.names import ACTION_NAMES
from feeds.supervision import commands

log = logging.getLogger(__name__)

ALERT_COMMANDS = {"ack": commands.ack_alert, "urge": commands.urge_alert,
                  "escalate": commands.escalate_alert, "note": commands.note_alert}


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    entry_id: str = ""


def alert_action(ctx: ScreenContext, action: str, alert_id: str, *, note: str = "", actor: str = "",
                 role: str | None = None) -> ActionResult:
    """签收 / 催办 / 督办 / 备注 one alert as the current request's role."""
    role = role if role is not None else auth.current_role(ctx.settings)
    label = ACTION_NAMES.get(action, action)
    fn = ALERT_COMMANDS.get(action)
    if fn is None:
        return ActionResult(False, f"未知操作：{action}")
    if not auth.may(role, action):
        return ActionResult(False, f"当前角色无权{label}（需要值班员令牌）")
    if action == "note" and not note.strip():
        return ActionResult(False, "请先在备注框填写内容")
    who = auth.actor_name(role, actor)
    try:
        entry = fn(ctx.client, ctx.keys, alert_id, actor=who, role=str(role), reason=note.strip(), now=ctx.now())
    except PermissionError as e:
        return ActionResult(False, f"{label}被拒绝：{e}")
    except (KeyError, ValueError, LookupError) as e:
        return ActionResult(False, f"{label}失败：{e}")
    log.info("alert %s %s by %s (%s): %s", alert_id, action, who, role, entry)
    return ActionResult(True, f"已{label}：{alert_id}（{who}）", str(entry))
