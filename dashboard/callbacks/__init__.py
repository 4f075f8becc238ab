"""Thin callbacks: each reads through ``snapshot``/``reads`` and renders with ``panels``/``figures``."""

from __future__ import annotations

from dash import Dash

from dashboard.callbacks import duty, tablet, wall
from dashboard.context import ScreenContext


def register_callbacks(app: Dash, ctx: ScreenContext) -> None:
    wall.register(app, ctx)
    duty.register(app, ctx)
    tablet.register(app, ctx)
