"""Heat counters in Redis: one small hash per day, queried for any window and zoom.

Why this layout: the dashboard asks things like "fire-safety reports of the last 7 days at
resolution 8" many times a minute; scanning raw events for that does not scale. The
supervision worker adds 1 to a counter per accepted event, in a per-day hash whose field is
``cell|category|channel|level|dept`` (cell = H3 index at the base resolution, as 15 hex
digits). A district has ~1,200 events a day, so a day is one hash of ~1,000 fields plus ``_n`` (the
day's total, which doubles as its version).

Reading 30 such hashes costs ~70k bulk strings, ~80 ms in redis-py's pure-Python parser: too
slow for a dashboard asked "last 30 days at resolution 8". So a query keeps a *pack* of each
day it reads — the day's counters as three numpy arrays and a suffix table in one string,
``{ns}:heat:<day>:pack``, labelled with the ``_n`` it was built from. A query pipelines
``HGET _n`` + ``GET pack`` per day, uses the packs whose label matches and re-reads and
re-packs only the days that changed (usually today). Those are read by a two-line script that
returns each hash as one string (one bulk string per day instead of two per counter; plain
HGETALL where scripting is unavailable). Filtering is per distinct suffix
``category|channel|level|dept`` (a few hundred), the roll-up is bit arithmetic in
``geo.heat``. Packs are derived data: stale ones are detected and replaced, and a rebuild
deletes them with the hashes (``{ns}:heat:*``).

Rebuildable from the log: the counters are a read model; replaying the event log through
``record_heat`` gives the same numbers. This module never imports ``redis``: callers pass a
client or pipeline (``feeds.store`` owns the connection).
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from feeds.keys import Keys
from geo.heat import HeatLayer, rollup_counts, smooth_k_ring
from geo.index import DEFAULT_RES

__all__ = [
    "BASE_RES",
    "DAY_TOTAL_FIELD",
    "HeatQueryResult",
    "days_between",
    "heat_day_key",
    "heat_field",
    "heat_pack_key",
    "pack_heat_days",
    "parse_heat_field",
    "query_heat",
    "record_heat",
    "record_heat_many",
]

BASE_RES = DEFAULT_RES  # resolution of the cells in the counters
DAY_TOTAL_FIELD = "_n"  # events recorded that day: the day's version for packs
_PACK_MAGIC = 0x4845415450414B31  # "HEATPAK1"
_SEP = "|"
_CELL_HEX = 15  # every valid H3 cell is 15 hex digits


def heat_day_key(prefix: str | Keys, day: str) -> str:
    """Key of one day's heat hash. Mirrors ``feeds.keys.Keys.heat_day`` (``{ns}:heat:<day>``).

    Pass a ``Keys`` to use its ``heat_day`` directly, or its ``prefix`` string.
    """
    if isinstance(prefix, Keys):
        return prefix.heat_day(day)
    return f"{prefix}:heat:{day}"


def heat_pack_key(prefix: str | Keys, day: str) -> str:
    """Key of a day's pack (derived from the day's hash; under ``{ns}:heat:*`` like the hash)."""
    return f"{heat_day_key(prefix, day)}:pack"


def _check_part(name: str, value: str) -> str:
    if _SEP in value or "\n" in value:
        raise ValueError(f"heat counter {name} must not contain '{_SEP}' or a newline: {value!r}")
    return value


def heat_field(cell: int, category: str, channel: str, level: int | str, dept: str) -> str:
    """Field name of a counter: ``<cell hex>|<category>|<channel>|<level>|<dept>``."""
    hex_cell = format(int(cell), "x")
    if len(hex_cell) != _CELL_HEX:
        raise ValueError(f"not an H3 cell: {cell}")
    return _SEP.join((hex_cell, _check_part("category", str(category)), _check_part("channel", str(channel)),
                      _check_part("level", str(level)), _check_part("dept", str(dept))))


def parse_heat_field(field: str | bytes) -> tuple[int, str, str, str, str]:
    """(cell, category, channel, level, dept) of a field name."""
    text = field.decode() if isinstance(field, bytes) else field
    cell, category, channel, level, dept = text.split(_SEP)
    return int(cell, 16), category, channel, level, dept


def record_heat(
    pipe: Any, keys_prefix: str | Keys, day: str, cell: int, category: str, channel: str, level: int | str,
    dept: str, n: int = 1,
) -> None:
    """Add ``n`` to one counter (an HINCRBY on the client or pipeline given).

    ``day`` is the event's local day 'YYYYMMDD'; ``cell`` its H3 cell at ``BASE_RES``. An event
    without a cell (no location) has no heat: call nothing for it.
    """
    key = heat_day_key(keys_prefix, day)
    pipe.hincrby(key, heat_field(cell, category, channel, level, dept), int(n))
    pipe.hincrby(key, DAY_TOTAL_FIELD, int(n))  # after the counter: a pack labelled n holds >= n events


def record_heat_many(
    pipe: Any, keys_prefix: str | Keys, days: Iterable[str], cells: Iterable[int], categories: Iterable[str],
    channels: Iterable[str], levels: Iterable[int | str], depts: Iterable[str],
) -> int:
    """Count a batch of events (one row each), merging equal counters first; returns HINCRBYs sent.

    For rebuilds from the log and backfills: a day's 1,200 events become ~1,000 commands.
    Rows whose cell is 0 (no location) are skipped.
    """
    merged: Counter[tuple[str, str]] = Counter()
    totals: Counter[str] = Counter()
    for day, cell, cat, chan, lvl, dept in zip(days, cells, categories, channels, levels, depts, strict=True):
        if int(cell) > 0:
            merged[(day, heat_field(cell, cat, chan, lvl, dept))] += 1
            totals[day] += 1
    for (day, field), n in merged.items():
        pipe.hincrby(heat_day_key(keys_prefix, day), field, n)
    for day, n in totals.items():
        pipe.hincrby(heat_day_key(keys_prefix, day), DAY_TOTAL_FIELD, n)
    return len(merged) + len(totals)


def _as_date(day: str | date) -> date:
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    return datetime.strptime(day, "%Y%m%d").date()


def days_between(start_day: str | date, end_day: str | date) -> list[str]:
    """Days 'YYYYMMDD' from start to end, both included."""
    start, end = _as_date(start_day), _as_date(end_day)
    if end < start:
        raise ValueError(f"end day {end:%Y%m%d} is before start day {start:%Y%m%d}")
    return [(start + timedelta(days=i)).strftime("%Y%m%d") for i in range((end - start).days + 1)]


@dataclass(frozen=True)
class HeatQueryResult:
    """A heat layer for a window and filter: cells at ``res`` (sorted) and their values."""

    res: int
    cells: np.ndarray
    values: np.ndarray
    days: tuple[str, ...]
    n_events: int  # matching events before smoothing

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.cells.tolist(), self.values.tolist(), strict=True))

    def layer(self) -> HeatLayer:
        return HeatLayer(res=self.res, cells=self.cells, values=self.values)


def _wanted(value: str | int | Collection[str | int] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return frozenset({str(value)})
    return frozenset(str(v) for v in value)


def query_heat(
    client: Any, keys_prefix: str | Keys, start_day: str | date, end_day: str | date, res: int,
    category: str | Collection[str] | None = None, dept: str | Collection[str] | None = None,
    channel: str | Collection[str] | None = None, level: int | str | Collection[int | str] | None = None,
    k_smooth: int = 0, write_back: bool = True,
) -> HeatQueryResult:
    """Heat for days start..end (inclusive) at resolution ``res`` (≤ BASE_RES), filtered.

    Each filter is None (all), one value, or a collection of values. Round trips: one for
    the days' totals and packs, one more (HGETALL, then SET of fresh packs when
    ``write_back``) only for days whose pack is missing or stale.
    """
    if not 0 <= res <= BASE_RES:
        raise ValueError(f"heat is kept at resolution {BASE_RES}; ask for 0..{BASE_RES}, got {res}")
    days = days_between(start_day, end_day)
    packs = _read_day_packs(client, keys_prefix, days, write_back)
    filters = (_wanted(category), _wanted(channel), _wanted(level), _wanted(dept))
    unfiltered = all(f is None for f in filters)
    verdict: dict[bytes, bool] = {}
    cells_parts, count_parts = [], []
    for pack in packs:
        if pack is None:
            continue
        cells, counts, suffix_idx, suffixes = pack
        if unfiltered:
            cells_parts.append(cells)
            count_parts.append(counts)
            continue
        for sfx in set(suffixes).difference(verdict):  # each distinct suffix is judged once per query
            verdict[sfx] = _suffix_matches(sfx, filters)
        ok = np.fromiter(map(verdict.__getitem__, suffixes), dtype=bool, count=len(suffixes))
        if ok.all():
            cells_parts.append(cells)
            count_parts.append(counts)
        elif ok.any():
            sel = ok[suffix_idx]
            cells_parts.append(cells[sel])
            count_parts.append(counts[sel])
    cells = np.concatenate(cells_parts) if cells_parts else np.zeros(0, dtype=np.uint64)
    counts = np.concatenate(count_parts) if count_parts else np.zeros(0, dtype=np.int64)
    layer = rollup_counts(cells, counts, res)
    if k_smooth:
        layer = smooth_k_ring(layer, k_smooth)
    return HeatQueryResult(res=layer.res, cells=layer.cells, values=layer.values, days=tuple(days),
                           n_events=int(counts.sum()))


_Pack = tuple[np.ndarray, np.ndarray, np.ndarray, list[bytes]]


def _read_day_packs(client: Any, keys_prefix: str | Keys, days: list[str], write_back: bool) -> list[_Pack | None]:
    """Each day's counters as arrays: from its pack when current, else from the hash (re-packed).

    A client that decodes replies to str cannot read binary packs: it reads the hashes only.
    """
    use_packs = not _decodes_responses(client)
    write_back = write_back and use_packs
    pipe = client.pipeline(transaction=False)
    for day in days:
        pipe.hget(heat_day_key(keys_prefix, day), DAY_TOTAL_FIELD)
        if use_packs:
            pipe.get(heat_pack_key(keys_prefix, day))
    replies = pipe.execute()
    step = 2 if use_packs else 1
    out: list[_Pack | None] = [None] * len(days)
    stale: list[tuple[int, int]] = []
    for i in range(len(days)):
        version = int(replies[step * i] or 0)
        if version == 0:
            continue  # no event that day
        blob = replies[step * i + 1] if use_packs else None
        pack = _unpack(blob, version) if blob else None
        if pack is None:
            stale.append((i, version))
        else:
            out[i] = pack
    if stale:
        hashes = _read_hashes(client, [heat_day_key(keys_prefix, days[i]) for i, _ in stale])
        writes = client.pipeline(transaction=False) if write_back else None
        for (i, version), (fields, values) in zip(stale, hashes, strict=True):
            blob = _pack_from_fields(fields, values, version)
            out[i] = _unpack(blob, version)
            if writes is not None:
                writes.set(heat_pack_key(keys_prefix, days[i]), blob)
        if writes is not None:
            writes.execute()
    return out


# Returns each hash as one string "field\nvalue\nfield\nvalue...": one bulk string per day
# instead of two per counter, which is what makes reading a day cheap for redis-py's parser
# (30 days: ~18 ms instead of ~80 ms). Fields never contain a newline (``heat_field``).
_HASH_BLOB_LUA = """
local out = {}
for i = 1, #KEYS do
  out[i] = table.concat(redis.call('HGETALL', KEYS[i]), '\\n')
end
return out
"""


def _read_hashes(client: Any, keys: list[str]) -> list[tuple[list[bytes], list[bytes]]]:
    """(fields, values) of each hash: one script call, or HGETALLs where scripting is unavailable."""
    try:
        blobs = client.register_script(_HASH_BLOB_LUA)(keys=keys)
    except Exception:  # noqa: BLE001 - no scripting (disabled, proxy): plain reads give the same data
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        out = []
        for reply in pipe.execute():
            fields = [k.encode() if isinstance(k, str) else k for k in reply]
            values = [v.encode() if isinstance(v, str) else v for v in reply.values()]
            out.append((fields, values))
        return out
    out = []
    for blob in blobs:
        items = (blob.encode() if isinstance(blob, str) else blob).split(b"\n") if blob else []
        out.append((items[0::2], items[1::2]))
    return out


def _decodes_responses(client: Any) -> bool:
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    return bool(kwargs.get("decode_responses", False))


def _pack_from_fields(fields: list[bytes], values: list[bytes], version: int) -> bytes:
    """One day's counters → pack bytes: header, cells u64, counts i64, suffix index i32, suffixes.

    The per-field work is done by C-level ``map``/``join`` calls, not a Python loop body.
    """
    keys, vals = list(fields), list(values)
    total = DAY_TOTAL_FIELD.encode()
    if total in keys:
        i = keys.index(total)
        del keys[i], vals[i]
    if not all(map(b"|".__eq__, map(_SEPARATOR_PART, keys))):  # foreign fields: keep only counters
        pairs = [(k, v) for k, v in zip(keys, vals, strict=True) if k[_CELL_HEX:_CELL_HEX + 1] == b"|"]
        keys, vals = [k for k, _ in pairs], [v for _, v in pairs]
    n = len(keys)
    cells = _hex_to_cells(list(map(_CELL_PART, keys)))
    counts = np.fromiter(map(int, vals), dtype=np.int64, count=n)
    suffixes = list(map(_SUFFIX_PART, keys))
    table = {s: i for i, s in enumerate(dict.fromkeys(suffixes))}
    suffix_idx = np.fromiter(map(table.__getitem__, suffixes), dtype=np.int32, count=n)
    suffix_blob = b"\n".join(table)
    header = np.array([_PACK_MAGIC, version, n, len(table)], dtype=np.int64).tobytes()
    return header + cells.tobytes() + counts.tobytes() + suffix_idx.tobytes() + suffix_blob


def _unpack(blob: bytes, version: int) -> _Pack | None:
    """Arrays of a pack (zero-copy views), or None if it is not a pack of this version."""
    if len(blob) < 32:
        return None
    magic, packed_version, n, n_suffix = np.frombuffer(blob, dtype=np.int64, count=4)
    if magic != _PACK_MAGIC or packed_version != version:
        return None
    n = int(n)
    o = 32
    cells = np.frombuffer(blob, dtype=np.uint64, count=n, offset=o)
    counts = np.frombuffer(blob, dtype=np.int64, count=n, offset=o + 8 * n)
    suffix_idx = np.frombuffer(blob, dtype=np.int32, count=n, offset=o + 16 * n)
    tail = blob[o + 20 * n:]
    suffixes = tail.split(b"\n") if n_suffix else []
    return cells, counts, suffix_idx, suffixes


def pack_heat_days(client: Any, keys_prefix: str | Keys, start_day: str | date, end_day: str | date) -> int:
    """Build or refresh the packs of a range of days (e.g. nightly, or after a rebuild); returns days read."""
    days = days_between(start_day, end_day)
    return sum(p is not None for p in _read_day_packs(client, keys_prefix, days, write_back=True))


def _suffix_matches(suffix: bytes, filters: tuple[frozenset[str] | None, ...]) -> bool:
    parts = suffix.decode().split(_SEP)
    if len(parts) != 4:
        return False  # not a counter field (foreign data in the hash): ignore it
    return all(f is None or p in f for p, f in zip(parts, filters, strict=True))


_CELL_PART = operator.itemgetter(slice(0, _CELL_HEX))
_SUFFIX_PART = operator.itemgetter(slice(_CELL_HEX + 1, None))
_SEPARATOR_PART = operator.itemgetter(slice(_CELL_HEX, _CELL_HEX + 1))
_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10)
_HEX_VALUE[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16)
_HEX_VALUE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16)
_NIBBLE_SHIFT = np.arange(4 * (_CELL_HEX - 1), -1, -4, dtype=np.uint64)


def _hex_to_cells(parts: list[bytes]) -> np.ndarray:
    """15-digit hex cell ids → uint64, vectorised (one join, one table lookup, one reduction)."""
    if not parts:
        return np.zeros(0, dtype=np.uint64)
    digits = _HEX_VALUE[np.frombuffer(b"".join(parts), dtype=np.uint8)].reshape(len(parts), _CELL_HEX)
    if (digits == 255).any():
        raise ValueError("malformed cell in heat counters")
    return np.bitwise_or.reduce(digits.astype(np.uint64) << _NIBBLE_SHIFT, axis=1)
