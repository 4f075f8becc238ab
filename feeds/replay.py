"""File replay: a city's export, through a mapping file, into the one ingest path, in time order.

Reports are played at their reported time and the updates a mapping derives from later
columns (a closed date) at theirs, merged into one timeline with a heap, so a report always
comes before its own closure. The replay re-enacts the source's clock: each item's
``received_at`` is its own time (or shifted so the first event is "now"), so durations and
KPIs computed from the log are the city's own. ``speed`` paces the replay (60 = an hour a
minute); without it the file goes in as fast as the server takes it (two batches in flight).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from feeds.ingest import Ingestor, Result
from feeds.mappings import Mapping
from feeds.validate import parse_body

log = logging.getLogger(__name__)


@dataclass
class ReplaySummary:
    """What a replay did: counts per status and per rejection reason."""

    rows: int = 0
    reports: int = 0
    updates: int = 0
    status: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def add(self, items: list[dict[str, Any]], results: list[Result]) -> None:
        for item, res in zip(items, results, strict=True):
            kind = "updates" if isinstance(item, dict) and "kind" in item else "reports"
            self.status[f"{kind}:{res.status}"] += 1
            if res.status == "rejected":
                self.reasons[res.reason.split(":", 1)[0]] += 1

    @property
    def accepted(self) -> int:
        return self.status["reports:accepted"] + self.status["updates:accepted"]

    @property
    def rejected(self) -> int:
        return self.status["reports:rejected"] + self.status["updates:rejected"]

    def lines(self) -> list[str]:
        """Human summary: accepted/rejected counts with reasons."""
        out = [f"rows read {self.rows}: {self.reports} reports, {self.updates} updates derived, "
               f"in {self.elapsed_s:.1f} s"]
        for kind in ("reports", "updates"):
            parts = [f"{s} {self.status[f'{kind}:{s}']}" for s in ("accepted", "duplicate", "stale", "rejected")
                     if self.status[f"{kind}:{s}"]]
            out.append(f"{kind}: " + (", ".join(parts) or "none"))
        out.append(f"accepted {self.accepted}, rejected {self.rejected}")
        for reason, n in self.reasons.most_common():
            out.append(f"  rejected {n:>6}  {reason}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "reports": self.reports, "updates": self.updates,
                "accepted": self.accepted, "rejected": self.rejected, "status": dict(self.status),
                "reasons": dict(self.reasons), "elapsed_s": round(self.elapsed_s, 3)}


def _event_time(item: dict[str, Any]) -> int:
    if not isinstance(item, dict):
        return 0
    t = item.get("at") if "kind" in item else item.get("reported_at")
    return t if isinstance(t, int) else 0


def timeline(chunks: Iterable[list[dict[str, Any]]], *, max_rows: int | None = None,
             summary: ReplaySummary | None = None) -> Iterator[dict[str, Any]]:
    """Merge reports and their derived updates into time order.

    Each chunk's reports are sorted by time; an update waits in a heap until the reports
    have moved past its time. (Reports of different chunks are assumed roughly in order, as
    exports are; a late row is played when read.)
    """
    heap: list[tuple[int, int, dict[str, Any]]] = []
    tie = itertools.count()
    rows = 0
    for items in chunks:
        yield from (it for it in items if not isinstance(it, dict))  # undecodable: dead-letter at once
        items = [it for it in items if isinstance(it, dict)]
        reports = [it for it in items if "kind" not in it]
        if max_rows is not None and rows + len(reports) > max_rows:
            keep = {id(r) for r in reports[:max_rows - rows]}
            keys = {(r.get("channel"), r.get("source_id")) for r in reports[:max_rows - rows]}
            reports = [r for r in reports if id(r) in keep]
            items = reports + [u for u in items if "kind" in u and (u.get("channel"), u.get("source_id")) in keys]
        rows += len(reports)
        if summary is not None:
            summary.rows += len(reports)
            summary.reports += len(reports)
            summary.updates += len(items) - len(reports)
        born = {(r.get("channel"), r.get("source_id")): _event_time(r) for r in reports}
        for u in items:
            if "kind" in u:  # never before its own report, even when the export says so
                t = max(_event_time(u), born.get((u.get("channel"), u.get("source_id")), 0))
                heapq.heappush(heap, (t, next(tie), u))
        for r in sorted(reports, key=_event_time):
            t = _event_time(r)
            while heap and heap[0][0] < t:
                yield heapq.heappop(heap)[2]
            yield r
        if max_rows is not None and rows >= max_rows:
            break
    while heap:
        yield heapq.heappop(heap)[2]


def replay_file(ingestor: Ingestor, path: str | Path, mapping: Mapping | None, *, speed: float | None = None,
                max_rows: int | None = None, progress: bool = True, shift_to_now: bool = False,
                stop_event: threading.Event | None = None, batch_size: int = 500) -> ReplaySummary:
    """Replay an export (CSV/JSON lines; gzip by name) through ``mapping`` into the ingest path.

    ``mapping`` None: the file is already in the ingest schema (JSON lines of items).
    """
    summary = ReplaySummary()
    start = time.perf_counter()
    if mapping is not None:
        chunks: Iterable[list[dict[str, Any]]] = (mapping.items(df) for df in mapping.read(path))
    else:
        chunks = _schema_chunks(Path(path))
    events = timeline(chunks, max_rows=max_rows, summary=summary)
    shift = 0
    if shift_to_now:
        first = next(events, None)
        if first is None:
            return summary
        shift = int(time.time() * 1000) - _event_time(first)
        events = itertools.chain([first], events)
    events = (_stamp(e, shift) for e in events)
    bar = tqdm(total=max_rows, unit="ev", desc=Path(path).name, disable=not progress, mininterval=0.5)
    try:
        if speed:
            for batch in _paced(events, speed, stop_event, batch_size):
                summary.add(batch, ingestor.ingest(batch, source=f"replay:{Path(path).name}",
                                                   trust_received=True, deltas="item"))
                bar.update(len(batch))
        else:
            batches = _batches(events, batch_size, stop_event)
            sent: list[list[dict[str, Any]]] = []
            for results in ingestor.ingest_stream(_tee(batches, sent), source=f"replay:{Path(path).name}",
                                                  trust_received=True, deltas="batch"):
                batch = sent.pop(0)
                summary.add(batch, results)
                bar.update(len(batch))
    finally:
        bar.close()
    summary.elapsed_s = time.perf_counter() - start
    return summary


def _stamp(item: dict[str, Any], shift: int) -> dict[str, Any]:
    """Re-enact the source's clock: received when it happened (shifted)."""
    if not isinstance(item, dict):
        return item
    if shift:
        for k in ("reported_at", "at"):
            if isinstance(item.get(k), int):
                item[k] += shift
    if "kind" not in item and isinstance(item.get("reported_at"), int):
        item["received_at"] = item["reported_at"]
    return item


def _tee(batches: Iterable[list[dict[str, Any]]], sent: list[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    for b in batches:
        sent.append(b)
        yield b


def _batches(events: Iterable[dict[str, Any]], size: int,
             stop_event: threading.Event | None) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for e in events:
        batch.append(e)
        if len(batch) >= size:
            yield batch
            batch = []
            if stop_event is not None and stop_event.is_set():
                return
    if batch:
        yield batch


def _paced(events: Iterable[dict[str, Any]], speed: float, stop_event: threading.Event | None,
           size: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of the events that are due, sleeping until the next one is (speed × real time)."""
    t0_src: int | None = None
    t0 = time.monotonic()
    batch: list[dict[str, Any]] = []
    for e in events:
        t = _event_time(e)
        if t0_src is None:
            t0_src = t
        due = t0 + (t - t0_src) / 1000 / speed
        wait = due - time.monotonic()
        if wait > 0.02 or len(batch) >= size:
            if batch:
                yield batch
                batch = []
            while (wait := due - time.monotonic()) > 0:
                if stop_event is not None and stop_event.wait(min(wait, 0.5)):
                    return
                if stop_event is None:
                    time.sleep(min(wait, 0.5))
        batch.append(e)
    if batch:
        yield batch


def _schema_chunks(path: Path, size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    """JSON lines already in the ingest schema (e.g. an earlier export of this product)."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    chunk: list[dict[str, Any]] = []
    with opener(path, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            chunk.extend(parse_body(line, "application/json", 1 << 30))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
