"""KPI arithmetic and the star rating (考核评价), pure: facts in, numbers (and the cases behind them) out.

The cohort of a period is the cases *received* in it (cross-channel duplicates linked at intake
are not cases of their own); everything is measured on that cohort as of ``now``:

- ``closure_rate`` (办结率) = closed with a counting reason (fixed / no_action / referred) ÷
  (received − closed as duplicate or not ours): duplicates and "not ours" never inflate it.
- ``on_time_rate`` = counting closures with every stage met in time ÷ (those + counting closures
  with a late stage + open cases already late: a stage met late or a running clock past due).
  Open cases not yet due are not judged.
- ``avg_hours`` / ``p90_hours``: received → closed of counting closures (P90 by nearest rank).
- ``satisfaction_rate`` = (satisfied + basically) ÷ evaluated.
- ``effective_disposal_rate`` (有效处置率) = counting closures never reopened and not rated
  dissatisfied ÷ counting closures.
- ``reopen_rate`` = cases reopened at least once ÷ (counting closures ∪ reopened cases).
- ``by_reason``: closures per closure reason.
A rate with an empty denominator is ``None`` (shown as "—"), never 0 or 1.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from feeds.model import ClosureReason, Satisfaction

COUNTING = frozenset({ClosureReason.FIXED, ClosureReason.NO_ACTION, ClosureReason.REFERRED})
EXCLUDED = frozenset({ClosureReason.DUPLICATE, ClosureReason.NOT_OURS})
_OPEN_DONE = frozenset({"closed", "evaluated", "merged"})
RATES = ("closure_rate", "on_time_rate", "satisfaction_rate", "effective_disposal_rate", "reopen_rate")


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def p90(values: list[float]) -> float | None:
    """90th percentile by nearest rank (an observed value, stable for small samples)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def is_open(f: dict) -> bool:
    return f["st"] not in _OPEN_DONE


def compute(facts: list[dict], now: int, with_cases: bool = False) -> dict:
    """KPIs of a cohort of case facts (see module doc); ``cases`` lists the ids behind each KPI."""
    ids: dict[str, list[str]] = {k: [] for k in (
        "received", "closed", "excluded", "on_time", "late", "open", "open_late", "open_overdue", "evaluated",
        "satisfied", "dissatisfied", "effective", "reopened")}
    by_reason: Counter[str] = Counter()
    by_reason_ids: dict[str, list[str]] = {}
    hours: list[float] = []
    for f in facts:
        cid = f["id"]
        ids["received"].append(cid)
        reason = f.get("reason")
        closed = f.get("closed") is not None and not is_open(f)
        if closed and reason:
            by_reason[reason] += 1
            by_reason_ids.setdefault(reason, []).append(cid)
        if f.get("reopens"):
            ids["reopened"].append(cid)
        if closed and reason in EXCLUDED:
            ids["excluded"].append(cid)
            continue
        if closed and reason in COUNTING:
            ids["closed"].append(cid)
            hours.append((f["closed"] - f["recv"]) / 3_600_000)
            ids["late" if f.get("late") else "on_time"].append(cid)
            if not f.get("reopens") and f.get("sat") != Satisfaction.DISSATISFIED:
                ids["effective"].append(cid)
        elif is_open(f):
            ids["open"].append(cid)
            overdue = f.get("due") is not None and f["due"] <= now
            if overdue:
                ids["open_overdue"].append(cid)
            if f.get("late") or overdue:
                ids["late"].append(cid)
                ids["open_late"].append(cid)
        sat = f.get("sat")
        if sat:
            ids["evaluated"].append(cid)
            ids["dissatisfied" if sat == Satisfaction.DISSATISFIED else "satisfied"].append(cid)
    n_closed = len(ids["closed"])
    reopen_base = len(set(ids["closed"]) | set(ids["reopened"]))
    out = {
        "received": len(ids["received"]),
        "closed": n_closed,
        "excluded": len(ids["excluded"]),
        "open": len(ids["open"]),
        "open_overdue": len(ids["open_overdue"]),
        "open_late": len(ids["open_late"]),
        "closure_rate": _rate(n_closed, len(ids["received"]) - len(ids["excluded"])),
        "on_time_rate": _rate(len(ids["on_time"]), len(ids["on_time"]) + len(ids["late"])),
        "avg_hours": round(sum(hours) / len(hours), 3) if hours else None,
        "p90_hours": round(p90(hours), 3) if hours else None,
        "satisfaction_rate": _rate(len(ids["satisfied"]), len(ids["evaluated"])),
        "effective_disposal_rate": _rate(len(ids["effective"]), n_closed),
        "reopen_rate": _rate(len(ids["reopened"]), reopen_base),
        "by_reason": dict(sorted(by_reason.items())),
    }
    if with_cases:
        cases = dict(ids)
        cases.update({f"by_reason:{r}": v for r, v in sorted(by_reason_ids.items())})
        out["cases"] = cases
    return out


@dataclass(frozen=True)
class RatingRule:
    """``config/rating.json``: metric weights and bands, minimum volume, stars per veto."""

    min_cases: int
    metrics: tuple[dict, ...]
    bands: tuple[dict, ...]
    veto_stars: int = 1

    @classmethod
    def from_json(cls, raw: dict) -> RatingRule:
        metrics = tuple(raw["metrics"])
        total = sum(m["weight"] for m in metrics)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"rating metric weights must sum to 1, got {total}")
        for m in metrics:
            if m["kpi"] not in RATES:
                raise ValueError(f"rating metric {m['kpi']!r} is not one of {RATES}")
            if m["target"] == m["floor"]:
                raise ValueError(f"rating metric {m['kpi']!r}: target equals floor")
        bands = tuple(sorted(raw["bands"], key=lambda b: -b["min_score"]))
        return cls(min_cases=int(raw.get("min_cases", 0)), metrics=metrics, bands=bands,
                   veto_stars=int(raw.get("veto_stars", 1)))

    @classmethod
    def load(cls, config_dir: Path) -> RatingRule:
        return cls.from_json(orjson.loads((Path(config_dir) / "rating.json").read_bytes()))


def rate(values: dict, rule: RatingRule, vetoes: list[dict] | None = None) -> dict:
    """Stars (1-5, 0 after vetoes, None below the minimum volume) and the score behind them.

    A metric with no data (rate None) scores as the weighted average of the others, so a room
    is neither punished nor rewarded for, e.g., having no evaluations yet.
    """
    vetoes = vetoes or []
    volume = values.get("received", 0)
    if volume < rule.min_cases:
        return {"stars": None, "score": None, "volume": volume, "vetoes": len(vetoes),
                "reason": f"fewer than {rule.min_cases} cases"}
    got, weight = 0.0, 0.0
    for m in rule.metrics:
        v = values.get(m["kpi"])
        if v is None:
            continue
        part = (v - m["floor"]) / (m["target"] - m["floor"])
        got += m["weight"] * min(1.0, max(0.0, part))
        weight += m["weight"]
    score = round(got / weight, 6) if weight else 0.0
    stars = next((b["stars"] for b in rule.bands if score >= b["min_score"]), 1)
    removed = sum(int(v.get("stars") or rule.veto_stars) for v in vetoes)
    return {"stars": max(0, stars - removed), "score": score, "volume": volume, "vetoes": len(vetoes),
            "reason": "veto" if removed else ""}
