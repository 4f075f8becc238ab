"""Socket.IO connections of the web worker: check the role, join the screen's room, say hello.

Messages to the rooms come from the relay (``dashboard.push``) through the Redis message
queue; this module only admits browsers. ``hello`` carries the current delta seq so a browser
whose snapshot is already current skips the resync.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import request
from flask_socketio import SocketIO, emit, join_room

from dashboard import auth
from dashboard.context import ScreenContext

log = logging.getLogger(__name__)


def register(socketio: SocketIO, ctx: ScreenContext) -> None:
    @socketio.on("connect")
    def on_connect(_auth: Any = None) -> bool:
        page = request.args.get("page", "")
        role = auth.current_role(ctx.settings)
        if page not in auth.PAGE_ROLES or not auth.may_view(role, page):
            log.info("socket refused: page=%r role=%r", page, role)
            return False
        join_room(page)
        emit("hello", {"at": ctx.now(), "seq": ctx.delta_seq()})
        return True
