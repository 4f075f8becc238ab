"""What every callback and the relay need: settings, the store, names, the map geography, a clock.

One ``ScreenContext`` is built by ``create_app`` and handed to the page layouts and callback
registrations explicitly (no module-level globals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from dashboard.geodata import MapGeo
from dashboard.names import Names
from dashboard.reads import Reader
from feeds.catalog import Catalog
from feeds.clock import SystemClock
from feeds.keys import Keys
from feeds.settings import Settings


def cast_key(keys: Keys) -> str:
    """String: JSON of the view a leader cast to the wall (absent = no cast).

    Screen state, not a read model; kept under the jurisdiction's hash tag like every key.
    """
    return f"{keys.prefix}:screens:cast"


@dataclass
class ScreenContext:
    settings: Settings
    store: Any  # feeds.store.Store (started)
    catalog: Catalog
    geo: MapGeo
    names: Names
    clock: Callable[[], int] = field(default_factory=SystemClock)
    socketio: Any = None  # flask_socketio.SocketIO of this web worker (emits cast messages)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> Keys:
        return self.store.keys

    @property
    def client(self) -> Any:
        return self.store.client

    @property
    def reader(self) -> Reader:
        return Reader(self.store.client, self.store.keys, self.clock)

    def now(self) -> int:
        return self.clock()

    def delta_seq(self) -> int:
        """The last published delta seq (read *before* a snapshot's read models)."""
        return int(self.client.get(self.keys.delta_seq) or 0)

    # --- cast to the wall -------------------------------------------------------------------
    def get_cast(self) -> dict | None:
        raw = self.client.get(cast_key(self.keys))
        return orjson.loads(raw) if raw else None

    def set_cast(self, view: dict | None) -> None:
        if view is None:
            self.client.delete(cast_key(self.keys))
        else:
            self.client.set(cast_key(self.keys), orjson.dumps(view))


def build_context(settings: Settings, store: Any, *, clock: Callable[[], int] | None = None) -> ScreenContext:
    from dashboard.geodata import load_map_geo

    catalog = Catalog.load(settings.config_dir)
    geo = load_map_geo(settings)
    names = geo.names(catalog)
    names.stages = {**names.stages, **_stage_names(settings)}
    return ScreenContext(settings=settings, store=store, catalog=catalog, geo=geo, names=names,
                         clock=clock or SystemClock())


def _stage_names(settings: Settings) -> dict[str, str]:
    """SLA stage names from the engine's config (config/sla.json), e.g. sign → 签收."""
    try:
        stages = orjson.loads((settings.config_dir / "sla.json").read_bytes()).get("stages", {})
    except (OSError, orjson.JSONDecodeError):
        return {}
    return {code: str(s.get("name", code)) for code, s in stages.items() if isinstance(s, dict)}


def warm_up(ctx: ScreenContext) -> None:
    """Pay one-off costs (imports of scipy/pandas for the hotspots, first queries) before the first
    screen asks, so the wall's first render does not."""
    from dashboard import snapshot

    snapshot.wall(ctx, with_map=False)
