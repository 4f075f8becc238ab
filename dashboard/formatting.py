"""Plain formatting of numbers, times and durations for zh-CN screens (no Dash, no Redis)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

#: The hall's local time (Asia/Shanghai has no DST; a fixed offset avoids tz data on the wall PC).
CST = timezone(timedelta(hours=8), "CST")


def local_dt(ms: int | float, tz: timezone = CST) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def hms(ms: int | float | None, tz: timezone = CST) -> str:
    """ms since epoch -> local ``hh:mm:ss`` ("--:--:--" when unknown)."""
    if not ms:
        return "--:--:--"
    return local_dt(ms, tz).strftime("%H:%M:%S")


def hm(ms: int | float | None, tz: timezone = CST) -> str:
    if not ms:
        return "--:--"
    return local_dt(ms, tz).strftime("%H:%M")


def md_hm(ms: int | float | None, tz: timezone = CST) -> str:
    if not ms:
        return "--"
    return local_dt(ms, tz).strftime("%m-%d %H:%M")


def ymd_hms(ms: int | float | None, tz: timezone = CST) -> str:
    if not ms:
        return "--"
    return local_dt(ms, tz).strftime("%Y-%m-%d %H:%M:%S")


def day_start_ms(ms: int | float, tz: timezone = CST) -> int:
    """Start of the local day containing ``ms``."""
    d = local_dt(ms, tz)
    return int(d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def day_str(ms: int | float, tz: timezone = CST) -> str:
    return local_dt(ms, tz).strftime("%Y-%m-%d")


def day_to_ms(day: str, tz: timezone = CST) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=tz).timestamp() * 1000)


def count(n: object) -> str:
    """1234567 -> "1,234,567"; None -> "--"."""
    if n is None or n == "":
        return "--"
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "--"


def percent(x: object, digits: int = 1) -> str:
    """0.9765 -> "97.7" (the tile shows the % sign as its unit); None -> "--"."""
    if x is None:
        return "--"
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "--"
    if v != v:  # NaN
        return "--"
    return f"{v * 100:.{digits}f}"


def duration_short(seconds: object) -> tuple[str, str]:
    """Handling time as (number, unit): 5400 -> ("1.5", "小时"), 3 days -> ("3.0", "天")."""
    if seconds is None:
        return "--", ""
    try:
        s = float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "--", ""
    if s < 3600:
        return f"{s / 60:.0f}", "分钟"
    if s < 48 * 3600:
        return f"{s / 3600:.1f}", "小时"
    return f"{s / 86400:.1f}", "天"


def age(seconds: object) -> str:
    """Compact age: 90 -> "1分", 7200 -> "2小时", 3 days -> "3天"."""
    try:
        s = max(0, int(seconds))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "--"
    if s < 3600:
        return f"{s // 60}分"
    if s < 86400:
        return f"{s // 3600}小时"
    return f"{s // 86400}天"


def countdown(due_ms: int | float, now_ms: int | float) -> str:
    """Server-side twin of live.js's countdown text: "剩 4:59" / "超 1:02:03" / "超 3天"."""
    left = round((due_ms - now_ms) / 1000)
    sign = "超 " if left < 0 else "剩 "
    left = abs(left)
    h, m, s = left // 3600, (left % 3600) // 60, left % 60
    if h >= 48:
        return f"{sign}{h // 24}天"
    return f"{sign}{h}:{m:02d}:{s:02d}" if h > 0 else f"{sign}{m}:{s:02d}"

