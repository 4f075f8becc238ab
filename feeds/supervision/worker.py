"""The supervision worker: consumer-group loop, deadline scan, deltas, rebuild.

One batch = one XREADGROUP (up to ``batch_size`` entries), one WATCH over the batch's case
keys, one MGET of their states, pure transitions in Python, and one MULTI/EXEC that writes
every read-model diff (grouped per key: see ``readmodels.Writes``), the dead letters, the
deltas (a Lua publish at the end of the transaction) and the XACK. Applied ⇔ acknowledged, so a worker killed anywhere leaves either
nothing or everything of a batch; the entries of an unfinished batch stay pending and are read
again (own pending on restart, XAUTOCLAIM from a dead consumer). Several workers may share the
group: a conflicting write to the same case aborts one EXEC (WATCH), which retries on fresh
state, so an alert — which lives inside its case — is created exactly once.

The deadline scan reads only the due slice ``ZRANGEBYSCORE deadlines -inf now`` (one member per
case, scored by its next timer) and advances those cases to ``now`` the same way.

Time is a parameter (:class:`SystemClock`, :class:`ManualClock`). The scan's ``now``:
- never beyond the *group frontier*: the event time just before the oldest log entry that no
  worker of the group has applied yet (pending in any consumer, or not delivered). While
  catching up that is the log's event-time watermark, so a backfill never looks overdue
  before its closures are read, and with several workers no scan runs ahead of an entry
  another worker is still applying;
- caught up on a live log: the wall clock;
- caught up on a replayed/backfilled log (its latest entry was appended long after it
  happened): the watermark plus the wall time elapsed since that entry was appended.
The history horizon (see ``alerts``) compares an alert's trigger time with the append time of
its case's latest entry (stream ids carry it), so it depends only on the log: a rebuild
classifies exactly as the live run did.
"""

from __future__ import annotations

import functools
import gc
import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson

from feeds.catalog import Catalog
from feeds.clock import Clock, SystemClock
from feeds.heat_counters import pack_heat_days, record_heat_many
from feeds.keys import Keys
from feeds.model import LogEntry, decode_entry, entry_head
from feeds.settings import Settings
from feeds.supervision import alerts as al
from feeds.supervision import lifecycle as lc
from feeds.supervision.readmodels import Projection, Writes, project, write_diff
from feeds.supervision.routing import GridLookup
from feeds.supervision.statecodec import StateCodec, shipped_codec
from feeds.supervision.wire import LogEntries, LogEntriesReader, read_replies

try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # the plain-Python encoder gives the same bytes
    _hiredis_pack = None

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Cases whose last written state and projection are kept (~11 kB each, deep size): at least this
# many; twice the batch size up to PROJECTION_CACHE_CAP (batches of 5,000 with a cache no larger:
# the next batch found too few, full bench log 72.8 -> 67.5 µs per transition); beyond the cap, one
# batch's worth (batches of 10,000 ran as fast with 10,000 cached as with 20,000: 14,843 / 14,838
# transitions/s, median of three, 2026-12-04).
PROJECTION_CACHE = 5_000
PROJECTION_CACHE_CAP = 10_000


def cache_size(batch_size: int) -> int:
    """How many committed cases the worker keeps (see PROJECTION_CACHE)."""
    return max(PROJECTION_CACHE, batch_size, min(2 * batch_size, PROJECTION_CACHE_CAP))

REPLAY_LAG_MS = 60_000  # an entry appended this long after it happened is history being replayed
KPI_TICK_MS = 10_000
CASE_DELTAS_PER_BATCH = 200  # more changed cases than this in one batch: one "cases" summary instead
GC_HOLD_BATCHES = 50  # catching up: the cyclic collector runs once per this many full batches
HEAT_PACK_DAYS = 31  # when the day rolls over, the heat packs of the month before are built or refreshed

# Deltas and backlog counts, published inside the batch's MULTI so they go out iff it commits.
# KEYS: 1 delta_seq, then (open, near, due) per backlog; ARGV: channel, now, n_msgs, msgs..., (scope, code)...
_PUBLISH_LUA = """
local channel, now, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local nb = (#KEYS - 1) / 3
local total = n + nb
if total == 0 then return 0 end
local s = redis.call('INCRBY', KEYS[1], total) - total
for i = 1, n do
  redis.call('PUBLISH', channel, '{"seq":' .. (s + i) .. ',' .. ARGV[3 + i])
end
for j = 1, nb do
  local ko, kn, kd = KEYS[2 + (j - 1) * 3], KEYS[3 + (j - 1) * 3], KEYS[4 + (j - 1) * 3]
  local open = redis.call('ZCARD', ko)
  local near = redis.call('ZCOUNT', kn, '-inf', now)
  local due = redis.call('ZCOUNT', kd, '-inf', now)
  local first = redis.call('ZRANGE', ko, 0, 0, 'WITHSCORES')
  local age = 0
  if first[2] then age = math.floor((now - tonumber(first[2])) / 1000) end
  local nd = near - due
  if nd < 0 then nd = 0 end
  local ontrack = open - due - nd
  if ontrack < 0 then ontrack = 0 end
  redis.call('PUBLISH', channel, '{"seq":' .. (s + n + j) .. ',"type":"backlog","scope":"' ..
    ARGV[3 + n + (j - 1) * 2 + 1] .. '","code":"' .. ARGV[3 + n + (j - 1) * 2 + 2] ..
    '","counts":{"open":' .. open .. ',"on_track":' .. ontrack .. ',"near_due":' .. nd ..
    ',"overdue":' .. due .. ',"oldest_age_s":' .. age .. '}}')
end
return total
"""

# Write-once: each dead letter or system audit line once per mark, even across rebuilds.
# KEYS: 1 marks hash, 2 stream; ARGV[1]: JSON [[mark, field, value, field, value, ...], ...]
_ONCE_LUA = """
local items = cjson.decode(ARGV[1])
local n = 0
for i = 1, #items do
  local it = items[i]
  if redis.call('HSETNX', KEYS[1], it[1], 1) == 1 then
    redis.call('XADD', KEYS[2], '*', unpack(it, 2))
    n = n + 1
  end
end
return n
"""


def _collector_paused(method: Callable[..., _T]) -> Callable[..., _T]:
    """Run ``method`` with Python's cyclic garbage collector held off (reading, applying, scanning a batch).

    A batch allocates tens of container objects per entry (decoded entries, states, projections,
    grouped writes); the collector, triggered every 700 new containers, kept traversing them and
    every cached state: ~20 % of the worker's CPU on the benchmark. Case states and projections
    are trees (no reference cycles), so reference counting frees them as before; the collector
    runs as usual again once the method returns. Nested, or switched off by the application:
    left as it is.
    """

    @functools.wraps(method)
    def paused(*args: Any, **kwargs: Any) -> _T:
        if not gc.isenabled():
            return method(*args, **kwargs)
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            gc.enable()

    return paused


def append_ms(entry_id: str) -> int:
    """When an entry was appended: the ms part of its stream id."""
    return int(entry_id.split("-", 1)[0])


@dataclass
class Stats:
    entries: int = 0
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    dead: int = 0
    alerts: int = 0
    scanned: int = 0
    retries: int = 0
    batches: int = 0

    def add(self, other: Stats) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass(slots=True)
class _Committed:
    """A case as this worker last committed it: the projection written and the state dict behind it.

    The next batch touching the case reuses both when the stored bytes are still these
    (``projection.state``): no JSON decode, no projection of the old state.
    """

    projection: Projection
    state: dict | None


@dataclass
class _Batch:
    """What one transaction writes besides the projections."""

    dead: list[tuple[str, LogEntry]] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    vetoes: list[LogEntry] = field(default_factory=list)
    alert_events: list[tuple[str, str, int]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


class Worker:
    """``Worker(store_or_client, keys, settings, catalog, grid_lookup, clock).run(stop_event)``."""

    def __init__(self, store_or_client: Any, keys: Keys | None = None, settings: Settings | None = None,
                 catalog: Catalog | None = None, grid_lookup: GridLookup | None = None,
                 clock: Clock | None = None, *, consumer: str | None = None, batch_size: int = 500,
                 rules: lc.Rules | None = None, publish: bool = True, codec: StateCodec | None = None) -> None:
        store = store_or_client if hasattr(store_or_client, "keys") and hasattr(store_or_client, "settings") else None
        self.client = store.client if store is not None else store_or_client
        self.settings = settings or (store.settings if store is not None else Settings())
        self.keys = keys or (store.keys if store is not None else Keys(self.settings.namespace))
        self.catalog = catalog or Catalog.load(Path(self.settings.config_dir))
        self.rules = rules or lc.Rules.load(Path(self.settings.config_dir), self.catalog, self.settings.namespace,
                                            grid_lookup, tz=self.settings.timezone)
        self.clock: Clock = clock or SystemClock()
        self.codec = codec or shipped_codec()  # how case states are stored (statecodec)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident() % 100000}"
        self.batch_size = batch_size
        self.publish = publish
        self.tz = ZoneInfo(self.settings.timezone)
        self.stats = Stats()
        self._pending_first = True
        self._scan_owed = False  # the last batch was full: the next one starts with the deadline scan
        self._behind = False
        self._watermark = 0
        self._last_append = 0
        self._lag = 0
        self._last_claim = 0
        self._last_kpi = 0
        self._kpi_dirty = False
        self._group_ready = False
        self._logged_fallback: set[str] = set()
        self._meta_loaded = False
        self._last_seen = "$"
        self._cache: dict[str, _Committed] = {}  # cases this worker last wrote, oldest first
        self.prefetch = True  # catching up: read the next batch while this one commits (``_start_prefetch``)
        self._prefetch: _Prefetch | None = None
        self._prefetch_wanted = False  # set by run_once for a full batch; sent by _transact
        self._prefetched: list[tuple[Any, dict]] = []
        self._predecoded: tuple[list, tuple[list[str], list[LogEntry], _Batch]] | None = None
        self._while_committing: Callable[[], None] | None = None
        self._gc_held = 0  # consecutive full batches the collector has been held off for
        self.heat_span: tuple[str, str] | None = None  # first and last day ('YYYYMMDD') this worker counted
        self._heat_day: date | None = None  # the local day the loop last saw (the packs follow its roll-over)

    # --- clock ---------------------------------------------------------------------------------
    def present(self) -> int:
        """The present as the log sees it: the wall clock, or the replayed history's own time."""
        wall = self.clock.wall()
        if self._lag > REPLAY_LAG_MS:
            return self._watermark + max(0, wall - self._last_append)
        return max(wall, self._watermark)

    def scan_time(self) -> int:
        """The ``now`` deadlines are judged at (see module doc)."""
        now = self.present()
        frontier = self.group_frontier() if self._group_ready else None
        self._behind = frontier is not None and frontier < now
        return min(now, frontier) if frontier is not None else now

    def group_frontier(self) -> int | None:
        """Event time just before the oldest entry the group has not applied (None: all applied)."""
        keys = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.xinfo_groups(keys.log)
        pipe.xpending(keys.log, keys.sv_group)
        groups, pending = pipe.execute()
        group = next((g for g in groups if _str(g["name"]) == keys.sv_group), None)
        if group is None:
            return None
        pipe = self.client.pipeline(transaction=False)
        if pending and pending.get("pending"):
            pipe.xrange(keys.log, min=pending["min"], max=pending["min"], count=1)
        pipe.xrange(keys.log, min="(" + _str(group["last-delivered-id"]), max="+", count=1)
        times = [entry_head(r[0][1])[3] for r in pipe.execute() if r and r[0][1]]
        return min(times) - 1 if times else None

    @property
    def clock_mode(self) -> str:
        return "catch-up" if self._behind else ("replay" if self._lag > REPLAY_LAG_MS else "wall")

    # --- consumer group ------------------------------------------------------------------------
    def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.keys.log, self.keys.sv_group, id="0", mkstream=True)
        except Exception as e:  # BUSYGROUP: it exists
            if "BUSYGROUP" not in str(e):
                raise
        self._load_meta()
        self._group_ready = True

    def _load_meta(self) -> None:
        if self._meta_loaded:
            return
        meta = self.client.hgetall(self.keys.sv_meta)
        get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in meta.items()}.get
        self._watermark = int(get("watermark") or 0)
        self._last_append = int(get("last_append") or 0)
        self._lag = int(get("lag") or 0)
        self._meta_loaded = True

    def _read(self, block_ms: int | None) -> list[tuple[Any, dict]]:
        if self._pending_first:  # our own entries delivered before a crash, not yet acknowledged
            entries = self._read_group("0")
            if entries:
                return entries
            self._pending_first = False
        entries = self._read_group(">")
        if entries or not block_ms:
            return entries
        # nothing new: wait (without taking anything) until the log grows, then read again
        resp = self.client.xread({self.keys.log: self._last_seen}, count=1, block=block_ms)
        if resp and resp[0][1]:  # remember it even if another worker of the group takes it
            self._last_seen = _str(resp[0][1][-1][0])
        return self._read_group(">")

    @_collector_paused
    def _read_group(self, start: str) -> list[tuple[Any, dict]]:
        """XREADGROUP of up to ``batch_size`` entries (``start``: '>' new, '0' this consumer's pending).

        Sent on a raw pooled connection and taken as the parser returns it: redis-py's reply
        callback would reshape every entry in Python. A plain reply, not the batch packed into one
        string by a server-side script: the script cost the server ~7 µs an entry, parsing the ~11
        bulk strings of an entry costs this process a few µs; the server, shared by every worker,
        the ingest and the screens, is the scarcer of the two.
        """
        return self._entries_of(self._call_raw(*self._read_group_cmd(start), reader=LogEntriesReader()))

    def _read_group_cmd(self, start: str) -> tuple:
        keys = self.keys
        return ("XREADGROUP", "GROUP", keys.sv_group, self.consumer, "COUNT", self.batch_size, "STREAMS", keys.log,
                start)

    def _entries_of(self, reply: Any) -> list[tuple[Any, dict]]:
        """The (id, fields) entries of an XREADGROUP reply (RESP3 map or RESP2 array)."""
        if not reply:
            return []
        if isinstance(reply, LogEntries):  # read as entries already (wire.LogEntriesReader)
            entries: list[tuple[Any, dict]] = reply
        else:
            batch = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
            entries = [(eid, dict(zip(f[0::2], f[1::2], strict=True))) for eid, f in batch if f]  # f None: deleted
        if entries:
            self._last_seen = _str(entries[-1][0])
        return entries

    def _call_raw(self, *args: Any, reader: Any = None) -> Any:
        """One command on a pooled connection; the reply as the protocol parser (or ``reader``,
        see ``wire.read_replies``) gives it."""
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([_resp([args])])
            reply = read_replies(conn, 1, reader)[0]
        except BaseException:
            conn.disconnect()  # unknown protocol position left behind: start clean
            raise
        finally:
            pool.release(conn)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _claim(self, min_idle_ms: int = 60_000) -> int:
        """Take over entries a dead consumer left pending; returns how many were processed."""
        done = 0
        cursor = "0-0"
        for _ in range(100):
            resp = self.client.xautoclaim(self.keys.log, self.keys.sv_group, self.consumer, min_idle_ms,
                                          start_id=cursor, count=self.batch_size)
            cursor, entries = resp[0], [e for e in resp[1] if e[1]]
            if entries:
                self.stats.add(self.process(entries))
                done += len(entries)
            if cursor in (b"0-0", "0-0"):
                break
        return done

    def run_once(self, block_ms: int | None = None) -> Stats:
        """Read and apply one batch, then scan the due deadlines; returns this round's stats.

        While catching up (the batch was full), the scan after a batch rides in the next batch's
        transaction instead (``process(scan_at=...)``): the same timers fire at the same instant,
        before that batch's entries are applied, and a batch costs one transaction (one fsync).
        """
        self.ensure_group()
        entries = self._take_prefetched() or self._read(block_ms)
        scan_at = self.scan_time() if entries and self._scan_owed else None
        full = len(entries) >= self.batch_size
        self._hold_collector(full)
        # read the next batch ahead, sent once this batch's own reads are answered (``_transact``)
        self._prefetch_wanted = full and not self._pending_first and self.prefetch
        try:
            st = self.process(entries, scan_at=scan_at) if entries else Stats()
        except BaseException:
            self._drop_prefetch()  # its entries stay pending for this consumer: read again with '0'
            self._pending_first = True
            self._release_collector()
            raise
        finally:
            self._prefetch_wanted = False
        self._scan_owed = full
        if not self._scan_owed:
            st.scanned += self.scan()
        self.stats.add(st)
        return st

    def _hold_collector(self, catching_up: bool) -> None:
        """Keep the cyclic collector off across consecutive full batches (a catch-up), at most
        ``GC_HOLD_BATCHES`` of them, instead of letting it run after each: between batches it
        traversed every state and projection the batch left (~4 µs a transition), most of which the
        next batches replace anyway. Case states hold no cycles; reference counting frees them.
        Back on at the first batch that is not full, or when held long enough (see
        :meth:`_release_collector` for what the catch-up left behind)."""
        if catching_up and self._gc_held < GC_HOLD_BATCHES:
            if self._gc_held or gc.isenabled():
                gc.disable()
                self._gc_held += 1
            return
        self._release_collector()

    def _release_collector(self) -> bool:
        """Collector back on; True if it had been held off.

        What the held stretch allocated and still holds — the cached states and projections, long
        lived — goes straight to the oldest generation (``gc.freeze()`` then ``gc.unfreeze()``: two
        list splices, no traversal) instead of being traversed by the young-generation collection
        the next allocation would start, then again by the middle one: that pass cost ~2–3 µs per
        transition of the stretch (40–60 ms after 18,000 transitions). Nothing is kept from the
        collector: a cycle among those objects (of this thread or another) is found by the next
        full collection, as any old object's would be.
        """
        if not self._gc_held:
            return False
        self._gc_held = 0
        if gc.get_freeze_count() == 0:  # someone else's frozen objects stay frozen: then the plain way
            gc.freeze()
            gc.unfreeze()
        gc.enable()
        return True

    # --- reading the next batch while this one commits ----------------------------------------
    def _start_prefetch(self) -> None:
        """Send the next batch's XREADGROUP now, on a second connection, without waiting.

        Sent once this batch's ``scan_time`` (so the group frontier is what it was), due slice and
        WATCH+MGET are answered (the server answers connections in turn: a 5,000-entry XREADGROUP
        sent before them made those small reads wait behind it, ~15 ms a batch), it runs on the
        server while this process applies the batch; its reply is parsed and decoded between
        sending this batch's EXEC and reading the EXEC's reply (``_transact``), i.e. while the
        server executes and fsyncs the transaction. Nothing about the next batch's cases is read
        early: its WATCH and MGET follow the EXEC on the same connection as before. The entries
        are pending for this consumer from now on, as if read at the next round.
        """
        self._prefetch = _Prefetch(self.client.connection_pool, _resp([self._read_group_cmd(">")]), LogEntriesReader())
        self._while_committing = self._collect_prefetch

    def _collect_prefetch(self) -> None:
        """Read and decode the prefetched batch (called while the EXEC before it is in flight)."""
        pre, self._prefetch = self._prefetch, None
        if pre is None:
            return
        entries = self._entries_of(pre.collect())
        self._prefetched = entries
        self._predecoded = (entries, self._decode_batch(entries)) if entries else None

    def _take_prefetched(self) -> list[tuple[Any, dict]]:
        """The prefetched batch, if any (collected now if the EXEC it was to overlap never came)."""
        self._while_committing = None
        if self._prefetch is not None:
            self._collect_prefetch()
        entries, self._prefetched = self._prefetched, []
        return entries

    def _drop_prefetch(self) -> None:
        self._while_committing = None
        self._prefetched, self._predecoded = [], None
        if self._prefetch is not None:
            self._prefetch.abandon()
            self._prefetch = None

    def drain(self, max_batches: int = 1_000_000) -> Stats:
        """Process until the log is consumed (tests, catch-up), then scan once more."""
        total = Stats()
        try:
            for _ in range(max_batches):
                st = self.run_once()
                total.add(st)
                if st.entries == 0:
                    break
        finally:
            self._release_collector()
        return total

    def run(self, stop_event: threading.Event, block_ms: int = 200, claim_every_ms: int = 30_000) -> None:
        """The loop of a worker thread or process; returns when ``stop_event`` is set."""
        backoff = 0.1
        while not stop_event.is_set():
            try:
                self.run_once(block_ms)
                wall = self.clock.wall()
                if wall - self._last_claim >= claim_every_ms:
                    self._last_claim = wall
                    self._claim()
                if self.publish and self._kpi_dirty and wall - self._last_kpi >= KPI_TICK_MS:
                    self.publish_kpi_tick()
                self._pack_heat_when_the_day_rolls_over(wall)
                backoff = 0.1
            except Exception as e:  # the server went away, a bug in one batch: log, back off, go on
                if stop_event.is_set():
                    break
                self._pending_first = True  # what this consumer was given and did not ack: read it again
                self._drop_prefetch()
                self._release_collector()
                log.exception("supervision worker: %s; retrying in %.1fs", e, backoff)
                stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    # --- heat packs ----------------------------------------------------------------------------
    def _pack_heat_when_the_day_rolls_over(self, wall: int) -> None:
        """Once a day, at the first loop after local midnight (wall clock), pack the heat counters of
        the ``HEAT_PACK_DAYS`` days before, so cold heat queries read packs, not hashes. Not at start:
        a restart does not redo the day's packing (queries pack what they miss anyway)."""
        today = datetime.fromtimestamp(wall / 1000, self.tz).date()
        previous, self._heat_day = self._heat_day, today
        if previous is not None and today != previous:
            self.pack_heat(today - timedelta(days=HEAT_PACK_DAYS), today - timedelta(days=1))

    def pack_heat(self, first_day: date | str, last_day: date | str) -> int:
        """Build or refresh the heat packs of these days (``feeds.heat_counters.pack_heat_days``);
        returns the days with counters. A failure is logged, never raised: packs are derived data."""
        try:
            n = pack_heat_days(self.client, self.keys, first_day, last_day)
        except Exception:  # noqa: BLE001 - the consumer loop must not stop for a cache
            log.exception("supervision worker: packing heat days %s..%s failed", first_day, last_day)
            return 0
        log.info("supervision worker: heat packs of %s..%s current (%d days with counters)", first_day, last_day, n)
        return n

    # --- applying entries ----------------------------------------------------------------------
    @_collector_paused
    def process(self, raw_entries: list[tuple[Any, dict]], ack: bool = True, scan_at: int | None = None) -> Stats:
        """Apply a batch of raw stream entries in one transaction (retried on a WATCH conflict).

        ``scan_at``: first advance, in the same transaction, the cases whose timers are due at that
        instant (the deadline scan that would otherwise be a transaction of its own before it).
        """
        st = Stats(entries=len(raw_entries), batches=1)
        pre, self._predecoded = self._predecoded, None
        ids, decoded, batch = pre[1] if pre is not None and pre[0] is raw_entries else self._decode_batch(raw_entries)
        for e in decoded:
            if e.at > self._watermark:
                self._watermark = e.at
        if ids:
            last = ids[-1]
            self._last_append = max(self._last_append, append_ms(last))
            last_at = decoded[-1].at if decoded else self._watermark
            self._lag = append_ms(last) - last_at
        now = self.present()  # for the SLA state in deltas only; timers fire at their own time
        due = self._due_cases_for_batch(scan_at, st) if scan_at is not None else []
        static_dead = list(batch.dead)
        for _attempt in range(20):
            batch.dead = list(static_dead)
            batch.reports, batch.alert_events, batch.logs = [], [], []
            if self._commit(decoded, now, batch, st, ids if ack else [], due, scan_at):
                break
            st.retries += 1
        else:
            raise RuntimeError("supervision: 20 WATCH conflicts in a row on one batch")
        return st

    def _decode_batch(self, raw_entries: list[tuple[Any, dict]]) -> tuple[list[str], list[LogEntry], _Batch]:
        """(entry ids, decoded case entries, a batch holding the dead letters and vetoes). Pure."""
        decoded: list[LogEntry] = []
        batch = _Batch()
        ids = []
        for entry_id, fields in raw_entries:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            ids.append(eid)
            try:
                e = _decode_fast(eid, fields) or decode_entry(eid, fields)
            except Exception as exc:  # not our wire format: keep it, never crash
                batch.dead.append((f"undecodable entry: {exc}", LogEntry(eid, "?", "", 0, 0, {"raw": repr(fields)[:2000]})))
                continue
            if e.kind == lc.CommandKind.ROOM_VETO:
                batch.vetoes.append(e)
            elif not e.case_id:
                batch.dead.append(("entry without a case id", e))
            else:
                decoded.append(e)
        return ids, decoded, batch

    def _due_cases_for_batch(self, scan_at: int, st: Stats, limit: int = 2000) -> list[str]:
        """Cases whose timers are due at ``scan_at``, to advance in the batch's transaction; more
        than ``limit`` (a long outage): scanned in transactions of their own first, none left."""
        due = self._due_cases(scan_at, limit)
        if len(due) < limit:
            return due
        st.scanned += self.scan(scan_at, limit)
        return []

    def _commit(self, entries: list[LogEntry], now: int, batch: _Batch, st: Stats, ack_ids: list[str],
                due: list[str], scan_at: int | None) -> bool:
        """Load, (scan,) apply, write, ack — atomically; False when another writer touched a case meanwhile."""
        keys = self.keys
        case_ids = list(dict.fromkeys([*due, *(e.case_id for e in entries)]))
        counts = {"applied": 0, "duplicates": 0, "parked": 0}

        def compute(states: dict[str, dict | None], old: dict[str, Projection], tx: _Queue) -> None:
            if scan_at is not None and due:
                self._fire_timers(states, due, scan_at, batch, counts)
            last = {e.case_id: i for i, e in enumerate(entries)}
            projected: dict[str, Projection] = {}
            for i, e in enumerate(entries):
                c = e.case_id
                tr = lc.apply(states.get(c), e, self.rules)
                states[c] = s = tr.state
                counts["applied"] += tr.applied
                for eff in tr.effects:
                    self._effect(eff, c, batch, counts)
                if last[c] == i:  # the case's final state in this batch, while it is still in the CPU's cache
                    projected[c] = self._project_changed(s, old[c])
            touched = self._write(tx, states, old, batch, now, projected)
            if due:
                self._forget_deleted(tx, states, due)
                tx.hset(keys.sv_meta, "last_scan", scan_at)
            if ack_ids:
                tx.xack(keys.log, keys.sv_group, *ack_ids)
            tx.hset(keys.sv_meta, mapping={"watermark": self._watermark, "last_append": self._last_append,
                                           "lag": self._lag, "last_id": ack_ids[-1] if ack_ids else "",
                                           "updated": self.clock.wall()})
            self._queue_publish(tx, states, old, batch, touched, now)

        if not self._transact(case_ids, compute):
            return False
        st.scanned += len(due)
        st.applied += counts["applied"]
        st.duplicates += counts["duplicates"]
        st.parked += counts["parked"]
        st.dead += len(batch.dead)
        st.alerts += sum(1 for ev in batch.alert_events if ev[0] == "raised")
        for msg in batch.logs:
            log.warning(msg)
        if batch.dead:
            for reason, e in batch.dead[:5]:
                log.info("dead letter %s (%s %s v%s): %s", e.id, e.kind, e.case_id, e.version, reason)
        self._kpi_dirty = self._kpi_dirty or bool(entries) or bool(batch.alert_events)
        return True

    def _transact(self, case_ids: list[str], compute: Callable[[dict, dict, _Queue], None]) -> bool:
        """WATCH + MGET the cases (one round trip), ``compute`` the writes, MULTI..EXEC them (one round
        trip); False when a watched case changed meanwhile (the caller retries on fresh state).

        On one raw connection: redis-py's Pipeline spends a round trip on WATCH and another on each
        read while watching, and a scan tick is mostly round trips.
        """
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            keys = [self.keys.case(c) for c in case_ids]
            raws: list = []
            if keys:
                conn.send_packed_command([_resp([("WATCH", *keys), ("MGET", *keys)])])
                raws = read_replies(conn, 2)[1]
            if self._prefetch_wanted:
                self._prefetch_wanted = False
                self._start_prefetch()
            states, old = self._decode(case_ids, raws)
            tx = _Queue()
            compute(states, old, tx)
            conn.send_packed_command([_resp([("MULTI",), *tx.cmds, ("EXEC",)])])
            overlap, self._while_committing = self._while_committing, None
            if overlap is not None:  # the next batch's reading, while the server commits this one
                overlap()
            replies = read_replies(conn, len(tx.cmds) + 2)  # OK, QUEUED..., the EXEC result
            for r in replies[:-1]:
                if isinstance(r, Exception):  # a command refused while queueing: EXEC aborts
                    raise r
            result = replies[-1]
        except BaseException:
            conn.disconnect()  # unknown protocol position (and WATCH) left behind: start clean
            raise
        finally:
            pool.release(conn)
        if result is None:
            return False
        for r in result:
            if isinstance(r, Exception):
                raise r
        self._remember(states)
        return True

    def _effect(self, eff: tuple, case_id: str, batch: _Batch, counts: dict) -> None:
        tag = eff[0]
        if tag == "alert":
            batch.alert_events.append((eff[1], eff[2], eff[3]))
        elif tag == "dead":
            batch.dead.append((eff[1], eff[2]))
        elif tag == "duplicate":
            counts["duplicates"] += 1
        elif tag == "parked":
            counts["parked"] += 1
        elif tag == "report":  # as at the report, whatever later entries of the batch changed
            batch.reports.append(eff[1])
        elif tag == "log" and case_id not in self._logged_fallback:
            if len(self._logged_fallback) > 100_000:
                self._logged_fallback.clear()
            self._logged_fallback.add(case_id)
            batch.logs.append(eff[1])

    def _decode(self, case_ids: list[str], raws: list) -> tuple[dict[str, dict | None], dict[str, Projection]]:
        states: dict[str, dict | None] = {}
        old: dict[str, Projection] = {}
        cache = self._cache
        for c, raw in zip(case_ids, raws, strict=True):
            hit = cache.pop(c, None)  # out of the cache while applying mutates it; back once committed
            if hit is not None and hit.projection.state == raw:
                states[c], old[c] = hit.state, hit.projection
            else:  # first sight, evicted, or written by another worker meanwhile
                s = self.codec.decode(raw)
                states[c], old[c] = s, project(s, self.keys, self.rules.policy, raw)
        return states, old

    def _remember(self, states: dict[str, dict | None]) -> None:
        """Keep the states and projections just committed for the next batch touching these cases.

        A plain dict in insertion order is the LRU: ``_decode`` took every case of the batch out,
        so putting it back puts it last; the oldest are evicted from the front."""
        cache = self._cache
        for c, p in self._new.items():
            cache.pop(c, None)  # normally gone already (``_decode``); then it goes to the end
            cache[c] = _Committed(p, states[c])
        excess = len(cache) - cache_size(self.batch_size)
        if excess > 0:
            for c in list(itertools.islice(cache, excess)):
                del cache[c]

    def _write(self, tx: Any, states: dict[str, dict | None], old: dict[str, Projection], batch: _Batch,
               now: int, projected: dict[str, Projection] | None = None) -> set[tuple[str, str]]:
        """Queue the batch's writes; ``projected``: final projections already made (``_commit``:
        right after a case's last entry of the batch, when encoding its state finds it in the
        CPU's cache — ~9 µs instead of ~12 for a 2.5 kB state at the end of a 5,000-entry batch)."""
        keys = self.keys
        w = Writes()
        self._new: dict[str, Projection] = {}
        pre = projected or {}
        for c, s in states.items():
            new = pre.get(c)
            if new is None:
                new = self._project_changed(s, old[c])
            self._new[c] = new
            write_diff(w, keys, c, old[c], new)
        self._count_reports(w, batch.reports)
        w.flush(tx)
        for e in batch.vetoes:
            self._veto(tx, e, batch)
        dead = [self._dead_letter(reason, e) for reason, e in batch.dead]
        if dead:
            tx.eval(_ONCE_LUA, 2, keys.sv_marks, keys.dead_letters, orjson.dumps(dead))
        audit = []
        for event, aid, at in batch.alert_events:
            if event in ("escalated", "reraised"):
                case = aid.rsplit(":", 2)[0]
                reason = ("auto: not acknowledged in time" if event == "escalated"
                          else "acknowledgement timed out, still overdue")
                audit.append([f"audit|{aid}|{event}|{at}", "c", case, "k", f"alert.{event}", "alert", aid,
                              "at", str(at), "actor", al.SYSTEM, "role", al.SYSTEM, "reason", reason])
        if audit:
            tx.eval(_ONCE_LUA, 2, keys.sv_marks, keys.audit, orjson.dumps(audit))
        return w.touched

    def _project_changed(self, state: dict | None, old: Projection) -> Projection:
        """The projection of ``state``; the old one itself when the state's bytes did not change
        (a duplicate, a timer that fired nothing): a projection is a pure function of the state."""
        if state is None:
            return project(None, self.keys, self.rules.policy)
        raw = self.codec.encode(state)
        return old if raw == old.state else project(state, self.keys, self.rules.policy, raw)

    def _count_reports(self, w: Writes, reports: list[dict]) -> None:
        """Counters a report adds once (heat, grid × category); the batch commits with its XACK."""
        counted = [s for s in reports if s["counted"]]
        if not counted:
            return
        days = [datetime.fromtimestamp(s["recv"] / 1000, self.tz) for s in counted]
        for s, d in zip(counted, days, strict=True):
            if s["grid"]:
                w.hincrby(self.keys.grid_category_day(d.strftime("%Y-%m-%d")), f"{s['grid']}|{s['category']}", 1)
        heat_days = [d.strftime("%Y%m%d") for d in days]
        record_heat_many(w, self.keys, heat_days, [s["cell"] or 0 for s in counted],
                         [s["category"] for s in counted], [s["channel"] for s in counted],
                         [s["level"] for s in counted], [s["dept"] for s in counted])
        self._note_heat_days(min(heat_days), max(heat_days))

    def _note_heat_days(self, first: str, last: str) -> None:
        """Widen :attr:`heat_span` (what a rebuild packs at its end)."""
        if self.heat_span is not None:
            first, last = min(first, self.heat_span[0]), max(last, self.heat_span[1])
        self.heat_span = (first, last)

    def _dead_letter(self, reason: str, e: LogEntry) -> list[str]:
        """A dead letter as a write-once item for ``_ONCE_LUA`` (fields like the ingest path's)."""
        raw = orjson.dumps({"id": e.id, "k": e.kind, "c": e.case_id, "v": e.version, "t": e.at,
                            "d": e.data}).decode()
        fields = {"reason": "illegal_transition" if e.kind != "?" else "undecodable", "detail": reason,
                  "source": "supervision", "at": str(self.clock.wall()), "index": "0", "size": str(len(raw)),
                  "raw": raw, "log_id": e.id, "case": e.case_id}
        return [f"dlq|{e.id}", *[x for kv in fields.items() for x in kv]]

    def _veto(self, tx: Any, e: LogEntry, batch: _Batch) -> None:
        street = e.data.get("street") or e.case_id.removeprefix("ROOM-")
        if not street or not e.data.get("reason"):
            batch.dead.append(("room.veto needs a street and a reason", e))
            return
        item = {"id": e.id, "street": street, "at": e.at, "reason": e.data.get("reason"),
                "stars": e.data.get("stars"), "actor": e.data.get("actor", ""), "role": e.data.get("role", "")}
        tx.zadd(self.keys.vetoes, {orjson.dumps(item): e.at})

    # --- deltas --------------------------------------------------------------------------------
    def _queue_publish(self, tx: Any, states: dict[str, dict | None], old: dict[str, Projection],
                       batch: _Batch, touched: set[tuple[str, str]], now: int) -> None:
        if not self.publish:
            return
        msgs: list[bytes] = []
        changed = [c for c, s in states.items() if s is not None and self._new[c].facts is not None
                   and self._new[c].facts != old[c].facts]
        if len(changed) > CASE_DELTAS_PER_BATCH:  # a catch-up: one summary, screens resync
            msgs.append(orjson.dumps({"type": "cases", "changed": len(changed), "resync": True})[1:])
            changed = []
        for c in changed:
            s = states[c]
            msgs.append(orjson.dumps({"type": "case", "case": c, "v": s["v"], "status": s["status"],
                                      "sla": lc.sla_status(s, now), "dept": s["dept"],
                                      "street": s["street"]})[1:])
        for event, aid, _at in batch.alert_events:
            if event == "history":
                continue
            case = aid.rsplit(":", 2)[0]
            s = states.get(case)
            alert = (s or {}).get("alerts", {}).get(aid)
            if alert is None:
                continue
            msgs.append(orjson.dumps({"type": "alert", "event": event, "alert": alert_public(alert)})[1:])
        if not msgs and not touched:
            return
        order = sorted(touched)
        bl_keys = [k for scope, code in order for k in (self.keys.backlog(scope, code, "open"),
                                                         self.keys.backlog(scope, code, "near"),
                                                         self.keys.backlog(scope, code, "due"))]
        tx.eval(_PUBLISH_LUA, 1 + len(bl_keys), self.keys.delta_seq, *bl_keys, self.keys.deltas, now, len(msgs),
                *msgs, *[x for sc in order for x in sc])

    def publish_kpi_tick(self) -> dict | None:
        """Publish today's district KPIs (a small cohort) as a ``kpi`` delta."""
        from feeds.supervision.queries import kpis  # queries imports nothing from here at import time

        now = self.scan_time()
        day = datetime.fromtimestamp(now / 1000, self.tz)
        start = int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp() * 1000)
        end = int((datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(days=1)).timestamp() * 1000)
        values = kpis(self.client, self.keys, start, end, "district", now=now)
        small = {k: values[k] for k in ("received", "closed", "closure_rate", "on_time_rate", "open",
                                        "open_overdue", "satisfaction_rate", "avg_hours")}
        body = orjson.dumps({"type": "kpi", "scope": "district", "date": day.strftime("%Y-%m-%d"),
                             "values": small})[1:]
        self.client.eval(_PUBLISH_LUA, 1, self.keys.delta_seq, self.keys.deltas, now, 1, body)
        self._last_kpi = self.clock.wall()
        self._kpi_dirty = False
        return small

    # --- the deadline scan ---------------------------------------------------------------------
    @_collector_paused
    def scan(self, now: int | None = None, limit: int = 2000) -> int:
        """Advance every case whose next timer is due at ``now``; returns how many cases moved."""
        now = self.scan_time() if now is None else now
        done = 0
        for _ in range(10_000):
            case_ids = self._due_cases(now, limit)
            if not case_ids:
                break
            for _attempt in range(20):
                if self._advance_cases(case_ids, now):
                    break
            done += len(case_ids)
            if len(case_ids) < limit:
                break
        return done

    def _due_cases(self, now: int, limit: int) -> list[str]:
        """The due slice: up to ``limit`` cases whose next timer is at or before ``now``."""
        due = self.client.zrangebyscore(self.keys.deadlines, "-inf", now, start=0, num=limit)
        return [c.decode() if isinstance(c, bytes) else c for c in due]

    def _fire_timers(self, states: dict[str, dict | None], case_ids: list[str], at: int, batch: _Batch,
                     counts: dict) -> None:
        """Advance each case's timers to ``at``, each firing at its own instant (effects into ``batch``)."""
        for c in case_ids:
            s = states[c]
            if s is not None:
                effects: list[tuple] = []
                lc.advance(s, at, self.rules, effects)
                for eff in effects:
                    self._effect(eff, c, batch, counts)

    def _forget_deleted(self, tx: _Queue, states: dict[str, dict | None], case_ids: list[str]) -> None:
        """A deadline member whose case no longer exists (deleted by hand) leaves the sorted set."""
        gone = [c for c in case_ids if states[c] is None]
        if gone:
            tx.zrem(self.keys.deadlines, *gone)

    def _advance_cases(self, case_ids: list[str], now: int) -> bool:
        keys = self.keys
        batch = _Batch()
        counts = {"applied": 0, "duplicates": 0, "parked": 0}

        def compute(states: dict[str, dict | None], old: dict[str, Projection], tx: _Queue) -> None:
            self._fire_timers(states, case_ids, now, batch, counts)
            touched = self._write(tx, states, old, batch, now)
            self._forget_deleted(tx, states, case_ids)
            self._queue_publish(tx, states, old, batch, touched, now)
            tx.hset(keys.sv_meta, "last_scan", now)

        if not self._transact(case_ids, compute):
            return False
        self.stats.alerts += sum(1 for ev in batch.alert_events if ev[0] == "raised")
        self._kpi_dirty = self._kpi_dirty or bool(batch.alert_events)
        return True


def _decode_fast(eid: str, fields: dict) -> LogEntry | None:
    """``decode_entry`` for the usual entry (``h`` and ``d``, bytes keys and values, as XREADGROUP
    gives them) without its fallbacks; None for anything else (then ``decode_entry``)."""
    try:
        h, d = fields[b"h"], fields[b"d"]
        kind, case, v, t = h.decode().split("\x1f")
        return LogEntry(eid, kind, case, int(v), int(t), orjson.loads(d))
    except (KeyError, AttributeError, ValueError):
        return None


def _resp(cmds: list[tuple]) -> bytes:
    """RESP encoding of commands (tuples of str, bytes, int, float): a batch has ~15 arguments per
    entry, and redis-py's packer costs ~2.5 µs an argument. hiredis's C encoder when it is installed
    (~40 % faster than the loop below, which gives the same bytes; hiredis is not a requirement:
    see docs/BENCHMARKS.md, supervision)."""
    if _hiredis_pack is None:
        return _resp_python(cmds)
    return b"".join([_hiredis_pack(cmd) for cmd in cmds])


def _resp_python(cmds: list[tuple]) -> bytes:
    """RESP in plain Python. Most arguments are short ASCII strings and integers (keys, case ids,
    scores): those are formatted as text and encoded in runs, one ``encode`` per run, not three
    appends and an ``encode`` each; bytes arguments (states, JSON rows) are copied once."""
    out: list[bytes] = []
    add = out.append
    seg: list[str] = []
    text = seg.append
    for cmd in cmds:
        text(f"*{len(cmd)}\r\n")
        for a in cmd:
            cls = a.__class__
            if cls is str:
                if a.isascii():
                    text(f"${len(a)}\r\n{a}\r\n")
                    continue
                a = a.encode()
            elif cls is int:
                n = str(a)
                text(f"${len(n)}\r\n{n}\r\n")
                continue
            elif cls is not bytes:
                a = repr(a).encode()
            if seg:
                add("".join(seg).encode())
                seg.clear()
            add(b"$%d\r\n" % len(a))
            add(a)
            add(b"\r\n")
    if seg:
        add("".join(seg).encode())
    return b"".join(out)


class _Prefetch:
    """One command sent on a connection of its own, its reply read later (see ``Worker._start_prefetch``)."""

    def __init__(self, pool: Any, packed: bytes, reader: Any = None) -> None:
        self.pool = pool
        self.reader = reader  # how its reply is read (wire.read_replies)
        self.conn = pool.get_connection()
        try:
            self.conn.send_packed_command([packed])
        except BaseException:
            self.abandon()
            raise

    def collect(self) -> Any:
        try:
            reply = read_replies(self.conn, 1, self.reader)[0]
        except BaseException:
            self.conn.disconnect()
            raise
        finally:
            self.pool.release(self.conn)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def abandon(self) -> None:
        """Give the connection back without its reply: disconnected, so nobody reads it."""
        self.conn.disconnect()
        self.pool.release(self.conn)


class _Queue:
    """Records commands through the few pipeline methods the writers use; sent as one MULTI..EXEC."""

    def __init__(self) -> None:
        self.cmds: list[tuple] = []

    def mset(self, mapping: dict) -> None:
        self.cmds.append(("MSET", *[x for kv in mapping.items() for x in kv]))

    def hset(self, key: str, field: str | None = None, value: Any = None, mapping: dict | None = None) -> None:
        args: list = [] if field is None else [field, value]
        if mapping:
            args.extend(x for kv in mapping.items() for x in kv)
        self.cmds.append(("HSET", key, *args))

    def zadd(self, key: str, mapping: dict) -> None:
        self.cmds.append(("ZADD", key, *[x for m, sc in mapping.items() for x in (sc, m)]))

    def zrem(self, key: str, *members: str) -> None:
        self.cmds.append(("ZREM", key, *members))

    def hdel(self, key: str, *fields: str) -> None:
        self.cmds.append(("HDEL", key, *fields))

    def sadd(self, key: str, *members: str) -> None:
        self.cmds.append(("SADD", key, *members))

    def hincrby(self, key: str, field: str, n: int) -> None:
        self.cmds.append(("HINCRBY", key, field, n))

    def xack(self, stream: str, group: str, *ids: str) -> None:
        self.cmds.append(("XACK", stream, group, *ids))

    def eval(self, script: str, numkeys: int, *args: Any) -> None:
        self.cmds.append(("EVAL", script, numkeys, *args))


def alert_public(alert: dict) -> dict:
    """The alert as screens get it in deltas (no action history)."""
    return {k: alert[k] for k in ("id", "case", "stage", "kind", "due", "raised_at", "state", "level",
                                  "reraised", "acked_by", "resolved_at", "resolution")}


# --- rebuild -----------------------------------------------------------------------------------
def read_model_patterns(keys: Keys) -> list[str]:
    """Key patterns a rebuild deletes (everything the worker derives from the log)."""
    return [keys.case("*"), keys.sv("*"), keys.heat_day("*")]


def clear_read_models(client: Any, keys: Keys) -> int:
    n = 0
    for pattern in read_model_patterns(keys):
        batch: list[Any] = []
        for k in client.scan_iter(match=pattern, count=2000):
            batch.append(k)
            if len(batch) >= 1000:
                n += client.unlink(*batch)
                batch.clear()
        if batch:
            n += client.unlink(*batch)
    return n


def rebuild(worker: Worker, chunk: int = 1000, *, pack_heat: bool = False) -> Stats:
    """Delete the read models and re-apply the whole log with the same code, then move the
    consumer group to the end. Stop the live workers first; entries appended meanwhile are
    delivered to them afterwards. ``pack_heat`` (what ``python -m feeds.supervision rebuild``
    does): then pack the heat counters of every day counted, so cold heat queries stay fast."""
    client, keys = worker.client, worker.keys
    clear_read_models(client, keys)
    worker._drop_prefetch()
    worker._cache.clear()
    worker.heat_span = None
    worker._watermark = worker._last_append = worker._lag = 0
    worker._meta_loaded = True
    worker._group_ready = False  # no group frontier: the next chunk is the frontier
    total = Stats()
    last = "0-0"
    entries = client.xrange(keys.log, min="-", max="+", count=chunk)
    while entries:
        total.add(worker.process(entries, ack=False))
        last = _str(entries[-1][0])
        entries = client.xrange(keys.log, min="(" + last, max="+", count=chunk)
        if entries:  # timers strictly before the next entry to apply, as the live group would
            total.scanned += worker.scan(min(worker._watermark, entry_head(entries[0][1])[3] - 1))
    try:
        client.xgroup_destroy(keys.log, keys.sv_group)
    except Exception:  # no group yet
        pass
    client.xgroup_create(keys.log, keys.sv_group, id=last, mkstream=True)
    worker._pending_first = False
    total.scanned += worker.scan()
    worker._group_ready = True
    if pack_heat and worker.heat_span is not None:
        worker.pack_heat(*worker.heat_span)
    return total


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else v


