"""The alert state machine: acknowledgement, escalation timing, ack timeouts, the history horizon."""

from __future__ import annotations

import pytest

from feeds.supervision import alerts as al

T = 1_800_000_000_000
S = 1000
POLICY = al.AlertPolicy(auto_escalate_after_s=(900, 1800), ack_timeout_s=7200, history_horizon_s=86400)


def fresh(kind: str = al.OVERDUE, at: int = T) -> dict:
    alert, events = al.new_alert("C1", "sign", kind, at, at, at, POLICY)
    assert events == [("raised", at)]
    return alert


@pytest.mark.parametrize("now, state, level", [
    (T + 899 * S, "raised", 0),
    (T + 900 * S, "escalated", 1),              # nobody signed in 15 min: the street leader
    (T + 900 * S + 1799 * S, "escalated", 1),
    (T + 900 * S + 1800 * S, "escalated", 2),   # 30 min more: the district
    (T + 100 * 3600 * S, "escalated", 2),       # and no further
])
def test_an_unacknowledged_overdue_alert_escalates_on_schedule(now: int, state: str, level: int) -> None:
    a = fresh()
    al.advance(a, now, POLICY)
    assert (a["state"], a["level"]) == (state, level)


def test_escalations_happen_at_their_own_time_not_when_observed() -> None:
    a = fresh()
    events = al.advance(a, T + 10 * 3600 * S, POLICY)
    assert events == [("escalated", T + 900 * S), ("escalated", T + 2700 * S)]
    assert [x["at"] for x in a["actions"] if x["action"] == "escalated"] == [T + 900 * S, T + 2700 * S]


def test_a_near_due_alert_is_a_warning_and_never_escalates_by_itself() -> None:
    a = fresh(al.NEAR_DUE)
    assert al.advance(a, T + 10 * 3600 * S, POLICY) == [] and a["level"] == 0


@pytest.mark.parametrize("command", ["ack", "urge", "escalate"])
def test_any_action_stops_auto_escalation(command: str) -> None:
    a = fresh()
    al.apply_command(a, command, T + 60 * S, "duty1", "duty", "on it")
    level = a["level"]
    al.advance(a, T + 3600 * S, POLICY)
    assert a["level"] == level and a["handled_at"] == T + 60 * S


def test_an_acknowledgement_times_out_and_re_raises_while_still_overdue() -> None:
    a = fresh()
    al.apply_command(a, "ack", T + 60 * S, "duty1", "duty")
    events = al.advance(a, T + 60 * S + 7200 * S, POLICY)
    assert events == [("reraised", T + 60 * S + 7200 * S)]
    assert (a["state"], a["reraised"], a["handled_at"]) == ("raised", 1, None)
    al.advance(a, T + 60 * S + 7200 * S + 900 * S, POLICY)  # and escalates again if ignored
    assert (a["state"], a["level"]) == ("escalated", 1)


def test_resolution_closes_the_alert_and_stops_its_timers() -> None:
    a = fresh()
    assert al.resolve(a, T + 5 * S, "met") == [("resolved", T + 5 * S)]
    assert al.next_timer(a, POLICY) is None and al.resolve(a, T + 6 * S, "met") == []


@pytest.mark.parametrize("setup, command, message", [
    (["ack"], "ack", "already acknowledged"),
    (["escalate", "escalate"], "escalate", "already escalated"),
    (["resolve"], "ack", "already resolved"),
    ([], "resolve_no_reason", "needs a reason"),
    ([], "note_no_text", "needs text"),
    ([], "dance", "unknown alert command"),
])
def test_illegal_commands_say_why(setup: list[str], command: str, message: str) -> None:
    a = fresh()
    for c in setup:
        al.apply_command(a, c, T + S, "d", "duty", "reason")
    cmd, reason = {"resolve_no_reason": ("resolve", ""), "note_no_text": ("note", "")}.get(command, (command, "x"))
    with pytest.raises(al.IllegalCommand, match=message):
        al.apply_command(a, cmd, T + 2 * S, "d", "duty", reason)


def test_a_note_is_allowed_even_on_a_resolved_alert() -> None:
    a = fresh()
    al.resolve(a, T + S, "met")
    assert al.apply_command(a, "note", T + 2 * S, "d", "duty", "复盘") == [("noted", T + 2 * S)]


@pytest.mark.parametrize("age_s, history", [(3600, False), (86400, False), (86401, True), (30 * 86400, True)])
def test_an_alert_detected_long_after_it_fell_due_is_recorded_as_history(age_s: int, history: bool) -> None:
    alert, events = al.new_alert("C1", "close", al.OVERDUE, T, T, T + age_s * S, POLICY)
    assert (alert["state"] == "resolved", alert["resolution"] == "history") == (history, history)
    assert events[0][0] == ("history" if history else "raised")


def test_the_queue_puts_unhandled_overdue_first_then_higher_levels_then_oldest() -> None:
    o1 = fresh(at=T)
    o2 = fresh(at=T - 5 * S)
    n = fresh(al.NEAR_DUE, at=T - 100 * S)
    acked = fresh(at=T - 200 * S)
    al.apply_command(acked, "ack", T, "d", "duty")
    esc = fresh(at=T + 50 * S)
    al.advance(esc, T + 50 * S + 900 * S, POLICY)
    order = sorted([o1, o2, n, acked, esc], key=al.urgency)
    assert order == [esc, o2, o1, acked, n]
