"""The case lifecycle as a pure state machine: transitions, versions, timers, alerts."""

from __future__ import annotations

import random

import pytest

from feeds.supervision import lifecycle as lc
from tests.supervision.factories import STREET, ms, report, rules, update

T0 = ms(2026, 11, 25, 10, 0)
MIN = 60_000
DATA = {"dispatched": {"dept": "ZFJ"}, "closed": {"closure_reason": "fixed"},
        "evaluated": {"satisfaction": "satisfied"}, "whistle": {"grade": "general", "depts": ["ZFJ", "ZJJ"]},
        "extension_requested": {"hours": 24}, "extension_approved": {}, "duplicate_merged": {"into": "Z"},
        "returned": {"reason": "非本部门"}}


def run(kinds: list[str], case: str = "A", **report_kw) -> tuple[dict, list[tuple]]:
    """Apply a report and then ``kinds`` a minute apart; returns the state and all effects."""
    s = lc.apply(None, report(case, T0, **report_kw), rules()).state
    effects: list[tuple] = []
    for i, kind in enumerate(kinds, start=2):
        tr = lc.apply(s, update(case, i, kind, T0 + (i - 1) * MIN, **DATA.get(kind, {})), rules())
        s = tr.state
        effects.extend(tr.effects)
    return s, effects


def dead(effects: list[tuple]) -> list[str]:
    return [e[1] for e in effects if e[0] == "dead"]


@pytest.mark.parametrize("kinds, status", [
    ([], "reported"),
    (["accepted"], "accepted"),
    (["dispatched"], "dispatched"),
    (["dispatched", "signed"], "signed"),
    (["dispatched", "signed", "contacted", "on_scene"], "in_progress"),
    (["dispatched", "signed", "on_scene", "feedback"], "feedback"),
    (["dispatched", "signed", "resolved"], "resolved"),
    (["dispatched", "signed", "resolved", "closed"], "closed"),
    (["dispatched", "signed", "resolved", "closed", "evaluated"], "evaluated"),
    (["dispatched", "returned"], "returned"),
    (["dispatched", "returned", "dispatched", "signed"], "signed"),
    (["dispatched", "signed", "closed", "reopened"], "reopened"),
    (["dispatched", "signed", "closed", "reopened", "signed", "closed"], "closed"),
    (["dispatched", "duplicate_merged"], "merged"),
    (["dispatched", "whistle"], "dispatched"),
    (["dispatched", "extension_requested", "extension_approved"], "dispatched"),
    (["dispatched", "suspended", "resumed", "signed"], "signed"),
    (["signed"], "signed"),        # a room signs a 110 hand-over without a dispatch
    (["resolved", "closed"], "closed"),  # a grid worker settles it himself
])
def test_legal_paths_reach_their_status(kinds: list[str], status: str) -> None:
    s, effects = run(kinds)
    assert dead(effects) == []
    assert s["status"] == status
    assert s["v"] == len(kinds) + 1


@pytest.mark.parametrize("kinds, reason", [
    (["evaluated"], "not allowed when the case is 'reported'"),
    (["dispatched", "signed", "closed", "signed"], "not allowed when the case is 'closed'"),
    (["dispatched", "signed", "closed", "closed"], "not allowed"),
    (["reopened"], "not allowed"),
    (["returned"], "not allowed"),
    (["dispatched", "duplicate_merged", "signed"], "not allowed when the case is 'merged'"),
    (["resumed"], "not suspended"),
    (["suspended", "suspended"], "already suspended"),
    (["extension_approved"], "without a duration"),
    (["mystery.kind"], "unknown kind"),
    (["alert.ack"], "no alert"),
])
def test_illegal_transitions_are_dead_lettered_with_their_reason(kinds: list[str], reason: str) -> None:
    s, effects = run(kinds)
    assert len(dead(effects)) == 1
    assert reason in dead(effects)[0]
    assert s["v"] == len(kinds) + 1  # the version is consumed: nothing waits behind it


@pytest.mark.parametrize("kind, data, reason", [
    ("closed", {"closure_reason": "because"}, "closure_reason"),
    ("dispatched", {}, "department"),
    ("whistle", {"grade": "huge", "depts": ["ZFJ"]}, "grade"),
    ("whistle", {"grade": "major", "depts": []}, "depts"),
    ("whistle", {"grade": "major", "depts": "ZFJ"}, "depts"),
    ("evaluated", {"satisfaction": "meh"}, "satisfaction"),
    ("duplicate_merged", {}, "into"),
    ("extension_approved", {"hours": "soon"}, "malformed extension_approved"),
    ("extension_approved", {"until": "tomorrow"}, "malformed extension_approved"),
])
def test_malformed_updates_are_rejected(kind: str, data: dict, reason: str) -> None:
    s = lc.apply(None, report("A", T0), rules()).state
    if kind == "evaluated":
        s = lc.apply(s, update("A", 2, "closed", T0 + MIN, closure_reason="fixed"), rules()).state
    v = s["v"] + 1
    tr = lc.apply(s, update("A", v, kind, T0 + 2 * MIN, **data), rules())
    assert reason in dead(tr.effects)[0]


def test_an_update_before_its_report_waits_for_it() -> None:
    tr = lc.apply(None, update("A", 2, "dispatched", T0 + MIN, dept="ZFJ"), rules())
    assert tr.effects == [("parked", tr.effects[0][1])] and tr.state["status"] is None
    tr = lc.apply(tr.state, report("A", T0), rules())
    assert tr.state["status"] == "dispatched" and tr.applied == 2 and tr.previous is None and tr.changed


def test_repeated_and_shuffled_updates_give_the_same_state() -> None:
    entries = [report("A", T0)] + [update("A", v, k, T0 + v * MIN, **DATA.get(k, {})) for v, k in enumerate(
        ["dispatched", "signed", "on_scene", "resolved", "closed", "evaluated"], start=2)]
    ordered = None
    for e in entries:
        ordered = lc.apply(ordered, e, rules()).state
    rng = random.Random(3)
    for _ in range(20):
        noisy = entries * 10
        rng.shuffle(noisy)
        s = None
        for e in noisy:
            s = lc.apply(s, e, rules()).state
        assert s == ordered


def test_a_repeated_entry_is_reported_as_a_duplicate_and_changes_nothing() -> None:
    s, _ = run(["dispatched"])
    before = repr(s)
    tr = lc.apply(s, update("A", 2, "dispatched", T0 + MIN, dept="ZFJ"), rules())
    assert tr.effects[0][0] == "duplicate" and not tr.changed and repr(tr.state) == before


def test_a_cross_channel_duplicate_is_counted_once_and_has_no_clocks_but_follows_its_source() -> None:
    s = lc.apply(None, report("B", T0, duplicate_of="A"), rules()).state
    assert (s["merged_into"], s["counted"], s["clocks"]) == ("A", False, {})
    tr = lc.apply(s, update("B", 2, "dispatched", T0 + MIN, dept="ZFJ"), rules())
    assert dead(tr.effects) == [] and tr.state["status"] == "dispatched" and tr.state["alerts"] == {}


def test_a_category_without_owner_goes_to_the_streets_room() -> None:
    s, _ = run([], category="QT-OTHER")
    assert s["dept"] == f"ROOM-{STREET}"


def test_a_returned_case_goes_back_to_the_room_for_re_dispatch() -> None:
    s, _ = run(["dispatched", "returned"])
    assert (s["dept"], s["returns"]) == (f"ROOM-{STREET}", 1)


def test_overdue_fires_at_the_due_instant_whenever_the_update_arrives() -> None:
    s = lc.apply(None, report("A", T0, channel="police_110"), rules()).state
    tr = lc.apply(s, update("A", 2, "signed", T0 + 5 * MIN), rules())
    sign = tr.state["clocks"]["sign"]
    assert (sign["state"], sign["met"]) == ("late", T0 + 5 * MIN)
    alerts = tr.state["alerts"]
    assert alerts["A:sign:overdue"]["raised_at"] == T0 + MIN
    assert alerts["A:sign:overdue"]["resolution"] == "met"
    assert alerts["A:sign:near_due"]["resolution"] == "superseded"
    assert alerts["A:sign:overdue"]["level"] == 0  # not yet 15 minutes


def test_a_stage_met_on_its_due_instant_is_on_time_and_raises_no_overdue() -> None:
    s = lc.apply(None, report("A", T0, channel="police_110"), rules()).state
    s = lc.apply(s, update("A", 2, "signed", T0 + MIN), rules()).state
    assert s["clocks"]["sign"]["state"] == "met"
    assert "A:sign:overdue" not in s["alerts"]


def test_closing_as_duplicate_cancels_the_clocks_and_resolves_alerts() -> None:
    s = lc.apply(None, report("A", T0, channel="police_110"), rules()).state
    tr = lc.apply(s, update("A", 2, "closed", T0 + 5 * MIN, closure_reason="duplicate"), rules())
    assert {c["state"] for c in tr.state["clocks"].values()} == {"cancelled"}
    assert all(a["state"] == "resolved" for a in tr.state["alerts"].values())


def test_suspension_stops_the_clock_and_resumption_shifts_it() -> None:
    s, _ = run(["dispatched", "suspended"])
    due = s["clocks"]["close"]["due"]
    assert lc.next_timer(s, rules().policy) is None
    s = lc.apply(s, update("A", 4, "resumed", T0 + 2 * MIN + 2 * 86_400_000), rules()).state
    assert s["clocks"]["close"]["due"] == due + 2 * 86_400_000 and s["paused_ms"] == 2 * 86_400_000


def test_an_extension_after_an_overdue_alert_starts_a_new_clock_instance() -> None:
    s = lc.apply(None, report("A", T0), rules()).state
    s = lc.apply(s, update("A", 2, "dispatched", T0 + MIN, dept="ZFJ"), rules()).state
    late = ms(2026, 12, 2, 9, 0)  # after the 3-working-day close deadline
    s = lc.apply(s, update("A", 3, "extension_approved", late, working_days=3), rules()).state
    assert s["clocks"]["close"]["state"] == "extended"
    assert s["alerts"]["A:close:overdue"]["resolution"] == "extended"
    assert s["clocks"]["close@2"]["state"] == "running" and s["clocks"]["close@2"]["due"] > late


def test_a_reopened_case_gets_a_new_closure_clock() -> None:
    s, _ = run(["dispatched", "signed", "closed", "reopened"])
    assert s["clocks"]["close"]["state"] == "met"
    assert s["clocks"]["close@2"]["start"] == T0 + 4 * MIN and s["reopens"] == 1 and s["closed_at"] is None


def test_alert_commands_act_on_the_cases_alert() -> None:
    s = lc.apply(None, report("A", T0, channel="police_110"), rules()).state
    tr = lc.apply(s, update("A", 2, "alert.ack", T0 + 2 * MIN, alert="A:sign:overdue", role="duty", actor="d1"),
                  rules())
    a = tr.state["alerts"]["A:sign:overdue"]
    assert (a["state"], a["acked_by"], a["handled_at"]) == ("acknowledged", "d1", T0 + 2 * MIN)
    assert tr.state["timeline"][-1]["kind"] == "alert.ack"
    tr = lc.apply(tr.state, update("A", 3, "alert.ack", T0 + 3 * MIN, alert="A:sign:overdue", actor="d2"),
                  rules())
    assert "already acknowledged by d1" in dead(tr.effects)[0]


def test_an_unknown_category_still_gets_a_case_and_a_rule() -> None:
    s, _ = run([], category="NOT-A-CATEGORY", level=0, flags=["unknown_category"])
    assert (s["dept"], s["rule"], s["level"]) == (f"ROOM-{STREET}", "ordinary", 1)


def test_transition_reports_previous_current_and_changed() -> None:
    s, _ = run(["dispatched"])
    tr = lc.apply(s, update("A", 3, "signed", T0 + 5 * MIN), rules())
    assert (tr.previous, tr.current, tr.changed) == ("dispatched", "signed", True)
    tr = lc.apply(tr.state, update("A", 4, "extension_requested", T0 + 6 * MIN, hours=2), rules())
    assert (tr.previous, tr.current, tr.changed) == ("signed", "signed", False)


@pytest.mark.parametrize("now, status", [
    (T0 + 30 * MIN, "on_track"),
    (ms(2026, 11, 30, 12, 0), "near_due"),
    (ms(2026, 12, 1, 0, 0), "overdue"),
])
def test_sla_status_of_an_open_case(now: int, status: str) -> None:
    s, _ = run(["dispatched", "signed"])
    s["clocks"].pop("dispatch")
    assert lc.sla_status(s, now) == status


def test_backfilled_cases_record_their_alerts_as_history() -> None:
    """Entries appended (stream id) long after they happened: their alerts go to history, not the queue."""
    appended = T0 + 30 * 86_400_000
    s = lc.apply(None, report("A", T0, channel="police_110", entry_id=f"{appended}-0"), rules()).state
    s = lc.apply(s, update("A", 2, "signed", T0 + 5 * MIN, entry_id=f"{appended}-1"), rules()).state
    a = s["alerts"]["A:sign:overdue"]
    assert (a["state"], a["resolution"], a["raised_at"]) == ("resolved", "history", T0 + MIN)


def test_a_live_case_raises_live_alerts_however_late_they_are_detected() -> None:
    s = lc.apply(None, report("A", T0, channel="police_110"), rules()).state
    effects: list = []
    lc.advance(s, T0 + 10 * 86_400_000, rules(), effects)  # the worker was down for ten days
    assert s["alerts"]["A:close:overdue"]["state"] == "escalated"
    assert ("alert", "raised", "A:close:overdue", s["clocks"]["close"]["due"]) in effects


def test_a_malformed_report_is_dead_lettered_not_raised() -> None:
    e = report("A", T0)
    bad = type(e)(e.id, e.kind, e.case_id, 1, e.at, {**e.data, "level": "high"})
    tr = lc.apply(None, bad, rules())
    assert "malformed report" in dead(tr.effects)[0] and tr.state["status"] is None and tr.state["v"] == 1
