"""``python -m feeds.supervision worker|rebuild|kpi|status|case``.

Connects to ``REDIS_URL``, else to the running product's embedded server, else starts the
embedded server itself. ``--now`` pins the clock (ms or an ISO local time): replays and tests
drive time as data.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from feeds.settings import Settings


def _parse_time(text: str | None, tz: ZoneInfo) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    d = datetime.fromisoformat(text)
    if d.tzinfo is None:
        d = d.replace(tzinfo=tz)
    return int(d.timestamp() * 1000)


def _connect(settings: Settings) -> tuple[Any, Any]:
    """(client, store or None): the configured/running server, or a freshly started embedded one."""
    from feeds.store import Store, connect, running_url

    url = running_url(settings)
    if url:
        try:
            client = connect(url)
            client.ping()
            return client, None
        except Exception:
            pass
    store = Store(settings).start()
    return store.client, store


def _clock(now: int | None) -> Any:
    from feeds.clock import ManualClock, SystemClock

    return ManualClock(now) if now is not None else SystemClock()


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.keys import Keys
    from feeds.supervision.worker import Worker

    client, store = _connect(settings)
    try:
        w = Worker(client, Keys(settings.namespace), settings, clock=_clock(args.now), consumer=args.consumer,
                   batch_size=args.batch)
        if args.once:
            st = w.drain()
            print(orjson.dumps({"applied": st.applied, "entries": st.entries, "dead": st.dead,
                                "duplicates": st.duplicates, "alerts": w.stats.alerts}).decode())
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        logging.getLogger(__name__).info("supervision worker %s on %s", w.consumer, settings.namespace)
        w.run(stop)
        return 0
    finally:
        if store is not None:
            store.stop()


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.keys import Keys
    from feeds.supervision.worker import Worker, rebuild

    client, store = _connect(settings)
    try:
        w = Worker(client, Keys(settings.namespace), settings, clock=_clock(args.now), consumer="rebuild",
                   publish=False)
        st = rebuild(w, pack_heat=True)
        print(orjson.dumps({"entries": st.entries, "applied": st.applied, "dead": st.dead,
                            "duplicates": st.duplicates, "scanned": st.scanned}).decode())
        return 0
    finally:
        if store is not None:
            store.stop()


def cmd_kpi(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.keys import Keys
    from feeds.supervision import queries

    tz = ZoneInfo(settings.timezone)
    client, store = _connect(settings)
    keys = Keys(settings.namespace)
    try:
        now = _parse_time(args.now, tz) or int(datetime.now(tz).timestamp() * 1000)
        start = _parse_time(args.start, tz)
        end = _parse_time(args.end, tz)
        if start is None or end is None:  # default: the whole log's range of received times
            first = client.zrange(keys.received_index("district"), 0, 0, withscores=True)
            last = client.zrange(keys.received_index("district"), -1, -1, withscores=True)
            start = start if start is not None else (int(first[0][1]) if first else now - 30 * 86_400_000)
            end = end if end is not None else (int(last[0][1]) + 1 if last else now)
        values = queries.kpis(client, keys, start, end, args.scope, now=now)
        out: dict[str, Any] = {"kpis": values}
        if args.ratings:
            out["ratings"] = queries.star_ratings(client, keys, start, end, now=now,
                                                  config_dir=Path(settings.config_dir))
        if args.by:
            codes = queries.backlog(client, keys, args.by, now=now)
            out["by_" + args.by] = {r["code"]: {k: v for k, v in queries.kpis(
                client, keys, start, end, f"{args.by}:{r['code']}", now=now).items()
                if k in ("received", "closed", "closure_rate", "on_time_rate", "avg_hours", "p90_hours")}
                for r in codes}
        if args.json:
            print(orjson.dumps(out).decode())
        else:
            _print_kpis(values, start, end, now, tz)
            for code, row in out.get("by_" + (args.by or ""), {}).items():
                print(f"  {args.by} {code:>14}: received {row['received']:>6}  closed {row['closed']:>6}  "
                      f"closure {_pct(row['closure_rate']):>8}  on time {_pct(row['on_time_rate']):>8}  "
                      f"avg {row['avg_hours']} h  P90 {row['p90_hours']} h")
            for r in out.get("ratings", []):
                stars = "—" if r["stars"] is None else "★" * r["stars"] + "☆" * (5 - r["stars"])
                print(f"  room {r['street']:>12}  {stars}  score={r['score']}  n={r['volume']}  {r['reason']}")
        return 0
    finally:
        if store is not None:
            store.stop()


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.2f}%"


def _print_kpis(v: dict, start: int, end: int, now: int, tz: ZoneInfo) -> None:
    fmt = "%Y-%m-%d %H:%M"
    print(f"KPIs {v['scope']}  received {datetime.fromtimestamp(start / 1000, tz).strftime(fmt)} → "
          f"{datetime.fromtimestamp(end / 1000, tz).strftime(fmt)}  as of "
          f"{datetime.fromtimestamp(now / 1000, tz).strftime(fmt)}")
    print(f"  received {v['received']}  closed {v['closed']}  excluded (duplicate/not ours) {v['excluded']}  "
          f"open {v['open']} (overdue {v['open_overdue']})")
    print(f"  closure rate {_pct(v['closure_rate'])}  on-time rate {_pct(v['on_time_rate'])}  "
          f"avg {v['avg_hours']} h  P90 {v['p90_hours']} h")
    print(f"  satisfaction {_pct(v['satisfaction_rate'])}  effective disposal "
          f"{_pct(v['effective_disposal_rate'])}  reopen {_pct(v['reopen_rate'])}")
    print(f"  closures by reason {v['by_reason']}")


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.keys import Keys
    from feeds.supervision import queries

    client, store = _connect(settings)
    try:
        print(orjson.dumps(queries.worker_status(client, Keys(settings.namespace))).decode())
        return 0
    finally:
        if store is not None:
            store.stop()


def cmd_case(args: argparse.Namespace, settings: Settings) -> int:
    """The stored state of one case as JSON (states are stored compressed: ``statecodec``)."""
    from feeds.keys import Keys
    from feeds.privacy import mask_strings
    from feeds.supervision.statecodec import decode_state

    client, store = _connect(settings)
    try:
        state = decode_state(client.get(Keys(settings.namespace).case(args.case_id)))
        if state is None:
            print(f"no case {args.case_id}", file=sys.stderr)
            return 1
        if not args.unmasked:  # a terminal in the hall can be seen: every free text masked unless asked
            state = mask_strings(state)
        print(orjson.dumps(state, option=orjson.OPT_INDENT_2).decode())
        return 0
    finally:
        if store is not None:
            store.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m feeds.supervision", description=__doc__.splitlines()[0])
    p.add_argument("--namespace", help="jurisdiction namespace (default GOV_NAMESPACE)")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker", help="run the supervision worker (consumer group on the log)")
    w.add_argument("--once", action="store_true", help="consume what is there, scan, and exit")
    w.add_argument("--now", type=int, help="pin the clock (ms since the epoch)")
    w.add_argument("--consumer", help="consumer name (default host-pid-thread)")
    w.add_argument("--batch", type=int, default=10_000,
                   help="most entries applied in one transaction (default 10000): a catch-up's cost per entry falls "
                        "with it (a case's several entries in one batch are one write), and each such transaction "
                        "holds the server ~0.1 s; live, a batch is what has arrived. Several workers in one group: "
                        "smaller (500), a WATCH conflict retries a whole batch")
    r = sub.add_parser("rebuild", help="delete the read models and re-apply the whole log (stop workers first)")
    r.add_argument("--now", type=int, help="pin the clock (ms since the epoch)")
    k = sub.add_parser("kpi", help="print KPIs for a period and scope")
    k.add_argument("--start", help="received from (ISO local time or ms; default: first case)")
    k.add_argument("--end", help="received before (ISO local time or ms; default: after the last case)")
    k.add_argument("--days", type=int, help="the last N days ending now (overrides --start)")
    k.add_argument("--scope", default="district", help="district | street:<code> | dept:<code>")
    k.add_argument("--now", help="as of (ISO local time or ms; default: now)")
    k.add_argument("--ratings", action="store_true", help="also the star rating of every street room")
    k.add_argument("--by", choices=["dept", "street"], help="also KPIs per dept or street")
    k.add_argument("--json", action="store_true", help="one JSON object instead of text")
    sub.add_parser("status", help="worker watermark, lag and last scan")
    c = sub.add_parser("case", help="print one case's stored state as JSON")
    c.add_argument("case_id")
    c.add_argument("--unmasked", action="store_true", help="personal data in free text in clear")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(**({"namespace": args.namespace} if args.namespace else {}))
    if args.cmd == "kpi" and args.days:
        tz = ZoneInfo(settings.timezone)
        now = _parse_time(args.now, tz) or int(datetime.now(tz).timestamp() * 1000)
        args.start = str(now - int(timedelta(days=args.days).total_seconds() * 1000))
        args.end = args.end or str(now + 1)
    return {"worker": cmd_worker, "rebuild": cmd_rebuild, "kpi": cmd_kpi, "status": cmd_status,
            "case": cmd_case}[args.cmd](
        args, settings)


if __name__ == "__main__":
    sys.exit(main())
