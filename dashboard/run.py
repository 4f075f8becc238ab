"""THE main command, ``python -m dashboard``: the whole product in one process.

Starts the Store (embedded Valkey unless ``REDIS_URL``), the supervision worker thread, the demo
simulator thread (backfill then live) when ``GOV_DEMO`` is on, the live-push relay (the only
emitter; web workers never relay), and the web server (Dash + Flask-SocketIO, threading mode)
with the ingest endpoint ``POST /api/events``. Prints the wall's URL. Ctrl-C / SIGTERM stops
everything, the embedded server included.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from feeds.clock import product_clock
from feeds.settings import Settings
from feeds.store import Store

log = logging.getLogger("dashboard")


@dataclass
class Product:
    """The running pieces; ``start`` / ``serve`` / ``stop``."""

    settings: Settings
    store: Store | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    app: Any = None
    socketio: Any = None
    relay: Any = None
    ingestor: Any = None
    demo_speed: float = 1.0  # the demo's live rate × real time (the bench's soak runs at 100×)
    clock: Any = None  # feeds.clock: the machine's, or the accelerated demo's (every part reads it)
    ctx: Any = None
    worker: Any = None

    def start(self) -> Product:
        from dashboard.app import create_app
        from dashboard.context import build_context
        from dashboard.push import LiveViews, Relay

        s = self.settings
        if self.clock is None:
            self.clock = product_clock(self.demo_speed if s.demo else 1.0)
        self.store = Store(s).start()
        ctx = self.ctx = build_context(s, self.store, clock=self.clock.wall)
        threading.Thread(target=_warm, args=(ctx,), name="warm-up", daemon=True).start()
        self.app, self.socketio = create_app(s, self.store, ctx=ctx)
        self._register_ingest()
        self._start_worker()
        from dashboard.snapshot import wall_hotspots

        views = LiveViews(ctx.reader, ctx.names, ctx.geo, hotspots=lambda now: wall_hotspots(ctx, now))
        self.relay = Relay(self.store, views, clock=ctx.clock)
        self._thread("relay", self.relay.run)
        if s.demo:
            self._start_simulator()
        return self

    # --- pieces owned by the other packages, wired through their documented entry points -----
    def _register_ingest(self) -> None:
        try:
            from feeds.ingest import Ingestor
        except ImportError as e:
            log.warning("ingest not available yet (%s)", e)
            return
        self.ingestor = Ingestor.from_store(self.store, clock=self.clock.wall)
        try:
            from feeds.http_api import make_ingest_blueprint
        except ImportError as e:
            log.warning("ingest endpoint not available yet (%s): POST /api/events is off", e)
            return
        self.app.server.register_blueprint(make_ingest_blueprint(self.ingestor))

    def _start_worker(self) -> None:
        try:
            from feeds.supervision.worker import Worker
        except ImportError as e:
            log.warning("supervision worker not available yet (%s)", e)
            return
        self.worker = Worker(self.store, clock=self.clock)
        self._thread("supervision-worker", self.worker.run)

    def _start_simulator(self) -> None:
        try:
            from feeds.simulator import run_simulator
        except ImportError as e:
            log.warning("demo simulator not available yet (%s)", e)
            return
        if self.ingestor is None:
            return
        ingestor, s = self.ingestor, self.settings

        def sim(stop: threading.Event) -> None:
            log.info("demo simulator: backfilling %s days, then live", s.demo_backfill_days)
            stats = run_simulator(ingestor, s, s.demo_backfill_days, live=True, stop_event=stop, seed=s.demo_seed,
                                  clock=self.clock)
            log.info("demo simulator stopped: %s", stats)

        self._thread("demo-simulator", sim)

    def _thread(self, name: str, target: Callable[[threading.Event], Any]) -> None:
        def body() -> None:
            try:
                target(self.stop_event)
            except Exception:
                log.exception("%s stopped with an error", name)

        t = threading.Thread(target=body, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def serve(self) -> None:
        s = self.settings
        self.socketio.run(self.app.server, host=s.http_host, port=s.http_port, allow_unsafe_werkzeug=True,
                          use_reloader=False, log_output=False)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=5)
        if self.store is not None:
            self.store.stop()
            self.store = None


def _warm(ctx: Any) -> None:
    from dashboard.context import warm_up

    try:
        warm_up(ctx)
    except Exception:  # only a head start: a failure here shows up again, and is logged, on first use
        log.debug("warm-up failed", exc_info=True)


def _raise_interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard",
                                     description="社会治理指挥大厅: wall, tablet and duty screens with the live demo")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = Settings.from_env()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    product = Product(settings)
    try:
        product.start()
        base = f"http://{settings.http_host}:{settings.http_port}"
        print(f"大屏 (wall):      {base}/wall?token={settings.wall_token}", flush=True)
        print(f"值班台 (duty):    {base}/duty?token={settings.duty_token}", flush=True)
        print(f"会商 (tablet):    {base}/tablet?token={settings.leader_token}", flush=True)
        print(f"事件接入 (ingest): POST {base}/api/events", flush=True)
        product.serve()
    except KeyboardInterrupt:
        pass
    finally:
        product.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
