"""The one ingest path: validate → normalise → append to the log → publish a delta.

Every source uses it: the HTTP endpoint, file replay and the demo simulator (in process).
A batch costs one round trip: a pipeline carrying the dead letters of the batch's rejected
items and one EVALSHA of ``feeds/ingest.lua``, which for each item checks idempotency
(``channel|source_id``), allocates the case id, links cross-channel duplicates, appends to the
log, keeps the per-case version and publishes the deltas. Answers come back only after the
server replied: with the embedded server's ``appendfsync always`` a reply means the AOF is
fsynced; against a server with another policy a ``WAITAOF 1 0`` rides in the same pipeline.

``append_updates`` is the same script for trusted callers (the supervision engine's commands):
it appends updates with the case's next version, optionally with an audit line, atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from feeds.catalog import Catalog
from feeds.clock import SystemClock
from feeds.keys import Keys
from feeds.model import Update, entry_kind
from feeds.normalise import CellLocator, Locator, load_locator, normalise
from feeds.privacy import mask_text
from feeds.settings import Settings
from feeds.store import RedisConnectionError, RedisTimeoutError
from feeds.validate import Reason, Rejection, ReportIn, UpdateIn, Validator, parse_body

log = logging.getLogger(__name__)

SCRIPT = (Path(__file__).with_name("ingest.lua")).read_text(encoding="utf-8")
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
DeltaMode = Literal["item", "batch", "none"]
STRIDE = 3  # arguments per record of the log script: key, header, body (feeds/ingest.lua)
_US = b"\x1f"  # separates a header's fields
_DIGITS = frozenset("0123456789")
_LINK_TAIL = b'],"duplicate_of":""}'  # a report's payload ends so; the script rewrites it if linked
_GEO_MAX_LAT = 85.05112878  # no duplicate linking beyond this latitude (Web Mercator's limit)
_IO_ERRORS = (OSError, RedisConnectionError, RedisTimeoutError)  # the server is unreachable
DESC_CHARS = 60
IN_FLIGHT = 3  # batches sent and unanswered in ingest_stream (docs/BENCHMARKS.md, ingest)
DEFAULT_BATCH = 1000  # items per script call: ~6 % less server work per event than 500 (docs/BENCHMARKS.md)
DLQ_RAW_LIMIT = 256 * 1024
MAX_SEARCH_BUCKETS = 64  # a batch spanning more time than this searches only its latest part  # raw payload kept in a dead letter (more is cut, the size is kept)


@dataclass(slots=True)
class Result:
    """The answer for one item: accepted, duplicate (already known), stale, or rejected."""

    status: str  # "accepted" | "duplicate" | "stale" | "rejected"
    case_id: str = ""
    id: str = ""  # log stream id of the appended entry
    version: int = 0
    reason: str = ""
    duplicate_of: str = ""  # cross-channel duplicate: the earlier case it is linked to

    def to_json(self) -> dict[str, Any]:
        """The HTTP answer for this item (docs/INGEST.md)."""
        if self.status == "accepted":
            d: dict[str, Any] = {"status": "accepted", "case_id": self.case_id, "id": self.id}
            if self.version > 1:
                d["version"] = self.version
            if self.duplicate_of:
                d["duplicate_of"] = self.duplicate_of
            return d
        if self.status == "rejected":
            return {"status": "rejected", "reason": self.reason}
        if self.status == "stale":
            return {"status": "stale", "case_id": self.case_id, "reason": self.reason}
        return {"status": "duplicate", "case_id": self.case_id}


class IngestUnavailable(RuntimeError):
    """The server did not answer: nothing in the batch may be assumed accepted."""


class Ingestor:
    """Validates, normalises and appends batches of items; one instance per process is enough.

    Thread-safe as long as the client is (redis-py clients are): it keeps only lookups.
    """

    def __init__(self, settings: Settings, client: Any, *, keys: Keys | None = None,
                 catalog: Catalog | None = None, locator: Locator | None = None,
                 waitaof: bool = False, case_prefix: str = "YZ", batch_size: int = DEFAULT_BATCH,
                 clock: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()  # received time of items that do not bring their own (feeds.clock)
        self.client = client
        self.keys = keys or Keys(settings.namespace)
        self.catalog = catalog or Catalog.load(Path(settings.config_dir))
        self.locator: Locator = locator if locator is not None else CellLocator(settings.h3_resolution)
        self.validator = Validator(settings, self.catalog, bbox=self.locator.bbox)
        self.waitaof = waitaof
        self.case_prefix = case_prefix
        self.batch_size = batch_size
        self.max_payload = settings.max_payload_bytes
        self.dedup_radius = settings.dedup_radius_m if settings.dedup_window_s > 0 else 0.0
        self.dedup_window_ms = settings.dedup_window_s * 1000
        self.tz = ZoneInfo(settings.timezone)
        self._prefixes: dict[int, str] = {}
        self.bucket_ms = bucket_ms(self.dedup_window_ms)
        self._keys_args = _fixed_keys(self.keys)
        self.totals: Counter[str] = Counter()  # status -> count, since start (for stats lines)

    @classmethod
    def from_store(cls, store: Any, *, locator: Locator | None = None, load_grid: bool = True,
                   **kwargs: Any) -> Ingestor:
        """An ingestor on a started ``feeds.store.Store`` (durability from its capabilities)."""
        caps = store.capabilities
        waitaof = bool(caps and not caps.durable_replies and caps.waitaof)
        if caps and not caps.durable_replies and not caps.waitaof:
            log.warning("server has neither appendfsync always nor WAITAOF: 'accepted' is best-effort")
        if locator is None and load_grid:
            locator = load_locator(store.settings)
        return cls(store.settings, store.client, keys=store.keys, locator=locator, waitaof=waitaof, **kwargs)

    def set_locator(self, locator: Locator) -> None:
        """Swap in a grid locator (e.g. once geo's index is built)."""
        self.locator = locator
        self.validator.set_bbox(locator.bbox)

    # --- public ---------------------------------------------------------------------------------
    def ingest(self, items: Sequence[Any], *, source: str = "api", now: int | None = None,
               trust_received: bool = False, deltas: DeltaMode = "item") -> list[Result]:
        """Ingest items (dicts in the schema of docs/INGEST.md); one result per item, in order.

        ``trust_received``: in-process sources that re-enact history (simulator backfill, file
        replay) may set each item's ``received_at``; others get the server clock ``now``.
        ``deltas``: one pub/sub message per report (live), one per batch (backfill), or none.
        """
        results: list[Result] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            results.extend(self._ingest_batch(chunk, source, self.clock() if now is None else now,
                                              trust_received, deltas))
        return results

    def ingest_body(self, body: bytes, content_type: str, *, source: str = "http",
                    now: int | None = None) -> list[Result]:
        """Ingest an HTTP body (JSON object, array, or JSON lines)."""
        items = parse_body(body, content_type, self.max_payload)
        return self.ingest(items, source=source, now=now)

    def dead_letter(self, reason: str, detail: str, raw: Any, *, source: str, now: int | None = None) -> str:
        """Write one dead letter directly (e.g. a request body refused as a whole)."""
        fields = dead_letter_fields(Rejection(0, reason, detail, raw), source, self.clock() if now is None else now)
        entry_id = self.client.xadd(self.keys.dead_letters, fields)
        self.totals["rejected"] += 1
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def ingest_stream(self, batches: Iterable[Sequence[Any]], *, source: str = "api",
                      trust_received: bool = False, deltas: DeltaMode = "batch",
                      now: int | None = None, batch_size: int | None = None,
                      in_flight: int = IN_FLIGHT) -> Iterator[list[Result]]:
        """Ingest many batches with up to ``in_flight`` sent and unanswered: the server appends
        batch k while this process validates and normalises the next ones (client and server
        overlap on two cores, and a batch that costs one side more than the other does not
        stall the pipeline).

        Yields each batch's results in order, each only after the server answered it.
        """
        self.ensure_script()
        size = batch_size or self.batch_size
        depth = max(1, in_flight)
        try:
            conn = self.client.connection_pool.get_connection()
        except _IO_ERRORS as e:
            raise IngestUnavailable(f"log server unavailable: {e}") from e
        pending: deque[_Prepared] = deque()
        try:
            for batch in batches:
                for start in range(0, len(batch), size):
                    prep = self._prepare(batch[start:start + size], source,
                                         self.clock() if now is None else now, trust_received, deltas)
                    self._send(conn, prep)
                    pending.append(prep)
                    if len(pending) >= depth:
                        yield self._receive(conn, pending.popleft())
            while pending:
                yield self._receive(conn, pending.popleft())
        except _IO_ERRORS as e:
            conn.disconnect()
            raise IngestUnavailable(f"log server unavailable: {e}") from e
        finally:
            if pending:  # abandoned mid-stream: replies may still be on the socket
                conn.disconnect()
            self.client.connection_pool.release(conn)

    def ensure_script(self) -> None:
        """Load the log script (it is also reloaded on demand after a server restart)."""
        self.client.script_load(SCRIPT)

    # --- one batch ------------------------------------------------------------------------------
    def _ingest_batch(self, items: Sequence[Any], source: str, now: int, trust_received: bool,
                      deltas: DeltaMode) -> list[Result]:
        return self._round_trip(self._prepare(items, source, now, trust_received, deltas))

    def _round_trip(self, prep: _Prepared) -> list[Result]:
        """Send one prepared batch and wait for its answers (one round trip)."""
        pool = self.client.connection_pool
        try:
            conn = pool.get_connection()
        except _IO_ERRORS as e:  # refused: nothing may be assumed accepted
            raise IngestUnavailable(f"log server unavailable: {e}") from e
        try:
            self._send(conn, prep)
            return self._receive(conn, prep)
        except _IO_ERRORS as e:  # reset: nothing may be assumed accepted
            conn.disconnect()
            raise IngestUnavailable(f"log server unavailable: {e}") from e
        finally:
            pool.release(conn)

    def _prepare(self, items: Sequence[Any], source: str, now: int, trust_received: bool,
                 deltas: DeltaMode) -> _Prepared:
        """Validate, normalise and encode a batch (no I/O)."""
        items = list(items)
        reports, updates, rejections = self.validator.validate(items, now, trust_received)
        if reports:
            normalise(reports, self.locator)
        records: list[_Record] = []
        item_delta = deltas == "item"
        for r in reports:
            try:
                records.append(self._encode_report(r, item_delta))
            except _TooLarge as e:
                rejections.append(Rejection(r.index, Reason.PAYLOAD_TOO_LARGE, str(e), items[r.index]))
            except (TypeError, orjson.JSONEncodeError) as e:
                rejections.append(Rejection(r.index, Reason.INVALID_UTF8 if "UTF-8" in str(e) else
                                            Reason.INVALID_FIELD, f"cannot be stored: {e}", items[r.index]))
        for u in updates:
            try:
                records.append((u.index, _encode_update_in(u, self.max_payload), "", None))
            except _TooLarge as e:
                rejections.append(Rejection(u.index, Reason.PAYLOAD_TOO_LARGE, str(e), items[u.index]))
            except (TypeError, orjson.JSONEncodeError) as e:
                rejections.append(Rejection(u.index, Reason.INVALID_FIELD, f"cannot be stored: {e}",
                                            items[u.index]))
        if updates and reports:
            records.sort(key=lambda x: x[0])
        prep = _Prepared(items, records, rejections, source, now, deltas)
        if self.dedup_radius > 0:
            located = [r for r in reports if r.lon is not None and abs(r.lat) <= _GEO_MAX_LAT]
            if located:
                lons = [r.lon for r in located]
                lats = [r.lat for r in located]
                times = [r.received_at for r in located]
                prep.bbox = f"{min(lons)!r},{min(lats)!r},{max(lons)!r},{max(lats)!r}"
                last = max(times) // self.bucket_ms
                first = max((min(times) - self.dedup_window_ms) // self.bucket_ms, last - MAX_SEARCH_BUCKETS + 1)
                prep.buckets = range(first, last + 1)
        return prep

    def _commands(self, prep: _Prepared) -> tuple[list[bytes], int]:
        """The batch's commands in RESP (its dead letters, the script call, maybe WAITAOF) and
        how many there are (the script's records ride as separate, already encoded, chunks)."""
        cmds: list[bytes] = []
        n = 0
        for rej in [] if prep.dlq_written else prep.rejections:
            cmds.append(_resp(("XADD", self.keys.dead_letters, "*",
                               *[x for kv in dead_letter_fields(rej, prep.source, prep.now).items() for x in kv])))
            n += 1
        if prep.records:
            bucket_keys = [self.keys.recent_bucket(b) for b in prep.buckets]
            head = ("EVALSHA", SCRIPT_SHA, len(self._keys_args) + len(bucket_keys), *self._keys_args,
                    *bucket_keys, self.keys.deltas, prep.deltas, repr(float(self.dedup_radius)),
                    self.dedup_window_ms, self.bucket_ms, self.keys.recent, prep.bbox)
            nums = [x for rec in prep.records if rec[3] is not None for x in rec[3]]
            cmds.append(_resp((*head, struct.pack(f"<{len(nums)}d", *nums)), len(prep.records) * STRIDE))
            cmds.extend([rec[1] for rec in prep.records])  # already RESP: no copy per argument here
            n += 1
            if self.waitaof:
                cmds.append(_resp(("WAITAOF", 1, 0, 0)))
                n += 1
        return cmds, n

    def _send(self, conn: Any, prep: _Prepared) -> None:
        cmds, prep.n_commands = self._commands(prep)
        if cmds:
            conn.send_packed_command([b"".join(cmds)])  # one write: one sendall

    def _receive(self, conn: Any, prep: _Prepared) -> list[Result]:
        replies: list[Any] = []
        for _ in range(prep.n_commands):
            try:
                replies.append(conn.read_response())
            except _IO_ERRORS:
                raise
            except Exception as e:  # an error reply (e.g. NOSCRIPT): keep reading the others
                replies.append(e)
        return self._complete(prep, replies)

    def _complete(self, prep: _Prepared, replies: list[Any]) -> list[Result]:
        """Turn the server's replies into one result per item; dead-letter late rejections."""
        n_dlq = 0 if prep.dlq_written else len(prep.rejections)
        prep.dlq_written = True
        for reply in replies[:n_dlq]:
            if isinstance(reply, Exception):
                raise IngestUnavailable(f"dead-letter write failed: {reply}")
        answers: list[str] = []
        if prep.records:
            reply = replies[n_dlq]
            if isinstance(reply, Exception) and _no_script(reply):  # nothing was written: run again
                self.ensure_script()
                return self._complete_retry(prep)
            if isinstance(reply, Exception):
                raise IngestUnavailable(f"log append failed: {reply}")
            if self.waitaof and isinstance(replies[-1], Exception):
                log.warning("WAITAOF failed (%s): 'accepted' is best-effort", replies[-1])
            answers = reply.decode().split("\x1e")
        items = prep.items
        results: list[Result | None] = [None] * len(items)
        for rej in prep.rejections:
            results[rej.index] = Result("rejected", reason=rej.message)
        late: list[Rejection] = []
        seq = int(answers[0]) if answers else 0  # the case sequence before this batch
        for (index, _, prefix, _), answer in zip(prep.records, answers[1:], strict=True):
            if answer[0] in _DIGITS:  # a new report: its log id; its case is the next number
                seq += 1
                res = Result("accepted", f"{prefix}{seq:07d}", answer, 1)
            else:
                if answer[0] == "L":  # a new report linked to an earlier case (named in the answer)
                    seq += 1
                res = _result(answer)
            results[index] = res
            if res.status == "rejected":
                late.append(Rejection(index, *res.reason.split(": ", 1), items[index]))
        if late:
            self._write_dead_letters(late, prep.source, prep.now)
        final = [r if r is not None else Result("rejected", reason="internal: no answer") for r in results]
        self.totals.update([r.status for r in final])
        return final

    def _complete_retry(self, prep: _Prepared) -> list[Result]:
        return self._round_trip(prep)

    def _write_dead_letters(self, rejections: list[Rejection], source: str, now: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for rej in rejections:
            pipe.xadd(self.keys.dead_letters, dead_letter_fields(rej, source, now))
        pipe.execute()

    # --- encoding -------------------------------------------------------------------------------
    def _case_prefix(self, received: int) -> str:
        """The case id's prefix for a report received then: the prefix and the local date."""
        bucket = received // 900_000  # local days start on a quarter hour in every zone
        p = self._prefixes.get(bucket)
        if p is None:
            p = self.case_prefix + datetime.fromtimestamp(received / 1000, self.tz).strftime("%y%m%d")
            if len(self._prefixes) > 10_000:
                self._prefixes.clear()
            self._prefixes[bucket] = p
        return p

    def _encode_report(self, r: ReportIn, item_delta: bool) -> _Record:
        """A report's record (feeds/ingest.lua): idempotency field, header, payload, with its
        case prefix and its numbers (received ms, lon, lat). The payload ends in
        ``"flags":[…],"duplicate_of":""}`` (``_LINK_TAIL``): the script rewrites that end for a
        report it links to an earlier case, and stores it as sent otherwise."""
        body = orjson.dumps({
            "channel": r.channel, "source_id": r.source_id, "category": r.category, "level": r.level,
            "lon": r.lon, "lat": r.lat, "src_crs": r.src_crs, "src_lon": r.src_lon, "src_lat": r.src_lat,
            "address": r.address, "description": r.description, "reporter": r.reporter,
            "reported_at": r.reported_at, "received_at": r.received_at, "cell": r.cell,
            "grid_id": r.grid_id, "community_code": r.community_code, "street_code": r.street_code,
            "dept": r.dept, "attrs": r.attrs, "flags": r.flags, "duplicate_of": "",
        })
        if len(body) > self.max_payload:
            raise _TooLarge(f"{len(body)} bytes; at most {self.max_payload}")
        if item_delta:
            tail = orjson.dumps({
                "category": r.category, "channel": r.channel, "level": r.level, "lon": r.lon, "lat": r.lat,
                "cell": format(r.cell, "x") if r.cell else "", "grid": r.grid_id, "street": r.street_code,
                "at": r.received_at, "desc": mask_text(r.description[:DESC_CHARS * 2])[:DESC_CHARS],
            })[1:]
        else:
            tail = b""
        prefix = self._case_prefix(r.received_at)
        at, cat, chan = r.received_at, r.category, r.channel
        if self.dedup_radius > 0 and r.lon is not None and abs(r.lat) <= _GEO_MAX_LAT and ";" not in cat:
            # (';' starts a candidate record: an unknown category holding one is not linked)
            rest = (f"{prefix}\x1f{cat}\x1f{chan}\x1f{at}\x1f;{cat}|{chan}|{at}|\x1f|{round(r.lon * 1e7)}|"
                    f"{round(r.lat * 1e7)}\x1f")  # (1e-7 degrees as integers: a float's repr costs 4x)
            nums = (at, r.lon, r.lat)
        else:
            rest = f"{prefix}\x1f{cat}\x1f{chan}\x1f{at}\x1f\x1f\x1f"  # (no candidate record)
            nums = (at, 0.0, 0.0)
        header = rest.encode() + tail
        return r.index, _record(f"{chan}|{r.source_id}".encode(), header, body), prefix, nums


class _TooLarge(ValueError):
    pass


# An encoded record: item index, its STRIDE arguments as RESP, and for a report its case prefix
# and its numbers (received ms, lon, lat: sent to the script as binary doubles).
_Record = tuple[int, bytes, str, "tuple[int, float, float] | None"]


@dataclass(slots=True)
class _Prepared:
    """A batch ready to send: encoded records in item order and the early rejections."""

    items: list[Any]
    records: list[_Record]
    rejections: list[Rejection]
    source: str
    now: int
    deltas: str
    n_commands: int = 0
    dlq_written: bool = False
    bbox: str = ""  # of the located reports, for the duplicate-candidate search
    buckets: range = range(0)  # recent-report buckets to search


def bucket_ms(window_ms: int) -> int:
    """Time bucket of the duplicate window: half of it (at least a minute). Trimming drops
    whole keys (at most 1.5 windows are kept) and a batch searches few buckets (each search
    is a server call: a bulk batch spanning 10 hours of a district searches ~9)."""
    return max(window_ms // 2, 60_000)


def _fixed_keys(keys: Keys) -> list[str]:
    return [keys.log, keys.idempotency, keys.case_seq, keys.versions, keys.recent_buckets,
            keys.recent_closed, keys.delta_seq, keys.audit]


def _no_script(error: Exception) -> bool:
    """The server does not know the script yet (first use, or after a restart/flush)."""
    return type(error).__name__ == "NoScriptError" or "NOSCRIPT" in str(error)


def _encode_update_in(u: UpdateIn, max_payload: int) -> bytes:
    data = orjson.dumps(u.data)
    if len(data) > max_payload:
        raise _TooLarge(f"{len(data)} bytes; at most {max_payload}")
    ref = f"{u.channel}|{u.source_id}" if not u.case_id else ""
    ukey = f"u|{u.case_id or ref}|{u.update_id}" if u.update_id else ""
    return _record(b"", _update_header(u.case_id, ref, u.version, u.kind, u.at, ukey, b""), data)


def _update_header(case_id: str, ref: str, version: int, kind: str, at: int, ukey: str, audit: bytes) -> bytes:
    """An update record's header (feeds/ingest.lua); the audit JSON goes last (it may hold anything)."""
    return _US.join((case_id.encode(), ref.encode(), str(version).encode(), kind.encode(), str(at).encode(),
                     ukey.encode(), audit))


_RECORD_RESP = b"$%d\r\n%b\r\n" * STRIDE


def _record(key: bytes, header: bytes, body: bytes) -> bytes:
    """A record's STRIDE arguments in RESP, in one formatting step. The server gets the body as
    its own argument (stored as sent, nothing split out of it on the server, the busier core)
    and the small fields in one header that the script reads with one pattern match."""
    return _RECORD_RESP % (len(key), key, len(header), header, len(body), body)


def _resp(args: Sequence[Any], extra: int = 0) -> bytes:
    """A command in RESP, as redis-py encodes it (str UTF-8, float repr); ``extra`` more
    arguments follow, already encoded."""
    out = [b"*%d\r\n" % (len(args) + extra)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, float):
            a = repr(a).encode()
        elif not isinstance(a, bytes | bytearray | memoryview):
            a = str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


def _result(answer: str) -> Result:
    """One answer of the log script (see feeds/ingest.lua)."""
    f = answer.split("\x1f")
    tag = f[0]
    if tag == "A":  # an update: A id case version
        return Result("accepted", f[2], f[1], int(f[3]))
    if tag == "L":  # a new report linked to an earlier case: L id case dup
        return Result("accepted", f[2], f[1], 1, "", f[3])
    if tag == "D":
        return Result("duplicate", case_id=f[1])
    if tag == "S":
        return Result("stale", case_id=f[1], version=int(f[2]),
                      reason=f"stale, ignored: the case is at version {f[2]}")
    return Result("rejected", reason=f"{f[1]}: {f[2] if len(f) > 2 else ''}")


# --- trusted path: the supervision engine's commands ----------------------------------------
def append_updates(client: Any, keys: Keys, updates: Sequence[Update], *,
                   audit: Sequence[dict[str, Any] | None] | None = None,
                   update_ids: Sequence[str] | None = None,
                   dedup_window_s: int = Settings.dedup_window_s) -> list[Result]:
    """Append updates/commands to the log atomically, each with its case's next version.

    ``Update.version`` 0 means "the next one" (allocated inside the script, so concurrent
    writers never collide); a non-zero version ≤ the case's current one is answered "stale".
    ``audit[i]`` (optional) is written to ``Keys.audit`` in the same atomic step, with the
    case, version, kind and log id (fields ``c v k log d``; ``d`` is the JSON given).
    ``update_ids[i]`` (optional) makes re-sending the same update a no-op ("duplicate").
    Kinds are not checked here: the caller is trusted (the supervision engine decides which
    transitions are legal). No deltas are published. Pass ``Settings.dedup_window_s`` so a
    closing update also ends the case's role as a duplicate target.
    """
    if not updates:
        return []
    records: list[bytes] = []  # STRIDE arguments per update (feeds/ingest.lua)
    for i, u in enumerate(updates):
        data = dict(u.data)
        if u.actor:
            data["actor"] = u.actor
        if u.role:
            data["role"] = u.role
        a = audit[i] if audit is not None else None
        uid = update_ids[i] if update_ids is not None else ""
        records.extend((b"", _update_header(u.case_id, "", u.version, u.kind, u.at,
                                            f"u|{u.case_id}|{uid}" if uid else "", orjson.dumps(a) if a else b""),
                        orjson.dumps(data)))
    key_args = _fixed_keys(keys)
    window_ms = dedup_window_s * 1000
    args = [keys.deltas, "none", "0", window_ms, bucket_ms(window_ms), keys.recent, "", "", *records]
    try:
        reply = client.evalsha(SCRIPT_SHA, len(key_args), *key_args, *args)
    except Exception as e:
        if not _no_script(e):
            raise
        client.script_load(SCRIPT)
        reply = client.evalsha(SCRIPT_SHA, len(key_args), *key_args, *args)
    return [_result(a) for a in reply.decode().split("\x1e")[1:]]  # (after the case sequence)


# --- dead letters and stats ------------------------------------------------------------------
def dead_letter_fields(rej: Rejection, source: str, now: int) -> dict[str, Any]:
    """The fields of a dead-letter entry: reason, detail, source, time and the raw payload."""
    raw = _raw_bytes(rej.raw)
    return {"reason": str(rej.reason), "detail": rej.detail, "source": source, "at": now,
            "index": rej.index, "size": len(raw), "raw": raw[:DLQ_RAW_LIMIT]}


def _raw_bytes(raw: Any) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8", "backslashreplace")
    try:
        return orjson.dumps(raw)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(raw, ensure_ascii=True, default=repr).encode()  # lone surrogates etc.


def read_dead_letters(client: Any, keys: Keys, limit: int = 20, *, newest_first: bool = True) -> list[dict[str, Any]]:
    """Dead letters with their reasons (raw payload as bytes; mask before showing it)."""
    rows = (client.xrevrange if newest_first else client.xrange)(keys.dead_letters, count=limit)
    out = []
    for entry_id, fields in rows:
        d = {k.decode(): v for k, v in fields.items()}
        out.append({"id": entry_id.decode(), "reason": d.get("reason", b"").decode(),
                    "detail": d.get("detail", b"").decode("utf-8", "replace"),
                    "source": d.get("source", b"").decode("utf-8", "replace"),
                    "at": int(d.get("at", 0)), "index": int(d.get("index", 0)), "size": int(d.get("size", 0)),
                    "raw": d.get("raw", b"")})
    return out


def dead_letter_reasons(client: Any, keys: Keys, *, scan: int = 100_000) -> Counter[str]:
    """Count of dead letters per reason (the most recent ``scan`` entries)."""
    counts: Counter[str] = Counter()
    last = "+"
    remaining = scan
    while remaining > 0:
        rows = client.xrevrange(keys.dead_letters, max=last, count=min(1000, remaining))
        if not rows:
            break
        for _, fields in rows:
            counts[fields.get(b"reason", b"?").decode()] += 1
        remaining -= len(rows)
        last = "(" + rows[-1][0].decode()
    return counts


def stream_stats(client: Any, keys: Keys) -> dict[str, Any]:
    """Lengths and ends of the log and the dead letters, and the ingest bookkeeping sizes."""
    pipe = client.pipeline(transaction=False)
    pipe.xlen(keys.log)
    pipe.xlen(keys.dead_letters)
    pipe.xrevrange(keys.log, count=1)
    pipe.xrange(keys.log, count=1)
    pipe.get(keys.case_seq)
    pipe.hlen(keys.versions)
    pipe.zcard(keys.recent_buckets)
    log_len, dlq_len, last, first, seq, cases, recent = pipe.execute()
    return {"log_entries": log_len, "dead_letters": dlq_len, "cases": cases,
            "case_seq": int(seq or 0), "dedup_buckets": recent,
            "first_id": first[0][0].decode() if first else None,
            "last_id": last[0][0].decode() if last else None}


def log_kind_counts(client: Any, keys: Keys, *, scan: int = 200_000) -> Counter[str]:
    """Entries per kind among the newest ``scan`` log entries."""
    counts: Counter[str] = Counter()
    last = "+"
    remaining = scan
    while remaining > 0:
        rows = client.xrevrange(keys.log, max=last, count=min(2000, remaining))
        if not rows:
            break
        for _, fields in rows:
            counts[entry_kind(fields)] += 1
        remaining -= len(rows)
        last = "(" + rows[-1][0].decode()
    return counts


def iter_batches(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Chunk an iterable into lists of ``size`` (the unit of one round trip)."""
    batch: list[Any] = []
    for it in items:
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
