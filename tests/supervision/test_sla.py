"""SLA rules from data: which rule a case gets, and every stage clock it starts."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from feeds.supervision import lifecycle as lc
from feeds.supervision.sla import SlaBook, extend_clock, near_time, resolve_limit, start_clock
from tests.supervision.factories import local, ms, report, rules, update

T0 = ms(2026, 11, 25, 10, 0)  # a Wednesday
MIN = 60_000


@pytest.mark.parametrize("channel, category, level, rule", [
    ("police_110", "SR-GARBAGE", 1, "110-1312"),
    ("grid_app", "CG-MANHOLE", 2, "urgent-safety"),
    ("hotline_12345", "SR-GARBAGE", 1, "hotline-12345"),
    ("grid_app", "JF-WAGE", 3, "level-3"),
    ("grid_app", "SR-NOISE", 4, "level-4"),
    ("citizen_app", "SR-GARBAGE", 1, "ordinary"),
    ("la311", "LA-BULKY", 1, "la311-collection"),
    ("la311", "LA-WHATEVER", 1, "la311-default"),
])
def test_the_most_specific_rule_of_the_channels_rule_set_wins(channel: str, category: str, level: int,
                                                              rule: str) -> None:
    assert rules().sla.rule_for(channel, category, level).name == rule


@pytest.mark.parametrize("stage, due, near", [
    ("sign", T0 + 1 * MIN, T0 + 48_000),
    ("contact", T0 + 3 * MIN, T0 + 144_000),
    ("on_scene", T0 + 10 * MIN, T0 + 8 * MIN),
    ("feedback", T0 + 120 * MIN, T0 + 96 * MIN),
    ("close", ms(2026, 12, 1), None),
])
def test_the_110_handover_rule_1312_starts_four_clocks_and_a_closure_clock(stage: str, due: int,
                                                                          near: int | None) -> None:
    state = lc.apply(None, report("A", T0, channel="police_110"), rules()).state
    clock = state["clocks"][stage]
    assert (clock["start"], local(clock["due"])) == (T0, local(due))
    if near is not None:
        assert clock["near"] == near  # 80 % of the allowed time


@pytest.mark.parametrize("category, level, stages", [
    ("SR-GARBAGE", 1, {"dispatch": ms(2026, 11, 25, 12, 0), "close": ms(2026, 12, 1)}),
    ("JF-WAGE", 3, {"dispatch": ms(2026, 11, 25, 12, 0), "close": ms(2026, 12, 5)}),
    ("CG-MANHOLE", 2, {"dispatch": T0 + 15 * MIN, "feedback": T0 + 24 * 60 * MIN, "close": ms(2026, 12, 1)}),
])
def test_ordinary_matters_run_in_working_days_and_hours(category: str, level: int, stages: dict) -> None:
    state = lc.apply(None, report("A", T0, category=category, level=level), rules()).state
    for stage, due in stages.items():
        assert local(state["clocks"][stage]["due"]) == local(due), stage
    assert "sign" not in state["clocks"]  # sign starts when it is dispatched


def test_the_sign_clock_starts_at_dispatch() -> None:
    s = lc.apply(None, report("A", T0), rules()).state
    s = lc.apply(s, update("A", 2, "dispatched", T0 + 30 * MIN, dept="ZFJ"), rules()).state
    # 2 working hours from 10:30: 1.5 h before lunch, 0.5 h after 13:30
    assert local(s["clocks"]["sign"]["due"]) == local(ms(2026, 11, 25, 14, 0))


def test_a_whistle_matter_has_seven_working_days() -> None:
    s = lc.apply(None, report("A", T0, category="JF-WAGE", level=3), rules()).state
    s = lc.apply(s, update("A", 2, "whistle", T0 + MIN, grade="major", depts=["RSJ", "ZJJ"]), rules()).state
    assert local(s["clocks"]["whistle"]["due"]) == local(ms(2026, 12, 5))  # Thu..Wed = 7 working days -> end of Fri 4 Dec
    assert s["depts"] == ["RSJ", "ZJJ"]


@pytest.mark.parametrize("spec, near", [
    ({"fraction": 0.8}, T0 + 80 * MIN),
    ({"before_minutes": 30}, T0 + 70 * MIN),
    ({"before_hours": 1}, T0 + 40 * MIN),
    ({"before_working_hours": 1}, T0 + 40 * MIN),
    ({"before_hours": 5}, T0),  # never before the start
])
def test_near_due_thresholds(spec: dict, near: int) -> None:
    assert near_time(spec, T0, T0 + 100 * MIN, rules().calendar).at == near


def test_one_working_hour_before_skips_the_lunch_break() -> None:
    due = ms(2026, 11, 25, 14, 0)
    assert local(near_time({"before_working_hours": 1}, T0, due, rules().calendar).at) == local(
        ms(2026, 11, 25, 11, 30))


def test_an_extension_moves_the_due_and_the_near_point_follows() -> None:
    srule = rules().sla.rule_named("ordinary").stage("close")
    clock = start_clock(srule, T0, rules().calendar)
    moved = extend_clock(clock, srule, {"working_days": 2}, rules().calendar)
    assert local(moved["due"]) == local(ms(2026, 12, 3))
    # 80 % of the 43.5 working hours from Wed 10:00 to the end of Wed 2 Dec: Tue 1 Dec 16:18
    assert local(moved["near"]) == local(ms(2026, 12, 1, 16, 18))
    until = extend_clock(clock, srule, {"until": ms(2026, 12, 20)}, rules().calendar)
    assert until["due"] == ms(2026, 12, 20)


def test_a_rule_set_without_a_catch_all_is_refused() -> None:
    with pytest.raises(ValueError, match="catch-all"):
        SlaBook.from_json({"rulesets": {"default": {"rules": [
            {"name": "x", "match": {"level": 1}, "stages": [{"stage": "close", "limit": {"days": 1}}]}]}}})


LA = {"from_attr": "servicedate", "format": "%m/%d/%y %H:%M", "tz": "America/Los_Angeles", "end_of_day": True,
      "else": {"days": 5}}
LA_T0 = int(datetime(2020, 1, 1, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp() * 1000)


@pytest.mark.parametrize("attrs, due", [
    ({"servicedate": "1/3/20 0:00"}, datetime(2020, 1, 4, tzinfo=ZoneInfo("America/Los_Angeles"))),  # end of that day
    ({"servicedate": "12/30/19 0:00"}, datetime(2020, 1, 6, 9, tzinfo=ZoneInfo("America/Los_Angeles"))),  # before: 5 d
    ({"servicedate": "garbage"}, datetime(2020, 1, 6, 9, tzinfo=ZoneInfo("America/Los_Angeles"))),
    ({}, datetime(2020, 1, 6, 9, tzinfo=ZoneInfo("America/Los_Angeles"))),
])
def test_a_due_can_come_from_the_sources_own_field(attrs: dict, due: datetime) -> None:
    assert resolve_limit(LA, LA_T0, rules().calendar, attrs).at == int(due.timestamp() * 1000)


# Near-due of working-time clocks: a fraction of the *working* time allowed, placed on the work
# calendar (08:30-12:00, 13:30-17:30 on working days). Each case is a clock given as data:
# (start, limit, near spec) -> near-due instant, local time.
NEAR_DUE_CLOCKS = [
    pytest.param(ms(2026, 11, 27, 18, 0), {"working_days": 1}, {"fraction": 0.8}, ms(2026, 11, 30, 16, 0),
                 id="fri-evening-1wd: 6 of Monday's 7.5 h, not Mon 08:24"),
    pytest.param(ms(2026, 11, 27, 17, 0), {"working_days": 2}, {"fraction": 0.8}, ms(2026, 12, 1, 14, 24),
                 id="fri-17h-2wd: 12.4 of 15.5 h, not Mon 03:24"),
    pytest.param(ms(2026, 11, 27, 17, 0), {"working_days": 5}, {"fraction": 0.8}, ms(2026, 12, 3, 17, 24),
                 id="fri-17h-5wd"),
    pytest.param(ms(2026, 11, 28, 10, 0), {"working_days": 1}, {"fraction": 0.8}, ms(2026, 11, 30, 16, 0),
                 id="saturday-start"),
    pytest.param(ms(2026, 9, 30, 16, 0), {"working_days": 1}, {"fraction": 0.8}, ms(2026, 10, 8, 15, 42),
                 id="over-the-national-day-holidays"),
    pytest.param(T0, {"working_hours": 4}, {"fraction": 0.8}, ms(2026, 11, 25, 14, 42),
                 id="working-hours-across-lunch"),
    pytest.param(ms(2026, 11, 27, 17, 0), {"working_days": 1}, {"before_working_hours": 1},
                 ms(2026, 11, 30, 16, 30), id="one-working-hour-before"),
    pytest.param(T0, {"hours": 10}, {"fraction": 0.8}, T0 + 8 * 60 * MIN, id="elapsed-clock-unchanged"),
    pytest.param(ms(2026, 11, 28, 10, 0), {"working_days": 0}, {"fraction": 0.8}, ms(2026, 11, 28, 21, 12),
                 id="no-working-time-at-all: elapsed fraction"),
    pytest.param(ms(2026, 11, 27, 18, 0), {"from_attr": "x", "format": "%Y", "else": {"working_days": 1}},
                 {"fraction": 0.8}, ms(2026, 11, 30, 16, 0), id="source-field-absent: the fallback's unit"),
]


@pytest.mark.parametrize("start, limit, near_spec, near", NEAR_DUE_CLOCKS)
def test_near_due_is_a_fraction_of_the_working_time_on_the_calendar(start: int, limit: dict, near_spec: dict,
                                                                     near: int) -> None:
    from feeds.supervision.sla import StageRule

    rule = StageRule(stage="close", start="received", limit=limit, near=near_spec, met_by=frozenset())
    clock = start_clock(rule, start, rules().calendar)
    assert local(clock["near"]) == local(near)
    assert start <= clock["near"] <= clock["due"]


def test_no_wave_of_near_due_warnings_on_monday_night() -> None:
    """Clocks started over a Friday afternoon and evening: none near-due before Monday's working hours."""
    from feeds.supervision.sla import StageRule

    cal = rules().calendar
    for days in (1, 2, 3):
        rule = StageRule(stage="close", start="received", limit={"working_days": days}, near={"fraction": 0.8},
                         met_by=frozenset())
        for minute in range(0, 8 * 60, 15):  # Fri 16:00 .. Sat 00:00
            near = local(start_clock(rule, ms(2026, 11, 27, 16, 0) + minute * MIN, cal)["near"])
            assert near >= local(ms(2026, 11, 30, 8, 30)), (days, minute, near)
            assert cal.is_workday(near.date()) and (8, 30) <= (near.hour, near.minute) <= (17, 30)


@pytest.mark.parametrize("start, end, hours", [
    (T0, ms(2026, 11, 25, 15, 0), 3.5),  # 10-12, 13:30-15
    (ms(2026, 11, 27, 17, 0), ms(2026, 12, 1), 8.0),  # Fri 0.5 h + Mon 7.5 h
    (ms(2026, 9, 30, 8, 0), ms(2026, 10, 8), 7.5),  # 30 Sep, then the National Day holidays
    (ms(2026, 10, 9, 17, 0), ms(2026, 10, 12), 8.0),  # Fri 0.5 h + the make-up Saturday 10 Oct
    (T0, T0, 0.0),
])
def test_working_time_between_two_instants(start: int, end: int, hours: float) -> None:
    assert rules().calendar.working_ms_between(start, end).at == int(hours * 3_600_000)


def test_working_point_and_working_time_agree_with_adding_working_hours() -> None:
    """The fast near-due helpers against the day-by-day walk, on random instants of 2026."""
    import random

    cal = rules().calendar
    rnd = random.Random(7)
    for _ in range(300):
        start = ms(2026, 1, 1) + rnd.randrange(0, 350 * 86_400_000)
        hours = rnd.uniform(0.01, 80)
        due = cal.add_working_hours(start, hours)
        assert cal.working_point(start, int(round(hours * 3_600_000))) == due
        assert cal.working_ms_between(start, due.at).at == int(round(hours * 3_600_000))


def test_the_fused_working_fraction_equals_measuring_then_placing() -> None:
    import random

    cal = rules().calendar
    rnd = random.Random(11)
    for _ in range(300):
        start = ms(2026, 1, 1) + rnd.randrange(0, 350 * 86_400_000)
        due = start + rnd.randrange(0, 20 * 86_400_000)
        fraction = rnd.choice([0.5, 0.8, 0.9, 1.0])
        allowed = cal.working_ms_between(start, due)
        got = cal.working_fraction(start, due, fraction)
        if allowed.at == 0:
            assert got is None
            continue
        placed = cal.working_point(start, max(1, int(allowed.at * fraction)))
        assert got == (placed.at, allowed.fallback or placed.fallback)
