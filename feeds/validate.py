"""Validation of incoming items: one pass of fast per-item checks, errors a person can act on.

Every source (HTTP, file replay, simulator) hands ingest plain dicts in the schema of
docs/INGEST.md. This module turns each into a :class:`ReportIn` / :class:`UpdateIn` or a
:class:`Rejection` that names the field and what was expected. It is deliberately plain
Python (no model object per item): it is the hot path of a district-year replay.

What is rejected (and dead-lettered) versus kept with a flag is a product decision:
- rejected: not an object, invalid JSON / UTF-8, NUL characters, missing channel / source id /
  time / location, unknown channel or update kind, coordinates out of range, unparsable
  times, oversized items, kind-specific fields missing or wrong;
- kept and flagged: swapped lat/lon (corrected), unknown or missing category (manual
  dispatch), HTML/script in text (stored as text), future or reset clocks (source time kept,
  deadlines run from the received time), a 0,0 point (no location).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from feeds.catalog import Catalog
from feeds.model import REPORT_KIND, ClosureReason, Flag, Satisfaction, UpdateKind, WhistleGrade
from feeds.settings import Settings
from geo.crs import normalize_crs_name as _normalize_crs_name


class Reason(StrEnum):
    """Why an item was rejected (the dead-letter ``reason`` field)."""

    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_KIND = "unknown_kind"
    COORDINATES_OUT_OF_RANGE = "coordinates_out_of_range"
    NUL_CHARACTER = "nul_character"
    INVALID_TIME = "invalid_time"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BODY_TOO_LARGE = "body_too_large"
    UNKNOWN_CASE = "unknown_case"
    INVALID_VERSION = "invalid_version"


@dataclass(slots=True)
class Rejection:
    """An item that will not enter the log; it goes to the dead-letter stream as given."""

    index: int
    reason: str
    detail: str
    raw: Any = None  # the item as received (object, str or bytes)

    @property
    def message(self) -> str:
        return f"{self.reason}: {self.detail}"


@dataclass(slots=True)
class ReportIn:
    """A report that passed validation; normalise fills the WGS84 point, cell and grid."""

    index: int
    channel: str
    source_id: str
    category: str
    level: int
    src_lon: float | None
    src_lat: float | None
    src_crs: str
    address: str
    description: str
    reporter: dict[str, str]
    reported_at: int
    received_at: int
    flags: list[str]
    dept: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    lon: float | None = None
    lat: float | None = None
    cell: int = 0
    grid_id: str = ""
    community_code: str = ""
    street_code: str = ""


@dataclass(slots=True)
class UpdateIn:
    """A status update that passed shape checks; the log script resolves case and version."""

    index: int
    kind: str
    at: int
    case_id: str = ""
    channel: str = ""
    source_id: str = ""
    version: int = 0  # 0: the log script assigns the case's next version
    data: dict[str, Any] = field(default_factory=dict)
    update_id: str = ""  # the source's own id of this update: makes re-sending it a no-op


# --- fields ----------------------------------------------------------------------------------
REPORT_FIELDS = frozenset({
    "type", "channel", "source_id", "category", "level", "lon", "lat", "crs", "address",
    "description", "reporter", "reported_at", "received_at", "dept", "attrs",
})
REPORTER_FIELDS = ("name", "phone", "id_number")
UPDATE_KINDS = frozenset(k.value for k in UpdateKind)
MAX_ID_LEN = 128
MAX_TEXT_LEN = 20_000
_MIN_SANE_MS = 946_684_800_000  # 2000-01-01: earlier means a reset device clock
_MS_LOW, _MS_HIGH = 100_000_000_000, 10**15  # an int in this range is epoch ms (fast path)
_CANONICAL_CRS = frozenset({"WGS84", "GCJ02", "BD09", "CGCS2000"})
_MARKUP = re.compile(r"<\s*[A-Za-z!/?]|&#?\w+;|javascript:", re.IGNORECASE)

# kind -> (required fields, validator name); validators live on Validator
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    UpdateKind.DISPATCHED: ("dept",),
    UpdateKind.CLOSED: ("closure_reason",),
    UpdateKind.EVALUATED: ("satisfaction",),
    UpdateKind.WHISTLE: ("grade",),
    UpdateKind.DUPLICATE_MERGED: ("into",),
}
_DATA_KEYS = frozenset({
    "dept", "closure_reason", "satisfaction", "hours", "until", "grade", "depts", "reason",
    "into", "note", "result", "comment",
})


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _num(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise _Invalid(Reason.INVALID_FIELD, f"{name} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _Invalid(Reason.INVALID_FIELD, f"{name} must be a number, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: Any, name: str, limit: int = MAX_TEXT_LEN) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid(Reason.INVALID_FIELD, f"{name} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise _Invalid(Reason.NUL_CHARACTER, f"{name} contains a NUL character")
    if len(value) > limit:
        raise _Invalid(Reason.INVALID_FIELD, f"{name} is {len(value)} characters; at most {limit}")
    return value


def _ident(value: Any, name: str) -> str:
    if value is None or value == "":
        raise _Invalid(Reason.MISSING_FIELD, name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid(Reason.INVALID_FIELD, f"{name} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise _Invalid(Reason.NUL_CHARACTER, f"{name} contains a NUL character")
    if len(value) > MAX_ID_LEN or not value.isprintable():
        raise _Invalid(Reason.INVALID_FIELD, f"{name} must be 1-{MAX_ID_LEN} printable characters, "
                                             f"got {_show(value)}")
    return value


def has_markup(text: str) -> bool:
    """True when text looks like HTML/script: it is kept as text and flagged, never rendered."""
    return ("<" in text or "&" in text or ":" in text) and _MARKUP.search(text) is not None


class TimeParser:
    """Times as epoch ms (int/float), epoch seconds, or ISO-8601 text; naive = local zone."""

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)

    def __call__(self, value: Any, name: str) -> int:
        if value is None or value == "":
            raise _Invalid(Reason.MISSING_FIELD, name)
        if isinstance(value, bool):
            raise _Invalid(Reason.INVALID_TIME, f"{name} must be a time, got {value!r}")
        if isinstance(value, (int, float)):
            return self._from_number(value, name)
        if isinstance(value, str):
            s = value.strip()
            if s.isdigit():
                return self._from_number(int(s), name)
            try:
                dt = datetime.fromisoformat(s.replace("/", "-"))
            except ValueError:
                raise _Invalid(Reason.INVALID_TIME, f"{name} is not a time: {_show(value)} "
                                                    "(expected ISO-8601 or epoch ms)") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=self.tz)
            return int(dt.timestamp() * 1000)
        raise _Invalid(Reason.INVALID_TIME, f"{name} must be a time, got {type(value).__name__}")

    @staticmethod
    def _from_number(value: float, name: str) -> int:
        if not math.isfinite(value):
            raise _Invalid(Reason.INVALID_TIME, f"{name} is not finite")
        ms = value * 1000 if abs(value) < 1e11 else value  # seconds until year 5138
        if abs(ms) > 1e15:
            raise _Invalid(Reason.INVALID_TIME, f"{name} out of range: {value!r}")
        return int(ms)


class Validator:
    """Checks items against the catalog and settings; holds the lookups so each item is cheap."""

    def __init__(self, settings: Settings, catalog: Catalog,
                 bbox: tuple[float, float, float, float] | None = None) -> None:
        self.settings = settings
        self.channels = frozenset(catalog.channels)
        self.departments = frozenset(catalog.departments)
        self.categories = {c.code: c for c in catalog.categories.values()}
        self.category_by_name = {c.name: c.code for c in catalog.categories.values()}
        self.parse_time = TimeParser(settings.timezone)
        self.skew_ms = settings.clock_skew_s * 1000
        self._crs_cache: dict[str, str] = {}
        self.set_bbox(bbox)

    def set_bbox(self, bbox: tuple[float, float, float, float] | None) -> None:
        """Jurisdiction's WGS84 bounding box (lon0, lat0, lon1, lat1): used to spot swapped lat/lon."""
        if bbox is None:
            self.bbox = None
        else:
            pad = 0.1  # covers the GCJ-02/BD-09 offsets of points not yet converted
            self.bbox = (bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)

    # --- public -------------------------------------------------------------------------------
    def validate(self, items: list[Any], now_ms: int, trust_received: bool = False,
                 start: int = 0) -> tuple[list[ReportIn], list[UpdateIn], list[Rejection]]:
        """Split ``items`` into valid reports, valid updates and rejections (with indexes)."""
        reports: list[ReportIn] = []
        updates: list[UpdateIn] = []
        rejections: list[Rejection] = []
        for offset, obj in enumerate(items):
            i = start + offset
            if isinstance(obj, Rejection):  # could not even be decoded (see parse_body)
                obj.index = i
                rejections.append(obj)
                continue
            if not isinstance(obj, dict):
                rejections.append(Rejection(i, Reason.NOT_AN_OBJECT,
                                            f"expected a JSON object, got {type(obj).__name__}", obj))
                continue
            try:
                kind = obj.get("kind")
                if kind is not None and kind != REPORT_KIND or obj.get("type") == "update":
                    updates.append(self._update(obj, i, now_ms))
                else:
                    reports.append(self._report(obj, i, now_ms, trust_received))
            except _Invalid as e:
                rejections.append(Rejection(i, e.reason, e.detail, obj))
        return reports, updates, rejections

    # --- reports ------------------------------------------------------------------------------
    def _report(self, obj: dict[str, Any], i: int, now_ms: int, trust_received: bool) -> ReportIn:
        g = obj.get
        channel = g("channel")
        if channel is None or channel == "":
            raise _Invalid(Reason.MISSING_FIELD, "channel")
        if channel not in self.channels:
            raise _Invalid(Reason.UNKNOWN_CHANNEL, f"channel {_show(channel)} is not one of "
                                                   f"{', '.join(sorted(self.channels))}")
        source_id = g("source_id")
        if type(source_id) is not str or not 0 < len(source_id) <= MAX_ID_LEN or not source_id.isprintable():
            source_id = _ident(source_id, "source_id")
        reported_at = g("reported_at")
        if type(reported_at) is not int or not _MS_LOW <= reported_at < _MS_HIGH:  # fast path: epoch ms
            reported_at = self.parse_time(reported_at, "reported_at")
        received_at = now_ms
        if trust_received:
            received = g("received_at")
            if received is not None:
                received_at = received if type(received) is int and _MS_LOW <= received < _MS_HIGH else \
                    self.parse_time(received, "received_at")
        flags: list[str] = []

        category = g("category")
        cat = self.categories.get(category) if isinstance(category, str) else None
        if cat is None:
            category = self._unknown_category(category)
            code = self.category_by_name.get(category)
            if code is not None:
                category, cat = code, self.categories[code]
            else:
                flags.append(Flag.UNKNOWN_CATEGORY)

        level = g("level")
        if level is None or level == "":
            level = cat.level if cat is not None else 1
        elif type(level) is not int or not 1 <= level <= 4:  # (an int 1-4 needs no conversion)
            level = self._level(level)

        address = g("address")
        if type(address) is not str or len(address) > 1000 or "\x00" in address:
            address = _text(address, "address", 1000)
        description = g("description")
        if type(description) is not str or len(description) > MAX_TEXT_LEN or "\x00" in description:
            description = _text(description, "description")
        if has_markup(description) or has_markup(address):
            flags.append(Flag.MARKUP_IN_TEXT)

        reporter = g("reporter")
        if reporter is not None:
            reporter = self._reporter(reporter)
        else:
            reporter = {}
        dept = g("dept")
        if dept:
            if not isinstance(dept, str) or not (dept in self.departments or dept.startswith("ROOM-")):
                raise _Invalid(Reason.INVALID_FIELD, f"dept {_show(dept)} is not a department code")
        else:
            dept = ""

        crs = g("crs")
        if crs not in _CANONICAL_CRS:
            crs = "WGS84" if crs is None or crs == "" else self._crs(crs)
        lon, lat = self._point(g("lon"), g("lat"), flags)
        if lon is None and not address:
            raise _Invalid(Reason.MISSING_FIELD, "location: lon/lat or address")

        if reported_at > received_at + self.skew_ms or reported_at < _MIN_SANE_MS:
            flags.append(Flag.CLOCK_SKEW)

        attrs: dict[str, Any] = {}
        if not obj.keys() <= REPORT_FIELDS:
            attrs = {k: v for k, v in obj.items() if k not in REPORT_FIELDS}
        extra = g("attrs")
        if extra:
            if not isinstance(extra, dict):
                raise _Invalid(Reason.INVALID_FIELD, "attrs must be an object")
            attrs.update(extra)
        return ReportIn(i, channel, source_id, category, level, lon, lat, crs, address, description,
                        reporter, reported_at, received_at, flags, dept, attrs)

    @staticmethod
    def _unknown_category(category: Any) -> str:
        if category is None:
            return ""
        if isinstance(category, int) and not isinstance(category, bool):
            category = str(category)
        if not isinstance(category, str):
            raise _Invalid(Reason.INVALID_FIELD, f"category must be a code, got {type(category).__name__}")
        category = category.strip()
        if len(category) > 64 or "|" in category or not category.isprintable():
            raise _Invalid(Reason.INVALID_FIELD, f"category {_show(category)}: at most 64 printable "
                                                 "characters, no '|'")
        return category

    @staticmethod
    def _level(level: Any) -> int:
        try:
            if isinstance(level, bool):
                raise ValueError
            n = int(level)
            if n != float(level) or not 1 <= n <= 4:
                raise ValueError
        except (TypeError, ValueError):
            raise _Invalid(Reason.INVALID_FIELD, f"level must be 1-4, got {_show(level)}") from None
        return n

    @staticmethod
    def _reporter(value: Any) -> dict[str, str]:
        if value is None or value == "":
            return {}
        if type(value) is dict:  # the common case: the fields are short text, or absent
            out = {}
            for k in REPORTER_FIELDS:
                v = value.get(k)
                if v is None or v == "":
                    continue
                if type(v) is not str or len(v) > 200 or "\x00" in v:
                    break  # the checks below say what is wrong
                out[k] = v
            else:
                return out
        if not isinstance(value, dict):
            raise _Invalid(Reason.INVALID_FIELD, "reporter must be an object {name, phone, id_number}")
        out = {}
        for k in REPORTER_FIELDS:
            v = value.get(k)
            if v is not None and v != "":
                out[k] = _text(v, f"reporter.{k}", 200)
        return out

    def _crs(self, value: Any) -> str:
        key = str(value)
        crs = self._crs_cache.get(key)
        if crs is None:
            try:
                crs = _normalize_crs_name(key)
            except ValueError:
                raise _Invalid(Reason.INVALID_FIELD, f"crs {_show(value)} is not one of WGS84, GCJ02, "
                                                     "BD09, CGCS2000") from None
            self._crs_cache[key] = crs
        return crs

    def _point(self, lon_v: Any, lat_v: Any, flags: list[str]) -> tuple[float | None, float | None]:
        b = self.bbox
        if (type(lon_v) is float and type(lat_v) is float and b is not None
                and b[0] <= lon_v <= b[2] and b[1] <= lat_v <= b[3]):  # the common case: inside the box
            return lon_v, lat_v
        if (lon_v is None or lon_v == "") and (lat_v is None or lat_v == ""):
            flags.append(Flag.NO_LOCATION)
            return None, None
        if lon_v is None or lon_v == "":
            raise _Invalid(Reason.MISSING_FIELD, "lon (lat was given)")
        if lat_v is None or lat_v == "":
            raise _Invalid(Reason.MISSING_FIELD, "lat (lon was given)")
        lon = _num(lon_v, "lon")
        lat = _num(lat_v, "lat")
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise _Invalid(Reason.COORDINATES_OUT_OF_RANGE, f"lon/lat must be finite, got {lon_v!r}, {lat_v!r}")
        if lon == 0.0 and lat == 0.0:  # a GPS fix that never happened
            flags.append(Flag.NO_LOCATION)
            return None, None
        if abs(lat) > 90.0 and abs(lon) <= 90.0 and abs(lat) <= 180.0:
            lon, lat = lat, lon
            flags.append(Flag.SWAPPED_LATLON)
        elif self.bbox is not None and not self._in_bbox(lon, lat) and self._in_bbox(lat, lon):
            lon, lat = lat, lon
            flags.append(Flag.SWAPPED_LATLON)
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise _Invalid(Reason.COORDINATES_OUT_OF_RANGE,
                           f"lon {lon_v!r}, lat {lat_v!r}: lon must be -180..180 and lat -90..90")
        return lon, lat

    def _in_bbox(self, lon: float, lat: float) -> bool:
        b = self.bbox
        assert b is not None
        return b[0] <= lon <= b[2] and b[1] <= lat <= b[3]

    # --- updates ------------------------------------------------------------------------------
    def _update(self, obj: dict[str, Any], i: int, now_ms: int) -> UpdateIn:
        g = obj.get
        kind = g("kind")
        if kind not in UPDATE_KINDS:
            raise _Invalid(Reason.UNKNOWN_KIND, f"kind {_show(kind)} is not one of "
                                                f"{', '.join(sorted(UPDATE_KINDS))}")
        at = self.parse_time(g("at"), "at")
        case_id = g("case_id") or ""
        channel = source_id = ""
        if case_id:
            case_id = _ident(case_id, "case_id")
        else:
            channel = g("channel")
            if not channel or g("source_id") in (None, ""):
                raise _Invalid(Reason.MISSING_FIELD, "case_id, or channel and source_id")
            if channel not in self.channels:
                raise _Invalid(Reason.UNKNOWN_CHANNEL, f"channel {_show(channel)} is not known")
            source_id = _ident(g("source_id"), "source_id")
        version = g("version")
        if version is None or version == "":
            version = 0
        else:
            if isinstance(version, bool) or not isinstance(version, (int, str)):
                raise _Invalid(Reason.INVALID_VERSION, f"version must be a positive integer, got {_show(version)}")
            try:
                version = int(version)
            except ValueError:
                raise _Invalid(Reason.INVALID_VERSION, f"version must be a positive integer, "
                                                       f"got {_show(version)}") from None
            if version < 2:
                raise _Invalid(Reason.INVALID_VERSION, f"an update's version must be >= 2 (the report is 1), "
                                                       f"got {version}")
        update_id = g("update_id")
        update_id = _ident(update_id, "update_id") if update_id not in (None, "") else ""
        data = self._update_data(kind, obj)
        return UpdateIn(i, kind, at, case_id, channel, source_id, version, data, update_id)

    def _update_data(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        raw = obj.get("data")
        if raw is not None and not isinstance(raw, dict):
            raise _Invalid(Reason.INVALID_FIELD, "data must be an object")
        data: dict[str, Any] = dict(raw) if raw else {}
        for k in _DATA_KEYS.intersection(obj):
            data.setdefault(k, obj[k])
        for k in ("actor", "role"):
            if obj.get(k):
                data[k] = _text(obj[k], k, 200)
        for k in _KIND_FIELDS.get(kind, ()):
            if data.get(k) in (None, "", []):
                raise _Invalid(Reason.MISSING_FIELD, f"{k} (required for {kind})")
        for k, v in data.items():
            if isinstance(v, str) and "\x00" in v:
                raise _Invalid(Reason.NUL_CHARACTER, f"{k} contains a NUL character")
        if kind == UpdateKind.DISPATCHED:
            self._check_dept(data["dept"], "dept")
        elif kind == UpdateKind.CLOSED:
            self._check_enum(data["closure_reason"], ClosureReason, "closure_reason")
        elif kind == UpdateKind.EVALUATED:
            self._check_enum(data["satisfaction"], Satisfaction, "satisfaction")
        elif kind == UpdateKind.WHISTLE:
            self._check_enum(data["grade"], WhistleGrade, "grade")
            depts = data.get("depts", [])
            if not isinstance(depts, list):
                raise _Invalid(Reason.INVALID_FIELD, "depts must be a list of department codes")
            for d in depts:
                self._check_dept(d, "depts[]")
        elif kind in (UpdateKind.EXTENSION_REQUESTED, UpdateKind.EXTENSION_APPROVED):
            if data.get("hours") in (None, "") and data.get("until") in (None, ""):
                raise _Invalid(Reason.MISSING_FIELD, f"hours or until (required for {kind})")
            if data.get("hours") not in (None, ""):
                hours = _num(data["hours"], "hours")
                if not 0 < hours <= 24 * 365:
                    raise _Invalid(Reason.INVALID_FIELD, f"hours must be > 0, got {data['hours']!r}")
                data["hours"] = hours
            if data.get("until") not in (None, ""):
                data["until"] = self.parse_time(data["until"], "until")
        elif kind == UpdateKind.RETURNED:
            data["reason"] = _text(data.get("reason", ""), "reason", 1000)
        elif kind == UpdateKind.DUPLICATE_MERGED:
            data["into"] = _ident(data["into"], "into")
        return data

    def _check_dept(self, value: Any, name: str) -> None:
        if not isinstance(value, str) or not (value in self.departments or value.startswith("ROOM-")):
            raise _Invalid(Reason.INVALID_FIELD, f"{name} {_show(value)} is not a department code")

    @staticmethod
    def _check_enum(value: Any, enum: type[StrEnum], name: str) -> None:
        allowed = {e.value for e in enum}
        if value not in allowed:
            raise _Invalid(Reason.INVALID_FIELD, f"{name} {_show(value)} is not one of {', '.join(sorted(allowed))}")


# --- bodies ----------------------------------------------------------------------------------
def parse_body(body: bytes, content_type: str, max_item_bytes: int) -> list[Any]:
    """Decode an HTTP body: one JSON object, a JSON array, or JSON lines (``application/x-ndjson``).

    Returns the items in request order; a part that could not be decoded (a bad line, or the
    whole body) is a :class:`Rejection` in its place, which :meth:`Validator.validate` passes on.
    """
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/ndjson"):
        return _parse_lines(body, max_item_bytes)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        return [_decode_rejection(0, body, e)]
    if isinstance(doc, list):
        return doc
    return [doc]


def _parse_lines(body: bytes, max_item_bytes: int) -> list[Any]:
    items: list[Any] = []
    for line in body.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        if len(line) > max_item_bytes:
            items.append(Rejection(len(items), Reason.PAYLOAD_TOO_LARGE,
                                   f"{len(line)} bytes; at most {max_item_bytes}", line))
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as e:
            items.append(_decode_rejection(len(items), line, e))
    return items


def _decode_rejection(i: int, raw: bytes, error: Exception) -> Rejection:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as u:
        return Rejection(i, Reason.INVALID_UTF8, f"not valid UTF-8 at byte {u.start}", raw)
    if "surrogate" in str(error):
        return Rejection(i, Reason.INVALID_UTF8, f"invalid Unicode escape: {error}", raw)
    return Rejection(i, Reason.INVALID_JSON, str(error), raw)
