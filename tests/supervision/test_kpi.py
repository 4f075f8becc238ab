"""KPI arithmetic and the star rating, from facts rows."""

from __future__ import annotations

import pytest

from feeds.supervision import kpi

H = 3_600_000
NOW = 1_000 * H


def fact(i: int, st: str = "closed", reason: str | None = "fixed", hours: float = 10, late: bool = False,
         due: int | None = None, sat: str | None = None, reopens: int = 0) -> dict:
    closed = int(hours * H) if st in ("closed", "evaluated", "merged") else None
    return {"id": f"C{i}", "st": st, "recv": 0, "closed": closed, "reason": reason if closed else None,
            "late": late, "due": due, "sat": sat, "reopens": reopens}


def test_duplicates_and_not_ours_never_inflate_the_closure_rate() -> None:
    facts = [fact(1), fact(2), fact(3, reason="duplicate"), fact(4, reason="not_ours"),
             fact(5, st="dispatched", due=NOW + H)]
    v = kpi.compute(facts, NOW, with_cases=True)
    assert (v["received"], v["closed"], v["excluded"], v["open"]) == (5, 2, 2, 1)
    assert v["closure_rate"] == pytest.approx(2 / 3)
    assert v["by_reason"] == {"duplicate": 1, "fixed": 2, "not_ours": 1}
    assert v["cases"]["by_reason:duplicate"] == ["C3"] and v["cases"]["excluded"] == ["C3", "C4"]


def test_open_cases_past_due_count_as_late() -> None:
    facts = [fact(1), fact(2, late=True), fact(3, st="signed", due=NOW - 1), fact(4, st="signed", due=NOW + 1),
             fact(5, st="signed", due=NOW + 1, late=True)]
    v = kpi.compute(facts, NOW, with_cases=True)
    assert v["on_time_rate"] == pytest.approx(1 / 4)
    assert v["cases"]["late"] == ["C2", "C3", "C5"] and v["cases"]["open_late"] == ["C3", "C5"]
    assert v["cases"]["open_overdue"] == ["C3"]  # past due now; C5 only had a stage met late


def test_handling_time_average_and_p90_by_nearest_rank() -> None:
    v = kpi.compute([fact(i, hours=h) for i, h in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 100])], NOW)
    assert (v["avg_hours"], v["p90_hours"]) == (14.5, 9)


def test_satisfaction_effective_disposal_and_reopen_rates() -> None:
    facts = [fact(1, st="evaluated", sat="satisfied"), fact(2, st="evaluated", sat="basically"),
             fact(3, st="evaluated", sat="dissatisfied"), fact(4, reopens=1),
             fact(5, st="reopened", reopens=1, due=NOW + H)]
    v = kpi.compute(facts, NOW)
    assert v["satisfaction_rate"] == pytest.approx(2 / 3)
    assert v["effective_disposal_rate"] == pytest.approx(2 / 4)
    assert v["reopen_rate"] == pytest.approx(2 / 5)


def test_empty_denominators_are_none_not_zero() -> None:
    v = kpi.compute([], NOW)
    assert all(v[r] is None for r in kpi.RATES) and v["avg_hours"] is None


RULE = kpi.RatingRule.from_json({
    "min_cases": 10, "veto_stars": 1,
    "metrics": [{"kpi": "closure_rate", "weight": 0.5, "floor": 0.8, "target": 1.0},
                {"kpi": "on_time_rate", "weight": 0.5, "floor": 0.5, "target": 1.0}],
    "bands": [{"min_score": 0.9, "stars": 5}, {"min_score": 0.6, "stars": 3}, {"min_score": 0, "stars": 1}]})


@pytest.mark.parametrize("values, vetoes, stars", [
    ({"received": 100, "closure_rate": 1.0, "on_time_rate": 1.0}, [], 5),
    ({"received": 100, "closure_rate": 0.9, "on_time_rate": 0.9}, [], 3),     # 0.5*0.5 + 0.5*0.8 = 0.65
    ({"received": 100, "closure_rate": 0.5, "on_time_rate": 0.2}, [], 1),
    ({"received": 100, "closure_rate": 1.0, "on_time_rate": 1.0}, [{"stars": None}], 4),
    ({"received": 100, "closure_rate": 1.0, "on_time_rate": 1.0}, [{"stars": 5}], 0),  # 摘星
    ({"received": 9, "closure_rate": 1.0, "on_time_rate": 1.0}, [], None),   # too few cases: no rating
    ({"received": 100, "closure_rate": 1.0, "on_time_rate": None}, [], 5),   # no data: not punished
])
def test_star_rating(values: dict, vetoes: list[dict], stars: int | None) -> None:
    assert kpi.rate(values, RULE, vetoes)["stars"] == stars


def test_the_shipped_rating_rule_is_valid() -> None:
    from tests.supervision.factories import CONFIG

    rule = kpi.RatingRule.load(CONFIG)
    assert rule.min_cases > 0 and rule.bands[0]["stars"] == 5


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        kpi.RatingRule.from_json({"metrics": [{"kpi": "closure_rate", "weight": 0.4, "floor": 0, "target": 1}],
                                  "bands": []})
