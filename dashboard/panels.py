"""Pure builders of the screens' HTML panels (Dash html components from read-model dicts).

The same builders serve the snapshot (a Dash callback) and the live path (the relay renders a
row here and the browser inserts it with a Patch), so a row looks the same whichever way it
arrived. No Redis, no callbacks: unit-tested with plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dash import dcc, html

from dashboard import formatting as fmt
from dashboard import ids
from dashboard.names import (
    ACTION_NAMES,
    ALERT_STATE_NAMES,
    KIND_NAMES,
    REASON_NAMES,
    RESOLUTION_NAMES,
    ROLE_NAMES,
    SLA_NAMES,
    STATUS_NAMES,
    Names,
)

# --- KPI tiles ------------------------------------------------------------------------------
#: (key, label, unit, kind) of the wall's KPI tiles, in display order. ``kind`` picks the format.
KPI_TILES: tuple[tuple[str, str, str, str], ...] = (
    ("received", "今日受理", "件", "count"),
    ("closed", "今日办结", "件", "count"),
    ("closure_rate", "办结率", "%", "percent"),
    ("on_time_rate", "按时办结率", "%", "percent"),
    ("avg_handling_s", "平均处置时长", "", "duration"),
    ("satisfaction", "满意度", "%", "percent"),
    ("overdue", "超期未办结", "件", "count"),
)
#: Alternative key names a KPI may carry in the read model (first present wins).
KPI_ALIASES: dict[str, tuple[str, ...]] = {
    "received": ("received",),
    "closed": ("closed",),
    "closure_rate": ("closure_rate",),
    "on_time_rate": ("on_time_rate",),
    "avg_handling_s": ("avg_handling_s",),
    "satisfaction": ("satisfaction_rate",),
    # the wall's 超期未办结 counts every open overdue case (backlog), not only today's cohort
    "overdue": ("overdue_all", "open_overdue"),
}


def kpi_value(values: Mapping[str, Any], key: str) -> Any:
    if key == "avg_handling_s" and values.get("avg_handling_s") is None and values.get("avg_hours") is not None:
        return float(values["avg_hours"]) * 3600  # the engine reports hours
    for name in KPI_ALIASES.get(key, (key,)):
        if name in values and values[name] is not None:
            return values[name]
    return None


def kpi_text(values: Mapping[str, Any], key: str, kind: str) -> tuple[str, str]:
    """(number text, unit) of one KPI tile."""
    v = kpi_value(values, key)
    if kind == "percent":
        return fmt.percent(v), "%"
    if kind == "duration":
        return fmt.duration_short(v)
    return fmt.count(v), "件"


def kpi_tiles(values: Mapping[str, Any], prefix: str = ids.WALL_KPI_PREFIX,
              labels: Mapping[str, str] | None = None) -> list[html.Div]:
    tiles = []
    for key, label, _unit, kind in KPI_TILES:
        label = (labels or {}).get(key, label)
        text, unit = kpi_text(values, key, kind)
        cls = "kpi"
        if key == "overdue":
            cls += " alarm wide"
        elif key in ("closure_rate", "on_time_rate"):
            cls += " good"
        tiles.append(html.Div([
            html.Div(label, className="label"),
            html.Div([html.Span(text, id=f"{prefix}{key}"),
                      html.Span(unit, id=f"{prefix}{key}-unit", className="unit")], className="value"),
        ], className=cls))
    return tiles


def kpi_ops(values: Mapping[str, Any], prefix: str = ids.WALL_KPI_PREFIX) -> list[dict]:
    """Live-path ops that set each KPI tile's text (tiny: a few bytes per tile)."""
    ops = []
    for key, _label, _unit, kind in KPI_TILES:
        if kpi_value(values, key) is None and key not in values:
            continue
        text, unit = kpi_text(values, key, kind)
        ops.append({"t": "props", "id": f"{prefix}{key}", "p": {"children": text}})
        if kind == "duration":
            ops.append({"t": "props", "id": f"{prefix}{key}-unit", "p": {"children": unit}})
    return ops


# --- backlog bars -----------------------------------------------------------------------------
def backlog_bars(rows: Sequence[Mapping[str, Any]], names: Names, limit: int = 12) -> list[html.Div]:
    """One stacked bar per department: on track / near due / overdue, widths relative to the largest."""
    rows = [r for r in rows if int(r.get("open") or 0) > 0]
    rows = sorted(rows, key=lambda r: (-int(r.get("overdue") or 0), -int(r.get("near_due") or 0),
                                       -int(r.get("open") or 0)))[:limit]
    if not rows:
        return [html.Div("暂无在办案件", className="empty")]
    biggest = max(int(r.get("open") or 0) for r in rows) or 1
    out = []
    for r in rows:
        ok, near, over = (int(r.get(k) or 0) for k in ("on_track", "near_due", "overdue"))
        total = int(r.get("open") or ok + near + over)
        segs = [html.Span(className=c, style={"width": f"{100 * n / biggest:.2f}%"},
                          title=f"{label} {n}")
                for c, n, label in (("seg-ok", ok, "正常"), ("seg-near", near, "临期"), ("seg-over", over, "超期"))
                if n > 0]
        out.append(html.Div([
            html.Span(names.dept(r.get("code")), className="name"),
            html.Div(segs, className="bar"),
            html.Span([fmt.count(total), html.Span(f" /{over}" if over else "", className="muted")],
                      className="total"),
        ], className="bar-row", **{"data-key": str(r.get("code"))}))
    return out


def backlog_legend() -> html.Div:
    return html.Div([html.Span([html.I(className="seg-ok"), "正常"]),
                     html.Span([html.I(className="seg-near"), "临期"]),
                     html.Span([html.I(className="seg-over"), "超期"]),
                     html.Span("数字：在办 / 超期", style={"marginLeft": "auto"})], className="legend")


# --- alerts -------------------------------------------------------------------------------------
def alert_handled(alert: Mapping[str, Any]) -> bool:
    """A person has acted on it (签收/催办/督办). Deltas carry ``acked_by``, queries ``handled_at``."""
    if "handled_at" in alert:
        return alert.get("handled_at") is not None
    return bool(alert.get("acked_by"))


def alert_sort(alert: Mapping[str, Any]) -> float:
    """Order of the live alert lists: the engine's own queue score (``alerts.urgency``), so a row
    inserted live lands where the next snapshot will put it."""
    from feeds.supervision.alerts import urgency

    return urgency({"kind": alert.get("kind"), "level": int(alert.get("level") or 0),
                    "due": int(alert.get("due") or 0),
                    "handled_at": 1 if alert_handled(alert) else None})


def alert_row(alert: Mapping[str, Any], names: Names, *, variant: str = "wall", fresh: bool = False) -> html.Li:
    """One live alert: tag (临期/超期), what and where, a countdown the browser keeps running."""
    summary = alert.get("case_summary") or {}
    kind = str(alert.get("kind") or "")
    state = str(alert.get("state") or "raised")
    category = names.category(summary.get("category") or alert.get("category"))
    dept = names.dept(summary.get("dept") or alert.get("dept"))
    street = names.street(summary.get("street") or alert.get("street"))
    stage = names.stage(alert.get("stage"))
    level = int(alert.get("level") or 0)
    l1 = f"{stage}{KIND_NAMES.get(kind, kind)} · {category}"
    l2_parts = [street, dept, ALERT_STATE_NAMES.get(state, state)]
    if level:
        l2_parts.append("区级督办" if level >= 2 else "街道督办")
    if variant == "duty":
        l2_parts.append(str(alert.get("case") or ""))
    cls = f"alert-row {kind} {'acked' if alert_handled(alert) else ''} {'fresh' if fresh else ''}".split()
    children: list[Any] = [
        html.Div(l1, className="l1"), html.Div(" · ".join(p for p in l2_parts if p), className="l2"),
        html.Span("", className="countdown", **{"data-deadline": str(int(alert.get("due") or 0))}),
    ]
    if variant == "duty":
        children.append(alert_actions(alert))
    # the tag (临期/超期) is CSS content from data-tag: rows are flat, see ticker_row
    return html.Li(children, className=" ".join(cls),
                   **{"data-key": str(alert.get("id")), "data-case": str(alert.get("case") or ""),
                      "data-tag": KIND_NAMES.get(kind, kind)})


def alert_actions(alert: Mapping[str, Any]) -> html.Div:
    """签收 / 催办 / 督办 / 备注: plain buttons; live.js turns a tap into one request to the server."""
    aid = str(alert.get("id"))
    state = str(alert.get("state") or "raised")

    def btn(action: str, label: str, cls: str, disabled: bool = False) -> html.Button:
        return html.Button(label, className=f"btn {cls}", disabled=disabled,
                           **{"data-action": action, "data-alert": aid})

    return html.Div([
        btn("ack", "签收", "primary", disabled=state == "acknowledged" or alert_handled(alert)),
        btn("urge", "催办", "warn"),
        btn("escalate", "督办", "danger", disabled=int(alert.get("level") or 0) >= 2),
        btn("note", "备注", ""),
    ], className="actions")


def alert_order(alert: Mapping[str, Any]) -> int:
    """The CSS ``order`` of an alert row: the queue score (:func:`alert_sort`) as a 32-bit integer —
    its group (overdue/near-due, handled, level) then the deadline in minutes since 2020."""
    score = alert_sort(alert)
    group, due_ms = divmod(int(score), 10**13)
    return group * ORDER_GROUP + min(ORDER_GROUP - 1, max(0, (due_ms - ORDER_EPOCH_MS) // 60_000))


ORDER_GROUP = 10**8  # minutes: 190 years per group; 12 groups stay below 2**31
ORDER_EPOCH_MS = 1_577_836_800_000  # 2020-01-01 UTC


def slotted(rows: Sequence[html.Li], list_id: str, size: int, orders: Sequence[int]) -> list[html.Li]:
    """A live list as ``size`` fixed slots (ids ``ids.slot``): rows in the first, the rest empty.

    Why: Dash re-renders every child of a list whenever its children change (measured here:
    ~1.5 ms per row per update in headless Chromium, so 20-60 ms for one new ticker row, the
    whole latency budget). With slots, live.js (``applyList``) writes one row into one slot with
    ``set_props`` and only that slot renders; the visual order is the CSS ``order`` of each row
    (``orders``: ticker = newest first, alerts = :func:`alert_order`), so nothing else moves.
    """
    out: list[html.Li] = []
    for i in range(size):
        if i < len(rows):
            row = rows[i]
            row.id = ids.slot(list_id, i)
            row.style = {"order": int(orders[i])}
            out.append(row)
        else:
            out.append(html.Li(id=ids.slot(list_id, i), className="slot-empty"))
    return out


def alert_list(alerts: Sequence[Mapping[str, Any]], names: Names, *, variant: str = "wall",
               limit: int = 12, list_id: str | None = None) -> list[html.Li]:
    """The alert rows (most urgent first); with ``list_id`` as ``limit`` live slots."""
    rows = [alert_row(a, names, variant=variant) for a in alerts[:limit]]
    if list_id is None:
        return rows
    return slotted(rows, list_id, limit, [alert_order(a) for a in alerts[:limit]])


def _who(action: Mapping[str, Any]) -> str:
    """"值班员 李四", or just "系统" for the engine's own actions."""
    role, actor = str(action.get("role") or ""), str(action.get("actor") or "")
    name = ROLE_NAMES.get(role, role)
    return name if actor in ("", role, "system") else f"{name} {actor}"


def history_row(alert: Mapping[str, Any], names: Names) -> html.Li:
    summary = alert.get("case_summary") or {}
    actions = alert.get("actions") or []
    who = [f"{fmt.md_hm(a.get('at'))} {_who(a)} {ACTION_NAMES.get(a.get('action', ''), a.get('action', ''))}"
           + (f"：{REASON_NAMES.get(a.get('reason', ''), a.get('reason'))}" if a.get("reason") else "")
           for a in actions[-3:]]
    return html.Li([
        html.Div([html.Span(f"{names.stage(alert.get('stage'))}{KIND_NAMES.get(alert.get('kind', ''), '')} ",
                            className="who"),
                  f"{names.category(summary.get('category'))} · {alert.get('case', '')}"]),
        html.Div(" / ".join(who) or "—", className="muted"),
        html.Div(f"解除于 {fmt.md_hm(alert.get('resolved_at'))}"
                 f"（{RESOLUTION_NAMES.get(str(alert.get('resolution', '')), alert.get('resolution', ''))}）",
                 className="muted"),
    ], className="history-row", key=f"h-{alert.get('id')}-{alert.get('resolved_at')}",
        **{"data-key": str(alert.get("id"))})


# --- ticker -------------------------------------------------------------------------------------
def ticker_sort(summary: Mapping[str, Any]) -> float:
    """Ticker order: newest first."""
    return -float(summary.get("received_at") or 0)


def ticker_row(summary: Mapping[str, Any], names: Names, *, fresh: bool = False) -> html.Li:
    """One latest report; ``summary`` must come masked from the read model (wall role). Flat: three
    components (time and channel chip are CSS content from data-*), see :func:`slotted`."""
    where = " · ".join(p for p in (names.street(summary.get("street")),
                                   names.community(summary.get("community")) if summary.get("community") else "")
                       if p)
    text = str(summary.get("text") or "")
    if len(text) > 60:
        text = text[:59] + "…"
    return html.Li([
        html.Div(f"{names.category(summary.get('category'))} · {where}", className="l1",
                 **{"data-chip": names.channel(summary.get("channel"))}),
        html.Div(text or "—", className="l2"),
    ], className="tick-row fresh" if fresh else "tick-row",
        **{"data-key": str(summary.get("id")), "data-t": fmt.hm(summary.get("received_at"))})


def ticker_list(summaries: Iterable[Mapping[str, Any]], names: Names, limit: int = 14,
                list_id: str | None = None) -> list[html.Li]:
    """The latest reports, newest first; with ``list_id`` as ``limit`` live slots (new rows get
    negative orders in the browser, so they show above these)."""
    rows = [ticker_row(s, names) for s in list(summaries)[:limit]]
    if list_id is None:
        return rows
    return slotted(rows, list_id, limit, list(range(len(rows))))


# --- rankings -----------------------------------------------------------------------------------
def top_issues(counts: Sequence[Mapping[str, Any]], names: Names, limit: int = 6,
               previous: Mapping[str, int] | None = None) -> list[html.Li]:
    """High-frequency issues by category (summing the per-grid counts)."""
    by_cat: dict[str, int] = {}
    for row in counts:
        by_cat[str(row.get("category"))] = by_cat.get(str(row.get("category")), 0) + int(row.get("count") or 0)
    ranked = sorted(by_cat.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    if not ranked:
        return [html.Li("暂无数据", className="empty")]
    out = []
    for i, (cat, n) in enumerate(ranked, 1):
        up = ""
        if previous is not None and n > previous.get(cat, 0):
            up = f"↑{n - previous.get(cat, 0)}"
        out.append(html.Li([html.Span(str(i), className="n"), html.Span(names.category(cat)),
                            html.Span([fmt.count(n), html.Span(up, className="up")], className="c")],
                           className="rank-row"))
    return out


def hotspot_rows(hotspots: Sequence[Mapping[str, Any]], names: Names, limit: int = 6,
                 clickable: bool = False) -> list[Any]:
    """Emerging hotspots: ``{cell|grid, name?, street?, category?, count, score?}``."""
    if not hotspots:
        return [html.Li("暂无新发热点", className="empty")]
    out = []
    for i, h in enumerate(hotspots[:limit], 1):
        label = h.get("name") or names.grid(h.get("grid")) if h.get("grid") else h.get("name") or "热点区域"
        if h.get("street"):
            label = f"{names.street(h.get('street'))} · {label}"
        cat = names.category(h.get("category")) if h.get("category") else ""
        body = [html.Span(str(i), className="n"), html.Span(f"{label}{(' · ' + cat) if cat else ''}"),
                html.Span(fmt.count(h.get("count")), className="c")]
        if clickable:
            out.append(html.Button(body, className="drill-row rank-btn",
                                   **{"data-nav": nav("hotspot", str(h.get("key") or h.get("grid") or ""))}))
        else:
            out.append(html.Li(body, className="rank-row"))
    return out


# --- case detail (tablet) -----------------------------------------------------------------------
def case_timeline(case: Mapping[str, Any], names: Names) -> html.Div:
    """A case's full timeline, each stage clock, who acted when."""
    clocks = case.get("clocks") or []
    steps = case.get("timeline") or []
    header = html.Div([
        html.H3(f"{names.category(case.get('category'))} · {case.get('id')}", style={"margin": "0.2rem 0"}),
        html.Div(f"{names.street(case.get('street'))} {names.community(case.get('community'))} "
                 f"{names.grid(case.get('grid'))} · {names.channel(case.get('channel'))} · "
                 f"{Names.level(case.get('level'))} · 承办：{names.dept(case.get('dept'), short=False)}",
                 className="muted"),
        html.Div(f"状态：{case.get('status_name') or STATUS_NAMES.get(str(case.get('status')), case.get('status'))} · "
                 f"时限：{SLA_NAMES.get(str(case.get('sla')), case.get('sla'))}"),
        html.Div(str(case.get("text") or ""), style={"margin": "0.3rem 0"}),
        html.Div(str(case.get("address") or ""), className="muted"),
    ])
    clock_rows = [html.Div([
        html.Span(names.stage(c.get("stage"))),
        html.Span(f"时限 {fmt.md_hm(c.get('due'))}"),
        html.Span(f"{SLA_NAMES.get(str(c.get('state')), c.get('state'))}"
                  + (f" {fmt.md_hm(c.get('met_at'))}" if c.get("met_at") else "")),
    ], className="clock-row late" if c.get("state") in ("late", "overdue") else "clock-row") for c in clocks]
    steps_el = html.Ul([html.Li([
        html.Span(fmt.md_hm(s.get("at")), className="when"),
        STATUS_NAMES.get(str(s.get("kind")), ACTION_NAMES.get(str(s.get("kind")), str(s.get("kind")))),
        f" · {_who(s)}" if s.get("actor") or s.get("role") else "",
        f" · {names.dept(s.get('dept'))}" if s.get("dept") else "",
        f" · {REASON_NAMES.get(str(s.get('reason')), s.get('reason'))}" if s.get("reason") else "",
    ]) for s in steps], className="timeline")
    return html.Div([header, html.H4("环节时钟", style={"margin": "0.5rem 0 0.2rem"}),
                     html.Div(clock_rows or [html.Div("无", className="muted")]),
                     html.H4("办理过程", style={"margin": "0.5rem 0 0.2rem"}), steps_el],
                    id="case-detail", **{"data-case": str(case.get("id"))})


def nav(level: str, code: str) -> str:
    """The ``data-nav`` of a tap target: live.js hands it to the page's nav store."""
    return f"{level}|{code}"


def drill_rows(rows: Sequence[Mapping[str, Any]], level: str) -> list[html.Button]:
    """Children of the current scope as 44 px tap targets: ``{code, name, count, open, overdue}``."""
    out = []
    for r in rows:
        out.append(html.Button([
            html.Span(r.get("name") or r.get("code")),
            html.Span(f"在办 {fmt.count(r.get('open'))} · 超期 {fmt.count(r.get('overdue'))}", className="s"),
            html.Span(fmt.count(r.get("count")), className="c"),
        ], className="drill-row", **{"data-nav": nav(level, str(r.get("code")))}))
    return out or [html.Div("无下级数据", className="empty")]


def case_rows(cases: Sequence[Mapping[str, Any]], names: Names) -> list[html.Button]:
    out = []
    for c in cases:
        out.append(html.Button([
            html.Span(f"{fmt.md_hm(c.get('received_at'))} {names.category(c.get('category'))}"),
            html.Span(f"{STATUS_NAMES.get(str(c.get('status')), c.get('status'))} · "
                      f"{SLA_NAMES.get(str(c.get('sla')), c.get('sla'))}", className="s"),
            html.Span(str(c.get("id")), className="s"),
        ], className="drill-row", **{"data-nav": nav("case", str(c.get("id")))}))
    return out or [html.Div("该网格在此时段内无案件", className="empty")]


def compare_table(a: Mapping[str, Any], b: Mapping[str, Any], label_a: str, label_b: str) -> html.Table:
    """Two periods side by side with the change."""
    head = html.Tr([html.Th("指标"), html.Th(label_a), html.Th(label_b), html.Th("变化")])
    rows = [head]
    for key, label, _unit, kind in KPI_TILES:
        ta, ua = kpi_text(a, key, kind)
        tb, ub = kpi_text(b, key, kind)
        va, vb = kpi_value(a, key), kpi_value(b, key)
        change, cls = "—", ""
        if isinstance(va, int | float) and isinstance(vb, int | float):
            d = va - vb
            if kind == "percent":
                change = f"{d * 100:+.1f} 个百分点"
            elif kind == "duration":
                change = f"{d / 3600:+.1f} 小时"
            else:
                change = f"{d:+,.0f}"
            cls = "delta-up" if d > 0 else "delta-down" if d < 0 else ""
        rows.append(html.Tr([html.Td(label), html.Td(f"{ta}{ua}"), html.Td(f"{tb}{ub}"),
                             html.Td(change, className=cls)]))
    return html.Table(rows)


def login_panel(page: str, reason: str = "") -> html.Div:
    return html.Div([
        html.H1("社会治理指挥大厅"),
        html.P(reason or "请使用授权链接登录：在地址后加 ?token=令牌，或访问 /login?token=令牌。"),
        html.P(f"本页面（{page}）需要相应角色的令牌。", className="muted"),
    ], className="login", id=ids.LOGIN)


def live_stores(page: str, meta: Mapping[str, Any] | None = None) -> list[Any]:
    """The stores every live screen carries: resync trigger, snapshot meta (+ its sink), banner, toast."""
    return [dcc.Store(id=ids.resync(page)), dcc.Store(id=ids.meta(page), data=meta),
            dcc.Store(id=ids.meta_sink(page)), html.Div("", id=ids.BANNER, className="banner"),
            html.Div("", id=ids.TOAST, className="toast")]


def empty(text: str) -> html.Li:
    return html.Li(text, className="empty")
