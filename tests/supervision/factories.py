"""Builders for log entries and rules in supervision tests: the clock is always data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from feeds.catalog import Catalog
from feeds.model import Report, Reporter, Update, decode_entry, encode_report, encode_update
from feeds.supervision.lifecycle import Rules

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
TZ = ZoneInfo("Asia/Shanghai")
STREET = "330212001"
_catalog: Catalog | None = None
_rules: Rules | None = None


def ms(*args: int) -> int:
    """Local (Asia/Shanghai) wall time -> ms since the epoch."""
    return int(datetime(*args, tzinfo=TZ).timestamp() * 1000)


def local(at: int) -> datetime:
    return datetime.fromtimestamp(at / 1000, TZ)


def catalog() -> Catalog:
    global _catalog
    if _catalog is None:
        _catalog = Catalog.load(CONFIG)
    return _catalog


def rules() -> Rules:
    global _rules
    if _rules is None:
        _rules = Rules.load(CONFIG, catalog(), "330212")
    return _rules


def report(case_id: str = "YZ1", at: int = 0, *, channel: str = "grid_app", category: str = "SR-GARBAGE",
           level: int = 1, street: str = STREET, grid: str = "G001", community: str = "330212001001",
           duplicate_of: str = "", flags: list[str] | None = None, entry_id: str | None = None,
           description: str = "楼道堆放垃圾, 联系电话13812345678", cell: int = 0, lon: float = 121.55,
           lat: float = 29.82):
    r = Report(case_id=case_id, channel=channel, source_id=f"s-{case_id}", category=category, level=level,
               lon=lon, lat=lat, src_crs="WGS84", src_lon=lon, src_lat=lat, address="东郊路126号",
               description=description, reporter=Reporter("张三", "13812345678"), reported_at=at,
               received_at=at, cell=cell, grid_id=grid, community_code=community, street_code=street,
               flags=flags or [], duplicate_of=duplicate_of)
    return decode_entry(entry_id or f"{at}-0", encode_report(r))


def update(case_id: str, v: int, kind: str, at: int, entry_id: str | None = None, actor: str = "u1",
           role: str = "dept", **data):
    u = Update(case_id=case_id, version=v, kind=kind, at=at, actor=actor, role=role, data=data)
    return decode_entry(entry_id or f"{at}-{v}", encode_update(u))
