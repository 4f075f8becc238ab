"""zh-CN display names for codes (categories, departments, channels, places, SLA stages).

Screens show names, read models carry codes. ``Names`` joins the catalog (``config/*.json``)
with the jurisdiction's place names; it is a plain object so panel builders stay testable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from feeds.catalog import Catalog
from feeds.model import LEVEL_NAMES

#: SLA stage names (the 1312 rule and the general stages); unknown stages show their code.
STAGE_NAMES = {
    "accept": "受理", "dispatch": "派遣", "sign": "签收", "contact": "联系上报人",
    "on_scene": "到场", "arrive": "到场", "feedback": "初步反馈", "resolve": "处置",
    "close": "办结", "whistle": "吹哨报到", "evaluate": "评价", "extension": "延期审批",
}
KIND_NAMES = {"near_due": "临期", "overdue": "超期"}
ALERT_STATE_NAMES = {"raised": "待签收", "acknowledged": "已签收", "urged": "已催办",
                     "escalated": "已督办", "resolved": "已解除"}
ACTION_NAMES = {"ack": "签收", "alert.ack": "签收", "urge": "催办", "alert.urge": "催办",
                "escalate": "督办", "alert.escalate": "督办", "note": "备注", "alert.note": "备注",
                "resolve": "解除", "alert.resolve": "解除", "raised": "告警", "reraised": "再次告警",
                "acknowledged": "签收", "urged": "催办", "escalated": "督办", "noted": "备注", "resolved": "解除"}
RESOLUTION_NAMES = {"met": "已处置", "closed": "案件办结", "manual": "人工解除", "superseded": "转为超期",
                    "history": "历史"}
REASON_NAMES = {"auto: not acknowledged in time": "未按时签收，自动督办"}
STATUS_NAMES = {"received": "已受理", "accepted": "已受理", "dispatched": "已派遣", "signed": "已签收",
                "contacted": "已联系", "on_scene": "已到场", "feedback": "已反馈", "resolved": "已处置",
                "closed": "已办结", "evaluated": "已评价", "suspended": "挂起", "returned": "已退回",
                "merged": "已合并", "reopened": "重新办理", "report": "上报", "reported": "已上报"}
SLA_NAMES = {"on_track": "正常", "near_due": "临期", "overdue": "超期", "met": "按时", "late": "超时",
             "paused": "暂停", "none": "—", "running": "计时中", "cancelled": "已取消"}
ROLE_NAMES = {"duty": "值班员", "leader": "领导", "wall": "大屏", "system": "系统", "admin": "管理员"}


@dataclass
class Names:
    catalog: Catalog | None = None
    streets: Mapping[str, str] = field(default_factory=dict)
    communities: Mapping[str, str] = field(default_factory=dict)
    grids: Mapping[str, str] = field(default_factory=dict)
    stages: Mapping[str, str] = field(default_factory=lambda: dict(STAGE_NAMES))

    def category(self, code: str | None) -> str:
        if not code:
            return "未分类"
        return self.catalog.category_name(code) if self.catalog else code

    def dept(self, code: str | None, short: bool = True) -> str:
        if not code:
            return "待派遣"
        if self.catalog:
            d = self.catalog.departments.get(code)
            if d:
                return d.short if short else d.name
            if code.startswith("ROOM-"):
                street = self.streets.get(code[5:], code[5:])
                return f"{street}指挥室" if short else f"{street}综合信息指挥室"
        return code

    def channel(self, code: str | None) -> str:
        if not code:
            return "—"
        return self.catalog.channel_name(code) if self.catalog else code

    def street(self, code: str | None) -> str:
        return self.streets.get(code or "", code or "—")

    def community(self, code: str | None) -> str:
        return self.communities.get(code or "", code or "—")

    def grid(self, code: str | None) -> str:
        return self.grids.get(code or "", code or "—")

    def place(self, level: str, code: str) -> str:
        if level == "district":
            return "全区"
        return {"street": self.street, "community": self.community, "grid": self.grid}.get(
            level, lambda c: c)(code)

    def stage(self, code: str | None) -> str:
        return self.stages.get(code or "", code or "—")

    @staticmethod
    def level(n: object) -> str:
        try:
            return LEVEL_NAMES.get(int(n), str(n))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return "—"
