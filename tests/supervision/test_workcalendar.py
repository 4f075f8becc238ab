"""The official work calendar: statutory holidays, make-up working days, and unknown years."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import orjson
import pytest

from feeds.supervision.workcalendar import WorkCalendar
from tests.supervision.factories import CONFIG, local, ms


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.load(CONFIG)


# Spring Festival 2026: off Sun 15 Feb - Mon 23 Feb; make-up working Saturdays 14 Feb and 28 Feb.
@pytest.mark.parametrize("day, working", [
    (date(2026, 2, 13), True),   # Friday before the holiday
    (date(2026, 2, 14), True),   # make-up Saturday (调休)
    (date(2026, 2, 15), False),  # Sunday, holiday
    (date(2026, 2, 17), False),  # 初一
    (date(2026, 2, 23), False),  # last holiday, a Monday
    (date(2026, 2, 24), True),   # back to work
    (date(2026, 2, 28), True),   # make-up Saturday
    (date(2026, 3, 1), False),   # ordinary Sunday
    (date(2026, 10, 1), False),  # National Day
    (date(2026, 10, 10), True),  # make-up Saturday
])
def test_spring_festival_week_follows_the_official_calendar(cal: WorkCalendar, day: date, working: bool) -> None:
    assert cal.is_workday(day) is working
    assert cal.day_info(day)[1] is False


@pytest.mark.parametrize("start, n, due", [
    (ms(2026, 2, 13, 10, 0), 1, ms(2026, 2, 15)),   # the make-up Saturday counts
    (ms(2026, 2, 13, 10, 0), 2, ms(2026, 2, 25)),   # the holiday week does not
    (ms(2026, 2, 13, 10, 0), 7, ms(2026, 3, 3)),    # whistle matter: 7 working days, incl. 28 Feb
    (ms(2026, 2, 16, 9, 0), 1, ms(2026, 2, 25)),    # reported inside the holiday
    (ms(2026, 11, 25, 16, 0), 3, ms(2026, 12, 1)),  # Wed + 3 working days = end of Monday
    (ms(2026, 11, 25, 16, 0), 0, ms(2026, 11, 26)),
])
def test_working_days_end_at_midnight_of_the_nth_working_day(cal: WorkCalendar, start: int, n: int,
                                                              due: int) -> None:
    d = cal.add_working_days(start, n)
    assert (local(d.at), d.fallback) == (local(due), False)


@pytest.mark.parametrize("start, hours, due", [
    (ms(2026, 11, 25, 9, 0), 2, ms(2026, 11, 25, 11, 0)),
    (ms(2026, 11, 25, 11, 0), 2, ms(2026, 11, 25, 14, 30)),   # the lunch break does not count
    (ms(2026, 11, 25, 17, 0), 1, ms(2026, 11, 26, 9, 0)),     # continues next morning
    (ms(2026, 11, 27, 17, 0), 1, ms(2026, 11, 30, 9, 0)),     # Friday evening -> Monday
    (ms(2026, 11, 25, 20, 0), 1, ms(2026, 11, 26, 9, 30)),    # outside hours: starts at opening
    (ms(2026, 2, 13, 17, 0), 1, ms(2026, 2, 14, 9, 0)),       # into the make-up Saturday
    (ms(2026, 2, 14, 17, 0), 1, ms(2026, 2, 24, 9, 0)),       # over the Spring Festival
])
def test_working_hours_skip_nights_lunch_weekends_and_holidays(cal: WorkCalendar, start: int, hours: float,
                                                               due: int) -> None:
    assert local(cal.add_working_hours(start, hours).at) == local(due)


def test_one_working_hour_before_a_monday_morning_deadline_is_friday_afternoon(cal: WorkCalendar) -> None:
    assert local(cal.sub_working_hours(ms(2026, 11, 30, 9, 0), 1).at) == local(ms(2026, 11, 27, 17, 0))


def test_a_seven_day_clock_crossing_into_an_unknown_year_gets_a_flagged_deadline(
        cal: WorkCalendar, caplog: pytest.LogCaptureFixture) -> None:
    cal._warned.discard(2027)
    with caplog.at_level(logging.WARNING):
        d = cal.add_working_days(ms(2026, 12, 28, 10, 0), 7)
    # Dec 29-31 (3), 1 Jan is a fixed statutory holiday, then Jan 4-7 (4) -> end of Thursday 7 Jan
    assert local(d.at) == local(ms(2027, 1, 8))
    assert d.fallback is True
    assert "2027" in caplog.text and "fallback" in caplog.text


def test_a_deadline_wholly_inside_the_known_years_is_not_flagged(cal: WorkCalendar) -> None:
    assert cal.add_working_days(ms(2026, 12, 1, 10, 0), 7).fallback is False


def test_an_official_override_file_replaces_the_fallback(tmp_path: Path) -> None:
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "2027.json").write_bytes(orjson.dumps({
        "year": 2027, "status": "official", "holidays": ["2027-01-01", "2027-01-04"],
        "workdays": ["2027-01-09"]}))
    cal = WorkCalendar.load(tmp_path)
    assert cal.day_info(date(2027, 1, 4)) == (False, False)
    assert cal.day_info(date(2027, 1, 9)) == (True, False)   # a make-up Saturday
    assert cal.day_info(date(2027, 1, 5)) == (True, False)


def test_without_any_file_an_unknown_year_falls_back_to_weekends(tmp_path: Path) -> None:
    cal = WorkCalendar.load(tmp_path)
    assert cal.day_info(date(2027, 1, 1)) == (True, True)   # unknown: a Friday works, flagged
    assert cal.day_info(date(2027, 1, 2)) == (False, True)


@pytest.mark.parametrize("spec", [{"weeks": 1}, {"minutes": 1, "hours": 1}])
def test_unknown_duration_units_are_refused_with_the_expected_ones(cal: WorkCalendar, spec: dict) -> None:
    with pytest.raises(ValueError, match="minutes|one unit"):
        cal.add(0, spec)
