"""The event model: a report (case) and the status updates that follow it.

This module is the one home of the model's shape and of its wire format in the log.
Categories, departments and channels are data (``config/*.json``, see ``feeds.catalog``);
the kinds of update, closure reasons, source CRSs and flags are fixed by the domain and live
here as enums.

Log entry (one Redis Stream entry, two fields, values bytes)::

    h  header          kind, case id, version and time, separated by \x1f (unit separator):
                       kind     "report" or an UpdateKind / CommandKind value
                       case id  e.g. "YZ2611250000123"
                       version  per-case monotonic integer; the report itself is version 1
                       time     ms since epoch (UTC) when it happened (received time for reports)
    d  payload         JSON object (orjson) with the kind's fields

Two fields, not five: every field is an argument the server copies, propagates to its AOF and
formats into each reader's reply (docs/BENCHMARKS.md, ingest: −8 % server instructions per
ingested event; the supervision worker parses fewer strings per entry). The four small values
cannot contain the separator (ingest refuses control characters in ids; kinds are fixed). Entries
written before (fields ``k c v t d``) still decode (``decode_entry``).

Times are integers in ms since the Unix epoch (UTC); screens convert to Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import orjson


class SourceCRS(StrEnum):
    """Coordinate system a location arrived in; everything is stored in WGS84."""

    WGS84 = "WGS84"
    GCJ02 = "GCJ02"  # 国测局 "Mars" coordinates (Amap, Tencent)
    BD09 = "BD09"  # Baidu
    CGCS2000 = "CGCS2000"  # EPSG:4490; equal to WGS84 at the metre level


class UpdateKind(StrEnum):
    """What happens to a case after it is reported (流转交办 → 督导闭环 → 考核评价)."""

    ACCEPTED = "accepted"  # 受理
    DISPATCHED = "dispatched"  # 派遣 to a department
    SIGNED = "signed"  # 签收 by the department
    CONTACTED = "contacted"  # 联系上报人
    ON_SCENE = "on_scene"  # 到场
    FEEDBACK = "feedback"  # 反馈 (preliminary result)
    RESOLVED = "resolved"  # 处置完毕
    CLOSED = "closed"  # 办结 with a ClosureReason
    EVALUATED = "evaluated"  # 评价 with satisfaction
    EXTENSION_REQUESTED = "extension_requested"  # 申请延期
    EXTENSION_APPROVED = "extension_approved"  # 延期批准
    WHISTLE = "whistle"  # 吹哨: escalated to several departments, graded
    RETURNED = "returned"  # 退回 for re-dispatch
    DUPLICATE_MERGED = "duplicate_merged"  # 重复件合并 into another case
    REOPENED = "reopened"  # 重新办理
    SUSPENDED = "suspended"  # 挂起 (clock stops)
    RESUMED = "resumed"  # 恢复


REPORT_KIND = "report"


class ClosureReason(StrEnum):
    FIXED = "fixed"  # 已解决
    DUPLICATE = "duplicate"  # 重复件
    NOT_OURS = "not_ours"  # 非本辖区/非职责
    NO_ACTION = "no_action"  # 无需处置
    REFERRED = "referred"  # 转办其他渠道


CLOSURE_REASON_NAMES = {
    ClosureReason.FIXED: "已解决",
    ClosureReason.DUPLICATE: "重复件",
    ClosureReason.NOT_OURS: "非职责范围",
    ClosureReason.NO_ACTION: "无需处置",
    ClosureReason.REFERRED: "已转办",
}


class WhistleGrade(StrEnum):
    GENERAL = "general"  # 一般
    MAJOR = "major"  # 较大
    SERIOUS = "serious"  # 重大


WHISTLE_GRADE_NAMES = {WhistleGrade.GENERAL: "一般", WhistleGrade.MAJOR: "较大", WhistleGrade.SERIOUS: "重大"}


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class Flag(StrEnum):
    """Facts ingest noticed about a report; kept on the case, shown to staff."""

    OUTSIDE_JURISDICTION = "outside_jurisdiction"
    UNKNOWN_CATEGORY = "unknown_category"  # routed to manual dispatch
    SWAPPED_LATLON = "swapped_latlon"  # lat/lon arrived in each other's place; corrected
    CLOCK_SKEW = "clock_skew"  # reported time in the future: deadlines use received time
    MARKUP_IN_TEXT = "markup_in_text"  # HTML/script in text: stored as text, never interpreted
    NO_LOCATION = "no_location"
    DUPLICATE_CANDIDATE = "duplicate_candidate"  # linked to an earlier case (cross-channel)


#: Handling tiers (事件等级): who is expected to settle it.
LEVEL_NAMES = {1: "网格自处", 2: "村社处置", 3: "镇街处置", 4: "区级处置"}


@dataclass(slots=True)
class Reporter:
    """Personal data: kept, never logged in clear, masked on visitor-facing screens."""

    name: str = ""
    phone: str = ""
    id_number: str = ""

    def __repr__(self) -> str:  # reprs end up in logs and tracebacks: never show PII in clear
        from feeds.privacy import mask_id_number, mask_name, mask_phone

        return (f"Reporter(name={mask_name(self.name)!r}, phone={mask_phone(self.phone)!r}, "
                f"id_number={mask_id_number(self.id_number)!r})")

    __str__ = __repr__


@dataclass(slots=True)
class Report:
    """A validated, normalised report: the first entry (version 1) of a case."""

    case_id: str
    channel: str
    source_id: str
    category: str
    level: int
    lon: float | None  # WGS84
    lat: float | None
    src_crs: str
    src_lon: float | None
    src_lat: float | None
    address: str
    description: str
    reporter: Reporter
    reported_at: int  # source's clock (ms)
    received_at: int  # our clock (ms); deadlines run from here
    cell: int = 0  # H3 cell at the configured resolution; 0 = none
    grid_id: str = ""
    community_code: str = ""
    street_code: str = ""
    flags: list[str] = field(default_factory=list)
    duplicate_of: str = ""  # earlier case this one is linked to (cross-channel duplicate)
    dept: str = ""  # department the source already routed it to; "" = route by category
    attrs: dict[str, Any] = field(default_factory=dict)  # source fields with no place above (kept)

    def payload(self) -> dict[str, Any]:
        d = asdict(self)
        del d["case_id"]
        return d


@dataclass(slots=True)
class Update:
    """A status update or a command about a case. ``kind`` is an UpdateKind value or a command."""

    case_id: str
    version: int
    kind: str
    at: int  # ms
    actor: str = ""
    role: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # kind-specific: dept, reason, closure, ...


HEADER_SEP = "\x1f"  # separates the header's four values (also in feeds/ingest.lua)


def entry_fields(kind: str, case_id: str, version: int, at: int, data: bytes) -> dict[str, bytes]:
    """The fields of one log entry (the format above); ``data`` is the payload JSON."""
    return {"h": f"{kind}\x1f{case_id}\x1f{version}\x1f{at}".encode(), "d": data}


def encode_report(report: Report) -> dict[str, bytes]:
    return entry_fields(REPORT_KIND, report.case_id, 1, report.received_at, orjson.dumps(report.payload()))


def encode_update(update: Update) -> dict[str, bytes | str | int]:
    data = dict(update.data)
    if update.actor:
        data["actor"] = update.actor
    if update.role:
        data["role"] = update.role
    return entry_fields(update.kind, update.case_id, update.version, update.at, orjson.dumps(data))


@dataclass(slots=True, frozen=True)
class LogEntry:
    """One decoded log entry, as consumers see it."""

    id: str  # stream id
    kind: str
    case_id: str
    version: int
    at: int
    data: dict[str, Any]


def _s(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def decode_header(header: bytes | str) -> tuple[str, str, int, int]:
    """(kind, case id, version, time) of an entry's ``h`` field."""
    kind, case_id, version, at = _s(header).split(HEADER_SEP)
    return kind, case_id, int(version), int(at)


def entry_head(fields: dict[Any, Any]) -> tuple[str, str, int, int]:
    """(kind, case id, version, time) of a raw log entry, without decoding its payload."""
    get = fields.get
    h = get(b"h", get("h"))
    if h is not None:
        return decode_header(h)
    return (_s(get(b"k", get("k", b""))), _s(get(b"c", get("c", b""))), int(get(b"v", get("v", 0))),
            int(get(b"t", get("t", 0))))


def entry_kind(fields: dict[Any, Any]) -> str:
    """The kind of a raw log entry (stats)."""
    return entry_head(fields)[0]


def decode_entry(entry_id: bytes | str, fields: dict[Any, Any]) -> LogEntry:
    """A raw log entry (keys and values bytes or str) as consumers see it; entries written in
    the earlier five-field format (``k c v t d``) too."""
    get = fields.get
    raw = get(b"d", get("d", b"{}"))
    kind, case_id, version, at = entry_head(fields)
    return LogEntry(_s(entry_id), kind, case_id, version, at, orjson.loads(raw))


_REPORT_FIELDS = frozenset(Report.__dataclass_fields__) - {"case_id"}


def report_from_entry(entry: LogEntry) -> Report:
    """The Report of a ``report`` log entry (fields a newer writer added are ignored)."""
    d = {k: v for k, v in entry.data.items() if k in _REPORT_FIELDS}
    d["reporter"] = Reporter(**d.get("reporter", {}))
    return Report(case_id=entry.case_id, **d)
