"""``python -m feeds``: run the simulator, replay a file, show stream stats, list dead letters, serve.

Every command reaches the log the way the product does: ``REDIS_URL`` if set, else the
embedded server of a running product (its URL is in ``<data_dir>/valkey/server.url``), else
it starts the embedded server itself (and stops it on exit).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from feeds.settings import Settings
from feeds.store import Store, connect, running_url

log = logging.getLogger("feeds")


def open_store(settings: Settings) -> Store:
    """A started Store: REDIS_URL, a running product's embedded server, or a new embedded one."""
    if not settings.redis_url:
        url = running_url(settings)
        if url and _reachable(url):
            return Store(settings.with_(redis_url=url)).start()
    return Store(settings).start()


def _reachable(url: str) -> bool:
    try:
        c = connect(url, socket_connect_timeout=0.5, socket_timeout=2)
        ok = bool(c.ping())
        c.close()
        return ok
    except Exception:  # noqa: BLE001 - any failure: not reachable
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m feeds", description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", help="jurisdiction namespace (default: GOV_NAMESPACE)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="run the demo district: backfill N days, then optionally live")
    p.add_argument("--backfill-days", type=float, default=None, help="days of history (default GOV_DEMO_BACKFILL_DAYS)")
    p.add_argument("--live", action="store_true", help="after the backfill, keep producing in real time")
    p.add_argument("--speed", type=float, default=1.0, help="live speed factor (60 = an hour a minute)")
    p.add_argument("--seed", type=int, default=None, help="seed (default GOV_DEMO_SEED)")
    p.add_argument("--per-year", type=int, default=None, help="reports a year (default 440,000)")

    p = sub.add_parser("replay", help="replay a JSON-lines or CSV export through a mapping file")
    p.add_argument("file", type=Path)
    p.add_argument("--mapping", type=Path, help="mapping file (config/mappings/*.json); none = ingest schema")
    p.add_argument("--speed", type=float, default=None, help="pace at this × real time (default: as fast as possible)")
    p.add_argument("--max", type=int, default=None, dest="max_rows", help="read at most N rows")
    p.add_argument("--shift-to-now", action="store_true", help="shift times so the first event is now")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line too")

    p = sub.add_parser("stats", help="log and dead-letter stream stats")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("dead-letters", help="list dead letters with their reasons (newest first)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--raw", action="store_true", help="show the raw payload (personal data masked)")

    p = sub.add_parser("serve", help="serve POST /api/events and GET /api/health alone")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # run the finally blocks: stop what we started
    settings = Settings.from_env()
    if args.namespace:
        settings = settings.with_(namespace=args.namespace)
    return COMMANDS[args.command](settings, args)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# --- commands ------------------------------------------------------------------------------------
def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from feeds.clock import product_clock
    from feeds.ingest import Ingestor
    from feeds.simulator import run_simulator

    days = settings.demo_backfill_days if args.backfill_days is None else args.backfill_days
    store = open_store(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        ingestor = Ingestor.from_store(store)
        t0 = time.perf_counter()
        try:
            stats = run_simulator(ingestor, settings, backfill_days=days, live=args.live, clock=product_clock(args.speed),
                                  stop_event=stop, seed=args.seed, per_year=args.per_year, progress=True)
        except KeyboardInterrupt:
            stop.set()
            print("stopped")
            return 0
        print(f"simulated in {time.perf_counter() - t0:.1f} s: {stats}")
    finally:
        store.stop()
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from feeds.catalog import Catalog
    from feeds.ingest import Ingestor
    from feeds.mappings import Mapping, MappingError
    from feeds.normalise import CellLocator, load_locator
    from feeds.replay import replay_file

    mapping = None
    catalog = Catalog.load(Path(settings.config_dir))
    if args.mapping:
        try:
            mapping = Mapping.load(args.mapping, catalog)
            catalog = mapping.extend_catalog(catalog)
        except MappingError as e:
            print(f"mapping error: {e}", file=sys.stderr)
            return 2
        if mapping.namespace and not args.namespace:
            settings = settings.with_(namespace=mapping.namespace)
    if not args.file.exists():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    juris = mapping.jurisdiction if mapping and mapping.jurisdiction else None
    try:
        locator = load_locator(settings, juris)
    except Exception as e:  # noqa: BLE001 - a broken layer must not stop the replay
        print(f"grid layer {juris or settings.jurisdiction} could not be loaded ({type(e).__name__}: {e}); "
              "events get H3 cells but no grid, and none is flagged outside", file=sys.stderr)
        locator = CellLocator(settings.h3_resolution)
    store = open_store(settings)
    try:
        prefix = (mapping.case_prefix if mapping and mapping.case_prefix else "YZ")
        ingestor = Ingestor.from_store(store, locator=locator, case_prefix=prefix, catalog=catalog)
        print(f"replaying {args.file} into namespace {settings.namespace} on {store.url}"
              + (f" at {args.speed}×" if args.speed else ""))
        summary = replay_file(ingestor, args.file, mapping, speed=args.speed, max_rows=args.max_rows,
                              progress=not args.no_progress, shift_to_now=args.shift_to_now)
        for line in summary.lines():
            print(line)
        if args.json:
            print(orjson.dumps(summary.to_json()).decode())
    finally:
        store.stop()
    return 0


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from feeds.ingest import dead_letter_reasons, log_kind_counts, stream_stats
    from feeds.keys import Keys

    store = open_store(settings)
    try:
        keys = Keys(settings.namespace)
        stats = stream_stats(store.client, keys)
        kinds = log_kind_counts(store.client, keys)
        reasons = dead_letter_reasons(store.client, keys)
        if args.json:
            print(orjson.dumps({**stats, "kinds": kinds, "dead_letter_reasons": reasons}).decode())
            return 0
        print(f"server {store.url}  namespace {settings.namespace}")
        print(f"log {keys.log}: {stats['log_entries']} entries, {stats['cases']} cases "
              f"(first {stats['first_id']}, last {stats['last_id']})")
        for kind, n in kinds.most_common():
            print(f"  {n:>9}  {kind}")
        print(f"dead letters {keys.dead_letters}: {stats['dead_letters']}")
        for reason, n in reasons.most_common():
            print(f"  {n:>9}  {reason}")
    finally:
        store.stop()
    return 0


def cmd_dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    from feeds.ingest import read_dead_letters
    from feeds.keys import Keys
    from feeds.privacy import mask_text

    store = open_store(settings)
    tz = ZoneInfo(settings.timezone)
    try:
        rows = read_dead_letters(store.client, Keys(settings.namespace), args.limit)
        if not rows:
            print("no dead letters")
        for d in rows:
            when = datetime.fromtimestamp(d["at"] / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{d['id']}  {when}  {d['source']:<12} {d['reason']}: {d['detail']}")
            if args.raw:
                raw = d["raw"].decode("utf-8", "backslashreplace")
                raw = _mask_raw(raw, mask_text)
                print(f"    raw ({d['size']} bytes): {raw[:400]}{' …' if len(raw) > 400 else ''}")
    finally:
        store.stop()
    return 0


def _mask_raw(raw: str, mask_text) -> str:  # noqa: ANN001 - a str -> str function
    """Personal data in a dead letter's payload is masked before it reaches a terminal."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return mask_text(raw)
    if isinstance(obj, dict) and isinstance(obj.get("reporter"), dict):
        from feeds.privacy import mask_id_number, mask_name, mask_phone

        r = obj["reporter"]
        for k, f in (("name", mask_name), ("phone", mask_phone), ("id_number", mask_id_number)):
            if isinstance(r.get(k), str):
                r[k] = f(r[k])
    return mask_text(orjson.dumps(obj).decode())


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from feeds.http_api import make_app
    from feeds.ingest import Ingestor

    store = open_store(settings)
    try:
        app = make_app(Ingestor.from_store(store))
        host = args.host or settings.http_host
        port = args.port or settings.http_port
        print(f"POST http://{host}:{port}/api/events  (log on {store.url}, namespace {settings.namespace})")
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        store.stop()
    return 0


COMMANDS = {"simulate": cmd_simulate, "replay": cmd_replay, "stats": cmd_stats,
            "dead-letters": cmd_dead_letters, "serve": cmd_serve}
