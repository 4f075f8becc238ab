"""Builders of input items in the ingest schema (docs/INGEST.md) for tests."""

from __future__ import annotations

import itertools
from typing import Any

NOW = 1_795_600_000_000  # 2026-11-25 ~08:26 UTC: a fixed clock for tests
_seq = itertools.count(1)

# a point inside the synthetic Yinzhou jurisdiction (WGS84), and one ~150 m east of it
INSIDE = (121.5498, 29.8171)
NEAR = (121.5513, 29.8171)
FAR = (121.6200, 29.8171)  # ~6.5 km east


def report(**overrides: Any) -> dict[str, Any]:
    """A valid report; every field can be overridden (``None`` removes it)."""
    item: dict[str, Any] = {
        "channel": "grid_app",
        "source_id": f"T-{next(_seq)}",
        "category": "SR-GARBAGE",
        "lon": INSIDE[0],
        "lat": INSIDE[1],
        "crs": "WGS84",
        "address": "鄞州区四明中路999号",
        "description": "楼道里堆满杂物，影响消防通道",
        "reporter": {"name": "张三", "phone": "13812345678", "id_number": "330212199001011234"},
        "reported_at": NOW - 60_000,
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def update(kind: str, **overrides: Any) -> dict[str, Any]:
    """A status update; name the case with ``case_id=`` or ``channel=`` + ``source_id=``."""
    item: dict[str, Any] = {"kind": kind, "at": NOW}
    defaults = {"dispatched": {"dept": "ZFJ"}, "closed": {"closure_reason": "fixed"},
                "evaluated": {"satisfaction": "satisfied"}, "whistle": {"grade": "major", "depts": ["ZFJ"]},
                "extension_requested": {"hours": 48}, "extension_approved": {"hours": 48},
                "returned": {"reason": "非本部门职责"}, "duplicate_merged": {"into": "YZ0000000000001"}}
    item.update(defaults.get(kind, {}))
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}
