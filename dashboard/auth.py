"""Roles by token: ``wall`` (read-only, masked personal data), ``duty`` (alert actions),
``leader`` (tablet, cast to the wall); a request with no token at all is the wall role. A token arrives as ``?token=`` on any page (or through
``/login?token=...&next=/wall``) and is kept in an HTTP-only cookie; every action checks the
role on the server, never in the browser.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, redirect, request

from feeds.settings import Settings

COOKIE = "gov_token"
ROLES = ("wall", "duty", "leader")

#: Which roles may open which screen.
PAGE_ROLES = {"wall": {"wall", "duty", "leader"}, "duty": {"duty", "leader"}, "tablet": {"leader"}}
#: Which roles may do what (the engine checks again: the wall role is refused there too).
ACTION_ROLES = {
    "ack": {"duty"}, "urge": {"duty", "leader"}, "escalate": {"duty", "leader"}, "note": {"duty", "leader"},
    "cast": {"leader"}, "case": {"leader"},
}


def role_for_token(settings: Settings, token: str | None) -> str | None:
    if not token:
        return None
    for role in ROLES:
        expected = getattr(settings, f"{role}_token")
        if expected and hmac.compare_digest(str(expected), str(token)):
            return role
    return None


def current_token() -> str | None:
    """The token of the current Flask request (query string wins over the cookie)."""
    try:
        return request.args.get("token") or request.cookies.get(COOKIE)
    except RuntimeError:  # outside a request
        return None


def current_role(settings: Settings, token: str | None = None) -> str | None:
    """The role of the current request. No token at all is the wall's role (the wall is shown to
    visitors anyway: read-only, masked), so the README's plain /wall URL opens the live demo; a
    wrong token is no role."""
    token = token or current_token()
    if not token:
        return "wall"
    return role_for_token(settings, token)


def may_view(role: str | None, page: str) -> bool:
    return role is not None and role in PAGE_ROLES.get(page, set())


def may(role: str | None, action: str) -> bool:
    return role is not None and role in ACTION_ROLES.get(action, set())


def actor_name(role: str | None, given: str | None = None) -> str:
    """Who acted, for the audit: the name typed on the console, else the role's seat."""
    name = (given or "").strip()[:32]
    return name or {"duty": "值班席", "leader": "领导席"}.get(role or "", role or "")


def install(server: Flask, settings: Settings) -> None:
    """``/login?token=&next=`` and: any page opened with a valid ``?token=`` keeps it as a cookie."""

    @server.route("/login")
    def login() -> Any:
        token = request.args.get("token", "")
        nxt = request.args.get("next") or "/wall"
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/wall"
        role = role_for_token(settings, token)
        if role is None:
            return ("令牌无效", 403, {"Content-Type": "text/plain; charset=utf-8"})
        resp = redirect(nxt)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Lax", max_age=30 * 86400)
        return resp

    @server.after_request
    def keep_token(resp: Any) -> Any:
        token = request.args.get("token")
        if token and role_for_token(settings, token) and request.cookies.get(COOKIE) != token:
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Lax", max_age=30 * 86400)
        return resp
