"""Column-mapping files: turn a city's export (CSV or JSON lines) into ingest items, no code.

A mapping file (JSON, schema in docs/INGEST.md) names, for each field of the ingest schema,
the source column it comes from, an optional value map (e.g. ``requesttype`` → category
code, ``owner`` → department code), a fixed value or a text template; the time format and
zone of the export; its CRS; the columns kept verbatim in ``attrs``; and rules that turn
later columns (a closed date, a status) into status updates. Rows are mapped a chunk at a
time with pandas, so a district-year replays in seconds.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from feeds.catalog import Catalog, Category, Channel, Department
from feeds.model import UpdateKind
from feeds.validate import Reason, Rejection

log = logging.getLogger(__name__)

#: fields a mapping may fill (``reporter.*`` become the reporter object)
TARGETS = ("channel", "source_id", "category", "level", "lon", "lat", "crs", "address", "description",
           "reporter.name", "reporter.phone", "reporter.id_number", "reported_at", "dept")
TIME_TARGETS = ("reported_at",)
_RAW = "\x00raw"  # column of undecodable JSON lines (no real column can be named so)


class MappingError(ValueError):
    """The mapping file cannot be used; the message says what to change."""


@dataclass(frozen=True)
class FieldRule:
    """Where one target field comes from: a column (optionally through a value map), a fixed
    value, or a template over columns (``"{requesttype} ({status})"``)."""

    column: str | None = None
    map: str | None = None  # name of a table in Mapping.values
    value: Any = None
    template: str | None = None
    default: Any = None  # when the column is empty or the value map has no entry

    @classmethod
    def parse(cls, target: str, raw: Any) -> FieldRule:
        if isinstance(raw, str):
            return cls(column=raw)
        if not isinstance(raw, dict):
            raise MappingError(f"fields.{target}: expected a column name or an object, got {raw!r}")
        unknown = set(raw) - {"column", "map", "value", "template", "default"}
        if unknown:
            raise MappingError(f"fields.{target}: unknown keys {sorted(unknown)}")
        rule = cls(**raw)
        if sum(x is not None for x in (rule.column, rule.value, rule.template)) != 1:
            raise MappingError(f"fields.{target}: give exactly one of column, value, template")
        return rule

    def columns(self) -> list[str]:
        if self.column:
            return [self.column]
        if self.template:
            return [name for _, name, _, _ in string.Formatter().parse(self.template) if name]
        return []


@dataclass(frozen=True)
class UpdateRule:
    """A status update derived from a row: ``kind`` at the first non-empty of ``at`` columns,
    when every ``when`` column has one of the listed values."""

    kind: str
    at: tuple[str, ...]
    when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, i: int, raw: dict[str, Any]) -> UpdateRule:
        try:
            kind = UpdateKind(raw["kind"]).value
        except (KeyError, ValueError):
            raise MappingError(f"updates[{i}].kind must be one of {[k.value for k in UpdateKind]}") from None
        at = raw.get("at")
        at_cols = (at,) if isinstance(at, str) else tuple(at or ())
        if not at_cols:
            raise MappingError(f"updates[{i}].at: the column(s) holding the update's time")
        when = {k: tuple(v) if isinstance(v, list) else (v,) for k, v in (raw.get("when") or {}).items()}
        return cls(kind, at_cols, when, dict(raw.get("data") or {}))


@dataclass(frozen=True)
class Mapping:
    """A loaded, checked mapping file."""

    path: Path
    name: str
    format: str  # "csv" | "jsonl" | "auto" (by the data file's name)
    fields: dict[str, FieldRule]
    values: dict[str, dict[str, Any]]
    attrs: tuple[str, ...] = ()
    updates: tuple[UpdateRule, ...] = ()
    time_format: str | None = None
    timezone: str = "Asia/Shanghai"
    crs: str = "WGS84"
    namespace: str | None = None
    case_prefix: str | None = None
    jurisdiction: Path | None = None
    csv_options: dict[str, Any] = field(default_factory=dict)
    catalog_extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, catalog: Catalog | None = None) -> Mapping:
        """Read and check a mapping file; value maps are checked against the catalog."""
        path = Path(path)
        try:
            raw = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            raise MappingError(f"{path}: {e}") from e
        fields_raw = raw.get("fields") or {}
        unknown = set(fields_raw) - set(TARGETS)
        if unknown:
            raise MappingError(f"{path}: unknown target field(s) {sorted(unknown)}; expected some of {TARGETS}")
        for required in ("channel", "source_id", "reported_at"):
            if required not in fields_raw:
                raise MappingError(f"{path}: fields.{required} is required")
        fields = {k: FieldRule.parse(k, v) for k, v in fields_raw.items()}
        values = {k: dict(v) for k, v in (raw.get("values") or {}).items() if not k.startswith("_")}
        for target, rule in fields.items():
            if rule.map and rule.map not in values:
                raise MappingError(f"{path}: fields.{target} uses value map {rule.map!r}, which 'values' lacks")
        juris = raw.get("jurisdiction")
        mapping = cls(
            path=path, name=str(raw.get("name", path.stem)), format=str(raw.get("format") or "auto"),
            fields=fields, values=values, attrs=tuple(raw.get("attrs") or ()),
            updates=tuple(UpdateRule.parse(i, u) for i, u in enumerate(raw.get("updates") or ())),
            time_format=raw.get("time_format"), timezone=str(raw.get("timezone", "Asia/Shanghai")),
            crs=str(raw.get("crs", "WGS84")), namespace=raw.get("namespace"), case_prefix=raw.get("case_prefix"),
            jurisdiction=(path.parent / juris) if juris else None, csv_options=dict(raw.get("csv") or {}),
            catalog_extra={k: list(v) for k, v in (raw.get("catalog") or {}).items() if not k.startswith("_")},
        )
        if catalog is not None:
            mapping.check(mapping.extend_catalog(catalog))
        return mapping

    def extend_catalog(self, base: Catalog) -> Catalog:
        """The product's catalog plus the codes this source brings (its ``catalog`` section):
        a foreign city keeps its own categories, departments and channel instead of being
        forced into the local tables."""
        extra = self.catalog_extra
        if not extra:
            return base
        try:
            cat = Catalog(
                categories={**base.categories, **{c["code"]: Category(**c) for c in extra.get("categories", [])}},
                departments={**base.departments, **{d["code"]: Department(**d) for d in extra.get("departments", [])}},
                channels={**base.channels, **{c["code"]: Channel(**c) for c in extra.get("channels", [])}},
            )
            cat._check()
        except (TypeError, KeyError, ValueError) as e:
            raise MappingError(f"{self.path}: catalog section: {e}") from e
        return cat

    def check(self, catalog: Catalog) -> None:
        """Every value a map produces must be a known channel, category or department code."""
        known = {"channel": set(catalog.channels), "category": set(catalog.categories),
                 "dept": set(catalog.departments)}
        for target, rule in self.fields.items():
            if target not in known:
                continue
            produced = set(self.values[rule.map].values()) if rule.map else set()
            for v in (rule.value, rule.default):
                if v is not None:
                    produced.add(v)
            bad = sorted(str(v) for v in produced - known[target] if not str(v).startswith("ROOM-"))
            if bad:
                raise MappingError(f"{self.path}: fields.{target} can produce unknown codes {bad}")

    # --- reading ------------------------------------------------------------------------------
    def read(self, source: str | Path, chunk_rows: int = 20_000) -> Iterator[pd.DataFrame]:
        """The export as DataFrames of strings, a chunk at a time (gzip etc. by file name)."""
        source = Path(source)
        fmt = _guess_format(source) if self.format == "auto" else self.format
        if fmt == "csv":
            yield from self._csv(source, chunk_rows)
        elif fmt == "jsonl":
            yield from _json_lines(source, chunk_rows)
        else:
            raise MappingError(f"{self.path}: format must be csv or jsonl, got {self.format!r}")

    def _csv(self, source: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """CSV with pandas' fast reader; on a malformed line, the rest of the file is read with
        the tolerant one, and each malformed line becomes a rejection (dead-lettered)."""
        opts = {"dtype": str, "keep_default_na": False, "na_values": [""], **self.csv_options}
        done = 0
        try:
            for df in pd.read_csv(source, chunksize=chunk_rows, **opts):
                done += len(df)
                yield df
            return
        except pd.errors.ParserError as e:
            log.warning("%s: malformed CSV (%s); reading on with the tolerant parser", source, e)
        bad: list[str] = []

        def keep(fields: list[str]) -> None:
            bad.append(",".join(fields))
            return None

        for df in pd.read_csv(source, chunksize=chunk_rows, engine="python", on_bad_lines=keep,
                              skiprows=range(1, done + 1), **opts):
            yield df
            if bad:
                yield pd.DataFrame({_RAW: bad})
                bad = []
        if bad:
            yield pd.DataFrame({_RAW: bad})

    # --- mapping --------------------------------------------------------------------------------
    def items(self, df: pd.DataFrame) -> list[Any]:
        """The rows of one chunk as ingest items: reports, then the updates they imply (and a
        ``Rejection`` for each line that was not a JSON object: dead-lettered by ingest)."""
        undecodable: list[Any] = []
        if _RAW in df.columns:  # JSON lines that were not JSON objects
            bad = df[_RAW].notna()
            undecodable = [Rejection(0, Reason.INVALID_JSON if isinstance(raw, bytes) else Reason.INVALID_FIELD,
                                     "not a JSON object" if isinstance(raw, bytes) else "malformed CSV line", raw)
                           for raw in df.loc[bad, _RAW]]
            df = df[~bad].drop(columns=[_RAW])
            if df.empty:
                return undecodable
        missing = sorted({c for r in self.fields.values() for c in r.columns()} - set(df.columns))
        if missing:
            raise MappingError(f"{self.path}: the file has no column(s) {missing}; it has {list(df.columns)}")
        n = len(df)
        cols: dict[str, Any] = {}
        for target, rule in self.fields.items():
            cols[target] = self._column(df, target, rule)
        if "crs" not in cols:
            cols["crs"] = np.full(n, self.crs, dtype=object)
        reports = pd.DataFrame(cols, index=df.index)
        records = reports.to_dict("records")
        attrs_cols = [c for c in self.attrs if c in df.columns]
        attrs = df[attrs_cols].to_dict("records") if attrs_cols else None
        out: list[dict[str, Any]] = []
        for i, rec in enumerate(records):
            item = _clean(rec)
            reporter = {k[9:]: item.pop(k) for k in ("reporter.name", "reporter.phone", "reporter.id_number")
                        if k in item}
            if reporter:
                item["reporter"] = reporter
            if attrs is not None:
                a = _clean(attrs[i])
                if a:
                    item["attrs"] = a
            out.append(item)
        out.extend(self._updates(df, reports))
        return out + undecodable

    def _column(self, df: pd.DataFrame, target: str, rule: FieldRule) -> Any:
        if rule.value is not None:
            return np.full(len(df), rule.value, dtype=object)
        if rule.template is not None:
            names = rule.columns()
            parts = df[names].fillna("")
            col = pd.Series([rule.template.format(**row) for row in parts.to_dict("records")], index=df.index)
        else:
            col = df[rule.column]
        if target in TIME_TARGETS:
            return self.times(col)
        if rule.map:
            table = self.values[rule.map]
            mapped = col.map(table)
            if rule.default is not None:
                col = mapped.where(mapped.notna(), rule.default)
            else:  # unmapped values pass through (an unknown category is kept and flagged)
                col = mapped.where(mapped.notna(), col)
        elif rule.default is not None:
            col = col.where(col.notna() & (col != ""), rule.default)
        return col.astype(object).where(col.notna(), None).to_numpy()

    def times(self, col: pd.Series) -> np.ndarray:
        """Epoch ms (or None) from the export's times: epoch numbers (ms, or s below 1e11) or
        text in ``time_format`` (default: any ISO-like text), zone-less text in the mapping's zone."""
        out = pd.Series(None, index=col.index, dtype=object)
        num = pd.to_numeric(col, errors="coerce")
        is_num = num.notna()
        if is_num.any():
            n = num[is_num].astype("float64")
            out[is_num] = np.where(n.abs() < 1e11, n * 1000, n).astype("int64").tolist()
        text = col[~is_num & col.notna()]
        if len(text):
            ts = pd.to_datetime(text, format=self.time_format or "mixed", errors="coerce")
            if ts.dt.tz is None:
                ts = ts.dt.tz_localize(self.timezone, ambiguous="NaT", nonexistent="shift_forward")
            ok = ts.notna()
            ms = ts[ok].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64")
            out[ok[ok].index] = ms.tolist()
        return out.to_numpy()

    def _updates(self, df: pd.DataFrame, reports: pd.DataFrame) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rule in self.updates:
            mask = pd.Series(True, index=df.index)
            for col, allowed in rule.when.items():
                mask &= df[col].isin(allowed) if col in df.columns else False
            at = pd.Series(None, index=df.index, dtype=object)
            for col in rule.at:
                if col in df.columns:
                    t = pd.Series(self.times(df[col]), index=df.index)
                    at = at.where(at.notna(), t)
            mask &= at.notna()
            for idx in np.flatnonzero(mask.to_numpy()):
                row = reports.iloc[idx]
                when = int(at.iloc[idx])
                out.append({"kind": rule.kind, "channel": row["channel"], "source_id": row["source_id"],
                            "at": when, "update_id": f"{rule.kind}@{when}", **rule.data})
        return out


def _json_lines(source: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """JSON lines as DataFrames, values as given (no type or date guessing); blank lines skipped."""
    import gzip

    opener = gzip.open if source.suffix == ".gz" else open
    rows: list[dict[str, Any]] = []
    with opener(source, "rb") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    obj = {_RAW: line}  # becomes a rejection in items(): dead-lettered, not fatal
                rows.append(obj if isinstance(obj, dict) else {_RAW: line})
            if len(rows) >= chunk_rows:
                yield pd.DataFrame.from_records(rows)
                rows = []
    if rows:
        yield pd.DataFrame.from_records(rows)


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    return "jsonl" if ".jsonl" in name or ".ndjson" in name else "csv"


def _clean(rec: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values (None, NaN, '')."""
    return {k: v for k, v in rec.items() if v is not None and v == v and v != ""}
