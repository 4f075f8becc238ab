"""Mainland China's official work calendar, for SLA clocks counted in working days or hours.

Statutory holidays and make-up working days (调休) come from ``chinesecalendar``. A year it
does not know (it raises ``NotImplementedError``) is read from ``config/calendar/<year>.json``
when that file says ``"status": "official"``; otherwise the year falls back to weekends (plus
whatever dates a placeholder file lists) and every deadline computed through it is *flagged*
(``fallback=True``) and logged once per year, never an exception. An official override file
also wins over the package, so a late correction is a data change.

All instants are ms since the epoch (UTC); days and working hours are local (Asia/Shanghai).
Pure: no I/O after :meth:`WorkCalendar.load`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import orjson

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_QUARTER_MS = 15 * 60_000
_MAX_DAYS = 3 * 366  # a working-time walk never looks further than this


@dataclass(frozen=True, slots=True)
class YearOverride:
    """One ``config/calendar/<year>.json``: holidays and make-up working days of a year."""

    year: int
    official: bool
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    source: str = ""

    @classmethod
    def from_json(cls, raw: dict) -> YearOverride:
        def days(values: object) -> frozenset[date]:
            items = values.keys() if isinstance(values, dict) else (values or [])
            return frozenset(date.fromisoformat(str(v)) for v in items)

        return cls(year=int(raw["year"]), official=raw.get("status") == "official",
                   holidays=days(raw.get("holidays")), workdays=days(raw.get("workdays")),
                   source=str(raw.get("source", "")))


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed instant and whether any day on the way used the weekend fallback."""

    at: int
    fallback: bool = False


def _parse_hhmm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


@dataclass
class WorkCalendar:
    """Working days and hours; ``work_hours`` are local (start, end) minute windows of a working day."""

    overrides: dict[int, YearOverride] = field(default_factory=dict)
    tz: str = "Asia/Shanghai"
    work_hours: tuple[tuple[int, int], ...] = ((8 * 60 + 30, 12 * 60), (13 * 60 + 30, 17 * 60 + 30))
    _cache: dict[date, tuple[bool, bool]] = field(default_factory=dict, repr=False)
    _warned: set[int] = field(default_factory=set, repr=False)
    # Memos (pure functions of a local day; a report starts several clocks, each walking days):
    # each day's midnight, and the end of "n working days after day d".
    _midnights: dict[date, int] = field(default_factory=dict, repr=False, compare=False)
    _working_days_ends: dict[tuple[date, int], Deadline] = field(default_factory=dict, repr=False, compare=False)
    _days: dict[int, date] = field(default_factory=dict, repr=False, compare=False)
    _nth_workdays: dict[tuple[date, int], tuple[date, bool]] = field(default_factory=dict, repr=False, compare=False)
    _whole_days: dict[tuple[date, date], tuple[int, bool]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.tz)
        if not self.work_hours or any(not 0 <= a < b <= 24 * 60 for a, b in self.work_hours):
            raise ValueError(f"work_hours must be increasing minute windows within a day, got {self.work_hours}")
        self._daily_ms = sum(b - a for a, b in self.work_hours) * MINUTE_MS

    @classmethod
    def load(cls, config_dir: Path, tz: str = "Asia/Shanghai",
             work_hours: list[list[str]] | None = None) -> WorkCalendar:
        """Read every ``<config_dir>/calendar/<year>.json`` override."""
        overrides = {}
        folder = Path(config_dir) / "calendar"
        for p in sorted(folder.glob("[0-9][0-9][0-9][0-9].json")):
            o = YearOverride.from_json(orjson.loads(p.read_bytes()))
            overrides[o.year] = o
        kwargs: dict = {"overrides": overrides, "tz": tz}
        if work_hours:
            kwargs["work_hours"] = tuple((_parse_hhmm(a), _parse_hhmm(b)) for a, b in work_hours)
        return cls(**kwargs)

    # --- days -------------------------------------------------------------------------------
    def day_info(self, d: date) -> tuple[bool, bool]:
        """(is a working day, answered by the weekend fallback)."""
        hit = self._cache.get(d)
        if hit is None:
            hit = self._cache[d] = self._day_info(d)
        return hit

    def _day_info(self, d: date) -> tuple[bool, bool]:
        o = self.overrides.get(d.year)
        if o is not None and o.official:
            return self._from_override(d, o), False
        try:
            return chinese_calendar.is_workday(d), False
        except NotImplementedError:
            if d.year not in self._warned:
                self._warned.add(d.year)
                log.warning("work calendar: no official data for %s (chinesecalendar %s knows up to 2026; "
                            "add config/calendar/%s.json): weekends-only fallback, deadlines flagged",
                            d.year, getattr(chinese_calendar, "__version__", "?"), d.year)
            return self._from_override(d, o), True

    @staticmethod
    def _from_override(d: date, o: YearOverride | None) -> bool:
        if o is not None:
            if d in o.workdays:
                return True
            if d in o.holidays:
                return False
        return d.weekday() < 5

    def is_workday(self, d: date) -> bool:
        return self.day_info(d)[0]

    def local_date(self, ms: int) -> date:
        """The local day of an instant, memoised per quarter hour: every zone's midnight (and
        offset change) falls on a quarter hour, and a clock asks for the day of its start and due
        several times (``datetime.fromtimestamp`` with a zone is the slow part of a clock start)."""
        q = ms // _QUARTER_MS
        hit = self._days.get(q)
        if hit is None:
            if len(self._days) > 100_000:
                self._days.clear()
            hit = self._days[q] = datetime.fromtimestamp(ms / 1000, self._zone).date()
        return hit

    def _midnight_ms(self, d: date) -> int:
        hit = self._midnights.get(d)
        if hit is None:
            if len(self._midnights) > 100_000:
                self._midnights.clear()
            hit = self._midnights[d] = int(datetime.combine(d, time(0), self._zone).timestamp() * 1000)
        return hit

    def add_working_days(self, start_ms: int, n: int) -> Deadline:
        """End (24:00 local) of the n-th working day after the start's day; the start day does not count.

        n == 0 means the end of the start day itself.
        """
        key = (self.local_date(start_ms), n)
        hit = self._working_days_ends.get(key)
        if hit is None:
            if len(self._working_days_ends) > 100_000:
                self._working_days_ends.clear()
            hit = self._working_days_ends[key] = self._working_days_end(*key)
        return hit

    def _working_days_end(self, d: date, n: int) -> Deadline:
        fallback = False
        counted = 0
        for _ in range(_MAX_DAYS):
            if counted >= n:
                break
            d += timedelta(days=1)
            work, fb = self.day_info(d)
            fallback |= fb
            counted += work
        return Deadline(self._midnight_ms(d + timedelta(days=1)), fallback)

    # --- hours ------------------------------------------------------------------------------
    def add_working_hours(self, start_ms: int, hours: float) -> Deadline:
        """The instant ``hours`` working hours (inside ``work_hours`` of working days) after start."""
        remaining = int(round(hours * HOUR_MS))
        d = self.local_date(start_ms)
        fallback = False
        for _ in range(_MAX_DAYS):
            work, fb = self.day_info(d)
            fallback |= fb
            if work:
                base = self._midnight_ms(d)
                for a, b in self.work_hours:
                    lo = max(base + a * MINUTE_MS, start_ms)
                    hi = base + b * MINUTE_MS
                    if lo >= hi:
                        continue
                    if remaining <= hi - lo:
                        return Deadline(lo + remaining, fallback)
                    remaining -= hi - lo
            d += timedelta(days=1)
        raise ValueError(f"no working time found within {_MAX_DAYS} days of {start_ms}")

    def working_ms_between(self, start_ms: int, end_ms: int) -> Deadline:
        """Working time (ms, inside ``work_hours`` of working days) between two instants, as a
        :class:`Deadline` whose ``at`` is that duration (and ``fallback`` whether a day used the
        weekend fallback). What a working-time clock allows, for near-due at a fraction of it.
        The whole days in between are counted once per (first day, last day) and memoised: a clock
        starts on most reports, and its due is usually a midnight many clocks share."""
        if end_ms <= start_ms:
            return Deadline(0)
        d, last = self.local_date(start_ms), self.local_date(end_ms)
        work, fallback = self.day_info(d)
        total = self._overlap(d, start_ms, end_ms) if work else 0
        if d == last:
            return Deadline(total, fallback)
        whole, fb = self._whole_days_between(d, last)
        end_work, end_fb = self.day_info(last)
        total += whole * self._daily_ms + (self._overlap(last, start_ms, end_ms) if end_work else 0)
        return Deadline(total, fallback or fb or end_fb)

    def _whole_days_between(self, first: date, last: date) -> tuple[int, bool]:
        """:meth:`_count_whole_days`, memoised per (first, last) (bounded: cleared past 100,000)."""
        key = (first, last)
        hit = self._whole_days.get(key)
        if hit is None:
            if len(self._whole_days) > 100_000:
                self._whole_days.clear()
            hit = self._whole_days[key] = self._count_whole_days(first, last)
        return hit

    def _nth_working_day(self, d: date, j: int) -> tuple[date, bool]:
        """(the j-th working day after ``d``, any day from the fallback), memoised per (d, j)."""
        key = (d, j)
        hit = self._nth_workdays.get(key)
        if hit is None:
            if len(self._nth_workdays) > 100_000:
                self._nth_workdays.clear()
            end = self._working_days_end(d, j)  # the midnight ending that day
            hit = self._nth_workdays[key] = (self.local_date(end.at - 1), end.fallback)
        return hit

    def _count_whole_days(self, first: date, last: date) -> tuple[int, bool]:
        """(working days strictly between ``first`` and ``last``, any of them from the fallback)."""
        n, fallback = 0, False
        d = first + timedelta(days=1)
        for _ in range(_MAX_DAYS):
            if d >= last:
                return n, fallback
            work, fb = self.day_info(d)
            n += work
            fallback |= fb
            d += timedelta(days=1)
        raise ValueError(f"more than {_MAX_DAYS} days between {first} and {last}")

    def working_point(self, start_ms: int, offset_ms: int) -> Deadline:
        """The instant ``offset_ms`` (> 0) of working time after ``start_ms`` — what
        :meth:`add_working_hours` returns — jumping over whole working days (memoised per day)."""
        d = self.local_date(start_ms)
        work, fallback = self.day_info(d)
        if work:
            base = self._midnight_ms(d)
            have = self._overlap(d, start_ms, base + 2 * DAY_MS)
            if offset_ms <= have:
                return Deadline(self._point_in_day(base, start_ms, offset_ms), fallback)
            offset_ms -= have
        j = (offset_ms - 1) // self._daily_ms + 1  # the j-th working day after d holds the point
        day, fb = self._nth_working_day(d, j)
        base = self._midnight_ms(day)
        return Deadline(self._point_in_day(base, base, offset_ms - (j - 1) * self._daily_ms), fallback or fb)

    def working_fraction(self, start_ms: int, due_ms: int, fraction: float) -> tuple[int, bool] | None:
        """(the instant at ``fraction`` of the working time between start and due, any day from the
        weekend fallback), or None when there is no working time between them.

        What :meth:`working_ms_between` then :meth:`working_point` give, fused (the start day is looked
        up once, no intermediate objects): it runs for most clocks a report starts."""
        d0, d1 = self.local_date(start_ms), self.local_date(due_ms)
        work0, fallback = self.day_info(d0)
        head = self._overlap(d0, start_ms, due_ms) if work0 else 0  # on the start day, after the start
        allowed = head
        if d1 != d0:
            hit = self._whole_days_between(d0, d1)
            work1, fb1 = self.day_info(d1)
            allowed += hit[0] * self._daily_ms + (self._overlap(d1, start_ms, due_ms) if work1 else 0)
            fallback = fallback or hit[1] or fb1
        if allowed <= 0:
            return None
        offset = max(1, int(allowed * fraction))
        if offset <= head:
            return self._point_in_day(self._midnight_ms(d0), start_ms, offset), fallback
        offset -= head
        j = (offset - 1) // self._daily_ms + 1  # the j-th working day after the start day holds it
        nth = self._nth_working_day(d0, j)
        base = self._midnight_ms(nth[0])
        return self._point_in_day(base, base, offset - (j - 1) * self._daily_ms), fallback or nth[1]

    def _overlap(self, d: date, start_ms: int, end_ms: int) -> int:
        """Working ms of working day ``d`` inside [start_ms, end_ms]."""
        base = self._midnight_ms(d)
        total = 0
        for a, b in self.work_hours:
            lo = max(base + a * MINUTE_MS, start_ms)
            hi = min(base + b * MINUTE_MS, end_ms)
            if hi > lo:
                total += hi - lo
        return total

    def _point_in_day(self, base: int, start_ms: int, offset_ms: int) -> int:
        """The instant ``offset_ms`` of working time after ``start_ms`` within the day at ``base``."""
        for a, b in self.work_hours:
            lo = max(base + a * MINUTE_MS, start_ms)
            hi = base + b * MINUTE_MS
            if lo >= hi:
                continue
            if offset_ms <= hi - lo:
                return lo + offset_ms
            offset_ms -= hi - lo
        raise AssertionError("offset beyond the day's working time")

    def sub_working_hours(self, end_ms: int, hours: float) -> Deadline:
        """The instant ``hours`` working hours before ``end_ms`` (for "warn one working hour before")."""
        remaining = int(round(hours * HOUR_MS))
        d = self.local_date(end_ms)
        fallback = False
        for _ in range(_MAX_DAYS):
            work, fb = self.day_info(d)
            fallback |= fb
            if work:
                base = self._midnight_ms(d)
                for a, b in reversed(self.work_hours):
                    lo = base + a * MINUTE_MS
                    hi = min(base + b * MINUTE_MS, end_ms)
                    if lo >= hi:
                        continue
                    if remaining <= hi - lo:
                        return Deadline(hi - remaining, fallback)
                    remaining -= hi - lo
            d -= timedelta(days=1)
        raise ValueError(f"no working time found within {_MAX_DAYS} days before {end_ms}")

    def add(self, start_ms: int, spec: dict) -> Deadline:
        """Add a duration spec: one of ``minutes``, ``hours``, ``days`` (elapsed), ``working_days``,
        ``working_hours``."""
        if len(spec) != 1:
            raise ValueError(f"a duration names exactly one unit, got {spec}")
        (unit, amount), = spec.items()
        if unit == "minutes":
            return Deadline(start_ms + int(amount * MINUTE_MS))
        if unit == "hours":
            return Deadline(start_ms + int(amount * HOUR_MS))
        if unit == "days":
            return Deadline(start_ms + int(amount * DAY_MS))
        if unit == "working_days":
            return self.add_working_days(start_ms, int(amount))
        if unit == "working_hours":
            return self.add_working_hours(start_ms, float(amount))
        raise ValueError(f"unknown duration unit {unit!r}; expected minutes, hours, days, working_days or "
                         "working_hours")
