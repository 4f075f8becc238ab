"""Plain read-model dicts (the shapes of docs/READ_MODELS.md) for the screens' unit tests."""

from __future__ import annotations

from typing import Any

from dashboard.names import Names
from feeds.catalog import Catalog
from feeds.settings import CONFIG_DIR

T0 = 1_795_600_000_000  # 2026-11-25 ~10:26 Asia/Shanghai


def names() -> Names:
    return Names(catalog=Catalog.load(CONFIG_DIR), streets={"330212001": "下应街道"},
                 communities={"330212001001": "东兴社区"}, grids={"G1": "东兴社区第1网格"})


def summary(i: int = 1, **over: Any) -> dict:
    s = {"id": f"YZ26112500000{i:02d}", "status": "dispatched", "channel": "hotline_12345",
         "category": "CG-MANHOLE", "level": 2, "dept": "SZGS", "street": "330212001",
         "community": "330212001001", "grid": "G1", "cell": "", "lon": 121.55, "lat": 29.8,
         "received_at": T0 - i * 60_000, "closed_at": None, "text": "井盖缺失，电话138****5678", "sla": "on_track",
         "due": T0 + 3_600_000}
    s.update(over)
    return s


def alert(i: int = 1, kind: str = "overdue", state: str = "raised", level: int = 0, due: int | None = None) -> dict:
    s = summary(i)
    return {"id": f"{s['id']}:sign:{kind}", "case": s["id"], "stage": "sign", "kind": kind,
            "due": T0 - 60_000 if due is None else due, "raised_at": T0 - 1000, "state": state, "level": level,
            "reraised": 0, "acked_by": "" if state == "raised" else "张三",
            "handled_at": None if state == "raised" else T0, "actions": [], "case_summary": s}
